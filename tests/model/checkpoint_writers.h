// Test helpers that write checkpoint bytes from scratch: safetensors files, stored zip archives
// (optionally zip64) and the pickle opcodes torch.save emits, so reader tests control every byte.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace justnews::testing {

using Bytes = std::string;

inline void append_le(Bytes& out, uint64_t value, size_t byte_count) {
  for (size_t byte_idx = 0; byte_idx < byte_count; ++byte_idx)
    out.push_back(static_cast<char>((value >> (8 * byte_idx)) & 0xff));
}

template <typename T>
Bytes raw_bytes(const std::vector<T>& values) {
  return Bytes(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// safetensors: 8-byte header length, JSON header, data.
inline Bytes safetensors_file(const std::string& header_json, const Bytes& data) {
  Bytes out;
  append_le(out, header_json.size(), 8);
  return out + header_json + data;
}

struct SafetensorsTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  Bytes bytes;
};

// Lays tensors out back to back; `pad_header_to` pads the header with spaces to that length
// (the spec allows trailing whitespace), which lets tests choose the data section's alignment.
inline Bytes safetensors_file(const std::vector<SafetensorsTensor>& tensors, size_t pad_header_to = 0) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  header["__metadata__"] = {{"format", "pt"}};
  Bytes data;
  for (const auto& tensor : tensors) {
    header[tensor.name] = {{"dtype", tensor.dtype},
                           {"shape", tensor.shape},
                           {"data_offsets", {data.size(), data.size() + tensor.bytes.size()}}};
    data += tensor.bytes;
  }
  std::string text = header.dump();
  if (text.size() < pad_header_to) text.append(pad_header_to - text.size(), ' ');
  return safetensors_file(text, data);
}

struct ZipOptions {
  bool zip64 = false;        // zip64 extra fields with 0xffffffff markers + zip64 end records
  uint16_t method = 0;       // 0 = stored; 8 = deflate (the bytes are still stored)
};

// A zip archive of stored entries whose data start at 64-byte aligned offsets, as torch.save writes.
inline Bytes zip_archive(const std::vector<std::pair<std::string, Bytes>>& entries,
                         ZipOptions options = {}) {
  Bytes out, directory;
  for (const auto& [name, data] : entries) {
    const uint64_t local_offset = out.size();
    const size_t unpadded = out.size() + 30 + name.size() + 4;
    const size_t padding = (64 - unpadded % 64) % 64;
    append_le(out, 0x04034b50, 4);
    append_le(out, 20, 2);
    append_le(out, 0, 2);
    append_le(out, options.method, 2);
    append_le(out, 0, 4);  // time, date
    append_le(out, 0, 4);  // crc (not checked by the reader)
    append_le(out, data.size(), 4);
    append_le(out, data.size(), 4);
    append_le(out, name.size(), 2);
    append_le(out, 4 + padding, 2);
    out += name;
    append_le(out, 0x4655, 2);  // torch's padding extra field id ("FB")
    append_le(out, padding, 2);
    out.append(padding, 'Z');
    out += data;

    Bytes extra;
    if (options.zip64) {
      append_le(extra, 0x0001, 2);
      append_le(extra, 24, 2);
      append_le(extra, data.size(), 8);
      append_le(extra, data.size(), 8);
      append_le(extra, local_offset, 8);
    }
    const uint64_t marker = 0xffffffffu;
    append_le(directory, 0x02014b50, 4);
    append_le(directory, 45, 2);
    append_le(directory, 45, 2);
    append_le(directory, 0, 2);
    append_le(directory, options.method, 2);
    append_le(directory, 0, 4);
    append_le(directory, 0, 4);
    append_le(directory, options.zip64 ? marker : data.size(), 4);
    append_le(directory, options.zip64 ? marker : data.size(), 4);
    append_le(directory, name.size(), 2);
    append_le(directory, extra.size(), 2);
    append_le(directory, 0, 2);
    append_le(directory, 0, 2);
    append_le(directory, 0, 2);
    append_le(directory, 0, 4);
    append_le(directory, options.zip64 ? marker : local_offset, 4);
    directory += name + extra;
  }
  const uint64_t directory_offset = out.size();
  out += directory;
  if (options.zip64) {
    const uint64_t record_offset = out.size();
    append_le(out, 0x06064b50, 4);
    append_le(out, 44, 8);
    append_le(out, 45, 2);
    append_le(out, 45, 2);
    append_le(out, 0, 4);
    append_le(out, 0, 4);
    append_le(out, entries.size(), 8);
    append_le(out, entries.size(), 8);
    append_le(out, directory.size(), 8);
    append_le(out, directory_offset, 8);
    append_le(out, 0x07064b50, 4);
    append_le(out, 0, 4);
    append_le(out, record_offset, 8);
    append_le(out, 1, 4);
  }
  append_le(out, 0x06054b50, 4);
  append_le(out, 0, 2);
  append_le(out, 0, 2);
  append_le(out, options.zip64 ? 0xffff : entries.size(), 2);
  append_le(out, options.zip64 ? 0xffff : entries.size(), 2);
  append_le(out, options.zip64 ? 0xffffffffu : directory.size(), 4);
  append_le(out, options.zip64 ? 0xffffffffu : directory_offset, 4);
  append_le(out, 0, 2);
  return out;
}

