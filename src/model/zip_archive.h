// ZipArchive: a read-only index of an uncompressed (ZIP_STORED) zip archive in memory, as written
// by torch.save. Reads the central directory (zip64 included) and checks that every entry's data
// lies inside the buffer. Compressed entries are refused: torch never writes them, and inflating
// would give up zero-copy views.
#pragma once

#include <map>
#include <string>

#include "core/status.h"
#include "model/byte_buffer.h"

namespace justnews {

struct ZipEntry {
  const uint8_t* data = nullptr;
  uint64_t size_bytes = 0;
};

class ZipArchive {
 public:
  // `name` is used in error messages. The archive borrows `buffer`'s bytes.
  static Result<ZipArchive> open(const ByteBuffer& buffer, const std::string& name);

  const std::map<std::string, ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(const std::string& entry_name) const;

 private:
  std::map<std::string, ZipEntry> entries_;
};

}  // namespace justnews
