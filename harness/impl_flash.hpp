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
// The two halves, for sequence-parallel variants that run flash per block:
// forward only, and backward with O and LSE given (of the full attention).
void flash_forward(const Batch& b, const Inputs& in, std::vector<float>& out,
                   std::vector<float>& lse);
void flash_backward_given(const Batch& b, const Inputs& in, const std::vector<float>& out,
                          const std::vector<float>& lse, std::vector<float>& dq,
                          std::vector<float>& dk, std::vector<float>& dv);
}  // namespace simt_backend

namespace cuda_backend {
void run_flash(const Case& c, bool grads, Results<float>& out);
void flash_forward(const Batch& b, const Inputs& in, std::vector<float>& out,
                   std::vector<float>& lse);
void flash_backward_given(const Batch& b, const Inputs& in, const std::vector<float>& out,
                          const std::vector<float>& lse, std::vector<float>& dq,
                          std::vector<float>& dk, std::vector<float>& dv);
// Empty when a CUDA device is usable; otherwise why not (for `attncheck list`).
std::string device_unavailable();
}  // namespace cuda_backend

}  // namespace attncheck
