// safetensors reader: happy paths for every dtype, alignment, and each refusal of corrupt headers.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "model/weight_file.h"
#include "tests/model/checkpoint_writers.h"

namespace justnews {
namespace {

using testing::Bytes;
using testing::raw_bytes;
using testing::safetensors_file;

Result<std::unique_ptr<WeightFile>> parse(const Bytes& bytes) {
  return parse_safetensors(bytes.data(), bytes.size(), "test.safetensors");
}

// Expects a refusal whose message contains every fragment (and names the file).
void expect_refused(const Bytes& bytes, std::initializer_list<std::string> fragments) {
  auto result = parse(bytes);
  ASSERT_FALSE(result.ok());
  const std::string& message = result.status().message();
  EXPECT_NE(message.find("test.safetensors"), std::string::npos) << message;
  for (const auto& fragment : fragments) EXPECT_NE(message.find(fragment), std::string::npos) << message;
}

Bytes one_tensor_header(const std::string& entry) {
  return safetensors_file("{\"w\":" + entry + "}", Bytes(16, '\0'));
}

TEST(Safetensors, ReadsEveryDtype) {
  const std::vector<float> f32 = {1.5f, -2.25f, 3.0f};
  const std::vector<double> f64 = {0.125, -7.5};
  const std::vector<int64_t> i64 = {-(int64_t{1} << 40), 7};
  const std::vector<int32_t> i32 = {-5, 6, 7, 8};
  const std::vector<int16_t> i16 = {-300, 300};
  const std::vector<int8_t> i8 = {-1, 2, -3};
  const std::vector<uint8_t> u8 = {250, 1};
  const std::vector<uint8_t> flags = {1, 0, 1};
  const std::vector<uint16_t> f16 = {f32_to_f16(0.5f), f32_to_f16(-65504.0f)};
  const std::vector<uint16_t> bf16 = {f32_to_bf16(3.0f), f32_to_bf16(-0.0078125f)};
  auto file = parse(safetensors_file({{"f32", "F32", {3}, raw_bytes(f32)},
                                      {"f64", "F64", {2, 1}, raw_bytes(f64)},
                                      {"i64", "I64", {2}, raw_bytes(i64)},
                                      {"i32", "I32", {2, 2}, raw_bytes(i32)},
                                      {"i16", "I16", {2}, raw_bytes(i16)},
                                      {"i8", "I8", {3}, raw_bytes(i8)},
                                      {"u8", "U8", {2}, raw_bytes(u8)},
                                      {"flags", "BOOL", {3}, raw_bytes(flags)},
                                      {"f16", "F16", {2}, raw_bytes(f16)},
                                      {"bf16", "BF16", {1, 2}, raw_bytes(bf16)}}));
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  EXPECT_EQ((*file)->tensor_names().size(), 10u);
  auto check = [&](const std::string& name, DType dtype, Shape shape, const Bytes& expected) {
    auto tensor = (*file)->tensor(name);
    ASSERT_TRUE(tensor.ok()) << name;
    EXPECT_EQ(tensor->dtype(), dtype) << name;
    EXPECT_EQ(tensor->shape(), shape) << name;
    ASSERT_EQ(tensor->nbytes(), expected.size()) << name;
    EXPECT_EQ(std::memcmp(tensor->data(), expected.data(), expected.size()), 0) << name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(tensor->data()) % dtype_size(dtype), 0u) << name;
  };
  check("f32", DType::kF32, {3}, raw_bytes(f32));
  check("f64", DType::kF64, {2, 1}, raw_bytes(f64));
  check("i64", DType::kI64, {2}, raw_bytes(i64));
  check("i32", DType::kI32, {2, 2}, raw_bytes(i32));
  check("i16", DType::kI16, {2}, raw_bytes(i16));
  check("i8", DType::kI8, {3}, raw_bytes(i8));
  check("u8", DType::kU8, {2}, raw_bytes(u8));
  check("flags", DType::kBool, {3}, raw_bytes(flags));
  check("f16", DType::kF16, {2}, raw_bytes(f16));
  check("bf16", DType::kBF16, {1, 2}, raw_bytes(bf16));
  auto bf16_tensor = (*file)->tensor("bf16");
  EXPECT_FLOAT_EQ(bf16_tensor->to_f32().data_as<float>()[0], 3.0f);
  EXPECT_FLOAT_EQ(bf16_tensor->to_f32().data_as<float>()[1], -0.0078125f);
  EXPECT_FLOAT_EQ((*file)->tensor("f16")->to_f32().data_as<float>()[1], -65504.0f);
}

TEST(Safetensors, ScalarAndEmptyTensors) {
  const std::vector<float> scalar = {42.0f};
  auto file = parse(safetensors_file({{"scalar", "F32", {}, raw_bytes(scalar)},
                                      {"empty", "F32", {0, 4}, ""},
                                      {"after", "F32", {1}, raw_bytes(scalar)}}));
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  EXPECT_EQ((*file)->tensor("scalar")->numel(), 1);
  EXPECT_EQ((*file)->tensor("scalar")->data_as<float>()[0], 42.0f);
  EXPECT_EQ((*file)->tensor("empty")->numel(), 0);
  EXPECT_EQ((*file)->tensor("after")->data_as<float>()[0], 42.0f);
}

TEST(Safetensors, MisalignedDataIsCopiedToAlignedMemory) {
  const std::vector<float> values = {1.0f, 2.0f, 3.0f, 4.0f};
  // Header padded so that 8 + header length is odd: the data section starts misaligned.
  for (size_t pad = 151; pad <= 154; ++pad) {
    auto file = parse(safetensors_file({{"w", "F32", {2, 2}, raw_bytes(values)},
                                        {"d", "F64", {1}, raw_bytes(std::vector<double>{-9.5})}},
                                       pad));
    ASSERT_TRUE(file.ok()) << file.status().to_string();
    auto tensor = (*file)->tensor("w");
    EXPECT_EQ(reinterpret_cast<uintptr_t>(tensor->data()) % alignof(float), 0u);
    for (int idx = 0; idx < 4; ++idx) EXPECT_EQ(tensor->data_as<float>()[idx], values[idx]);
    auto wide = (*file)->tensor("d");
    EXPECT_EQ(reinterpret_cast<uintptr_t>(wide->data()) % alignof(double), 0u);
    EXPECT_EQ(wide->data_as<double>()[0], -9.5);
  }
}

TEST(Safetensors, OpenMapsFileAndViewsOutliveTheWeightFile) {
  const std::vector<float> values = {0.25f, 0.5f};
  const Bytes bytes = safetensors_file({{"w", "F32", {2}, raw_bytes(values)}});
  const auto path = std::filesystem::temp_directory_path() / "justnews_model_test.safetensors";
  std::ofstream(path, std::ios::binary) << bytes;
  Tensor kept;
  {
    auto file = open_safetensors(path.string());
    ASSERT_TRUE(file.ok()) << file.status().to_string();
    EXPECT_EQ((*file)->path(), path.string());
    kept = *(*file)->tensor("w");
  }
  std::filesystem::remove(path);
  EXPECT_EQ(kept.data_as<float>()[1], 0.5f);  // the mapping lives on in the tensor's owner
}

TEST(Safetensors, MissingFileAndUnknownTensorAreNotFound) {
  auto missing = open_safetensors("/nonexistent/model.safetensors");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/model.safetensors"), std::string::npos);
  auto file = parse(safetensors_file({{"w", "F32", {1}, Bytes(4, '\0')}}));
  ASSERT_TRUE(file.ok());
  auto absent = (*file)->tensor("nope");
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.status().code(), StatusCode::kNotFound);
  EXPECT_NE(absent.status().message().find("'nope'"), std::string::npos);
  EXPECT_FALSE((*file)->contains("nope"));
}

