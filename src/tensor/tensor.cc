// Tensor helpers and dtype conversion to float32.
#include "tensor/tensor.h"

#include <stdexcept>

namespace justnews {

int64_t shape_numel(const Shape& shape) {
  int64_t count = 1;
  for (int64_t extent : shape) count *= extent;
  return count;
}

std::string shape_to_string(const Shape& shape) {
  std::string text = "[";
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    if (axis) text += ", ";
    text += std::to_string(shape[axis]);
  }
  return text + "]";
}

Tensor::Tensor(DType dtype, Shape shape, const void* data, std::shared_ptr<const void> owner)
    : dtype_(dtype), shape_(std::move(shape)), data_(data), owner_(std::move(owner)) {}

Tensor Tensor::zeros(DType dtype, Shape shape) {
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  // 64-byte alignment so SIMD kernels and BLAS get aligned rows.
  void* raw = ::operator new[](bytes == 0 ? 64 : bytes, std::align_val_t(64));
  std::memset(raw, 0, bytes);
  std::shared_ptr<const void> owner(raw, [](const void* p) {
    ::operator delete[](const_cast<void*>(p), std::align_val_t(64));
  });
  return Tensor(dtype, std::move(shape), raw, std::move(owner));
}

Tensor Tensor::to_f32() const {
  if (dtype_ == DType::kF32) return *this;
  Tensor out = zeros(DType::kF32, shape_);
  float* dst = out.mutable_data_as<float>();
  const int64_t count = numel();
  switch (dtype_) {
    case DType::kF16:
      for (int64_t i = 0; i < count; ++i) dst[i] = f16_to_f32(data_as<uint16_t>()[i]);
      break;
    case DType::kBF16:
      for (int64_t i = 0; i < count; ++i) dst[i] = bf16_to_f32(data_as<uint16_t>()[i]);
      break;
    case DType::kF64:
      for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<float>(data_as<double>()[i]);
      break;
    case DType::kI64:
      for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<float>(data_as<int64_t>()[i]);
      break;
    case DType::kI32:
      for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<float>(data_as<int32_t>()[i]);
      break;
    case DType::kI8:
      for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<float>(data_as<int8_t>()[i]);
      break;
    case DType::kU8:
    case DType::kBool:
      for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<float>(data_as<uint8_t>()[i]);
      break;
    default:
      throw std::logic_error("Tensor::to_f32: dtype " + std::string(dtype_name(dtype_)) +
                             " has no float32 conversion");
  }
  return out;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != numel())
    throw std::logic_error("Tensor::reshaped: " + shape_to_string(shape_) + " -> " +
                           shape_to_string(shape) + " changes the element count");
  return Tensor(dtype_, std::move(shape), data_, owner_);
}

}  // namespace justnews
