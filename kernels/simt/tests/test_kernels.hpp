// Host entry points of the simt test kernels (test_kernels.cu). The same
// kernels compile with nvcc (run natively on a GPU) and with the host compiler
// (run on the CPU by simt). Pointers are device pointers. Each entry point
// returns cudaGetLastError() after its launches unless it says otherwise.
#pragma once

#include "kernels/simt/runtime_api.hpp"  // the CUDA runtime API (simt's or libcudart's)

#include <cstdint>

namespace simt_tests {

// out[b] = sum of in[b * n .. b * n + n) by a shared-memory tree reduction,
// one block of `threads` (a power of two) per row.
cudaError_t block_reduce(const float* in, float* out, int rows, int n, int threads);

// out[i] = in[0] + ... + in[i] for any n >= 1: a Hillis-Steele scan of
// kScanBlock elements per block in static shared memory (double-buffered), the
// block totals scanned recursively, then added to the following blocks.
inline constexpr int kScanBlock = 256;
cudaError_t inclusive_scan(const float* in, float* out, int n);

// c[m x n] = a[m x k] * b[k x n], row-major, accumulated in float through
// static 16 x 16 shared-memory tiles (any m, n, k >= 1).
inline constexpr int kTile = 16;
cudaError_t tiled_matmul(const float* a, const float* b, float* c, int m, int n, int k);

// Warp shuffles over blocks of `threads` threads; the lanes of a partial last
// warp must be a power of two (e.g. threads = 48: a warp of 32 and one of 16).
// Each thread t (global index, `lanes` lanes in its warp, v = in[t]) writes
// out[t * kShuffleOutputs + j]; every collective names exactly the warp's lanes:
//   0 __shfl_sync(v, (lane * 5 + 3) % lanes)       1 __shfl_sync(v, lane * 3 + 1, width 8)
//   2 xor butterfly sum, width 16                  3 xor butterfly sum of the warp (width 32)
//   4 __shfl_down_sync(v, 3, width lanes)          5 __shfl_down_sync(v, 2, width 8)
//   6 __shfl_up_sync(v, 5, width lanes)            7 __shfl_up_sync(v, 1, width 4)
//   8 inclusive warp scan by __shfl_up_sync        9 warp sum by __shfl_down_sync (lane 0; others 0)
//  10 __shfl_xor_sync(v, 12, width 8): lane ^ 12 beyond the caller's segment of 8
//     keeps v, below it (an earlier segment) reads that lane
// and out_double[t] = __shfl_xor_sync(v + 0.25 as double, 1).
inline constexpr int kShuffleOutputs = 11;
cudaError_t warp_shuffles(const int* in, int* out, double* out_double, int blocks, int threads);

// Warp votes over blocks of `threads` threads, p = pred[t] (any int, nonzero
// is true), mask = the warp's existing lanes. out[t * kVoteOutputs + j]:
//   0 __ballot_sync(mask, p)   1 __any_sync(mask, p) != 0   2 __all_sync(mask, p) != 0
//   3 __ballot_sync(mask, lane % 3 == 0)
//   4 (__all_sync(mask, 1) != 0) | (__any_sync(mask, 0) != 0) << 1 | (__all_sync(mask, lane != 0) != 0) << 2
//     | (__ballot_sync(mask, 1) == mask) << 3 | (__any_sync(mask, 1) != 0) << 4
//   5 even lanes: __ballot_sync(mask & 0x55555555, p) (the odd lanes take no part and
//     exit: their earlier votes must not leak into it); odd lanes: 0
inline constexpr int kVoteOutputs = 6;
cudaError_t warp_votes(const int* pred, unsigned* out, int blocks, int threads);

// The same votes with every collective given the full mask 0xffffffff, also in
// a partial last warp (whose missing lanes take no part). The CUDA programming
// guide leaves a mask naming lanes that do not exist undefined, so only the
// simt tests use this one.
cudaError_t warp_votes_full_mask(const int* pred, unsigned* out, int blocks, int threads);

// Ballots of disjoint lane groups in divergent branches of one warp: even lanes
// out[t] = __ballot_sync(0x55555555 & mask, p), odd lanes
// __ballot_sync(0xAAAAAAAA & mask, p); then every lane
// out[n + t] = __ballot_sync(mask, p) (n = blocks * threads).
cudaError_t warp_divergent_ballots(const int* pred, unsigned* out, int blocks, int threads);

// Atomics over n elements, one thread each, many blocks, each thread
// repeating kAtomicRounds times (to contend). Device scalars and cas_word[] are
// initialized by the caller (cas_word to 0); for every i < n and round r:
//   atomicAdd(isum, ivals[i]); atomicAdd(usum, unsigned(ivals[i]) * 2654435761u);
//   atomicAdd(fsum, fvals[i]); atomicMax(imax, ivals[i]); atomicMin(imin, ivals[i]);
//   a lock-free float max by atomicCAS: fmax = max(fmax, gvals[i]);
//   j = i * kAtomicRounds + r: slots[atomicAdd(counter, 1u)] = j; exch_old[j] = atomicExch(exch, j);
// then once: cas_old[2i] = atomicCAS(&cas_word[i], 0, i + 1) (succeeds) and
// cas_old[2i + 1] = atomicCAS(&cas_word[i], 0, -5) (fails, writes nothing).
inline constexpr int kAtomicRounds = 8;
struct AtomicsArgs {
  const int* ivals;
  const float* fvals;
  const float* gvals;
  int n;
  int* isum;
  unsigned* usum;
  float* fsum;
  int* imax;
  int* imin;
  float* fmax;
  unsigned* counter;
  int* slots;     // n * kAtomicRounds
  int* exch;
  int* exch_old;  // n * kAtomicRounds
  int* cas_word;  // n
  int* cas_old;   // 2 * n
};
cudaError_t atomics(const AtomicsArgs& args);

// Dynamic shared memory: block b copies in[b * per_block ...] into
// `extern __shared__` memory of per_block floats (shared bytes = 4 * per_block)
// and writes it back reversed. The limit above 48 KiB is the opt-in of
// cudaFuncSetAttribute(cudaFuncAttributeMaxDynamicSharedMemorySize), which
// smem_reverse_set_limit sets for this kernel (returns that call's status).
cudaError_t smem_reverse(const float* in, float* out, int per_block, int blocks);
cudaError_t smem_reverse_set_limit(int bytes);

// Conversions in a kernel. For each i < n: bf[i] = __float2bfloat16(in[i]) and
// bf_back[i] = __bfloat162float(bf[i]); h[i] = __float2half(in[i]) and
// h_back[i] = __half2float(h[i]) (16-bit results as their bit patterns).
cudaError_t float_to_bf16_half(const float* in, std::uint16_t* bf, float* bf_back,
                               std::uint16_t* h, float* h_back, int n);
// as_float[i] = __bfloat162float(bits[i]), back[i] = __float2bfloat16(as_float[i]).
cudaError_t bf16_round_trip(const std::uint16_t* bits, float* as_float, std::uint16_t* back, int n);
// as_float[i] = __half2float(bits[i]), back[i] = __float2half(as_float[i]).
cudaError_t half_round_trip(const std::uint16_t* bits, float* as_float, std::uint16_t* back, int n);

// out[i] = i for even i < n only; odd elements are never written.
cudaError_t write_even(std::uint32_t* out, int n);

// Each thread of a launch of `grid` x `block` writes kCoordWords values at
// out[g * kCoordWords] (g = its block's linear index * threads per block + its
// linear index in the block): threadIdx.xyz, blockIdx.xyz, blockDim.xyz, gridDim.xyz.
inline constexpr int kCoordWords = 12;
cudaError_t thread_coords(unsigned* out, dim3 grid, dim3 block);

// A benign race: every thread of block b writes its threadIdx.x to out[b]; the
// last one to run wins (simt: the last in the schedule's order).
cudaError_t last_writer(unsigned* out, int blocks, int threads);

// out[i] = i for i < n, blocks of `threads` threads, launched on `stream`.
// Returns cudaPeekAtLastError(): the error state is left for the caller.
cudaError_t iota(int* out, int n, int threads, cudaStream_t stream);

}  // namespace simt_tests
