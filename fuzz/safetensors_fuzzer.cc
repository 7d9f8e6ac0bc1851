// libFuzzer target: parse_safetensors on arbitrary bytes; on success every tensor's bytes are
// read so that ASan sees any view that escapes the buffer.
#include <cstddef>
#include <cstdint>

#include "model/weight_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = justnews::parse_safetensors(data, size, "fuzz.safetensors");
  if (!file.ok()) return 0;
  uint64_t checksum = 0;
  for (const auto& name : (*file)->tensor_names()) {
    auto tensor = (*file)->tensor(name);
    if (!tensor.ok()) __builtin_trap();  // a listed name must be readable
    const auto* bytes = static_cast<const uint8_t*>(tensor->data());
    for (size_t byte_idx = 0; byte_idx < tensor->nbytes(); ++byte_idx) checksum += bytes[byte_idx];
  }
  volatile uint64_t sink = checksum;
  (void)sink;
  return 0;
}
