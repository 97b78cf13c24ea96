// Registry run functions of kernels/flash (see harness/registry.hpp RunFn):
// one built against the simt runtime (the CPU), one natively against
// libcudart (a GPU; only in builds with CUDA).
#pragma once

#include <string>

#include "harness/batch.hpp"

namespace attncheck {

namespace simt_backend {
// Runs flash forward (and backward when `grads`) on the CPU through simt.
// Throws Error(Unsupported) with the CUDA error on a failed call or launch.
void run_flash(const Case& c, bool grads, Results<float>& out);
}  // namespace simt_backend

namespace cuda_backend {
void run_flash(const Case& c, bool grads, Results<float>& out);
// Empty when a CUDA device is usable; otherwise why not (for `attncheck list`).
std::string device_unavailable();
}  // namespace cuda_backend

}  // namespace attncheck
