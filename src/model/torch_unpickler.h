// TorchUnpickler: a restricted pickle reader for the data.pkl of torch.save archives. It
// understands the protocol 2-5 opcodes torch emits and a short allow-list of globals (OrderedDict,
// the tensor rebuild functions, storage types, dtypes), builds plain values and tensors, and never
// imports or calls anything: any other global is refused.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tensor/tensor.h"

namespace justnews {

enum class PickleKind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kGlobal, kStorage, kTensor };
// The globals the unpickler accepts.
enum class TorchGlobal { kOrderedDict, kRebuildTensorV2, kRebuildTensor, kRebuildParameter, kStorageType, kDtype };

struct PickleValue {
  PickleKind kind = PickleKind::kNone;
  int64_t integer = 0;                      // kInt and kBool
  double real = 0.0;                        // kFloat
  std::string text;                         // kString; kGlobal: "module.name"
  std::vector<PickleValue*> items;          // kTuple, kList
  std::vector<std::pair<PickleValue*, PickleValue*>> entries;  // kDict, in insertion order
  TorchGlobal global = TorchGlobal::kOrderedDict;  // kGlobal
  DType dtype = DType::kF32;                // kGlobal storage types and dtypes, kStorage
  const uint8_t* storage_data = nullptr;    // kStorage
  uint64_t storage_bytes = 0;               // kStorage
  Tensor tensor;                            // kTensor
};

struct StorageBytes {
  const uint8_t* data = nullptr;
  uint64_t size_bytes = 0;
};
// Returns the bytes of storage `key` (the archive's data/<key> entry).
using StorageLoader = std::function<Result<StorageBytes>(const std::string& key)>;

class TorchUnpickler {
 public:
  // `source` names the archive in errors; `owner` keeps the storages' bytes alive in tensors.
  TorchUnpickler(std::string source, StorageLoader load_storage, std::shared_ptr<const void> owner)
      : source_(std::move(source)), load_storage_(std::move(load_storage)), owner_(std::move(owner)) {}

  // The unpickled object; it lives as long as this unpickler.
  Result<const PickleValue*> load(const uint8_t* pickle, size_t size_bytes);

 private:
  PickleValue* make(PickleKind kind);
  Result<PickleValue*> resolve_global(const std::string& module, const std::string& name);
  // These return errors without the source name; load() adds it with the opcode offset.
  Result<PickleValue*> persistent_load(const PickleValue& pid);
  Result<PickleValue*> reduce(const PickleValue& callable, const PickleValue& args);
  Result<PickleValue*> rebuild_tensor(const PickleValue& args);

  std::string source_;
  StorageLoader load_storage_;
  std::shared_ptr<const void> owner_;
  std::deque<PickleValue> arena_;           // every value; pointers stay valid as it grows
};

}  // namespace justnews
