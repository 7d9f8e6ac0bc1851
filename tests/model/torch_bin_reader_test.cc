// PyTorch .bin reader: zip + restricted unpickler over hand-written torch.save archives, including
// malicious globals, strided storages, zip64 and truncated or inconsistent inputs.
#include <gtest/gtest.h>

#include <cstring>

#include "model/weight_file.h"
#include "tests/model/checkpoint_writers.h"

namespace justnews {
namespace {

using testing::Bytes;
using testing::PickleWriter;
using testing::raw_bytes;
using testing::torch_archive;
using testing::ZipOptions;

Result<std::unique_ptr<WeightFile>> parse(const Bytes& bytes) {
  return parse_torch_bin(bytes.data(), bytes.size(), "test.bin");
}

void expect_refused(const Bytes& bytes, std::initializer_list<std::string> fragments) {
  auto result = parse(bytes);
  ASSERT_FALSE(result.ok());
  const std::string& message = result.status().message();
  EXPECT_NE(message.find("test.bin"), std::string::npos) << message;
  for (const auto& fragment : fragments) EXPECT_NE(message.find(fragment), std::string::npos) << message;
}

// OrderedDict{name: tensor} over one storage per tensor, as torch.save(state_dict) writes it.
struct StateDictSpec {
  std::string name, storage_type, key;
  int64_t storage_numel = 0, offset = 0;
  std::vector<int64_t> size, stride;
};

Bytes state_dict_pickle(const std::vector<StateDictSpec>& specs) {
  PickleWriter pickle;
  pickle.proto().ordered_dict().binput(0).mark();
  for (const auto& spec : specs) {
    pickle.string(spec.name).tensor(spec.storage_type, spec.key, spec.storage_numel, spec.offset,
                                    spec.size, spec.stride);
  }
  return pickle.setitems().stop().bytes();
}

const std::vector<float> kSixFloats = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};

TEST(TorchBin, ReadsContiguousTensorsOfSeveralDtypes) {
  const std::vector<uint16_t> halves = {f32_to_f16(1.5f), f32_to_f16(-2.0f)};
  const std::vector<int64_t> ids = {0, 1, 2};
  const Bytes pickle = state_dict_pickle({{"w", "FloatStorage", "0", 6, 0, {2, 3}, {3, 1}},
                                          {"h", "HalfStorage", "1", 2, 0, {2}, {1}},
                                          {"ids", "LongStorage", "2", 3, 1, {1, 2}, {2, 1}}});
  auto file = parse(torch_archive(
      pickle, {{"0", raw_bytes(kSixFloats)}, {"1", raw_bytes(halves)}, {"2", raw_bytes(ids)}}));
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  EXPECT_EQ((*file)->tensor_names(), (std::vector<std::string>{"h", "ids", "w"}));
  auto weight = *(*file)->tensor("w");
  EXPECT_EQ(weight.dtype(), DType::kF32);
  EXPECT_EQ(weight.shape(), (Shape{2, 3}));
  for (int idx = 0; idx < 6; ++idx) EXPECT_EQ(weight.data_as<float>()[idx], kSixFloats[idx]);
  auto half = *(*file)->tensor("h");
  EXPECT_EQ(half.dtype(), DType::kF16);
  EXPECT_FLOAT_EQ(half.to_f32().data_as<float>()[0], 1.5f);
  auto slice = *(*file)->tensor("ids");  // storage offset 1: elements 1, 2
  EXPECT_EQ(slice.dtype(), DType::kI64);
  EXPECT_EQ(slice.data_as<int64_t>()[0], 1);
  EXPECT_EQ(slice.data_as<int64_t>()[1], 2);
}

TEST(TorchBin, CopiesTransposedTensorsIntoContiguousOrder) {
  // A 3x2 view of the 2x3 storage with strides (1, 3): the transpose.
  auto file = parse(torch_archive(state_dict_pickle({{"t", "FloatStorage", "0", 6, 0, {3, 2}, {1, 3}}}),
                                  {{"0", raw_bytes(kSixFloats)}}));
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  auto transposed = *(*file)->tensor("t");
  const std::vector<float> expected = {1.0f, 4.0f, 2.0f, 5.0f, 3.0f, 6.0f};
  for (int idx = 0; idx < 6; ++idx) EXPECT_EQ(transposed.data_as<float>()[idx], expected[idx]) << idx;
}

TEST(TorchBin, SharedStorageAndZip64) {
  const Bytes pickle = state_dict_pickle({{"a", "FloatStorage", "0", 6, 0, {3}, {1}},
                                          {"b", "FloatStorage", "0", 6, 3, {3}, {1}}});
  for (bool zip64 : {false, true}) {
    auto file = parse(torch_archive(pickle, {{"0", raw_bytes(kSixFloats)}}, ZipOptions{zip64, 0}));
    ASSERT_TRUE(file.ok()) << file.status().to_string();
    EXPECT_EQ((*file)->tensor("a")->data_as<float>()[0], 1.0f);
    EXPECT_EQ((*file)->tensor("b")->data_as<float>()[2], 6.0f);
  }
}

TEST(TorchBin, UnwrapsAndFlattensNestedStateDicts) {
  PickleWriter pickle;
  pickle.proto().empty_dict().mark();
  pickle.string("epoch").integer(3);
  pickle.string("state_dict").empty_dict().mark();
  pickle.string("encoder").empty_dict().string("weight").tensor("FloatStorage", "0", 6, 0, {6}, {1}).setitem();
  pickle.string("bias").tensor("FloatStorage", "0", 6, 2, {2}, {1});
  pickle.setitems().setitems().stop();
  auto file = parse(torch_archive(pickle.bytes(), {{"0", raw_bytes(kSixFloats)}}));
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  EXPECT_EQ((*file)->tensor_names(), (std::vector<std::string>{"bias", "encoder.weight"}));
  EXPECT_EQ((*file)->tensor("bias")->data_as<float>()[0], 3.0f);
}

TEST(TorchBin, RefusesDangerousGlobals) {
  for (auto [module, name] : std::vector<std::pair<std::string, std::string>>{
           {"os", "system"}, {"builtins", "eval"}, {"posix", "system"}, {"torch", "load"},
           {"collections", "defaultdict"}}) {
    PickleWriter pickle;
    pickle.proto().global(module, name).mark().string("echo pwned").tuple().reduce().stop();
    expect_refused(torch_archive(pickle.bytes(), {}),
                   {"global '" + module + "." + name + "' is not allowed in test.bin"});
  }
  // STACK_GLOBAL (protocol 4) spells the same thing with strings on the stack.
  PickleWriter stacked;
  stacked.proto(4).string("os").string("system").raw("\x93").stop();
  expect_refused(torch_archive(stacked.bytes(), {}), {"global 'os.system' is not allowed"});
}

TEST(TorchBin, RefusesTensorsOutsideTheirStorage) {
  expect_refused(torch_archive(state_dict_pickle({{"w", "FloatStorage", "0", 6, 4, {3}, {1}}}),
                               {{"0", raw_bytes(kSixFloats)}}),
                 {"reaches element 6", "storage '0'", "6 elements"});
  expect_refused(torch_archive(state_dict_pickle({{"w", "FloatStorage", "0", 6, 0, {2, 3}, {4, 1}}}),
                               {{"0", raw_bytes(kSixFloats)}}),
                 {"reaches element"});
  expect_refused(torch_archive(state_dict_pickle({{"w", "FloatStorage", "0", 6, 0,
                                                   {5, 3}, {INT64_C(4611686018427387904), 1}}}),
                               {{"0", raw_bytes(kSixFloats)}}),
                 {"overflowing strides"});
  expect_refused(torch_archive(state_dict_pickle({{"w", "FloatStorage", "0", 6, 0, {-1}, {1}}}),
                               {{"0", raw_bytes(kSixFloats)}}),
                 {"non-negative"});
  expect_refused(torch_archive(state_dict_pickle({{"w", "FloatStorage", "7", 6, 0, {6}, {1}}}),
                               {{"0", raw_bytes(kSixFloats)}}),
                 {"storage '7'", "archive/data/7"});
  expect_refused(torch_archive(state_dict_pickle({{"w", "DoubleStorage", "0", 3, 0, {3}, {1}}}),
                               {{"0", Bytes(20, '\0')}}),
                 {"not a multiple"});
  expect_refused(torch_archive(state_dict_pickle({{"w", "FloatStorage", "0", 6, 0, {1000}, {0}}}),
                               {{"0", raw_bytes(kSixFloats)}}),
                 {"repeats storage elements"});
}

TEST(TorchBin, RefusesMalformedPickles) {
  auto archive = [](const Bytes& pickle) { return torch_archive(pickle, {{"0", raw_bytes(kSixFloats)}}); };
  expect_refused(archive(PickleWriter().proto().reduce().stop().bytes()), {"underflow"});
  expect_refused(archive(PickleWriter().proto().binget(9).stop().bytes()), {"memo entry 9"});
  expect_refused(archive(PickleWriter().proto().empty_dict().bytes()), {"without a STOP"});
  expect_refused(archive(PickleWriter().proto().raw("X\xff\xff\xff\x7f" "abc").bytes()), {"truncated"});
  expect_refused(archive(PickleWriter().proto().raw("\x8a\x09").bytes()), {"9 bytes"});
  expect_refused(archive(PickleWriter().proto(9).bytes()), {"protocol 9"});
  expect_refused(archive(PickleWriter().proto().raw("i").bytes()), {"0x69", "not supported"});
  expect_refused(archive(PickleWriter().proto().mark().setitems().stop().bytes()), {"underflow"});
  expect_refused(archive(PickleWriter().proto().empty_tuple().string("k").integer(1).setitem().stop().bytes()),
                 {"not a dict"});
  expect_refused(archive(PickleWriter().proto().empty_tuple().stop().bytes()), {"not a dict"});
  expect_refused(archive(PickleWriter().proto().empty_dict().stop().bytes()), {"no tensors"});
  // A dict that contains itself must not send the flattener into an endless walk.
  expect_refused(archive(PickleWriter().proto().empty_dict().binput(0).string("x").binget(0).setitem().stop().bytes()),
                 {"more than once"});
  // Deep MARK nesting is bounded by the input size, not by recursion.
  expect_refused(archive(PickleWriter().proto().raw(Bytes(100000, '(')).stop().bytes()), {"underflow"});
  // Persistent ids must be storage tuples naming a storage type.
  expect_refused(archive(PickleWriter().proto().string("x").binpersid().stop().bytes()), {"persistent id"});
}

TEST(TorchBin, RefusesBadArchives) {
  const Bytes pickle = state_dict_pickle({{"w", "FloatStorage", "0", 6, 0, {6}, {1}}});
  expect_refused("", {"too short"});
  expect_refused(Bytes(100, 'x'), {"not a zip archive"});
  expect_refused(Bytes("\x80\x02\x8a\x0a", 4) + Bytes(60, '\0'), {"legacy"});
  expect_refused(torch_archive(pickle, {{"0", raw_bytes(kSixFloats)}}, ZipOptions{false, 8}),
                 {"compressed", "method 8"});
  expect_refused(torch_archive(pickle, {{"0", raw_bytes(kSixFloats)}}, {}, "big"), {"big", "little-endian"});
  expect_refused(testing::zip_archive({{"archive/other", "x"}}), {"no data.pkl"});
  Bytes truncated = torch_archive(pickle, {{"0", raw_bytes(kSixFloats)}});
  // Cutting the file in the middle leaves a directory that points past the end.
  expect_refused(truncated.substr(0, 100) + truncated.substr(truncated.size() - 22), {"test.bin"});
}

// The seed corpus was written by torch.save / safetensors.torch.save_file (torch 2.x); see
// docs/fuzzing.md. These pin the reader to what real torch emits, strided views included.
const std::string kCorpus = std::string(JUSTNEWS_SOURCE_DIR) + "/fuzz/corpus/";

TEST(TorchBinRealFiles, StridedViewsAreGatheredLikeTorch) {
  auto file = open_torch_bin(kCorpus + "torch_bin/strided.bin");
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  // base = arange(6).reshape(2, 3); t = base.t(); slice = base[1]
  auto transposed = *(*file)->tensor("t");
  EXPECT_EQ(transposed.shape(), (Shape{3, 2}));
  const std::vector<float> expected = {0, 3, 1, 4, 2, 5};
  for (int idx = 0; idx < 6; ++idx) EXPECT_EQ(transposed.data_as<float>()[idx], expected[idx]);
  auto row = *(*file)->tensor("slice");
  EXPECT_EQ(row.shape(), (Shape{3}));
  EXPECT_EQ(row.data_as<float>()[0], 3.0f);
  EXPECT_EQ(row.data_as<float>()[2], 5.0f);
}

TEST(TorchBinRealFiles, MatchesSafetensorsOfTheSameStateDict) {
  auto bin = open_torch_bin(kCorpus + "torch_bin/state_dict.bin");
  auto safetensors = open_safetensors(kCorpus + "safetensors/small.safetensors");
  ASSERT_TRUE(bin.ok()) << bin.status().to_string();
  ASSERT_TRUE(safetensors.ok()) << safetensors.status().to_string();
  ASSERT_EQ((*bin)->tensor_names(), (*safetensors)->tensor_names());
  for (const auto& name : (*bin)->tensor_names()) {
    auto a = *(*bin)->tensor(name);
    auto b = *(*safetensors)->tensor(name);
    EXPECT_EQ(a.dtype(), b.dtype()) << name;
    ASSERT_EQ(a.shape(), b.shape()) << name;
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.nbytes()), 0) << name;
  }
  auto nested = open_torch_bin(kCorpus + "torch_bin/nested.bin");
  ASSERT_TRUE(nested.ok()) << nested.status().to_string();
  EXPECT_EQ((*nested)->tensor_names(), std::vector<std::string>{"a"});
  EXPECT_EQ((*nested)->tensor("a")->dtype(), DType::kI8);
}

}  // namespace
}  // namespace justnews
