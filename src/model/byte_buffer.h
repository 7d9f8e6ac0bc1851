// ByteBuffer: read-only bytes of a checkpoint (an mmap'd file or an owned aligned copy) together
// with the handle that keeps them alive, so Tensor views can share ownership of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "tensor/tensor.h"

namespace justnews {

struct ByteBuffer {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::shared_ptr<const void> owner;
};

// Maps `path` read-only (an empty file gives an empty buffer).
Result<ByteBuffer> map_file(const std::string& path);
// Copies `size` bytes into a new 64-byte aligned buffer.
ByteBuffer copy_to_buffer(const void* data, size_t size);
// Reads a whole (small) text file such as config.json.
Result<std::string> read_text_file(const std::string& path);

// A tensor over `data`, sharing `owner`. Views whose address is not a multiple of the element
// size are copied into an owned aligned tensor: misaligned float loads are undefined behaviour.
Tensor aligned_tensor_view(DType dtype, Shape shape, const uint8_t* data,
                           const std::shared_ptr<const void>& owner);

}  // namespace justnews
