// The rank-order sum of the nccl backend's all_reduce_sum (nccl_sum.hpp).
// One thread per output element (grid-stride), adding the parts in rank order.
#include <algorithm>

#include "kernels/comm/nccl_sum.hpp"

namespace attncheck::comm::detail {
namespace {

constexpr int k_threads = 256;
constexpr std::size_t k_max_blocks = 65535;

// Round-to-nearest additions the compiler may not fuse or reorder.
__device__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ double add_rn(double a, double b) { return __dadd_rn(a, b); }

template <class T>
__global__ void ordered_sum_kernel(const T* __restrict__ gathered, T* __restrict__ out,
                                   std::size_t n, int parts) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    T acc = gathered[i];
    for (int p = 1; p < parts; ++p)
      acc = add_rn(acc, gathered[static_cast<std::size_t>(p) * n + i]);
    out[i] = acc;
  }
}

template <class T>
cudaError_t launch(const T* gathered, T* out, std::size_t n, int parts, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const auto blocks =
      static_cast<unsigned>(std::min<std::size_t>((n + k_threads - 1) / k_threads, k_max_blocks));
  ordered_sum_kernel<T><<<blocks, k_threads, 0, stream>>>(gathered, out, n, parts);
  return cudaGetLastError();
}

}  // namespace

cudaError_t ordered_sum_on_device(const float* gathered, float* out, std::size_t n, int parts,
                                  cudaStream_t stream) {
  return launch(gathered, out, n, parts, stream);
}

cudaError_t ordered_sum_on_device(const double* gathered, double* out, std::size_t n, int parts,
                                  cudaStream_t stream) {
  return launch(gathered, out, n, parts, stream);
}

}  // namespace attncheck::comm::detail
