// WeightFile: a read-only checkpoint (safetensors or PyTorch .bin) as a map from tensor name to a
// Tensor view of its bytes. Readers validate everything they expose: a name that is listed is
// backed by in-bounds, correctly sized, non-overlapping bytes of a supported dtype.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "tensor/tensor.h"

namespace justnews {

class WeightFile {
 public:
  virtual ~WeightFile() = default;
  virtual const std::string& path() const = 0;
  virtual std::vector<std::string> tensor_names() const = 0;
  // NotFound (naming the file and the tensor) when absent.
  virtual Result<Tensor> tensor(const std::string& name) const = 0;
  virtual bool contains(const std::string& name) const = 0;
};

// safetensors: mmap'd; dtypes F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL.
Result<std::unique_ptr<WeightFile>> open_safetensors(const std::string& path);
// Same checks on an in-memory buffer (used by the fuzzer and tests); the buffer is copied.
Result<std::unique_ptr<WeightFile>> parse_safetensors(const void* data, size_t size,
                                                      const std::string& name);
// PyTorch .bin (zip archive holding data.pkl + data/N): a restricted unpickler that rebuilds
// tensors and plain containers only and never executes code.
Result<std::unique_ptr<WeightFile>> open_torch_bin(const std::string& path);
Result<std::unique_ptr<WeightFile>> parse_torch_bin(const void* data, size_t size,
                                                    const std::string& name);

}  // namespace justnews