TEST(Safetensors, RefusesBadHeaderLengths) {
  expect_refused("", {"too short"});
  expect_refused(Bytes("\x05\0\0\0", 4), {"too short"});
  Bytes too_long;
  testing::append_le(too_long, 1000, 8);
  expect_refused(too_long + "{}", {"larger than the file"});
  Bytes absurd;
  testing::append_le(absurd, uint64_t{1} << 40, 8);
  expect_refused(absurd + "{}", {"100 MB"});
  Bytes max_length;
  testing::append_le(max_length, ~uint64_t{0}, 8);
  expect_refused(max_length, {"100 MB"});
}

TEST(Safetensors, RefusesInvalidJson) {
  expect_refused(safetensors_file("{\"w\": {", ""), {"not valid JSON"});
  expect_refused(safetensors_file("[1, 2]", ""), {"JSON object"});
  expect_refused(safetensors_file("{\"w\": \"\xff\xfe\"}", ""), {"not valid JSON"});
}

TEST(Safetensors, RefusesMissingAndIllTypedFields) {
  expect_refused(one_tensor_header("5"), {"'w'", "object"});
  expect_refused(one_tensor_header(R"({"shape":[1],"data_offsets":[0,4]})"), {"'w'", "no 'dtype'"});
  expect_refused(one_tensor_header(R"({"dtype":7,"shape":[1],"data_offsets":[0,4]})"), {"'dtype'", "string"});
  expect_refused(one_tensor_header(R"({"dtype":"F32","data_offsets":[0,4]})"), {"no 'shape'"});
  expect_refused(one_tensor_header(R"({"dtype":"F32","shape":4,"data_offsets":[0,4]})"), {"'shape'", "array"});
  expect_refused(one_tensor_header(R"({"dtype":"F32","shape":["4"],"data_offsets":[0,16]})"), {"shape[0]"});
  expect_refused(one_tensor_header(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})"), {"shape[0]"});
  expect_refused(one_tensor_header(R"({"dtype":"F32","shape":[1]})"), {"no 'data_offsets'"});
  expect_refused(one_tensor_header(R"({"dtype":"F32","shape":[1],"data_offsets":[0]})"), {"'data_offsets'"});
  expect_refused(one_tensor_header(R"({"dtype":"F32","shape":[1],"data_offsets":[0,"4"]})"), {"data_offsets[1]"});
}

