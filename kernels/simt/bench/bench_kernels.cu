// Benchmark kernels of kernels/simt, written as ordinary CUDA C++ (see
// bench_kernels.hpp for what each computes).
#include "kernels/simt/cuda.hpp"
#include "kernels/simt/bench/bench_kernels.hpp"

namespace simt_bench {

namespace {

// FMA-bound: k_fma_accumulators independent chains stay in registers; the
// chains are independent so that a GPU (or the CPU) overlaps their latencies.
// Spelled fmaf, or a * b + c (nvcc contracts it into the same FFMA; the host
// compiler keeps a multiply and an add, inline).
template <bool UseFmaf>
__global__ void fma_chains_kernel(float* __restrict__ out, int steps, float a, float b) {
  const int t = int(blockIdx.x * blockDim.x + threadIdx.x);
  float acc[k_fma_accumulators];
  for (int j = 0; j < k_fma_accumulators; ++j) acc[j] = float(j) + 1e-3f * float(t % 1024);
  for (int s = 0; s < steps; ++s) {
    for (int j = 0; j < k_fma_accumulators; ++j) {
      acc[j] = UseFmaf ? fmaf(acc[j], a, b) : acc[j] * a + b;
    }
  }
  float sum = 0.0f;
  for (int j = 0; j < k_fma_accumulators; ++j) sum += acc[j];
  out[t] = sum;
}

// C tile (blockIdx.y, blockIdx.x) = sum over k tiles of A tile x B tile.
__global__ void tiled_matmul_kernel(const float* __restrict__ a, const float* __restrict__ b,
                                    float* __restrict__ c, int n, int k) {
  __shared__ float as[k_tile][k_tile];
  __shared__ float bs[k_tile][k_tile];
  const int tx = int(threadIdx.x), ty = int(threadIdx.y);
  const int row = int(blockIdx.y) * k_tile + ty;
  const int col = int(blockIdx.x) * k_tile + tx;
  float acc = 0.0f;
  for (int k0 = 0; k0 < k; k0 += k_tile) {
    as[ty][tx] = a[row * k + k0 + tx];
    bs[ty][tx] = b[(k0 + ty) * n + col];
    __syncthreads();  // the tiles are complete
    for (int j = 0; j < k_tile; ++j) acc = fmaf(as[ty][j], bs[j][tx], acc);
    __syncthreads();  // every thread is done with the tiles before they are overwritten
  }
  c[row * n + col] = acc;
}

}  // namespace

cudaError_t fma_chains(float* out, int blocks, int threads, int fmas_per_thread, float a, float b,
                       bool use_fmaf) {
  if (blocks <= 0 || threads <= 0 || fmas_per_thread % k_fma_accumulators != 0) {
    return cudaErrorInvalidValue;
  }
  const int steps = fmas_per_thread / k_fma_accumulators;
  if (use_fmaf) {
    ATTNCHECK_LAUNCH((fma_chains_kernel</*UseFmaf=*/true>), dim3(blocks), dim3(threads), 0, 0, out,
                     steps, a, b);
  } else {
    ATTNCHECK_LAUNCH((fma_chains_kernel</*UseFmaf=*/false>), dim3(blocks), dim3(threads), 0, 0,
                     out, steps, a, b);
  }
  return cudaGetLastError();
}

cudaError_t tiled_matmul(const float* a, const float* b, float* c, int m, int n, int k) {
  if (m <= 0 || n <= 0 || k <= 0 || m % k_tile || n % k_tile || k % k_tile) {
    return cudaErrorInvalidValue;
  }
  ATTNCHECK_LAUNCH(tiled_matmul_kernel, dim3(n / k_tile, m / k_tile), dim3(k_tile, k_tile), 0, 0,
                   a, b, c, n, k);
  return cudaGetLastError();
}

}  // namespace simt_bench
