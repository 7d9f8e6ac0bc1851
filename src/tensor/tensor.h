// Tensor: a typed, shaped, contiguous (row-major) view of host memory that may share ownership of
// its bytes (an mmap'd checkpoint, a vector). Engines convert these to their own device buffers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace justnews {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
std::string shape_to_string(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;
  // A view of `data` that keeps `owner` alive (owner may be null for borrowed memory).
  Tensor(DType dtype, Shape shape, const void* data, std::shared_ptr<const void> owner);
  // A new zero-filled float32 (or other dtype) tensor owning its storage.
  static Tensor zeros(DType dtype, Shape shape);

  bool empty() const { return data_ == nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(size_t axis) const { return shape_.at(axis); }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  const void* data() const { return data_; }
  // Writable access; valid only for tensors that own their storage (zeros / to_f32 results).
  void* mutable_data() { return const_cast<void*>(data_); }
  template <typename T> const T* data_as() const { return static_cast<const T*>(data_); }
  template <typename T> T* mutable_data_as() { return static_cast<T*>(mutable_data()); }

  // A float32 copy (or this tensor itself when already float32). Integer tensors convert too.
  Tensor to_f32() const;
  // Same bytes, new shape with equal element count.
  Tensor reshaped(Shape shape) const;

 private:
  DType dtype_ = DType::kF32;
  Shape shape_;
  const void* data_ = nullptr;
  std::shared_ptr<const void> owner_;
};

}  // namespace justnews
