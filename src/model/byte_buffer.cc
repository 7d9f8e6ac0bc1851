// File mapping and aligned copies for checkpoint readers.
#include "model/byte_buffer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <new>
#include <sstream>

namespace justnews {
namespace {

constexpr size_t kBufferAlignmentBytes = 64;

std::string errno_text() { return std::strerror(errno); }

}  // namespace

Result<ByteBuffer> map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return not_found("file '" + path + "' does not exist");
    return io_error("cannot open '" + path + "': " + errno_text());
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const std::string reason = errno_text();
    ::close(fd);
    return io_error("cannot stat '" + path + "': " + reason);
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    return invalid_argument("'" + path + "' is not a regular file");
  }
  const size_t size = static_cast<size_t>(info.st_size);
  if (size == 0) {
    ::close(fd);
    return copy_to_buffer(nullptr, 0);
  }
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const std::string reason = errno_text();
  ::close(fd);  // the mapping stays valid after the descriptor is closed
  if (mapped == MAP_FAILED) return io_error("cannot mmap '" + path + "': " + reason);
  ByteBuffer buffer;
  buffer.data = static_cast<const uint8_t*>(mapped);
  buffer.size = size;
  buffer.owner = std::shared_ptr<const void>(mapped, [size](const void* address) {
    ::munmap(const_cast<void*>(address), size);
  });
  return buffer;
}

ByteBuffer copy_to_buffer(const void* data, size_t size) {
  void* raw = ::operator new[](size == 0 ? kBufferAlignmentBytes : size,
                               std::align_val_t(kBufferAlignmentBytes));
  if (size) std::memcpy(raw, data, size);
  ByteBuffer buffer;
  buffer.data = static_cast<const uint8_t*>(raw);
  buffer.size = size;
  buffer.owner = std::shared_ptr<const void>(raw, [](const void* address) {
    ::operator delete[](const_cast<void*>(address), std::align_val_t(kBufferAlignmentBytes));
  });
  return buffer;
}

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) return not_found("cannot open '" + path + "'");
  std::ostringstream text;
  text << stream.rdbuf();
  if (stream.bad()) return io_error("cannot read '" + path + "'");
  return text.str();
}

Tensor aligned_tensor_view(DType dtype, Shape shape, const uint8_t* data,
                           const std::shared_ptr<const void>& owner) {
  const size_t element_bytes = dtype_size(dtype);
  if (reinterpret_cast<uintptr_t>(data) % element_bytes == 0)
    return Tensor(dtype, std::move(shape), data, owner);
  Tensor copy = Tensor::zeros(dtype, std::move(shape));
  std::memcpy(copy.mutable_data(), data, copy.nbytes());
  return copy;
}

}  // namespace justnews
