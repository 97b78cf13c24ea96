// Registry run function of kernels/flash (see harness/registry.hpp RunFn).
#pragma once

#include "harness/batch.hpp"

namespace attncheck {

// Runs flash forward (and backward when `grads`) through the CUDA runtime
// API of this build (simt on the CPU). Throws Error(Unsupported) with the CUDA
// error on a failed call or launch.
void run_flash(const Case& c, bool grads, Results<float>& out);

}  // namespace attncheck
