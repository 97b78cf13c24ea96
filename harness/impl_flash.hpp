// Registry run functions of kernels/flash (see harness/registry.hpp RunFn):
// one built against the simt runtime (the CPU), one natively against
// libcudart (a GPU; only in builds with CUDA).
#pragma once

#include <optional>
#include <string>

#include "harness/batch.hpp"

namespace attncheck {

// Which kernels of kernels/flash: the simple ones (one thread per row) or the
// tensor-core ones (flash_tc_*.cu; bfloat16/float16, head dims multiples of 8).
enum class FlashKernels { Simple, TensorCore };

// Why the tensor-core kernels refuse a batch (nullopt: they run it); the
// kernels' own check is flash::tc_supported.
inline std::optional<std::string> flash_tc_refusal(const Batch& b) {
  if (b.dtype == DType::Float32) {
    return "flash-tc runs bfloat16 and float16 (tensor-core mma with float32 accumulation); "
           "float32 inputs have no such path, as in FlashAttention-2";
  }
  if (b.head_dim % 8 != 0 || b.head_dim_v % 8 != 0) {
    return "flash-tc needs head dims that are multiples of 8 (16-byte rows for cp.async and "
           "ldmatrix), as FlashAttention-2 does";
  }
  return std::nullopt;
}

namespace simt_backend {
// Runs flash forward (and backward when `grads`) on the CPU through simt.
// Throws Error(Unsupported) with the CUDA error on a failed call or launch
// (and simt's report of what failed).
void run_flash(const Case& c, bool grads, Results<float>& out,
               FlashKernels kernels = FlashKernels::Simple);
// The two halves, for sequence-parallel variants that run flash per block:
// forward only, and backward with O and LSE given (of the full attention).
void flash_forward(const Batch& b, const Inputs& in, std::vector<float>& out,
                   std::vector<float>& lse, FlashKernels kernels = FlashKernels::Simple);
void flash_backward_given(const Batch& b, const Inputs& in, const std::vector<float>& out,
                          const std::vector<float>& lse, std::vector<float>& dq,
                          std::vector<float>& dk, std::vector<float>& dv,
                          FlashKernels kernels = FlashKernels::Simple);
}  // namespace simt_backend

namespace cuda_backend {
void run_flash(const Case& c, bool grads, Results<float>& out,
               FlashKernels kernels = FlashKernels::Simple);
void flash_forward(const Batch& b, const Inputs& in, std::vector<float>& out,
                   std::vector<float>& lse, FlashKernels kernels = FlashKernels::Simple);
void flash_backward_given(const Batch& b, const Inputs& in, const std::vector<float>& out,
                          const std::vector<float>& lse, std::vector<float>& dq,
                          std::vector<float>& dk, std::vector<float>& dv,
                          FlashKernels kernels = FlashKernels::Simple);
// Empty when a CUDA device is usable; otherwise why not (for `attncheck list`).
std::string device_unavailable();
}  // namespace cuda_backend

}  // namespace attncheck
