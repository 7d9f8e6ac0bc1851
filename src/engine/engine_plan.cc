// Engine plan files: serialisation of EnginePlan with per-section xxhash64 checksums.
#include "engine/engine_plan.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/plan_checksum.h"

namespace justnews {

namespace {

using nlohmann::json;

constexpr char kMagic[8] = {'J', 'N', 'P', 'L', 'A', 'N', '\0', '\0'};
constexpr size_t kSectionNameBytes = 16;
constexpr size_t kSectionEntryBytes = kSectionNameBytes + 3 * sizeof(uint64_t);
constexpr uint64_t kSectionAlignBytes = 4096;  // page-aligned so the weights map straight to memory
constexpr uint32_t kMaxSections = 16;

struct Section {
  std::string name;
  uint64_t offset = 0;
  uint64_t size = 0;
  uint64_t checksum = 0;
};

uint64_t align_up(uint64_t value) {
  return (value + kSectionAlignBytes - 1) / kSectionAlignBytes * kSectionAlignBytes;
}

void put_u32(std::string& out, uint32_t value) { out.append(reinterpret_cast<const char*>(&value), 4); }
void put_u64(std::string& out, uint64_t value) { out.append(reinterpret_cast<const char*>(&value), 8); }

uint32_t get_u32(const uint8_t* bytes) {
  uint32_t value;
  std::memcpy(&value, bytes, 4);
  return value;
}
uint64_t get_u64(const uint8_t* bytes) {
  uint64_t value;
  std::memcpy(&value, bytes, 8);
  return value;
}

json config_to_json(const EncoderConfig& config) {
  return json{{"architecture", static_cast<int>(config.architecture)},
              {"head", static_cast<int>(config.head)},
              {"vocab_size", config.vocab_size},
              {"hidden_size", config.hidden_size},
              {"num_layers", config.num_layers},
              {"num_heads", config.num_heads},
              {"intermediate_size", config.intermediate_size},
              {"max_position_embeddings", config.max_position_embeddings},
              {"type_vocab_size", config.type_vocab_size},
              {"layer_norm_eps", config.layer_norm_eps},
              {"activation", static_cast<int>(config.activation)},
              {"pad_token_id", config.pad_token_id},
              {"position_offset", config.position_offset},
              {"id2label", config.id2label},
              {"problem_type", static_cast<int>(config.problem_type)},
              {"pooling_present", config.pooling.present},
              {"pooling_mode", static_cast<int>(config.pooling.mode)},
              {"pooling_normalize", config.pooling.normalize}};
}

EncoderConfig config_from_json(const json& value) {
  EncoderConfig config;
  config.architecture = static_cast<Architecture>(value.at("architecture").get<int>());
  config.head = static_cast<HeadKind>(value.at("head").get<int>());
  config.vocab_size = value.at("vocab_size").get<int64_t>();
  config.hidden_size = value.at("hidden_size").get<int64_t>();
  config.num_layers = value.at("num_layers").get<int64_t>();
  config.num_heads = value.at("num_heads").get<int64_t>();
  config.intermediate_size = value.at("intermediate_size").get<int64_t>();
  config.max_position_embeddings = value.at("max_position_embeddings").get<int64_t>();
  config.type_vocab_size = value.at("type_vocab_size").get<int64_t>();
  config.layer_norm_eps = value.at("layer_norm_eps").get<float>();
  config.activation = static_cast<Activation>(value.at("activation").get<int>());
  config.pad_token_id = value.at("pad_token_id").get<int64_t>();
  config.position_offset = value.at("position_offset").get<int64_t>();
  config.id2label = value.at("id2label").get<std::vector<std::string>>();
  config.problem_type = static_cast<ProblemType>(value.at("problem_type").get<int>());
  config.pooling.present = value.at("pooling_present").get<bool>();
  config.pooling.mode = static_cast<PoolingMode>(value.at("pooling_mode").get<int>());
  config.pooling.normalize = value.at("pooling_normalize").get<bool>();
  return config;
}

json key_to_json(const PlanKey& key) {
  return json{{"model_hash", key.model_hash},         {"device_name", key.device_name},
              {"compute_capability", key.compute_capability}, {"precision", key.precision},
              {"engine_version", key.engine_version}, {"build_options", key.build_options}};
}

PlanKey key_from_json(const json& value) {
  PlanKey key;
  key.model_hash = value.at("model_hash").get<std::string>();
  key.device_name = value.at("device_name").get<std::string>();
  key.compute_capability = value.at("compute_capability").get<std::string>();
  key.precision = value.at("precision").get<std::string>();
  key.engine_version = value.at("engine_version").get<std::string>();
  key.build_options = value.at("build_options").get<std::string>();
  return key;
}

std::string meta_text(const EnginePlan& plan) {
  json tensors = json::array();
  for (const PlanTensor& tensor : plan.tensors)
    tensors.push_back(json{{"name", tensor.name}, {"offset", tensor.offset}, {"size", tensor.size_bytes}});
  const json meta{{"key", key_to_json(plan.key)},
                  {"config", config_to_json(plan.config)},
                  {"head_pre_activation", static_cast<int>(plan.head_pre_activation)},
                  {"tokenizer_hash", plan.tokenizer_hash},
                  {"source", plan.source},
                  {"notes", plan.notes},
                  {"max_batch_tokens", plan.max_batch_tokens},
                  {"max_batch_sequences", plan.max_batch_sequences},
                  {"gemm_workspace_bytes", plan.gemm_workspace_bytes},
                  {"weights_bytes", plan.weights.size},
                  {"tensors", tensors}};
  return meta.dump();
}

// Parses the meta section into `plan` and checks every tensor lies inside the weights section.
Status parse_meta(const std::string& text, uint64_t weights_bytes, const std::string& path,
                  EnginePlan& plan) {
  try {
    const json meta = json::parse(text);
    plan.key = key_from_json(meta.at("key"));
    plan.config = config_from_json(meta.at("config"));
    plan.head_pre_activation = static_cast<HeadActivation>(meta.at("head_pre_activation").get<int>());
    plan.tokenizer_hash = meta.at("tokenizer_hash").get<std::string>();
    plan.source = meta.at("source").get<std::string>();
    if (meta.contains("notes")) plan.notes = meta.at("notes").get<std::string>();
    plan.max_batch_tokens = meta.at("max_batch_tokens").get<int64_t>();
    plan.max_batch_sequences = meta.at("max_batch_sequences").get<int64_t>();
    plan.gemm_workspace_bytes = meta.at("gemm_workspace_bytes").get<uint64_t>();
    if (meta.at("weights_bytes").get<uint64_t>() != weights_bytes)
      return corrupt_data(path + ": meta says the weights section has " +
                          std::to_string(meta.at("weights_bytes").get<uint64_t>()) + " bytes, found " +
                          std::to_string(weights_bytes));
    for (const json& entry : meta.at("tensors")) {
      PlanTensor tensor{entry.at("name").get<std::string>(), entry.at("offset").get<uint64_t>(),
                        entry.at("size").get<uint64_t>()};
      if (tensor.offset > weights_bytes || tensor.size_bytes > weights_bytes - tensor.offset)
        return corrupt_data(path + ": tensor " + tensor.name + " [" + std::to_string(tensor.offset) +
                            ", +" + std::to_string(tensor.size_bytes) + ") lies outside the " +
                            std::to_string(weights_bytes) + "-byte weights section");
      plan.tensors.push_back(std::move(tensor));
    }
  } catch (const json::exception& error) {
    return corrupt_data(path + ": meta section is not a valid plan description: " + error.what());
  }
  return ok_status();
}

}  // namespace

std::string PlanKey::to_string() const {
  return "model_hash=" + model_hash + "\ndevice_name=" + device_name + "\ncompute_capability=" +
         compute_capability + "\nprecision=" + precision + "\nengine_version=" + engine_version +
         "\nbuild_options=" + build_options + "\nformat_version=" +
         std::to_string(kEnginePlanFormatVersion) + "\n";
}

std::string PlanKey::hash() const { return hash_to_hex(xxhash64(to_string())); }

const PlanTensor* EnginePlan::find(const std::string& name) const {
  for (const PlanTensor& tensor : tensors)
    if (tensor.name == name) return &tensor;
  return nullptr;
}

Status write_engine_plan(const EnginePlan& plan, const std::string& path) {
  const std::string meta = meta_text(plan);
  std::vector<Section> sections{{"meta", 0, meta.size(), xxhash64(meta)},
                                {"weights", 0, plan.weights.size,
                                 xxhash64(plan.weights.data, plan.weights.size)}};
  std::string header(kMagic, sizeof(kMagic));
  put_u32(header, kEnginePlanFormatVersion);
  put_u32(header, static_cast<uint32_t>(sections.size()));
  uint64_t offset = align_up(header.size() + sections.size() * kSectionEntryBytes + sizeof(uint64_t));
  for (Section& section : sections) {
    section.offset = offset;
    offset = align_up(offset + section.size);
    std::string name = section.name;
    name.resize(kSectionNameBytes, '\0');
    header += name;
    put_u64(header, section.offset);
    put_u64(header, section.size);
    put_u64(header, section.checksum);
  }
  put_u64(header, xxhash64(header));

  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  if (!file) return io_error("engine plan: cannot create " + temporary + ": " + std::strerror(errno));
  bool written = std::fwrite(header.data(), 1, header.size(), file) == header.size();
  const auto write_at = [&](uint64_t at, const void* data, size_t size) {
    if (!written) return;
    written = std::fseek(file, static_cast<long>(at), SEEK_SET) == 0 &&
              (size == 0 || std::fwrite(data, 1, size, file) == size);
  };
  write_at(sections[0].offset, meta.data(), meta.size());
  write_at(sections[1].offset, plan.weights.data, plan.weights.size);
  written = std::fclose(file) == 0 && written;
  if (!written) {
    std::remove(temporary.c_str());
    return io_error("engine plan: writing " + temporary + " failed: " + std::strerror(errno));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temporary.c_str());
    return io_error("engine plan: cannot rename " + temporary + " to " + path + ": " + reason);
  }
  return ok_status();
}

