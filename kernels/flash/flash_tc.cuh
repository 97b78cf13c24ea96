// Pieces of the tensor-core flash kernels (flash_tc_fwd.cu, flash_tc_bwd.cu):
// FlashAttention-2's structure on mma.sync.m16n8k16 with bf16/f16 inputs and
// float32 accumulation (kernels/simt/ptx.hpp for the instructions and their
// fragment layouts).
//
// A CTA is 4 warps (fewer for short sequences); each warp owns 16 rows of the CTA's 64-row tile (query
// rows in the forward and dQ kernels, key rows in the dK/dV kernel) and
// keeps its rows' accumulators in registers. Operand tiles sit in dynamic
// shared memory as row-major [rows][kD + 8] arrays of the storage type: the
// 16 bytes of padding per row put the 8 rows of every 8x8 matrix that
// ldmatrix reads (and the 8 rows a quarter-warp's cp.async writes) in
// distinct banks, so neither conflicts (`attncheck bench` prints the counts).
// Tiles are filled with cp.async, 16 bytes per copy, zero-filled past the
// sequence's last row and past the head dim (head dims are multiples of 8,
// as in FlashAttention-2, so every 16-byte chunk is all in or all out).
#pragma once

#include <cstdint>

#include "kernels/flash/flash_common.cuh"
#include "kernels/simt/ptx.hpp"

// Loops over compile-time bounds that nvcc unrolls (their guarded bodies are
// instructions on registers); the host compiler's choice under simt.
#if defined(__CUDACC__)
#define ATTNCHECK_TC_UNROLL _Pragma("unroll")
#else
#define ATTNCHECK_TC_UNROLL
#endif

