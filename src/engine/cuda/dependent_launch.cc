#include "engine/cuda/dependent_launch.h"

#include <atomic>

namespace justnews::cuda {

namespace {
std::atomic<bool> g_dependent_launch{true};
thread_local bool t_off = false;
}  // namespace

DependentLaunchOff::DependentLaunchOff(bool off) : previous_(t_off) { t_off = t_off || off; }

DependentLaunchOff::~DependentLaunchOff() { t_off = previous_; }

void set_dependent_launch(bool enabled) { g_dependent_launch.store(enabled); }

bool dependent_launch_enabled() { return g_dependent_launch.load(std::memory_order_relaxed); }

bool dependent_launch_on(cudaStream_t stream) {
  return dependent_launch_enabled() && !t_off && stream != nullptr && stream != cudaStreamLegacy;
}

}  // namespace justnews::cuda
