// Host entry points of the kernels that exercise kernels/simt/ptx.hpp
// (ptx_kernels.cu): one warp each, inputs and outputs in device memory.
#pragma once

#include <cstdint>

#include "kernels/simt/runtime_api.hpp"

namespace simt_ptx_tests {

// Lane l calls mma_m16n8k16 with a[4 l .. 4 l + 4), b[2 l .. 2 l + 2),
// c[4 l .. 4 l + 4) and writes its D registers to d[4 l .. 4 l + 4).
cudaError_t mma_bf16(const std::uint32_t* a, const std::uint32_t* b, const float* c, float* d);
cudaError_t mma_f16(const std::uint32_t* a, const std::uint32_t* b, const float* c, float* d);

// `tile` (rows x stride 16-bit elements) is copied to dynamic shared memory;
// lane l gives the address of row row_of_lane[l] (-1: a null address), and
// calls ldmatrix x`n` (1, 2, 4), .trans if `trans`; lane l writes its n
// registers to out[n l .. n l + n).
cudaError_t ldmatrix(const std::uint16_t* tile, int rows, int stride, const int* row_of_lane,
                     int n, bool trans, std::uint32_t* out);

// The grid forms against the single instructions, one warp: `tile` (40 rows
// of 64 16-bit elements, finite bf16 or f16 values) is copied to shared
// memory; lane l's row is row l, steps of 16 bytes (k) and 48 bytes (n).
// ldmatrix_x4_grid<Trans, 4, 3>(nk, nn) and the same ldmatrix.x4 one at a
// time write lane l's registers to ld_grid / ld_single [48 l .. 48 l + 48)
// (i, j, register; unused entries 0). Then mma_m16n8k16_grid<T, 4, 3> with A
// registers a[16 l ..] (4 k-steps x 4), B the loaded registers and C
// c[24 l ..] (6 blocks x 4), and the same mmas one at a time, write D to
// d_grid / d_single [24 l ..]. Lane `odd_lane` (-1: none) passes nk - 1
// to both grid forms (lanes disagreeing on the grid).
cudaError_t grid_forms(bool bf16, bool trans, const std::uint16_t* tile, const std::uint32_t* a,
                       const float* c, int nk, int nn, int odd_lane, std::uint32_t* ld_grid,
                       std::uint32_t* ld_single, float* d_grid, float* d_single);

// cp.async scenarios, one warp, 4 KiB of dynamic shared memory (prefilled
// with 0xAB bytes before any copy); `src` is 1024 device bytes, `out` 2048:
//   Zfill:      lane l: cp.async 16 bytes from src + 16 l to shared + 16 l with
//               src-size l % 17, commit, wait_group 0, barrier; out[0, 512) = shared
//   Groups:     group 0: chunk l (16 bytes) from src + 16 l; group 1: chunk 32 + l;
//               wait_group 1; lane l copies its two chunks of shared to out[16 l],
//               out[512 + 16 l]; then wait_group 0 and chunk 32 + l to out[1024 + 16 l]
//   Small:      lane l: 4 bytes (from src + 4 l) to shared + 4 l and 8 bytes
//               (from src + 128 + 8 l) to shared + 128 + 8 l, commit,
//               wait_group 0, barrier; out[0, 384) = shared
//   LdmatrixEarly: chunk l copied, committed, no wait; ldmatrix x4 of rows 0..31
//   PlainReadEarly: chunk l copied, committed, no wait; lane l reads its chunk
//   Misaligned: 16 bytes to shared + 8
//   OutsideShared: 16 bytes to shared + 4096 (the end of the launch's buffer)
//   HostSource: 16 bytes from a host address
//   SameDestination: lanes 0 and 1 both copy to shared + 0
//   LdmatrixMisaligned: ldmatrix x1 with lane 3 giving shared + 8
enum class CpAsyncCase {
  Zfill,
  Groups,
  Small,
  LdmatrixEarly,
  PlainReadEarly,
  Misaligned,
  OutsideShared,
  HostSource,
  SameDestination,
  LdmatrixMisaligned
};
cudaError_t cp_async(CpAsyncCase c, const std::uint8_t* src, std::uint8_t* out);

}  // namespace simt_ptx_tests
