// Failure kernels of kernels/simt, written as ordinary CUDA C++: correct
// kernels whose correctness rests on their barriers, the same kernels with a
// barrier left out, and kernels whose barriers diverge (failure_kernels.hpp).
//
// The tests find the barriers' source lines by the `@barrier:` and
// `@collective:` markers below: keep each marker on the line of its call.
#include "kernels/simt/cuda.hpp"
#include "kernels/simt/tests/failure_kernels.hpp"

namespace simt_failures {

namespace {

// The first error of the launch and of the work it started.
cudaError_t finish() {
  const cudaError_t e = cudaGetLastError();
  return e != cudaSuccess ? e : cudaDeviceSynchronize();
}

bool valid_block(int blocks, int threads) {
  return blocks > 0 && threads > 0 && threads <= k_max_threads;
}

// ---- Block sum: a write phase and a read phase, one barrier between them.
template <bool with_barrier>
__global__ void block_sum_kernel(const float* __restrict__ in, float* __restrict__ out,
                                 unsigned long long* shared_address) {
  __shared__ float vals[k_max_threads];
  const unsigned t = threadIdx.x;
  if (shared_address && t == 0 && blockIdx.x == 0) {
    *shared_address = reinterpret_cast<unsigned long long>(&vals[0]);
  }
  vals[t] = in[blockIdx.x * blockDim.x + t];
  if constexpr (with_barrier) __syncthreads();  // @barrier:block-sum
  if (t == blockDim.x - 1) {
    float sum = 0.0f;
    for (unsigned i = 0; i < blockDim.x; ++i) sum += vals[i];
    out[blockIdx.x] = sum;
  }
}

template <bool with_barrier>
__global__ void block_sum_dynamic_kernel(const float* __restrict__ in, float* __restrict__ out,
                                         int pad) {
  extern __shared__ float dyn_vals[];
  const unsigned t = threadIdx.x;
  dyn_vals[pad + t] = in[blockIdx.x * blockDim.x + t];
  if constexpr (with_barrier) __syncthreads();  // @barrier:block-sum-dynamic
  if (t == blockDim.x - 1) {
    float sum = 0.0f;
    for (unsigned i = 0; i < blockDim.x; ++i) sum += dyn_vals[pad + i];
    out[blockIdx.x] = sum;
  }
}

// ---- Tree reduction: each pass halves the active threads; the barrier in the
// loop orders a pass's writes before the next pass's reads.
template <bool with_barrier>
__global__ void tree_reduce_kernel(const float* __restrict__ in, float* __restrict__ out) {
  __shared__ float partial[k_max_threads];
  const unsigned t = threadIdx.x;
  partial[t] = in[blockIdx.x * blockDim.x + t];
  __syncthreads();
  for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (t < stride) partial[t] += partial[t + stride];
    if constexpr (with_barrier) __syncthreads();  // @barrier:tree-reduce
  }
  if (t == 0) out[blockIdx.x] = partial[0];
}

// ---- Warp reduction in shared memory: every step reads, __syncwarp, writes,
// __syncwarp (the pattern of the CUDA programming guide for independent thread
// scheduling). No __syncthreads: warps use disjoint parts of the array.
template <bool with_syncwarp>
__global__ void warp_reduce_kernel(const float* __restrict__ in, float* __restrict__ out) {
  __shared__ float lanes[k_max_threads];
  const unsigned t = threadIdx.x;
  const unsigned lane = t % 32;
  const unsigned base = t - lane;
  const unsigned g = blockIdx.x * blockDim.x + t;
  lanes[t] = in[g];
  if constexpr (with_syncwarp) __syncwarp();
  for (unsigned offset = 16; offset > 0; offset /= 2) {
    float v = 0.0f;
    if (lane < offset) v = lanes[base + lane] + lanes[base + lane + offset];
    if constexpr (with_syncwarp) __syncwarp();
    if (lane < offset) lanes[base + lane] = v;
    if constexpr (with_syncwarp) __syncwarp();
  }
  if (lane == 0) out[g / 32] = lanes[base];
}

// ---- A read by every thread, then an overwrite ordered after the reads of
// warp 0 only.
__global__ void overwrite_after_syncwarp_kernel(const float* __restrict__ in,
                                                float* __restrict__ out) {
  __shared__ float value;
  const unsigned t = threadIdx.x;
  if (t == 0) value = in[0];
  __syncthreads();
  const float v = value;
  __syncwarp();
  if (t == 0) value = in[1];
  out[t] = v;
}

// ---- Barrier divergence, in the grid's last block only.
__device__ bool divergent_block() {
  return blockIdx.x == gridDim.x - 1 && blockIdx.y == gridDim.y - 1;
}

__device__ unsigned linear_block() { return blockIdx.x + gridDim.x * blockIdx.y; }

__global__ void early_exit_kernel(float* out) {
  __shared__ float vals[32];
  const unsigned t = threadIdx.x;
  if (divergent_block() && t >= 16) return;
  vals[t] = float(t);
  __syncthreads();  // @barrier:early-exit
  out[linear_block() * 32 + t] = vals[t ^ 1u];
}

__global__ void split_barrier_kernel(float* out) {
  __shared__ float vals[32];
  const unsigned t = threadIdx.x;
  vals[t] = float(t);
  if (divergent_block() && t % 2 == 1) {
    __syncthreads();  // @barrier:split-odd
  } else {
    __syncthreads();  // @barrier:split-even
  }
  out[linear_block() * 32 + t] = vals[t ^ 1u];
}

__global__ void shuffle_after_exit_kernel(float* out) {
  const unsigned t = threadIdx.x;
  if (divergent_block() && t >= 16) return;
  const float v = __shfl_sync(0xffffffffu, float(t), 0);  // @collective:shuffle-after-exit
  out[linear_block() * 32 + t] = v + 1.0f;
}

const dim3 k_divergence_grid(2, 3, 1);

// ---- Out of bounds: out[t] = in[t] for t < `reads`, which may exceed the
// allocation of `in` (the off-by-one of a tile loop reading one row too many).
__global__ void copy_prefix_kernel(const float* __restrict__ in, float* __restrict__ out,
                                   int reads) {
  const int t = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (t < reads) out[t] = in[t];
}

}  // namespace

