// Test kernels of kernels/simt, written as ordinary CUDA C++.
#include "kernels/simt/cuda.hpp"
#include "kernels/simt/tests/test_kernels.hpp"

namespace simt_tests {

namespace {

// Tree reduction in dynamic shared memory: each pass halves the active threads.
__global__ void block_reduce_kernel(const float* __restrict__ in, float* __restrict__ out, int n) {
  extern __shared__ float partial[];
  const int row = blockIdx.x;
  float acc = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) acc += in[row * n + i];
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (int(threadIdx.x) < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[row] = partial[0];
}

}  // namespace

cudaError_t block_reduce(const float* in, float* out, int rows, int n, int threads) {
  ATTNCHECK_LAUNCH(block_reduce_kernel, dim3(rows), dim3(threads), threads * sizeof(float), 0, in,
                   out, n);
  return cudaGetLastError();
}

}  // namespace simt_tests
