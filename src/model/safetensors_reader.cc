// safetensors reader: an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and [begin, end) byte range in the data section, then the data. Every range is
// checked before a view is handed out.
#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "model/byte_buffer.h"
#include "model/tensor_map_file.h"

namespace justnews {
namespace {

using Json = nlohmann::json;

// Real headers are a few hundred KB; anything this large is corrupt or hostile.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;
constexpr size_t kLengthPrefixBytes = 8;
constexpr size_t kMaxRank = 16;

struct TensorEntry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

std::string json_type(const Json& value) { return value.type_name(); }

Result<uint64_t> read_unsigned(const Json& value, const std::string& what) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer()) {
    return corrupt_data(what + " is negative (" + std::to_string(value.get<int64_t>()) + ")");
  }
  return corrupt_data(what + " must be a non-negative integer, found " + json_type(value));
}

Result<TensorEntry> parse_entry(const std::string& name, const Json& value, uint64_t data_bytes) {
  const std::string where = "tensor '" + name + "'";
  if (!value.is_object()) return corrupt_data(where + " must be a JSON object, found " + json_type(value));
  TensorEntry entry;
  entry.name = name;

  auto dtype_field = value.find("dtype");
  if (dtype_field == value.end()) return corrupt_data(where + " has no 'dtype'");
  if (!dtype_field->is_string())
    return corrupt_data(where + ": 'dtype' must be a string, found " + json_type(*dtype_field));
  const std::string dtype_text = dtype_field->get<std::string>();
  std::optional<DType> dtype = dtype_from_name(dtype_text);
  if (!dtype || *dtype == DType::kF8E4M3 || *dtype == DType::kF8E5M2) {
    return unsupported(where + " has dtype '" + dtype_text +
                       "'; supported: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL");
  }
  entry.dtype = *dtype;

  auto shape_field = value.find("shape");
  if (shape_field == value.end()) return corrupt_data(where + " has no 'shape'");
  if (!shape_field->is_array())
    return corrupt_data(where + ": 'shape' must be an array, found " + json_type(*shape_field));
  if (shape_field->size() > kMaxRank)
    return corrupt_data(where + " has rank " + std::to_string(shape_field->size()) +
                        ", more than the supported " + std::to_string(kMaxRank));
  uint64_t numel = 1;
  for (size_t axis = 0; axis < shape_field->size(); ++axis) {
    JN_ASSIGN_OR_RETURN(uint64_t extent,
                        read_unsigned((*shape_field)[axis], where + " shape[" + std::to_string(axis) + "]"));
    if (extent > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, extent, &numel) ||
        numel > static_cast<uint64_t>(INT64_MAX)) {
      return corrupt_data(where + " has shape whose element count overflows 64 bits");
    }
    entry.shape.push_back(static_cast<int64_t>(extent));
  }
  uint64_t expected_bytes = 0;
  if (__builtin_mul_overflow(numel, dtype_size(entry.dtype), &expected_bytes))
    return corrupt_data(where + " has shape whose byte size overflows 64 bits");

  auto offsets_field = value.find("data_offsets");
  if (offsets_field == value.end()) return corrupt_data(where + " has no 'data_offsets'");
  if (!offsets_field->is_array() || offsets_field->size() != 2)
    return corrupt_data(where + ": 'data_offsets' must be an array of 2 integers");
  JN_ASSIGN_OR_RETURN(entry.begin, read_unsigned((*offsets_field)[0], where + " data_offsets[0]"));
  JN_ASSIGN_OR_RETURN(entry.end, read_unsigned((*offsets_field)[1], where + " data_offsets[1]"));
  if (entry.begin > entry.end)
    return corrupt_data(where + " has reversed data_offsets [" + std::to_string(entry.begin) + ", " +
                        std::to_string(entry.end) + "]");
  if (entry.end > data_bytes)
    return corrupt_data(where + " has data_offsets [" + std::to_string(entry.begin) + ", " +
                        std::to_string(entry.end) + "] outside the data section of " +
                        std::to_string(data_bytes) + " bytes");
  if (entry.end - entry.begin != expected_bytes)
    return corrupt_data(where + " spans " + std::to_string(entry.end - entry.begin) +
                        " bytes but shape " + shape_to_string(entry.shape) + " of " + dtype_text +
                        " needs " + std::to_string(expected_bytes));
  return entry;
}