ATTNCHECK_FLASH_BEGIN
namespace detail::tc {

inline constexpr int k_warps = 4;
inline constexpr int k_threads = 32 * k_warps;
inline constexpr int k_block_m = 16 * k_warps;  // rows of a CTA's own tile (at most)

// Warps per CTA for sequences of at most `max_len` rows: 4, or fewer when
// every sequence is shorter than 64 rows (the kernels take their own tile of
// 16 rows per warp from blockDim.x).
__host__ __device__ inline int warps_for(int max_len) {
  const int w = (max_len + 15) / 16;
  return w < 1 ? 1 : (w > k_warps ? k_warps : w);
}

// Rows of the other operand per step (keys in the forward and dQ kernels,
// queries in the dK/dV kernel); fewer at kD = 256 so that the forward's five
// tiles fit in an A100's 164 KiB of shared memory.
template <int kD>
__host__ __device__ constexpr int block_n() {
  return kD <= 128 ? 64 : 32;
}
// Elements per shared-memory row.
template <int kD>
__host__ __device__ constexpr int stride() {
  return kD + 8;
}

// Copies rows [0, rows) of a tile starting at token `first` (memory row of a
// [*, heads, width] tensor, head h) into shared memory, 16-byte chunks below
// `chunks`; rows at or past `valid` and chunks at or past width / 8 are
// zero-filled, up to the 16-row step holding row valid - 1. Rows past that
// step are left as they are: the kernels read a tile 16 rows at a time and
// only the steps holding valid rows. All threads of the CTA take part; the
// copies join the calling thread's current cp.async group.
template <typename T, int kStride>
__device__ __forceinline__ void cp_tile(T* smem, const T* g, int first, int heads, int h, int width,
                                        int rows, int valid, int chunks) {
  const int live = min(rows, (valid + 15) / 16 * 16);
  for (int e = int(threadIdx.x); e < live * chunks; e += int(blockDim.x)) {
    const int r = e / chunks, c = e % chunks;
    const bool in = r < valid && c * 8 < width;
    const T* src = in ? g + ((long long)(first + r) * heads + h) * width + c * 8 : g;
    ptx::cp_async<16>(smem + r * kStride + c * 8, src, in ? 16 : 0);
  }
}

// Two floats rounded to T, packed as one 32-bit register (low half first).
__device__ __forceinline__ unsigned short bits_of(__nv_bfloat16 x) { return __bfloat16_as_ushort(x); }
__device__ __forceinline__ unsigned short bits_of(__half x) { return __half_as_ushort(x); }
template <typename T>
__device__ __forceinline__ std::uint32_t pack2(float lo, float hi) {
  return std::uint32_t(bits_of(from_float<T>(lo))) | std::uint32_t(bits_of(from_float<T>(hi))) << 16;
}

// The A fragment (16 x 16) at rows m0.., columns k0.. of a row-major tile.
template <typename T, int kStride>
__device__ __forceinline__ void load_a(std::uint32_t (&a)[4], const T* s, int m0, int k0) {
  const int lane = int(threadIdx.x) % 32, mi = lane / 8, r = lane % 8;
  ptx::ldmatrix<4, false>(a, s + (m0 + (mi & 1) * 8 + r) * kStride + k0 + (mi >> 1) * 8);
}

// acc[2 j + e] += sum over i < nk (in order) of a[i] B(i, j, e), for pairs of
// 8-column blocks j < nn: the warp's 16 x 16 nn product of its A fragments
// (16 x 16 nk) and a B operand read from a row-major tile s of stride kStride:
//   Cols = false  B[k][n] = s[n][k]: the tile's rows are B's columns (K for
//                 S = Q K^T, Q and dO for S^T and dP^T), ldmatrix as it is;
//   Cols = true   B[k][n] = s[k][n]: the tile's rows are B's rows (V for
//                 O = P V, dO and Q for dV and dK), ldmatrix .trans.
// Per group of k-steps, every B fragment of the group by ldmatrix.x4 (lanes
// 8 mi .. 8 mi + 7 address the rows of matrix mi: with Cols = false matrices
// 0, 1 are block 2 j's k halves and 2, 3 block 2 j + 1's; with Cols = true
// 0, 1 are k halves of columns 16 j .. 16 j + 7, 2, 3 of the next 8), then
// every mma of the group. Groups of at most 16 x4 loads bound the registers
// the B fragments take.
template <typename T, int kStride, bool Cols, int KMax, int NMax>
__device__ __forceinline__ void warp_gemm(float (&acc)[2 * NMax][4],
                                          const std::uint32_t (&a)[KMax][4], const T* s, int nk,
                                          int nn) {
  constexpr int kGroup = NMax >= 16 ? 1 : (16 / NMax < KMax ? 16 / NMax : KMax);
  const int lane = int(threadIdx.x) % 32, mi = lane / 8, r = lane % 8;
  const T* row = Cols ? s + ((mi & 1) * 8 + r) * kStride + (mi >> 1) * 8
                      : s + ((mi >> 1) * 8 + r) * kStride + (mi & 1) * 8;
  const long step_k = long(sizeof(T)) * (Cols ? 16 * kStride : 16);
  const long step_n = long(sizeof(T)) * (Cols ? 16 : 16 * kStride);
ATTNCHECK_TC_UNROLL
  for (int k0 = 0; k0 < KMax; k0 += kGroup) {
    if (k0 < nk) {
      std::uint32_t b[kGroup][NMax][4];
      const int kn = min(kGroup, nk - k0);
      ptx::ldmatrix_x4_grid<Cols, kGroup, NMax>(
          b, reinterpret_cast<const char*>(row) + k0 * step_k, step_k, step_n, kn, nn);
      ptx::mma_m16n8k16_grid<T, kGroup, NMax>(acc, a + k0, b, kn, nn);
    }
  }
}

// The A fragment of columns [16 kk, 16 kk + 16) of a 16-row accumulator
// (C layout, 8-column blocks c[2 kk] and c[2 kk + 1]), rounded to T: the
// accumulator layout of two blocks is the A layout of one 16 x 16 operand.
template <typename T>
__device__ __forceinline__ void acc_to_a(std::uint32_t (&a)[4], const float (&c0)[4],
                                         const float (&c1)[4]) {
  a[0] = pack2<T>(c0[0], c0[1]);
  a[1] = pack2<T>(c0[2], c0[3]);
  a[2] = pack2<T>(c1[0], c1[1]);
  a[3] = pack2<T>(c1[2], c1[3]);
}

// Max and sum over the 4 lanes of a quad (the lanes holding one row).
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
  return x;
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  x += __shfl_xor_sync(0xffffffffu, x, 2);
  return x;
}

// Head dims the kernels take: multiples of 8 (16-byte rows of bf16/f16).
inline bool supported(const FwdParams& p) {
  return p.dtype != Dtype::Float32 && p.head_dim % 8 == 0 && p.head_dim_v % 8 == 0;
}

// Raises a kernel's dynamic shared memory limit to `bytes` when it needs more
// than the default 48 KiB.
template <typename K>
cudaError_t allow_shared(K kernel, std::size_t bytes) {
  if (bytes <= (48u << 10)) return cudaSuccess;
  return cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel),
                              cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
}

}  // namespace detail::tc
ATTNCHECK_FLASH_END
