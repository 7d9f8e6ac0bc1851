// Programmatic dependent launch (Hopper's PDL), the process-wide switch. With it on, the encoder's
// kernels are launched so that the GPU may schedule a kernel while the one before it in the stream
// is still finishing; each kernel waits (griddepcontrol.wait) before it touches global memory, so
// the results are the same, and the launch gap between two kernels shrinks. Off, every kernel
// launches after the previous one has completed, as plain stream order does (for A/B benchmarks).
#pragma once

#include <cuda_runtime.h>

namespace justnews::cuda {

void set_dependent_launch(bool enabled);
bool dependent_launch_enabled();

// Turns dependent launches off on this thread while it lives (a forward pass that does not gain
// from them, see CudaEncoderOptions::dependent_launch_max_values), when `off` is true.
class DependentLaunchOff {
 public:
  explicit DependentLaunchOff(bool off);
  ~DependentLaunchOff();
  DependentLaunchOff(const DependentLaunchOff&) = delete;
  DependentLaunchOff& operator=(const DependentLaunchOff&) = delete;

 private:
  bool previous_;
};

// Whether a launch on `stream` asks for PDL: the switch is on, no DependentLaunchOff is alive on
// this thread, and the stream is not the legacy default stream (which serialises with every other
// stream and gains nothing).
bool dependent_launch_on(cudaStream_t stream);

}  // namespace justnews::cuda
