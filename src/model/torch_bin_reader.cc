// PyTorch .bin reader: a torch.save zip archive (<archive>/data.pkl, <archive>/data/<key>,
// <archive>/byteorder) unpickled by TorchUnpickler and flattened into name -> tensor.
#include <map>
#include <set>
#include <string_view>

#include "model/byte_buffer.h"
#include "model/tensor_map_file.h"
#include "model/torch_unpickler.h"
#include "model/zip_archive.h"

namespace justnews {
namespace {

constexpr size_t kMaxNestingDepth = 32;
constexpr std::string_view kPickleSuffix = "data.pkl";
// Wrappers that training scripts put around the state dict.
constexpr const char* kWrapperKeys[] = {"state_dict", "model"};

std::string key_text(const PickleValue& key) {
  if (key.kind == PickleKind::kString) return key.text;
  if (key.kind == PickleKind::kInt) return std::to_string(key.integer);
  return "";
}

// `visited` refuses shared or cyclic dicts, which a memo can build and which would otherwise make
// the walk exponential or endless.
Status flatten(const PickleValue& dict, const std::string& prefix, size_t depth,
               const std::string& source, std::set<const PickleValue*>& visited,
               std::map<std::string, Tensor>& tensors) {
  if (depth > kMaxNestingDepth)
    return corrupt_data(source + ": dictionaries nested deeper than " +
                        std::to_string(kMaxNestingDepth) + " levels");
  if (!visited.insert(&dict).second)
    return corrupt_data(source + ": dictionary '" + prefix + "' appears more than once (shared or cyclic)");
  for (const auto& [key, value] : dict.entries) {
    const std::string name = key_text(*key);
    if (name.empty())
      return corrupt_data(source + ": state dict key under '" + prefix +
                          "' is not a non-empty string or int");
    const std::string full_name = prefix + name;
    if (value->kind == PickleKind::kDict) {
      JN_RETURN_IF_ERROR(flatten(*value, full_name + ".", depth + 1, source, visited, tensors));
    } else if (value->kind == PickleKind::kTensor) {
      if (!tensors.emplace(full_name, value->tensor).second)
        return corrupt_data(source + ": tensor '" + full_name + "' is listed twice");
    }
    // Other leaves (epoch counters, config strings) are not weights and are skipped.
  }
  return ok_status();
}

const PickleValue* unwrap_state_dict(const PickleValue& root) {
  for (const char* wrapper : kWrapperKeys) {
    for (const auto& [key, value] : root.entries) {
      if (key->kind == PickleKind::kString && key->text == wrapper && value->kind == PickleKind::kDict)
        return value;
    }
  }
  return &root;
}

Result<std::unique_ptr<WeightFile>> parse_buffer(const ByteBuffer& buffer, const std::string& name) {
  JN_ASSIGN_OR_RETURN(ZipArchive archive, ZipArchive::open(buffer, name));
  std::string prefix;
  const ZipEntry* pickle = nullptr;
  for (const auto& [entry_name, entry] : archive.entries()) {
    if (!std::string_view(entry_name).ends_with(kPickleSuffix)) continue;
    const std::string entry_prefix = entry_name.substr(0, entry_name.size() - kPickleSuffix.size());
    if (!entry_prefix.empty() && entry_prefix.back() != '/') continue;
    if (pickle) return corrupt_data(name + ": archive holds more than one data.pkl");
    pickle = &entry;
    prefix = entry_prefix;
  }
  if (!pickle)
    return corrupt_data(name + ": zip archive has no data.pkl (not a torch.save checkpoint)");
  if (const ZipEntry* byteorder = archive.find(prefix + "byteorder")) {
    const std::string order(reinterpret_cast<const char*>(byteorder->data), byteorder->size_bytes);
    if (order != "little")
      return unsupported(name + ": checkpoint byte order is '" + order +
                         "'; only little-endian checkpoints are supported");
  }

  auto load_storage = [&archive, &prefix](const std::string& key) -> Result<StorageBytes> {
    const ZipEntry* entry = archive.find(prefix + "data/" + key);
    if (!entry) return corrupt_data("storage '" + key + "' has no entry " + prefix + "data/" + key);
    return StorageBytes{entry->data, entry->size_bytes};
  };
  TorchUnpickler unpickler(name, load_storage, buffer.owner);
  JN_ASSIGN_OR_RETURN(const PickleValue* root, unpickler.load(pickle->data, pickle->size_bytes));
  if (root->kind != PickleKind::kDict)
    return corrupt_data(name + ": top-level object is not a dict of name -> tensor");
  std::map<std::string, Tensor> tensors;
  std::set<const PickleValue*> visited;
  JN_RETURN_IF_ERROR(flatten(*unwrap_state_dict(*root), "", 0, name, visited, tensors));
  if (tensors.empty()) return corrupt_data(name + ": checkpoint holds no tensors");
  return std::unique_ptr<WeightFile>(std::make_unique<TensorMapFile>(name, std::move(tensors)));
}

}  // namespace

Result<std::unique_ptr<WeightFile>> open_torch_bin(const std::string& path) {
  JN_ASSIGN_OR_RETURN(ByteBuffer buffer, map_file(path));
  return parse_buffer(buffer, path);
}

Result<std::unique_ptr<WeightFile>> parse_torch_bin(const void* data, size_t size,
                                                    const std::string& name) {
  return parse_buffer(copy_to_buffer(data, size), name);
}

}  // namespace justnews
