// Host entry points of the simt failure kernels (failure_kernels.cu): kernels
// that are correct only because of their barriers, the same kernels with a
// barrier missing (data races on shared memory), and kernels whose barriers or
// warp collectives diverge. The file compiles with nvcc as well, but the broken
// kernels are there for the CPU runtime's checks (kernels/simt/tests/
// test_simt_failures.cpp, test_simt_races.cpp), not to be run on a GPU.
//
// Pointers are device pointers. Every entry point launches, then returns the
// first error of cudaGetLastError() and cudaDeviceSynchronize().
#pragma once

#include "kernels/simt/runtime_api.hpp"  // the CUDA runtime API (simt's or libcudart's)

namespace simt_failures {

// Largest block the kernels with static shared arrays take.
inline constexpr int k_max_threads = 256;

// out[b] = sum of in[b * threads .. (b + 1) * threads): every thread stores its
// element in a static __shared__ float array, then the block's last thread
// sums the array. `with_barrier` false leaves out the __syncthreads between
// the two phases: a race (the last thread may read elements not yet written).
// If `shared_address` is not null, thread 0 of block 0 writes the address of
// element 0 of the shared array there (under simt: the address in the TLS of
// the OS thread that ran block 0).
cudaError_t block_sum(const float* in, float* out, int blocks, int threads, bool with_barrier,
                      unsigned long long* shared_address = nullptr);

// The same in dynamic shared memory (`extern __shared__ float buf[]`), the
// elements stored from buf[pad] on (`threads + pad` floats of dynamic shared
// memory).
cudaError_t block_sum_dynamic(const float* in, float* out, int blocks, int threads,
                              bool with_barrier, int pad = 0);

// out[b] = sum of the block's `threads` elements by a shared-memory tree
// reduction (`threads` a power of two, at most k_max_threads). Race-free only
// through the __syncthreads in its loop; `with_barrier` false leaves it out.
cudaError_t tree_reduce(const float* in, float* out, int blocks, int threads, bool with_barrier);

// out[w] = sum of in[32 w .. 32 w + 32) for every warp w of the grid (`threads`
// a multiple of 32), by a tree reduction in shared memory within each warp,
// its steps ordered by __syncwarp only. `with_syncwarp` false leaves the
// __syncwarp out: a race between lanes of one warp.
cudaError_t warp_reduce(const float* in, float* out, int blocks, int threads, bool with_syncwarp);

// out[t] = in[0] for every thread t of one block of `threads` (> 32): thread 0
// stores in[0] in shared memory, a __syncthreads, every thread reads it, a
// __syncwarp, then thread 0 overwrites it with in[1]. The __syncwarp orders
// warp 0's reads before the overwrite but not the other warps': a race that
// only a detector keeping every reader finds (the writer read it first).
cudaError_t overwrite_after_syncwarp(const float* in, float* out, int threads);

// Barrier divergence, in block (1,2,0) of a (2,3,1) grid of 32-thread blocks
// (the other blocks are correct; out holds 6 * 32 floats):
// (a) threads with threadIdx.x >= 16 return while the others call __syncthreads;
cudaError_t early_exit_barrier(float* out);
// (b) even threads call __syncthreads at one line, odd threads at another;
cudaError_t split_barrier(float* out);
// (c) lanes 16..31 return, lanes 0..15 call __shfl_sync with the full mask.
cudaError_t shuffle_after_exit(float* out);

// out[t] = in[t] for t < reads (1..32), one block of 32 threads. With `reads`
// past the allocation of `in`, an out-of-bounds read (under AddressSanitizer
// simt reports it: device memory ends at the size asked for).
cudaError_t copy_prefix(const float* in, float* out, int reads);

}  // namespace simt_failures