Result<std::unique_ptr<WeightFile>> parse_buffer(const ByteBuffer& buffer, const std::string& name) {
  auto fail = [&name](const Status& status) { return status.with_context(name); };
  if (buffer.size < kLengthPrefixBytes)
    return fail(corrupt_data("file is " + std::to_string(buffer.size) +
                             " bytes, too short for the 8-byte header length"));
  uint64_t header_bytes = 0;
  for (size_t byte_idx = 0; byte_idx < kLengthPrefixBytes; ++byte_idx)
    header_bytes |= static_cast<uint64_t>(buffer.data[byte_idx]) << (8 * byte_idx);
  if (header_bytes > kMaxHeaderBytes)
    return fail(corrupt_data("header length " + std::to_string(header_bytes) +
                             " bytes exceeds the 100 MB limit (not a safetensors file?)"));
  if (header_bytes > buffer.size - kLengthPrefixBytes)
    return fail(corrupt_data("header length " + std::to_string(header_bytes) +
                             " bytes is larger than the file (" + std::to_string(buffer.size) +
                             " bytes)"));
  const char* header_begin = reinterpret_cast<const char*>(buffer.data + kLengthPrefixBytes);

  // nlohmann keeps the last of duplicate keys; the callback sees every key, so catch them here.
  std::set<std::string> seen_keys;
  std::string duplicate;
  auto on_event = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::key && depth == 1 && duplicate.empty()) {
      std::string key = parsed.get<std::string>();
      if (!seen_keys.insert(key).second) duplicate = std::move(key);
    }
    return true;
  };
  Json header = Json::parse(header_begin, header_begin + header_bytes, on_event,
                            /*allow_exceptions=*/false);
  if (header.is_discarded()) return fail(corrupt_data("header is not valid JSON"));
  if (!header.is_object())
    return fail(corrupt_data("header must be a JSON object, found " + json_type(header)));
  if (!duplicate.empty()) return fail(corrupt_data("tensor '" + duplicate + "' is listed twice"));

  const uint8_t* data_section = buffer.data + kLengthPrefixBytes + header_bytes;
  const uint64_t data_bytes = buffer.size - kLengthPrefixBytes - header_bytes;
  std::vector<TensorEntry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") continue;
    auto entry = parse_entry(key, value, data_bytes);
    if (!entry.ok()) return fail(entry.status());
    entries.push_back(std::move(entry).value());
  }

  std::vector<const TensorEntry*> by_offset;
  for (const auto& entry : entries)
    if (entry.end > entry.begin) by_offset.push_back(&entry);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorEntry* a, const TensorEntry* b) { return a->begin < b->begin; });
  for (size_t entry_idx = 1; entry_idx < by_offset.size(); ++entry_idx) {
    const TensorEntry& previous = *by_offset[entry_idx - 1];
    const TensorEntry& current = *by_offset[entry_idx];
    if (current.begin < previous.end)
      return fail(corrupt_data("tensor '" + current.name + "' bytes [" + std::to_string(current.begin) +
                               ", " + std::to_string(current.end) + ") overlap tensor '" +
                               previous.name + "' bytes [" + std::to_string(previous.begin) + ", " +
                               std::to_string(previous.end) + ")"));
  }

  std::map<std::string, Tensor> tensors;
  for (auto& entry : entries) {
    tensors.emplace(entry.name, aligned_tensor_view(entry.dtype, std::move(entry.shape),
                                                    data_section + entry.begin, buffer.owner));
  }
  return std::unique_ptr<WeightFile>(std::make_unique<TensorMapFile>(name, std::move(tensors)));
}

}  // namespace

Result<std::unique_ptr<WeightFile>> open_safetensors(const std::string& path) {
  JN_ASSIGN_OR_RETURN(ByteBuffer buffer, map_file(path));
  return parse_buffer(buffer, path);
}

Result<std::unique_ptr<WeightFile>> parse_safetensors(const void* data, size_t size,
                                                      const std::string& name) {
  return parse_buffer(copy_to_buffer(data, size), name);
}

}  // namespace justnews