Result<EnginePlan> read_engine_plan(const std::string& path) {
  std::error_code exists_error;
  if (!std::filesystem::exists(path, exists_error))
    return not_found("engine plan: " + path + " does not exist");
  JN_ASSIGN_OR_RETURN(ByteBuffer file, map_file(path));
  const size_t fixed_bytes = sizeof(kMagic) + 2 * sizeof(uint32_t);
  if (file.size < fixed_bytes || std::memcmp(file.data, kMagic, sizeof(kMagic)) != 0)
    return corrupt_data(path + ": not an engine plan (bad magic or shorter than its header, " +
                        std::to_string(file.size) + " bytes)");
  const uint32_t version = get_u32(file.data + sizeof(kMagic));
  if (version != kEnginePlanFormatVersion)
    return corrupt_data(path + ": plan format version " + std::to_string(version) + ", expected " +
                        std::to_string(kEnginePlanFormatVersion));
  const uint32_t section_count = get_u32(file.data + sizeof(kMagic) + 4);
  if (section_count == 0 || section_count > kMaxSections)
    return corrupt_data(path + ": section count " + std::to_string(section_count) + ", expected 1.." +
                        std::to_string(kMaxSections));
  const size_t table_end = fixed_bytes + section_count * kSectionEntryBytes;
  if (file.size < table_end + sizeof(uint64_t))
    return corrupt_data(path + ": truncated inside the section table (" + std::to_string(file.size) +
                        " bytes)");
  if (get_u64(file.data + table_end) != xxhash64(file.data, table_end))
    return corrupt_data(path + ": header checksum mismatch");

  const uint8_t* meta_data = nullptr;
  uint64_t meta_size = 0;
  const uint8_t* weights_data = nullptr;
  uint64_t weights_size = 0;
  for (uint32_t idx = 0; idx < section_count; ++idx) {
    const uint8_t* entry = file.data + fixed_bytes + idx * kSectionEntryBytes;
    const std::string name(reinterpret_cast<const char*>(entry),
                           strnlen(reinterpret_cast<const char*>(entry), kSectionNameBytes));
    const uint64_t offset = get_u64(entry + kSectionNameBytes);
    const uint64_t size = get_u64(entry + kSectionNameBytes + 8);
    const uint64_t checksum = get_u64(entry + kSectionNameBytes + 16);
    if (offset > file.size || size > file.size - offset)
      return corrupt_data(path + ": section " + name + " [" + std::to_string(offset) + ", +" +
                          std::to_string(size) + ") runs past the end of the " +
                          std::to_string(file.size) + "-byte file (truncated?)");
    if (xxhash64(file.data + offset, size) != checksum)
      return corrupt_data(path + ": section " + name + " checksum mismatch (the file is damaged)");
    if (name == "meta") {
      meta_data = file.data + offset;
      meta_size = size;
    } else if (name == "weights") {
      weights_data = file.data + offset;
      weights_size = size;
    }
  }
  if (!meta_data || !weights_data)
    return corrupt_data(path + ": plan lacks its " + std::string(meta_data ? "weights" : "meta") +
                        " section");
  EnginePlan plan;
  JN_RETURN_IF_ERROR(parse_meta(std::string(reinterpret_cast<const char*>(meta_data), meta_size),
                                weights_size, path, plan));
  plan.weights = ByteBuffer{weights_data, weights_size, file.owner};
  return plan;
}

}  // namespace justnews