TEST(Safetensors, RefusesUnknownDtype) {
  expect_refused(one_tensor_header(R"({"dtype":"Q4","shape":[1],"data_offsets":[0,1]})"),
                 {"'w'", "'Q4'", "F32, F16, BF16"});
}

TEST(Safetensors, RefusesNegativeAndOverflowingShapes) {
  expect_refused(one_tensor_header(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"), {"'w'", "negative"});
  expect_refused(one_tensor_header(
                     R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]})"),
                 {"'w'", "overflow"});
  expect_refused(one_tensor_header(
                     R"({"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,16]})"),
                 {"'w'", "overflow"});
  expect_refused(one_tensor_header(
                     R"({"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,16]})"),
                 {"'w'"});
}

TEST(Safetensors, RefusesBadDataOffsets) {
  expect_refused(one_tensor_header(R"({"dtype":"F32","shape":[2],"data_offsets":[8,24]})"),
                 {"'w'", "outside the data section of 16 bytes"});
  expect_refused(one_tensor_header(R"({"dtype":"F32","shape":[0],"data_offsets":[8,4]})"), {"'w'", "reversed"});
  expect_refused(one_tensor_header(R"({"dtype":"F32","shape":[3],"data_offsets":[0,16]})"),
                 {"'w'", "16 bytes", "needs 12"});
  expect_refused(one_tensor_header(R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})"), {"negative"});
}

TEST(Safetensors, RefusesOverlappingAndDuplicateTensors) {
  expect_refused(safetensors_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                  R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                  Bytes(16, '\0')),
                 {"'b'", "overlap", "'a'"});
  expect_refused(safetensors_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                  R"("a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                                  Bytes(16, '\0')),
                 {"'a'", "twice"});
}

TEST(Safetensors, MetadataIsIgnored) {
  auto file = parse(safetensors_file(
      R"({"__metadata__":{"format":"pt","anything":"goes"},"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})",
      "ab"));
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  EXPECT_EQ((*file)->tensor_names(), std::vector<std::string>{"w"});
}

}  // namespace
}  // namespace justnews
