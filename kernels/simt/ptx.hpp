// Tensor-core and asynchronous-copy instructions for kernel sources (.cu):
// under nvcc, the PTX instructions themselves (inline asm, sm_80 and later);
// under the host compiler, simt's emulation of them (kernels/simt/ptx.cpp),
// written from the PTX ISA's definitions:
//
//   mma_m16n8k16<T>      mma.sync.aligned.m16n8k16.row.col.f32.T.T.f32, T = bf16 or f16
//   ldmatrix<N, Trans>   ldmatrix.sync.aligned.m8n8.xN{.trans}.shared.b16, N = 1, 2, 4
//   cp_async<Bytes>      cp.async.{ca,cg}.shared.global [dst], [src], Bytes, src_bytes
//   cp_async_commit      cp.async.commit_group
//   cp_async_wait<N>     cp.async.wait_group N
//   ldmatrix_x4_grid<Trans, KMax, NMax>   ldmatrix x4 at an affine grid of row
//                        addresses: r[i][j] = ldmatrix.x4(row + i step_k + j step_n)
//                        for i < nk, j < nn
//   mma_m16n8k16_grid<T, KMax, NMax>      for i < nk (outer), j < nn (inner):
//                        acc[2j + e] = mma(a[i], b[i][j] registers 2e, 2e + 1, acc[2j + e])
//                        for e = 0, 1: the B fragments of two 8-column blocks as
//                        ldmatrix.x4 loads them
//
// The grid forms are the loops FlashAttention-2 issues per k-step (a
// `#pragma unroll` over the single instructions, each guarded by i < nk and
// j < nn, which must be the same on every lane). simt runs each as one warp
// collective with the numerics of the single instructions, which is what
// makes a kernel of 16 x 8 x 16 products cheap enough to run under simt.
//
// Fragments (PTX ISA, "Matrix fragments for mma.m16n8k16 with floating point
// type"; g = lane / 4, t = lane % 4; a 32-bit register holds two 16-bit
// elements, the lower-indexed one in its low half):
//   A (16 x 16, row-major)  a[0] = A[g][2t, 2t+1]     a[1] = A[g+8][2t, 2t+1]
//                           a[2] = A[g][2t+8, 2t+9]   a[3] = A[g+8][2t+8, 2t+9]
//   B (16 x 8, column)      b[0] = B[2t, 2t+1][g]     b[1] = B[2t+8, 2t+9][g]
//   C, D (16 x 8, float)    c[0], c[1] = C[g][2t, 2t+1]   c[2], c[3] = C[g+8][2t, 2t+1]
// ldmatrix: lanes 8i .. 8i+7 give the addresses of the 8 rows (16 bytes
// each, 16-byte aligned) of matrix i; register i of lane l receives row l/4,
// elements 2(l%4) and 2(l%4)+1 of matrix i, or with .trans, element l/4 of
// rows 2(l%4) and 2(l%4)+1. Only the lanes below 8N give addresses.
// cp.async copies src_bytes (<= Bytes) from global memory and zero-fills the
// rest of Bytes; its destination may be read only after a cp.async.wait_group
// that covers the copy's commit group (and, by other threads, after a barrier
// following that wait).
//
// What simt checks: every lane of the warp takes part in mma and ldmatrix
// (a lane missing is a deadlock, reported); ldmatrix addresses are 16-byte
// aligned and inside the launch's shared memory; cp.async destinations are
// aligned to Bytes and inside shared memory, sources aligned and inside one
// device allocation; a read of a cp.async destination before the wait that
// covers it fails the launch, naming the cp.async (file and line) and the
// reader: always for ldmatrix reads, for plain loads in race-check builds.
// simt delivers a copy at the wait that covers it, so a kernel that reads
// early sees the destination's old bytes, as a GPU may. Accumulation order:
// the hardware's is not specified; simt adds the 16 products (exact in float32
// for bf16 and f16 inputs) to C one at a time in k order, each addition
// rounded to nearest even.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

