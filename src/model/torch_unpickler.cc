// Restricted unpickler for torch.save's data.pkl. The opcode semantics follow CPython's
// Lib/pickle.py (MARK opens a new stack frame; pops never reach below it).
#include "model/torch_unpickler.h"

#include <cstring>
#include <unordered_map>

#include "model/byte_buffer.h"

namespace justnews {
namespace {

constexpr size_t kMaxStackDepth = 1u << 20;
constexpr size_t kMaxGlobalNameBytes = 256;
constexpr size_t kMaxTensorRank = 16;

enum Opcode : uint8_t {
  kMark = '(', kStop = '.', kBinFloat = 'G', kBinInt = 'J', kBinInt1 = 'K', kBinInt2 = 'M',
  kNone = 'N', kBinPersId = 'Q', kReduce = 'R', kBinUnicode = 'X', kAppend = 'a', kBuild = 'b',
  kGlobal = 'c', kAppends = 'e', kBinGet = 'h', kLongBinGet = 'j', kEmptyList = ']',
  kBinPut = 'q', kLongBinPut = 'r', kSetItem = 's', kTuple = 't', kEmptyTuple = ')',
  kSetItems = 'u', kEmptyDict = '}', kProto = 0x80, kNewObj = 0x81, kTuple1 = 0x85,
  kTuple2 = 0x86, kTuple3 = 0x87, kNewTrue = 0x88, kNewFalse = 0x89, kLong1 = 0x8a,
  kShortBinUnicode = 0x8c, kBinUnicode8 = 0x8d, kStackGlobal = 0x93, kMemoize = 0x94, kFrame = 0x95,
};

struct AllowedGlobal {
  const char* module;
  const char* name;
  TorchGlobal global;
  DType dtype;
};

constexpr AllowedGlobal kAllowedGlobals[] = {
    {"collections", "OrderedDict", TorchGlobal::kOrderedDict, DType::kF32},
    {"torch._utils", "_rebuild_tensor_v2", TorchGlobal::kRebuildTensorV2, DType::kF32},
    {"torch._utils", "_rebuild_tensor", TorchGlobal::kRebuildTensor, DType::kF32},
    {"torch._utils", "_rebuild_parameter", TorchGlobal::kRebuildParameter, DType::kF32},
    {"torch", "FloatStorage", TorchGlobal::kStorageType, DType::kF32},
    {"torch", "HalfStorage", TorchGlobal::kStorageType, DType::kF16},
    {"torch", "BFloat16Storage", TorchGlobal::kStorageType, DType::kBF16},
    {"torch", "DoubleStorage", TorchGlobal::kStorageType, DType::kF64},
    {"torch", "LongStorage", TorchGlobal::kStorageType, DType::kI64},
    {"torch", "IntStorage", TorchGlobal::kStorageType, DType::kI32},
    {"torch", "ShortStorage", TorchGlobal::kStorageType, DType::kI16},
    {"torch", "CharStorage", TorchGlobal::kStorageType, DType::kI8},
    {"torch", "ByteStorage", TorchGlobal::kStorageType, DType::kU8},
    {"torch", "BoolStorage", TorchGlobal::kStorageType, DType::kBool},
    {"torch", "float32", TorchGlobal::kDtype, DType::kF32},
    {"torch", "float16", TorchGlobal::kDtype, DType::kF16},
    {"torch", "bfloat16", TorchGlobal::kDtype, DType::kBF16},
    {"torch", "float64", TorchGlobal::kDtype, DType::kF64},
    {"torch", "int64", TorchGlobal::kDtype, DType::kI64},
    {"torch", "int32", TorchGlobal::kDtype, DType::kI32},
    {"torch", "int16", TorchGlobal::kDtype, DType::kI16},
    {"torch", "int8", TorchGlobal::kDtype, DType::kI8},
    {"torch", "uint8", TorchGlobal::kDtype, DType::kU8},
    {"torch", "bool", TorchGlobal::kDtype, DType::kBool},
};

// Bounds-checked reads of opcode arguments.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  size_t offset() const { return offset_; }
  bool at_end() const { return offset_ >= size_; }
  bool has(uint64_t count) const { return count <= size_ - offset_; }
  uint8_t u8() { return data_[offset_++]; }
  uint64_t little_endian(size_t count) {
    uint64_t value = 0;
    for (size_t byte_idx = 0; byte_idx < count; ++byte_idx)
      value |= static_cast<uint64_t>(data_[offset_ + byte_idx]) << (8 * byte_idx);
    offset_ += count;
    return value;
  }
  std::string bytes(size_t count) {
    std::string text(reinterpret_cast<const char*>(data_ + offset_), count);
    offset_ += count;
    return text;
  }
  // Reads up to a newline (GLOBAL's text arguments); false when none is near.
  bool line(std::string& text) {
    for (size_t length = 0; length < kMaxGlobalNameBytes && offset_ + length < size_; ++length) {
      if (data_[offset_ + length] == '\n') {
        text = bytes(length);
        ++offset_;
        return true;
      }
    }
    return false;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t offset_ = 0;
};

const char* kind_name(PickleKind kind) {
  switch (kind) {
    case PickleKind::kNone: return "None";
    case PickleKind::kBool: return "bool";
    case PickleKind::kInt: return "int";
    case PickleKind::kFloat: return "float";
    case PickleKind::kString: return "str";
    case PickleKind::kTuple: return "tuple";
    case PickleKind::kList: return "list";
    case PickleKind::kDict: return "dict";
    case PickleKind::kGlobal: return "global";
    case PickleKind::kStorage: return "storage";
    case PickleKind::kTensor: return "tensor";
  }
  return "unknown";
}

bool is_int(const PickleValue* value) { return value->kind == PickleKind::kInt; }

}  // namespace

PickleValue* TorchUnpickler::make(PickleKind kind) {
  arena_.emplace_back();
  arena_.back().kind = kind;
  return &arena_.back();
}

Result<PickleValue*> TorchUnpickler::resolve_global(const std::string& module, const std::string& name) {
  for (const auto& allowed : kAllowedGlobals) {
    if (module == allowed.module && name == allowed.name) {
      PickleValue* value = make(PickleKind::kGlobal);
      value->text = module + "." + name;
      value->global = allowed.global;
      value->dtype = allowed.dtype;
      return value;
    }
  }
  return unsupported("global '" + module + "." + name + "' is not allowed in " + source_ +
                     " (only tensors and plain containers are loaded; nothing is executed)");
}

Result<PickleValue*> TorchUnpickler::persistent_load(const PickleValue& pid) {
  // torch.save: ('storage', <storage type>, key, location, numel)
  if (pid.kind != PickleKind::kTuple || pid.items.size() != 5 ||
      pid.items[0]->kind != PickleKind::kString || pid.items[0]->text != "storage") {
    return corrupt_data("persistent id is not a ('storage', type, key, location, numel) tuple");
  }
  const PickleValue* type = pid.items[1];
  if (type->kind != PickleKind::kGlobal || type->global != TorchGlobal::kStorageType)
    return corrupt_data("persistent id names " + std::string(kind_name(type->kind)) +
                        " where a storage type such as torch.FloatStorage was expected");
  if (pid.items[2]->kind != PickleKind::kString)
    return corrupt_data("storage key must be a string, found " + std::string(kind_name(pid.items[2]->kind)));
  JN_ASSIGN_OR_RETURN(StorageBytes bytes, load_storage_(pid.items[2]->text));
  if (bytes.size_bytes % dtype_size(type->dtype) != 0)
    return corrupt_data("storage '" + pid.items[2]->text + "' holds " +
                        std::to_string(bytes.size_bytes) + " bytes, not a multiple of the " +
                        std::string(dtype_name(type->dtype)) + " element size");
  PickleValue* storage = make(PickleKind::kStorage);
  storage->text = pid.items[2]->text;
  storage->dtype = type->dtype;
  storage->storage_data = bytes.data;
  storage->storage_bytes = bytes.size_bytes;
  return storage;
}

Result<PickleValue*> TorchUnpickler::rebuild_tensor(const PickleValue& args) {
  // (storage, storage_offset, size, stride, ...)
  const PickleValue* storage = args.items[0];
  const PickleValue* offset = args.items[1];
  const PickleValue* sizes = args.items[2];
  const PickleValue* strides = args.items[3];
  if (storage->kind != PickleKind::kStorage)
    return corrupt_data("tensor rebuild expects a storage, found " + std::string(kind_name(storage->kind)));
  if (!is_int(offset) || offset->integer < 0)
    return corrupt_data("tensor storage_offset must be a non-negative int");
  if (sizes->kind != PickleKind::kTuple || strides->kind != PickleKind::kTuple ||
      sizes->items.size() != strides->items.size() || sizes->items.size() > kMaxTensorRank)
    return corrupt_data("tensor size and stride must be tuples of equal length (at most " +
                        std::to_string(kMaxTensorRank) + ")");
  const size_t element_bytes = dtype_size(storage->dtype);
  const uint64_t storage_numel = storage->storage_bytes / element_bytes;
  Shape shape;
  std::vector<int64_t> stride_elements;
  uint64_t numel = 1;
  for (size_t axis = 0; axis < sizes->items.size(); ++axis) {
    const PickleValue* extent = sizes->items[axis];
    const PickleValue* step = strides->items[axis];
    if (!is_int(extent) || extent->integer < 0 || !is_int(step) || step->integer < 0)
      return corrupt_data("tensor on storage '" + storage->text +
                          "' has a size or stride that is not a non-negative int");
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(extent->integer), &numel) ||
        numel > static_cast<uint64_t>(INT64_MAX / 8))
      return corrupt_data("tensor on storage '" + storage->text + "' has too many elements");
    shape.push_back(extent->integer);
    stride_elements.push_back(step->integer);
  }
  if (numel == 0) {
    PickleValue* value = make(PickleKind::kTensor);
    value->tensor = Tensor::zeros(storage->dtype, shape);
    return value;
  }
  // The furthest element the view touches must lie inside the storage.
  uint64_t last_index = static_cast<uint64_t>(offset->integer);
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    uint64_t span = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(shape[axis] - 1),
                               static_cast<uint64_t>(stride_elements[axis]), &span) ||
        __builtin_add_overflow(last_index, span, &last_index))
      return corrupt_data("tensor on storage '" + storage->text + "' has overflowing strides");
  }
  if (last_index >= storage_numel)
    return corrupt_data("tensor " + shape_to_string(shape) + " at offset " +
                        std::to_string(offset->integer) + " reaches element " +
                        std::to_string(last_index) + " of storage '" + storage->text +
                        "' which has " + std::to_string(storage_numel) + " elements");

  bool contiguous = true;
  int64_t expected_stride = 1;
  for (size_t axis = shape.size(); axis-- > 0;) {
    if (shape[axis] != 1 && stride_elements[axis] != expected_stride) contiguous = false;
    expected_stride *= shape[axis];
  }
  if (!contiguous && numel > storage_numel)
    return unsupported("tensor " + shape_to_string(shape) + " on storage '" + storage->text +
                       "' repeats storage elements (zero or overlapping strides)");
  const uint8_t* base = storage->storage_data + static_cast<uint64_t>(offset->integer) * element_bytes;
  PickleValue* value = make(PickleKind::kTensor);
  if (contiguous) {
    value->tensor = aligned_tensor_view(storage->dtype, shape, base, owner_);
    return value;
  }
  // Strided views are gathered into a contiguous copy, walking the index like an odometer.
  Tensor copy = Tensor::zeros(storage->dtype, shape);
  uint8_t* destination = static_cast<uint8_t*>(copy.mutable_data());
  std::vector<int64_t> index(shape.size(), 0);
  for (uint64_t element_idx = 0; element_idx < numel; ++element_idx) {
    uint64_t source_element = 0;
    for (size_t axis = 0; axis < shape.size(); ++axis)
      source_element += static_cast<uint64_t>(index[axis] * stride_elements[axis]);
    std::memcpy(destination + element_idx * element_bytes, base + source_element * element_bytes,
                element_bytes);
    for (size_t axis = shape.size(); axis-- > 0;) {
      if (++index[axis] < shape[axis]) break;
      index[axis] = 0;
    }
  }
  value->tensor = std::move(copy);
  return value;
}

