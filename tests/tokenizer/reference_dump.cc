// Reader for tokenizer reference dumps (see reference_dump.h and tools/dump_tokenizer_reference.py).
#include "reference_dump.h"

#include <cstring>
#include <fstream>
#include <sstream>

namespace justnews::tokenizer {
namespace {

class Cursor {
 public:
  Cursor(const std::string& data, const std::string& path) : data_(data), path_(path) {}

  template <typename T>
  Status read(T& value) {
    if (pos_ + sizeof(T) > data_.size()) return truncated();
    std::memcpy(&value, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return ok_status();
  }
  Status read_string(std::string& value) {
    uint32_t length;
    JN_RETURN_IF_ERROR(read(length));
    if (pos_ + length > data_.size()) return truncated();
    value.assign(data_.data() + pos_, length);
    pos_ += length;
    return ok_status();
  }
  Status read_bytes(void* out, size_t bytes) {
    if (pos_ + bytes > data_.size()) return truncated();
    std::memcpy(out, data_.data() + pos_, bytes);
    pos_ += bytes;
    return ok_status();
  }

 private:
  Status truncated() const { return corrupt_data(path_ + ": truncated at byte " + std::to_string(pos_)); }
  const std::string& data_;
  const std::string& path_;
  size_t pos_ = 0;
};

}  // namespace

Result<std::vector<ReferenceRecord>> read_reference_dump(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return not_found(path + ": cannot open");
  std::ostringstream contents;
  contents << file.rdbuf();
  const std::string data = contents.str();
  Cursor cursor(data, path);
  char magic[8];
  JN_RETURN_IF_ERROR(cursor.read_bytes(magic, 8));
  if (std::memcmp(magic, "JNTKREF1", 8) != 0) return corrupt_data(path + ": not a JNTKREF1 dump");
  uint32_t count;
  JN_RETURN_IF_ERROR(cursor.read(count));
  std::vector<ReferenceRecord> records(count);
  for (ReferenceRecord& record : records) {
    uint8_t kind;
    JN_RETURN_IF_ERROR(cursor.read(kind));
    record.is_pair = kind == 1;
    JN_RETURN_IF_ERROR(cursor.read(record.max_length));
    JN_RETURN_IF_ERROR(cursor.read_string(record.label));
    JN_RETURN_IF_ERROR(cursor.read_string(record.first));
    if (record.is_pair) JN_RETURN_IF_ERROR(cursor.read_string(record.second));
    uint32_t n;
    JN_RETURN_IF_ERROR(cursor.read(n));
    record.ids.resize(n);
    JN_RETURN_IF_ERROR(cursor.read_bytes(record.ids.data(), n * sizeof(int32_t)));
    std::vector<uint8_t> bytes(n);
    JN_RETURN_IF_ERROR(cursor.read_bytes(bytes.data(), n));
    record.type_ids.assign(bytes.begin(), bytes.end());
    JN_RETURN_IF_ERROR(cursor.read_bytes(bytes.data(), n));
    record.special_tokens_mask.assign(bytes.begin(), bytes.end());
    std::vector<int32_t> offsets(2 * static_cast<size_t>(n));
    JN_RETURN_IF_ERROR(cursor.read_bytes(offsets.data(), offsets.size() * sizeof(int32_t)));
    record.offsets.resize(n);
    for (uint32_t i = 0; i < n; ++i) record.offsets[i] = {offsets[2 * i], offsets[2 * i + 1]};
  }
  return records;
}

}  // namespace justnews::tokenizer
