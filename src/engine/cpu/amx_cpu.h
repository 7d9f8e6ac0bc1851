// Intel AMX (Advanced Matrix Extensions) support for the quantised CPU kernels: detection (CPUID
// plus the Linux permission request for the 8 KB tile state) and the one tile configuration the
// kernels use. Each AMX kernel block computes C[32 rows, 32 columns] from two 16-row A tiles and
// two B tiles in the VNNI layout that the packed weights already have.
#pragma once

namespace justnews {

// True when the CPU has AMX-TILE, AMX-INT8 and AMX-BF16 and the kernel granted this process the
// tile state (arch_prctl ARCH_REQ_XCOMP_PERM). Asked once per process; JUSTNEWS_NO_AMX=1 turns it
// off (for comparing against the AVX-512 kernels).
bool cpu_has_amx();

// Loads the kernels' tile configuration (8 tiles of 16 rows × 64 bytes) in the calling thread.
// Must be called in every thread before its first tile instruction.
void configure_amx_tiles();
// Returns the tile state to its initial (unused) form so context switches stay cheap.
void release_amx_tiles();

}  // namespace justnews