namespace ptx {

template <typename T>
__device__ __forceinline__ void mma_m16n8k16(float (&d)[4], const std::uint32_t (&a)[4],
                                             const std::uint32_t (&b)[2], const float (&c)[4]) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%10,%11,%12,%13};\n"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
          "f"(c[2]), "f"(c[3]));
  } else {
    static_assert(std::is_same_v<T, __half>, "mma_m16n8k16: bf16 or f16 inputs");
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%10,%11,%12,%13};\n"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
          "f"(c[2]), "f"(c[3]));
  }
}

template <int N, bool Trans>
__device__ __forceinline__ void ldmatrix(std::uint32_t (&r)[N], const void* smem_row) {
  const unsigned addr = unsigned(__cvta_generic_to_shared(smem_row));
  if constexpr (N == 4 && !Trans) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
  } else if constexpr (N == 4 && Trans) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
  } else if constexpr (N == 2 && !Trans) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(addr));
  } else if constexpr (N == 2 && Trans) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(addr));
  } else if constexpr (N == 1 && !Trans) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(addr));
  } else {
    static_assert(N == 1, "ldmatrix: x1, x2 or x4");
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n"
                 : "=r"(r[0])
                 : "r"(addr));
  }
}

template <int Bytes>
__device__ __forceinline__ void cp_async(void* smem, const void* gmem, int src_bytes = Bytes) {
  const unsigned dst = unsigned(__cvta_generic_to_shared(smem));
  if constexpr (Bytes == 16) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem),
                 "r"(src_bytes));
  } else {
    static_assert(Bytes == 4 || Bytes == 8, "cp.async: 4, 8 or 16 bytes");
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(dst), "l"(gmem),
                 "n"(Bytes), "r"(src_bytes));
  }
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

template <bool Trans, int KMax, int NMax>
__device__ __forceinline__ void ldmatrix_x4_grid(std::uint32_t (*r)[NMax][4], const void* row,
                                                 long step_k, long step_n, int nk, int nn) {
#pragma unroll
  for (int i = 0; i < KMax; ++i) {
#pragma unroll
    for (int j = 0; j < NMax; ++j) {
      if (i < nk && j < nn) {
        ldmatrix<4, Trans>(r[i][j], static_cast<const char*>(row) + i * step_k + j * step_n);
      }
    }
  }
}

template <typename T, int KMax, int NMax>
__device__ __forceinline__ void mma_m16n8k16_grid(float (*acc)[4], const std::uint32_t (*a)[4],
                                                  const std::uint32_t (*b)[NMax][4], int nk,
                                                  int nn) {
#pragma unroll
  for (int i = 0; i < KMax; ++i) {
#pragma unroll
    for (int j = 0; j < NMax; ++j) {
      if (i < nk && j < nn) {
        const std::uint32_t b0[2] = {b[i][j][0], b[i][j][1]}, b1[2] = {b[i][j][2], b[i][j][3]};
        mma_m16n8k16<T>(acc[2 * j], a[i], b0, acc[2 * j]);
        mma_m16n8k16<T>(acc[2 * j + 1], a[i], b1, acc[2 * j + 1]);
      }
    }
  }
}

}  // namespace ptx

#else  // simt

#include <source_location>
#include <type_traits>

#include "kernels/simt/prelude.hpp"

namespace simt::detail {
SIMT_UNCHECKED void mma_m16n8k16(bool bf16, float* d, const std::uint32_t* a,
                                 const std::uint32_t* b, const float* c, const char* file,
                                 unsigned line);
SIMT_UNCHECKED void ldmatrix(int n, bool trans, std::uint32_t* r, const void* smem_row,
                             const char* file, unsigned line);
SIMT_UNCHECKED void cp_async(void* smem, const void* gmem, int bytes, int src_bytes,
                             const char* file, unsigned line);
SIMT_UNCHECKED void cp_async_commit(const char* file, unsigned line);
SIMT_UNCHECKED void cp_async_wait(int n, const char* file, unsigned line);
SIMT_UNCHECKED void ldmatrix_x4_grid(bool trans, std::uint32_t* r, int n_max, const void* row,
                                     long step_k, long step_n, int nk, int nn, const char* file,
                                     unsigned line);
SIMT_UNCHECKED void mma_m16n8k16_grid(bool bf16, float* acc, const std::uint32_t* a,
                                      const std::uint32_t* b, int n_max, int nk, int nn,
                                      const char* file, unsigned line);
}  // namespace simt::detail

