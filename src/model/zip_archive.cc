// Zip central-directory reader (PKWARE APPNOTE 6.3: end-of-central-directory record, zip64
// locator and record, central file headers with zip64 extra fields, local file headers).
#include "model/zip_archive.h"

#include <algorithm>

namespace justnews {
namespace {

constexpr uint32_t kEndOfDirectorySignature = 0x06054b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr size_t kEndOfDirectoryBytes = 22;
constexpr size_t kZip64LocatorBytes = 20;
constexpr size_t kZip64EndBytes = 56;
constexpr size_t kCentralHeaderBytes = 46;
constexpr size_t kLocalHeaderBytes = 30;
constexpr size_t kMaxCommentBytes = 0xffff;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint16_t kMethodStored = 0;
constexpr uint16_t kFlagEncrypted = 0x1;
constexpr uint32_t kZip64Marker32 = 0xffffffffu;
constexpr uint16_t kZip64Marker16 = 0xffff;

// Bounds-checked little-endian reads over the archive.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool has(uint64_t offset, uint64_t count) const { return offset <= size_ && count <= size_ - offset; }
  uint16_t u16(uint64_t offset) const { return static_cast<uint16_t>(data_[offset] | data_[offset + 1] << 8); }
  uint32_t u32(uint64_t offset) const {
    return static_cast<uint32_t>(u16(offset)) | static_cast<uint32_t>(u16(offset + 2)) << 16;
  }
  uint64_t u64(uint64_t offset) const {
    return static_cast<uint64_t>(u32(offset)) | static_cast<uint64_t>(u32(offset + 4)) << 32;
  }
  const uint8_t* at(uint64_t offset) const { return data_ + offset; }
  size_t size() const { return size_; }

 private:
  const uint8_t* data_;
  size_t size_;
};

struct Directory {
  uint64_t entry_count = 0;
  uint64_t offset = 0;
  uint64_t size_bytes = 0;
};

Result<Directory> find_directory(const Reader& reader) {
  if (reader.size() < kEndOfDirectoryBytes)
    return corrupt_data("file is " + std::to_string(reader.size()) +
                        " bytes, too short to be a zip archive");
  const uint64_t last_start = reader.size() - kEndOfDirectoryBytes;
  const uint64_t first_start = last_start > kMaxCommentBytes ? last_start - kMaxCommentBytes : 0;
  for (uint64_t start = last_start + 1; start-- > first_start;) {
    if (reader.u32(start) != kEndOfDirectorySignature) continue;
    Directory directory;
    directory.entry_count = reader.u16(start + 10);
    directory.size_bytes = reader.u32(start + 12);
    directory.offset = reader.u32(start + 16);
    const bool needs_zip64 = directory.entry_count == kZip64Marker16 ||
                             directory.size_bytes == kZip64Marker32 ||
                             directory.offset == kZip64Marker32;
    if (start >= kZip64LocatorBytes && reader.u32(start - kZip64LocatorBytes) == kZip64LocatorSignature) {
      const uint64_t record = reader.u64(start - kZip64LocatorBytes + 8);
      if (!reader.has(record, kZip64EndBytes) || reader.u32(record) != kZip64EndSignature)
        return corrupt_data("zip64 end-of-central-directory record is missing or outside the file");
      directory.entry_count = reader.u64(record + 32);
      directory.size_bytes = reader.u64(record + 40);
      directory.offset = reader.u64(record + 48);
    } else if (needs_zip64) {
      return corrupt_data("zip archive needs zip64 records but has none");
    }
    if (!reader.has(directory.offset, directory.size_bytes))
      return corrupt_data("zip central directory (offset " + std::to_string(directory.offset) + ", " +
                          std::to_string(directory.size_bytes) + " bytes) lies outside the file");
    return directory;
  }
  return corrupt_data(
      "no zip end-of-central-directory record: not a zip archive (checkpoints written by torch < 1.6 "
      "in the legacy format are not supported; re-save them with a newer torch)");
}

// Replaces 0xffffffff sizes/offset with the values of the zip64 extra field.
Status apply_zip64_extra(const Reader& reader, uint64_t extra_offset, uint16_t extra_bytes,
                         const std::string& entry_name, uint64_t& uncompressed, uint64_t& compressed,
                         uint64_t& local_offset) {
  uint64_t cursor = extra_offset;
  const uint64_t extra_end = extra_offset + extra_bytes;
  while (cursor + 4 <= extra_end) {
    const uint16_t id = reader.u16(cursor);
    const uint16_t field_bytes = reader.u16(cursor + 2);
    cursor += 4;
    if (field_bytes > extra_end - cursor)
      return corrupt_data("zip entry '" + entry_name + "' has an extra field past its header");
    if (id == kZip64ExtraId) {
      uint64_t field = cursor;
      const uint64_t field_end = cursor + field_bytes;
      for (uint64_t* value : {&uncompressed, &compressed, &local_offset}) {
        if (*value != kZip64Marker32) continue;
        if (field + 8 > field_end)
          return corrupt_data("zip entry '" + entry_name + "' has a truncated zip64 extra field");
        *value = reader.u64(field);
        field += 8;
      }
    }
    cursor += field_bytes;
  }
  return ok_status();
}

}  // namespace