Result<PickleValue*> TorchUnpickler::reduce(const PickleValue& callable, const PickleValue& args) {
  if (callable.kind != PickleKind::kGlobal)
    return corrupt_data("REDUCE calls a " + std::string(kind_name(callable.kind)) + ", not a global");
  if (args.kind != PickleKind::kTuple)
    return corrupt_data("REDUCE arguments for '" + callable.text + "' are not a tuple");
  const size_t arg_count = args.items.size();
  switch (callable.global) {
    case TorchGlobal::kOrderedDict: {
      if (arg_count != 0)
        return unsupported("collections.OrderedDict with constructor arguments");
      return make(PickleKind::kDict);
    }
    case TorchGlobal::kRebuildTensorV2:
      // (storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (arg_count != 6 && arg_count != 7)
        return corrupt_data("_rebuild_tensor_v2 takes 6 or 7 arguments, found " +
                            std::to_string(arg_count));
      return rebuild_tensor(args);
    case TorchGlobal::kRebuildTensor:
      if (arg_count != 4)
        return corrupt_data("_rebuild_tensor takes 4 arguments, found " +
                            std::to_string(arg_count));
      return rebuild_tensor(args);
    case TorchGlobal::kRebuildParameter:
      // (tensor, requires_grad, backward_hooks): a Parameter is just its tensor for inference.
      if (arg_count < 1 || args.items[0]->kind != PickleKind::kTensor)
        return corrupt_data("_rebuild_parameter expects a tensor argument");
      return args.items[0];
    case TorchGlobal::kStorageType:
    case TorchGlobal::kDtype:
      break;
  }
  return unsupported("calling '" + callable.text + "' is not supported");
}