// Pickle opcodes, spelled as torch's pickler (protocol 2) writes them.
class PickleWriter {
 public:
  PickleWriter& proto(uint8_t version = 2) { return op(0x80).byte(version); }
  PickleWriter& global(const std::string& module, const std::string& name) {
    bytes_ += 'c' + module + '\n' + name + '\n';
    return *this;
  }
  PickleWriter& mark() { return op('('); }
  PickleWriter& tuple() { return op('t'); }
  PickleWriter& empty_tuple() { return op(')'); }
  PickleWriter& empty_dict() { return op('}'); }
  PickleWriter& reduce() { return op('R'); }
  PickleWriter& setitem() { return op('s'); }
  PickleWriter& setitems() { return op('u'); }
  PickleWriter& binpersid() { return op('Q'); }
  PickleWriter& build() { return op('b'); }
  PickleWriter& stop() { return op('.'); }
  PickleWriter& newfalse() { return op(0x89); }
  PickleWriter& none() { return op('N'); }
  PickleWriter& binput(uint8_t slot) { return op('q').byte(slot); }
  PickleWriter& binget(uint8_t slot) { return op('h').byte(slot); }
  PickleWriter& string(const std::string& text) {
    op('X');
    append_le(bytes_, text.size(), 4);
    bytes_ += text;
    return *this;
  }
  PickleWriter& integer(int64_t value) {
    if (value >= 0 && value < 256) return op('K').byte(static_cast<uint8_t>(value));
    if (value >= INT32_MIN && value <= INT32_MAX) {
      op('J');
      append_le(bytes_, static_cast<uint32_t>(value), 4);
      return *this;
    }
    op(0x8a).byte(8);
    append_le(bytes_, static_cast<uint64_t>(value), 8);
    return *this;
  }
  PickleWriter& int_tuple(const std::vector<int64_t>& values) {
    mark();
    for (int64_t value : values) integer(value);
    return tuple();
  }
  PickleWriter& ordered_dict() { return global("collections", "OrderedDict").empty_tuple().reduce(); }
  // torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()).
  PickleWriter& tensor(const std::string& storage_type, const std::string& key, int64_t storage_numel,
                       int64_t offset, const std::vector<int64_t>& size,
                       const std::vector<int64_t>& stride) {
    global("torch._utils", "_rebuild_tensor_v2");
    mark();
    mark().string("storage").global("torch", storage_type).string(key).string("cpu");
    integer(storage_numel).tuple().binpersid();
    integer(offset).int_tuple(size).int_tuple(stride).newfalse().ordered_dict();
    return tuple().reduce();
  }
  PickleWriter& raw(const Bytes& bytes) {
    bytes_ += bytes;
    return *this;
  }
  const Bytes& bytes() const { return bytes_; }

 private:
  PickleWriter& op(uint8_t code) { return byte(code); }
  PickleWriter& byte(uint8_t value) {
    bytes_.push_back(static_cast<char>(value));
    return *this;
  }
  Bytes bytes_;
};

// A torch.save-style archive: archive/data.pkl, archive/byteorder, archive/data/<key>.
inline Bytes torch_archive(const Bytes& pickle, const std::vector<std::pair<std::string, Bytes>>& storages,
                           ZipOptions options = {}, const std::string& byteorder = "little") {
  std::vector<std::pair<std::string, Bytes>> entries = {{"archive/data.pkl", pickle}};
  if (!byteorder.empty()) entries.emplace_back("archive/byteorder", byteorder);
  for (const auto& [key, data] : storages) entries.emplace_back("archive/data/" + key, data);
  entries.emplace_back("archive/version", "3\n");
  return zip_archive(entries, options);
}

}  // namespace justnews::testing