cudaError_t block_sum(const float* in, float* out, int blocks, int threads, bool with_barrier,
                      unsigned long long* shared_address) {
  if (!valid_block(blocks, threads)) return cudaErrorInvalidValue;
  if (with_barrier) {
    ATTNCHECK_LAUNCH((block_sum_kernel<true>), dim3(blocks), dim3(threads), 0, 0, in, out,
                     shared_address);
  } else {
    ATTNCHECK_LAUNCH((block_sum_kernel<false>), dim3(blocks), dim3(threads), 0, 0, in, out,
                     shared_address);
  }
  return finish();
}

cudaError_t block_sum_dynamic(const float* in, float* out, int blocks, int threads,
                              bool with_barrier, int pad) {
  if (blocks <= 0 || threads <= 0 || threads > 1024 || pad < 0) return cudaErrorInvalidValue;
  const std::size_t bytes = std::size_t(threads + pad) * sizeof(float);
  if (with_barrier) {
    ATTNCHECK_LAUNCH((block_sum_dynamic_kernel<true>), dim3(blocks), dim3(threads), bytes, 0, in,
                     out, pad);
  } else {
    ATTNCHECK_LAUNCH((block_sum_dynamic_kernel<false>), dim3(blocks), dim3(threads), bytes, 0, in,
                     out, pad);
  }
  return finish();
}

cudaError_t tree_reduce(const float* in, float* out, int blocks, int threads, bool with_barrier) {
  if (!valid_block(blocks, threads) || (threads & (threads - 1)) != 0) return cudaErrorInvalidValue;
  if (with_barrier) {
    ATTNCHECK_LAUNCH((tree_reduce_kernel<true>), dim3(blocks), dim3(threads), 0, 0, in, out);
  } else {
    ATTNCHECK_LAUNCH((tree_reduce_kernel<false>), dim3(blocks), dim3(threads), 0, 0, in, out);
  }
  return finish();
}

cudaError_t warp_reduce(const float* in, float* out, int blocks, int threads, bool with_syncwarp) {
  if (!valid_block(blocks, threads) || threads % 32 != 0) return cudaErrorInvalidValue;
  if (with_syncwarp) {
    ATTNCHECK_LAUNCH((warp_reduce_kernel<true>), dim3(blocks), dim3(threads), 0, 0, in, out);
  } else {
    ATTNCHECK_LAUNCH((warp_reduce_kernel<false>), dim3(blocks), dim3(threads), 0, 0, in, out);
  }
  return finish();
}

cudaError_t overwrite_after_syncwarp(const float* in, float* out, int threads) {
  if (threads <= 32 || threads > 1024) return cudaErrorInvalidValue;
  ATTNCHECK_LAUNCH(overwrite_after_syncwarp_kernel, dim3(1), dim3(threads), 0, 0, in, out);
  return finish();
}

cudaError_t early_exit_barrier(float* out) {
  ATTNCHECK_LAUNCH(early_exit_kernel, k_divergence_grid, dim3(32), 0, 0, out);
  return finish();
}

cudaError_t split_barrier(float* out) {
  ATTNCHECK_LAUNCH(split_barrier_kernel, k_divergence_grid, dim3(32), 0, 0, out);
  return finish();
}

cudaError_t shuffle_after_exit(float* out) {
  ATTNCHECK_LAUNCH(shuffle_after_exit_kernel, k_divergence_grid, dim3(32), 0, 0, out);
  return finish();
}

cudaError_t copy_prefix(const float* in, float* out, int reads) {
  if (reads <= 0 || reads > 32) return cudaErrorInvalidValue;
  ATTNCHECK_LAUNCH(copy_prefix_kernel, dim3(1), dim3(32), 0, 0, in, out, reads);
  return finish();
}

}  // namespace simt_failures