Result<ZipArchive> ZipArchive::open(const ByteBuffer& buffer, const std::string& name) {
  auto fail = [&name](const Status& status) { return status.with_context(name); };
  Reader reader(buffer.data, buffer.size);
  auto directory = find_directory(reader);
  if (!directory.ok()) return fail(directory.status());

  ZipArchive archive;
  uint64_t cursor = directory->offset;
  const uint64_t directory_end = directory->offset + directory->size_bytes;
  for (uint64_t entry_idx = 0; entry_idx < directory->entry_count; ++entry_idx) {
    if (cursor + kCentralHeaderBytes > directory_end || reader.u32(cursor) != kCentralHeaderSignature)
      return fail(corrupt_data("zip central directory entry " + std::to_string(entry_idx) +
                               " is truncated or has a bad signature"));
    const uint16_t flags = reader.u16(cursor + 8);
    const uint16_t method = reader.u16(cursor + 10);
    uint64_t compressed = reader.u32(cursor + 20);
    uint64_t uncompressed = reader.u32(cursor + 24);
    const uint16_t name_bytes = reader.u16(cursor + 28);
    const uint16_t extra_bytes = reader.u16(cursor + 30);
    const uint16_t comment_bytes = reader.u16(cursor + 32);
    uint64_t local_offset = reader.u32(cursor + 42);
    const uint64_t header_end =
        cursor + kCentralHeaderBytes + name_bytes + extra_bytes + comment_bytes;
    if (header_end > directory_end)
      return fail(corrupt_data("zip central directory entry " + std::to_string(entry_idx) +
                               " runs past the directory"));
    std::string entry_name(reinterpret_cast<const char*>(reader.at(cursor + kCentralHeaderBytes)),
                           name_bytes);
    JN_RETURN_IF_ERROR(apply_zip64_extra(reader, cursor + kCentralHeaderBytes + name_bytes,
                                         extra_bytes, entry_name, uncompressed, compressed,
                                         local_offset)
                           .with_context(name));
    cursor = header_end;

    if (flags & kFlagEncrypted)
      return fail(unsupported("zip entry '" + entry_name + "' is encrypted"));
    if (method != kMethodStored)
      return fail(unsupported("zip entry '" + entry_name + "' is compressed (method " +
                              std::to_string(method) +
                              "); only stored entries, as torch.save writes them, are supported"));
    if (compressed != uncompressed)
      return fail(corrupt_data("stored zip entry '" + entry_name + "' has compressed size " +
                               std::to_string(compressed) + " != uncompressed size " +
                               std::to_string(uncompressed)));
    if (!reader.has(local_offset, kLocalHeaderBytes) ||
        reader.u32(local_offset) != kLocalHeaderSignature)
      return fail(corrupt_data("zip entry '" + entry_name + "' has no local header at offset " +
                               std::to_string(local_offset)));
    const uint64_t data_offset = local_offset + kLocalHeaderBytes + reader.u16(local_offset + 26) +
                                 reader.u16(local_offset + 28);
    if (!reader.has(data_offset, uncompressed))
      return fail(corrupt_data("zip entry '" + entry_name + "' data (" + std::to_string(uncompressed) +
                               " bytes at offset " + std::to_string(data_offset) +
                               ") lies outside the file"));
    if (!archive.entries_.emplace(entry_name, ZipEntry{reader.at(data_offset), uncompressed}).second)
      return fail(corrupt_data("zip entry '" + entry_name + "' appears twice"));
  }
  return archive;
}

const ZipEntry* ZipArchive::find(const std::string& entry_name) const {
  auto found = entries_.find(entry_name);
  return found == entries_.end() ? nullptr : &found->second;
}

}  // namespace justnews
