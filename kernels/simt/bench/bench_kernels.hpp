// Host entry points of the simt benchmark kernels (bench_kernels.cu): ordinary
// CUDA C++, run on the CPU by simt-bench and compiled by nvcc as a check.
// Pointers are device pointers.
#pragma once

#include "kernels/simt/runtime_api.hpp"  // the CUDA runtime API (simt's or libcudart's)

namespace simt_bench {

inline constexpr int k_fma_accumulators = 8;  // independent register chains per thread
inline constexpr int k_tile = 16;             // tiled_matmul: 16 x 16 tiles, 16 x 16 threads

// out[t] = sum over k_fma_accumulators chains of `fmas_per_thread /
// k_fma_accumulators` steps acc = fmaf(acc, a, b) (use_fmaf) or acc * a + b,
// for every thread t of `blocks` blocks of `threads`: 2 * fmas_per_thread
// flops per thread, no memory traffic but the final store, no barrier.
// fmas_per_thread is a multiple of k_fma_accumulators.
cudaError_t fma_chains(float* out, int blocks, int threads, int fmas_per_thread, float a, float b,
                       bool use_fmaf);

// c = a b (row-major, a m x k, b k x n, float32 accumulation in k order), one
// block of k_tile x k_tile threads per output tile, a and b staged through
// static __shared__ tiles with two __syncthreads per k step. m, n, k are
// multiples of k_tile.
cudaError_t tiled_matmul(const float* a, const float* b, float* c, int m, int n, int k);

}  // namespace simt_bench
