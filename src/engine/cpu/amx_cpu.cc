// AMX detection, permission and tile configuration.
#include "engine/cpu/amx_cpu.h"

#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace justnews {
namespace {

constexpr int kArchRequestXcompPerm = 0x1023;  // asm/prctl.h ARCH_REQ_XCOMP_PERM
constexpr int kXfeatureTileData = 18;          // XFEATURE_XTILEDATA

struct TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t bytes_per_row[16];
  uint8_t rows[16];
};

bool detect_amx() {
  const char* disabled = std::getenv("JUSTNEWS_NO_AMX");
  if (disabled && std::strcmp(disabled, "1") == 0) return false;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool amx_bf16 = edx & (1u << 22), amx_tile = edx & (1u << 24), amx_int8 = edx & (1u << 25);
  if (!(amx_bf16 && amx_tile && amx_int8)) return false;
  return syscall(SYS_arch_prctl, kArchRequestXcompPerm, kXfeatureTileData) == 0;
}

// A global, not a local: GCC does not see _tile_loadconfig read its argument and may drop the
// stores that fill a stack copy.
alignas(64) const TileConfig kTileConfig = {
    1, 0, {}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};

}  // namespace

bool cpu_has_amx() {
  static const bool available = detect_amx();
  return available;
}

__attribute__((target("amx-tile"))) void configure_amx_tiles() { _tile_loadconfig(&kTileConfig); }

__attribute__((target("amx-tile"))) void release_amx_tiles() { _tile_release(); }

}  // namespace justnews