Result<const PickleValue*> TorchUnpickler::load(const uint8_t* pickle, size_t size_bytes) {
  Cursor cursor(pickle, size_bytes);
  std::vector<PickleValue*> stack;
  std::vector<size_t> marks;  // stack heights at each open MARK
  std::unordered_map<uint64_t, PickleValue*> memo;
  uint8_t opcode = 0;
  size_t opcode_offset = 0;

  auto where = [&]() {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "0x%02x", opcode);
    return source_ + ": opcode " + hex + " at offset " + std::to_string(opcode_offset);
  };
  auto floor = [&]() { return marks.empty() ? size_t{0} : marks.back(); };
  auto pop = [&](PickleValue*& value) -> Status {
    if (stack.size() <= floor()) return corrupt_data(where() + ": pickle stack underflow");
    value = stack.back();
    stack.pop_back();
    return ok_status();
  };
  auto top = [&](PickleValue*& value) -> Status {
    if (stack.size() <= floor()) return corrupt_data(where() + ": pickle stack underflow");
    value = stack.back();
    return ok_status();
  };
  // Items pushed since the last MARK, which is closed.
  auto pop_mark = [&](std::vector<PickleValue*>& items) -> Status {
    if (marks.empty()) return corrupt_data(where() + ": no MARK to pop to");
    items.assign(stack.begin() + static_cast<std::ptrdiff_t>(marks.back()), stack.end());
    stack.resize(marks.back());
    marks.pop_back();
    return ok_status();
  };
  auto need = [&](uint64_t count) -> Status {
    if (!cursor.has(count))
      return corrupt_data(where() + ": truncated (needs " + std::to_string(count) + " more bytes)");
    return ok_status();
  };
  auto push = [&](PickleValue* value) -> Status {
    if (stack.size() >= kMaxStackDepth) return corrupt_data(where() + ": pickle stack too deep");
    stack.push_back(value);
    return ok_status();
  };
  auto push_string = [&](uint64_t length) -> Status {
    JN_RETURN_IF_ERROR(need(length));
    PickleValue* value = make(PickleKind::kString);
    value->text = cursor.bytes(length);
    return push(value);
  };
  auto push_int = [&](int64_t integer) -> Status {
    PickleValue* value = make(PickleKind::kInt);
    value->integer = integer;
    return push(value);
  };
  auto memo_get = [&](uint64_t key) -> Status {
    auto found = memo.find(key);
    if (found == memo.end())
      return corrupt_data(where() + ": memo entry " + std::to_string(key) + " was never stored");
    return push(found->second);
  };
  auto memo_put = [&](uint64_t key) -> Status {
    PickleValue* value = nullptr;
    JN_RETURN_IF_ERROR(top(value));
    memo[key] = value;
    return ok_status();
  };
  auto make_tuple = [&](std::vector<PickleValue*> items) -> Status {
    PickleValue* tuple = make(PickleKind::kTuple);
    tuple->items = std::move(items);
    return push(tuple);
  };
  auto set_items = [&](PickleValue* dict, const std::vector<PickleValue*>& items) -> Status {
    if (dict->kind != PickleKind::kDict)
      return corrupt_data(where() + ": SETITEM on a " + std::string(kind_name(dict->kind)) + ", not a dict");
    if (items.size() % 2 != 0) return corrupt_data(where() + ": SETITEMS with an odd item count");
    for (size_t item_idx = 0; item_idx < items.size(); item_idx += 2)
      dict->entries.emplace_back(items[item_idx], items[item_idx + 1]);
    return ok_status();
  };
  auto append_items = [&](PickleValue* list, const std::vector<PickleValue*>& items) -> Status {
    if (list->kind != PickleKind::kList)
      return corrupt_data(where() + ": APPEND on a " + std::string(kind_name(list->kind)) + ", not a list");
    list->items.insert(list->items.end(), items.begin(), items.end());
    return ok_status();
  };

  while (!cursor.at_end()) {
    opcode_offset = cursor.offset();
    opcode = cursor.u8();
    switch (opcode) {
      case kProto: {
        JN_RETURN_IF_ERROR(need(1));
        const uint8_t version = cursor.u8();
        if (version < 2 || version > 5)
          return unsupported(where() + ": pickle protocol " + std::to_string(version) +
                             " (supported: 2 to 5)");
        break;
      }
      case kFrame:
        JN_RETURN_IF_ERROR(need(8));
        cursor.little_endian(8);  // framing is a read-ahead hint; the opcodes follow inline
        break;
      case kEmptyDict: JN_RETURN_IF_ERROR(push(make(PickleKind::kDict))); break;
      case kEmptyList: JN_RETURN_IF_ERROR(push(make(PickleKind::kList))); break;
      case kEmptyTuple: JN_RETURN_IF_ERROR(push(make(PickleKind::kTuple))); break;
      case kMark:
        if (marks.size() >= kMaxStackDepth) return corrupt_data(where() + ": too many MARKs");
        marks.push_back(stack.size());
        break;
      case kTuple: {
        std::vector<PickleValue*> items;
        JN_RETURN_IF_ERROR(pop_mark(items));
        JN_RETURN_IF_ERROR(make_tuple(std::move(items)));
        break;
      }
      case kTuple1:
      case kTuple2:
      case kTuple3: {
        std::vector<PickleValue*> items(opcode - kTuple1 + 1);
        for (size_t item_idx = items.size(); item_idx-- > 0;) JN_RETURN_IF_ERROR(pop(items[item_idx]));
        JN_RETURN_IF_ERROR(make_tuple(std::move(items)));
        break;
      }
      case kBinInt:
        JN_RETURN_IF_ERROR(need(4));
        JN_RETURN_IF_ERROR(push_int(static_cast<int32_t>(cursor.little_endian(4))));
        break;
      case kBinInt1:
        JN_RETURN_IF_ERROR(need(1));
        JN_RETURN_IF_ERROR(push_int(cursor.u8()));
        break;
      case kBinInt2:
        JN_RETURN_IF_ERROR(need(2));
        JN_RETURN_IF_ERROR(push_int(static_cast<int64_t>(cursor.little_endian(2))));
        break;
      case kLong1: {
        JN_RETURN_IF_ERROR(need(1));
        const uint8_t length = cursor.u8();
        if (length > 8) return unsupported(where() + ": integer of " + std::to_string(length) + " bytes");
        JN_RETURN_IF_ERROR(need(length));
        uint64_t bits = cursor.little_endian(length);
        if (length > 0 && length < 8 && (bits >> (8 * length - 1)) & 1u)
          bits |= ~uint64_t{0} << (8 * length);  // sign-extend two's complement
        JN_RETURN_IF_ERROR(push_int(static_cast<int64_t>(bits)));
        break;
      }
      case kBinUnicode:
        JN_RETURN_IF_ERROR(need(4));
        JN_RETURN_IF_ERROR(push_string(cursor.little_endian(4)));
        break;
      case kShortBinUnicode:
        JN_RETURN_IF_ERROR(need(1));
        JN_RETURN_IF_ERROR(push_string(cursor.u8()));
        break;
      case kBinUnicode8:
        JN_RETURN_IF_ERROR(need(8));
        JN_RETURN_IF_ERROR(push_string(cursor.little_endian(8)));
        break;
      case kBinFloat: {
        JN_RETURN_IF_ERROR(need(8));
        uint64_t bits = 0;
        for (int byte_idx = 0; byte_idx < 8; ++byte_idx) bits = bits << 8 | cursor.u8();  // big-endian
        PickleValue* value = make(PickleKind::kFloat);
        std::memcpy(&value->real, &bits, sizeof(bits));
        JN_RETURN_IF_ERROR(push(value));
        break;
      }
      case kNone: JN_RETURN_IF_ERROR(push(make(PickleKind::kNone))); break;
      case kNewTrue:
      case kNewFalse: {
        PickleValue* value = make(PickleKind::kBool);
        value->integer = opcode == kNewTrue;
        JN_RETURN_IF_ERROR(push(value));
        break;
      }
      case kSetItem: {
        PickleValue *value = nullptr, *key = nullptr, *dict = nullptr;
        JN_RETURN_IF_ERROR(pop(value));
        JN_RETURN_IF_ERROR(pop(key));
        JN_RETURN_IF_ERROR(top(dict));
        JN_RETURN_IF_ERROR(set_items(dict, {key, value}));
        break;
      }
      case kSetItems: {
        std::vector<PickleValue*> items;
        PickleValue* dict = nullptr;
        JN_RETURN_IF_ERROR(pop_mark(items));
        JN_RETURN_IF_ERROR(top(dict));
        JN_RETURN_IF_ERROR(set_items(dict, items));
        break;
      }
      case kAppend: {
        PickleValue *value = nullptr, *list = nullptr;
        JN_RETURN_IF_ERROR(pop(value));
        JN_RETURN_IF_ERROR(top(list));
        JN_RETURN_IF_ERROR(append_items(list, {value}));
        break;
      }
      case kAppends: {
        std::vector<PickleValue*> items;
        PickleValue* list = nullptr;
        JN_RETURN_IF_ERROR(pop_mark(items));
        JN_RETURN_IF_ERROR(top(list));
        JN_RETURN_IF_ERROR(append_items(list, items));
        break;
      }
      case kBinPut:
        JN_RETURN_IF_ERROR(need(1));
        JN_RETURN_IF_ERROR(memo_put(cursor.u8()));
        break;
      case kLongBinPut:
        JN_RETURN_IF_ERROR(need(4));
        JN_RETURN_IF_ERROR(memo_put(cursor.little_endian(4)));
        break;
      case kMemoize: JN_RETURN_IF_ERROR(memo_put(memo.size())); break;
      case kBinGet:
        JN_RETURN_IF_ERROR(need(1));
        JN_RETURN_IF_ERROR(memo_get(cursor.u8()));
        break;
      case kLongBinGet:
        JN_RETURN_IF_ERROR(need(4));
        JN_RETURN_IF_ERROR(memo_get(cursor.little_endian(4)));
        break;
      case kGlobal: {
        std::string module, name;
        if (!cursor.line(module) || !cursor.line(name))
          return corrupt_data(where() + ": GLOBAL without newline-terminated module and name");
        JN_ASSIGN_OR_RETURN(PickleValue * global, resolve_global(module, name));
        JN_RETURN_IF_ERROR(push(global));
        break;
      }
      case kStackGlobal: {
        PickleValue *name = nullptr, *module = nullptr;
        JN_RETURN_IF_ERROR(pop(name));
        JN_RETURN_IF_ERROR(pop(module));
        if (name->kind != PickleKind::kString || module->kind != PickleKind::kString)
          return corrupt_data(where() + ": STACK_GLOBAL needs two strings");
        JN_ASSIGN_OR_RETURN(PickleValue * global, resolve_global(module->text, name->text));
        JN_RETURN_IF_ERROR(push(global));
        break;
      }
      case kReduce:
      case kNewObj: {
        PickleValue *args = nullptr, *callable = nullptr;
        JN_RETURN_IF_ERROR(pop(args));
        JN_RETURN_IF_ERROR(pop(callable));
        if (opcode == kNewObj &&
            !(callable->kind == PickleKind::kGlobal && callable->global == TorchGlobal::kOrderedDict))
          return unsupported(where() + ": NEWOBJ is only supported for collections.OrderedDict");
        auto result = reduce(*callable, *args);
        if (!result.ok()) return result.status().with_context(where());
        JN_RETURN_IF_ERROR(push(*result));
        break;
      }
      case kBinPersId: {
        PickleValue* pid = nullptr;
        JN_RETURN_IF_ERROR(pop(pid));
        auto storage = persistent_load(*pid);
        if (!storage.ok()) return storage.status().with_context(where());
        JN_RETURN_IF_ERROR(push(*storage));
        break;
      }
      case kBuild: {
        // OrderedDict state (torch's _metadata) and tensor state carry nothing inference needs.
        PickleValue *state = nullptr, *object = nullptr;
        JN_RETURN_IF_ERROR(pop(state));
        JN_RETURN_IF_ERROR(top(object));
        if (object->kind != PickleKind::kDict && object->kind != PickleKind::kTensor)
          return unsupported(where() + ": BUILD on a " + std::string(kind_name(object->kind)));
        break;
      }
      case kStop: {
        PickleValue* result = nullptr;
        JN_RETURN_IF_ERROR(pop(result));
        return static_cast<const PickleValue*>(result);
      }
      default:
        return unsupported(where() + ": pickle opcode not supported by the restricted unpickler");
    }
  }
  return corrupt_data(source_ + ": pickle ends without a STOP opcode (truncated data.pkl?)");
}

}  // namespace justnews