namespace ptx {

template <typename T>
inline void mma_m16n8k16(float (&d)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2],
                         const float (&c)[4],
                         std::source_location loc = std::source_location::current()) {
  static_assert(std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>,
                "mma_m16n8k16: bf16 or f16 inputs");
  ::simt::detail::mma_m16n8k16(std::is_same_v<T, __nv_bfloat16>, d, a, b, c, loc.file_name(),
                               loc.line());
}

template <int N, bool Trans>
inline void ldmatrix(std::uint32_t (&r)[N], const void* smem_row,
                     std::source_location loc = std::source_location::current()) {
  static_assert(N == 1 || N == 2 || N == 4, "ldmatrix: x1, x2 or x4");
  ::simt::detail::ldmatrix(N, Trans, r, smem_row, loc.file_name(), loc.line());
}

template <int Bytes>
inline void cp_async(void* smem, const void* gmem, int src_bytes = Bytes,
                     std::source_location loc = std::source_location::current()) {
  static_assert(Bytes == 4 || Bytes == 8 || Bytes == 16, "cp.async: 4, 8 or 16 bytes");
  ::simt::detail::cp_async(smem, gmem, Bytes, src_bytes, loc.file_name(), loc.line());
}

inline void cp_async_commit(std::source_location loc = std::source_location::current()) {
  ::simt::detail::cp_async_commit(loc.file_name(), loc.line());
}

template <int N>
inline void cp_async_wait(std::source_location loc = std::source_location::current()) {
  static_assert(N >= 0, "cp.async.wait_group N: N >= 0");
  ::simt::detail::cp_async_wait(N, loc.file_name(), loc.line());
}

template <bool Trans, int KMax, int NMax>
inline void ldmatrix_x4_grid(std::uint32_t (*r)[NMax][4], const void* row, long step_k, long step_n,
                             int nk, int nn,
                             std::source_location loc = std::source_location::current()) {
  static_assert(KMax >= 1 && NMax >= 1, "ldmatrix_x4_grid: a grid of at least 1 x 1");
  if (nk > KMax) nk = KMax;  // the unrolled loop's bounds
  if (nn > NMax) nn = NMax;
  if (nk <= 0 || nn <= 0) return;  // no instruction issued
  ::simt::detail::ldmatrix_x4_grid(Trans, &r[0][0][0], NMax, row, step_k, step_n, nk, nn,
                                   loc.file_name(), loc.line());
}

template <typename T, int KMax, int NMax>
inline void mma_m16n8k16_grid(float (*acc)[4], const std::uint32_t (*a)[4],
                              const std::uint32_t (*b)[NMax][4], int nk, int nn,
                              std::source_location loc = std::source_location::current()) {
  static_assert(std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>,
                "mma_m16n8k16_grid: bf16 or f16 inputs");
  static_assert(KMax >= 1 && NMax >= 1, "mma_m16n8k16_grid: a grid of at least 1 x 1");
  if (nk > KMax) nk = KMax;
  if (nn > NMax) nn = NMax;
  if (nk <= 0 || nn <= 0) return;
  ::simt::detail::mma_m16n8k16_grid(std::is_same_v<T, __nv_bfloat16>, &acc[0][0], &a[0][0],
                                    &b[0][0][0], NMax, nk, nn, loc.file_name(), loc.line());
}

}  // namespace ptx

#endif
