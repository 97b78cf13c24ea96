// Kernels exercising kernels/simt/ptx.hpp (ptx_kernels.hpp says what each
// does). The lines marked `// marker: NAME` are looked up by the tests, which
// expect failure reports to name them.
#include "kernels/simt/cuda.hpp"
#include "kernels/simt/ptx.hpp"
#include "kernels/simt/tests/ptx_kernels.hpp"

namespace simt_ptx_tests {
namespace {

template <typename T>
__global__ void mma_kernel(const std::uint32_t* a, const std::uint32_t* b, const float* c,
                           float* d) {
  const int l = int(threadIdx.x);
  std::uint32_t ra[4], rb[2];
  float rc[4], rd[4];
  for (int i = 0; i < 4; ++i) ra[i] = a[4 * l + i];
  for (int i = 0; i < 2; ++i) rb[i] = b[2 * l + i];
  for (int i = 0; i < 4; ++i) rc[i] = c[4 * l + i];
  ptx::mma_m16n8k16<T>(rd, ra, rb, rc);
  for (int i = 0; i < 4; ++i) d[4 * l + i] = rd[i];
}

template <int N, bool Trans>
__global__ void ldmatrix_kernel(const std::uint16_t* tile, int rows, int stride,
                                const int* row_of_lane, std::uint32_t* out) {
  extern __shared__ __align__(16) std::uint16_t smem[];
  const int l = int(threadIdx.x);
  for (int e = l; e < rows * stride; e += 32) smem[e] = tile[e];
  __syncthreads();
  const int r = row_of_lane[l];
  const std::uint16_t* row = r < 0 ? nullptr : smem + r * stride;
  std::uint32_t reg[N];
  ptx::ldmatrix<N, Trans>(reg, row);
  for (int i = 0; i < N; ++i) out[N * l + i] = reg[i];
}

__global__ void cp_async_kernel(CpAsyncCase which, const std::uint8_t* src, std::uint8_t* out) {
  extern __shared__ __align__(16) std::uint8_t shm[];
  const int l = int(threadIdx.x);
  for (int e = l; e < 4096; e += 32) shm[e] = 0xAB;
  __syncthreads();
  switch (which) {
    case CpAsyncCase::Zfill:
      ptx::cp_async<16>(shm + 16 * l, src + 16 * l, l % 17);
      ptx::cp_async_commit();
      ptx::cp_async_wait<0>();
      __syncthreads();
      for (int e = l; e < 512; e += 32) out[e] = shm[e];
      break;
    case CpAsyncCase::Groups:
      ptx::cp_async<16>(shm + 16 * l, src + 16 * l);
      ptx::cp_async_commit();
      ptx::cp_async<16>(shm + 512 + 16 * l, src + 512 + 16 * l);
      ptx::cp_async_commit();
      ptx::cp_async_wait<1>();
      for (int e = 0; e < 16; ++e) {
        out[16 * l + e] = shm[16 * l + e];
        out[512 + 16 * l + e] = shm[512 + 16 * l + e];  // group 1: not landed yet
      }
      ptx::cp_async_wait<0>();
      for (int e = 0; e < 16; ++e) out[1024 + 16 * l + e] = shm[512 + 16 * l + e];
      break;
    case CpAsyncCase::Small:
      ptx::cp_async<4>(shm + 4 * l, src + 4 * l);
      ptx::cp_async<8>(shm + 128 + 8 * l, src + 128 + 8 * l);
      ptx::cp_async_commit();
      ptx::cp_async_wait<0>();
      __syncthreads();
      for (int e = l; e < 384; e += 32) out[e] = shm[e];
      break;
    case CpAsyncCase::LdmatrixEarly: {
      ptx::cp_async<16>(shm + 16 * l, src + 16 * l);  // marker: ldmatrix-early
      ptx::cp_async_commit();
      std::uint32_t reg[4];
      ptx::ldmatrix<4, false>(reg, shm + 16 * l);
      out[l] = std::uint8_t(reg[0]);
      ptx::cp_async_wait<0>();
      break;
    }
    case CpAsyncCase::PlainReadEarly:
      ptx::cp_async<16>(shm + 16 * l, src + 16 * l);  // marker: plain-read-early
      ptx::cp_async_commit();
      out[l] = shm[16 * l];
      ptx::cp_async_wait<0>();
      break;
    case CpAsyncCase::Misaligned:
      ptx::cp_async<16>(shm + 8, src);
      break;
    case CpAsyncCase::OutsideShared:
      ptx::cp_async<16>(shm + 4096, src);
      break;
    case CpAsyncCase::HostSource: {
      static const std::uint8_t host[16] __attribute__((aligned(16))) = {};
      ptx::cp_async<16>(shm, host);
      break;
    }
    case CpAsyncCase::SameDestination:
      if (l < 2) ptx::cp_async<16>(shm, src + 16 * l);
      __syncthreads();
      ptx::cp_async_commit();
      ptx::cp_async_wait<0>();
      break;
    case CpAsyncCase::LdmatrixMisaligned: {
      std::uint32_t reg[1];
      ptx::ldmatrix<1, false>(reg, shm + (l == 3 ? 8 : 16 * l));
      out[l] = std::uint8_t(reg[0]);
      break;
    }
  }
}

template <typename T, bool Trans>
__global__ void grid_kernel(const std::uint16_t* tile, const std::uint32_t* a, const float* c,
                            int nk, int nn, int odd_lane, std::uint32_t* ld_grid,
                            std::uint32_t* ld_single, float* d_grid, float* d_single) {
  constexpr int kRows = 40, kStride = 64, kK = 4, kN = 3;
  constexpr long kStepK = 16, kStepN = 48;
  extern __shared__ __align__(16) std::uint16_t gsmem[];
  const int l = int(threadIdx.x);
  for (int e = l; e < kRows * kStride; e += 32) gsmem[e] = tile[e];
  __syncthreads();
  const std::uint16_t* row = gsmem + l * kStride;
  const int my_nk = l == odd_lane ? nk - 1 : nk;
  std::uint32_t rg[kK][kN][4] = {}, rs[kK][kN][4] = {};
  ptx::ldmatrix_x4_grid<Trans, kK, kN>(rg, row, kStepK, kStepN, my_nk, nn);
  for (int i = 0; i < nk; ++i) {
    for (int j = 0; j < nn; ++j) {
      ptx::ldmatrix<4, Trans>(rs[i][j],
                              reinterpret_cast<const char*>(row) + i * kStepK + j * kStepN);
    }
  }
  for (int i = 0; i < kK; ++i) {
    for (int j = 0; j < kN; ++j) {
      for (int r = 0; r < 4; ++r) {
        ld_grid[48 * l + 12 * i + 4 * j + r] = rg[i][j][r];
        ld_single[48 * l + 12 * i + 4 * j + r] = rs[i][j][r];
      }
    }
  }
  std::uint32_t ra[kK][4];
  float accg[2 * kN][4], accs[2 * kN][4];
  for (int i = 0; i < kK; ++i) {
    for (int r = 0; r < 4; ++r) ra[i][r] = a[16 * l + 4 * i + r];
  }
  for (int b = 0; b < 2 * kN; ++b) {
    for (int r = 0; r < 4; ++r) accg[b][r] = accs[b][r] = c[24 * l + 4 * b + r];
  }
  ptx::mma_m16n8k16_grid<T, kK, kN>(accg, ra, rs, my_nk, nn);
  for (int i = 0; i < nk; ++i) {
    for (int j = 0; j < nn; ++j) {
      const std::uint32_t b0[2] = {rs[i][j][0], rs[i][j][1]}, b1[2] = {rs[i][j][2], rs[i][j][3]};
      ptx::mma_m16n8k16<T>(accs[2 * j], ra[i], b0, accs[2 * j]);
      ptx::mma_m16n8k16<T>(accs[2 * j + 1], ra[i], b1, accs[2 * j + 1]);
    }
  }
  for (int b = 0; b < 2 * kN; ++b) {
    for (int r = 0; r < 4; ++r) {
      d_grid[24 * l + 4 * b + r] = accg[b][r];
      d_single[24 * l + 4 * b + r] = accs[b][r];
    }
  }
}

}  // namespace

cudaError_t grid_forms(bool bf16, bool trans, const std::uint16_t* tile, const std::uint32_t* a,
                       const float* c, int nk, int nn, int odd_lane, std::uint32_t* ld_grid,
                       std::uint32_t* ld_single, float* d_grid, float* d_single) {
  const std::size_t bytes = 40 * 64 * 2;
#define SIMT_PTX_GRID(T, TR)                                                                   \
  ATTNCHECK_LAUNCH((grid_kernel<T, TR>), dim3(1), dim3(32), bytes, 0, tile, a, c, nk, nn,      \
                   odd_lane, ld_grid, ld_single, d_grid, d_single)
  if (bf16 && trans) SIMT_PTX_GRID(__nv_bfloat16, true);
  if (bf16 && !trans) SIMT_PTX_GRID(__nv_bfloat16, false);
  if (!bf16 && trans) SIMT_PTX_GRID(__half, true);
  if (!bf16 && !trans) SIMT_PTX_GRID(__half, false);
#undef SIMT_PTX_GRID
  return cudaGetLastError();
}

cudaError_t mma_bf16(const std::uint32_t* a, const std::uint32_t* b, const float* c, float* d) {
  ATTNCHECK_LAUNCH((mma_kernel<__nv_bfloat16>), dim3(1), dim3(32), 0, 0, a, b, c, d);
  return cudaGetLastError();
}

cudaError_t mma_f16(const std::uint32_t* a, const std::uint32_t* b, const float* c, float* d) {
  ATTNCHECK_LAUNCH((mma_kernel<__half>), dim3(1), dim3(32), 0, 0, a, b, c, d);
  return cudaGetLastError();
}

cudaError_t ldmatrix(const std::uint16_t* tile, int rows, int stride, const int* row_of_lane,
                     int n, bool trans, std::uint32_t* out) {
  const std::size_t bytes = std::size_t(rows) * stride * 2;
#define SIMT_PTX_LDMATRIX(N, T)                                                               \
  ATTNCHECK_LAUNCH((ldmatrix_kernel<N, T>), dim3(1), dim3(32), bytes, 0, tile, rows, stride, \
                   row_of_lane, out)
  if (n == 1 && trans) SIMT_PTX_LDMATRIX(1, true);
  if (n == 1 && !trans) SIMT_PTX_LDMATRIX(1, false);
  if (n == 2 && trans) SIMT_PTX_LDMATRIX(2, true);
  if (n == 2 && !trans) SIMT_PTX_LDMATRIX(2, false);
  if (n == 4 && trans) SIMT_PTX_LDMATRIX(4, true);
  if (n == 4 && !trans) SIMT_PTX_LDMATRIX(4, false);
#undef SIMT_PTX_LDMATRIX
  return cudaGetLastError();
}

cudaError_t cp_async(CpAsyncCase c, const std::uint8_t* src, std::uint8_t* out) {
  ATTNCHECK_LAUNCH(cp_async_kernel, dim3(1), dim3(32), 4096, 0, c, src, out);
  return cudaGetLastError();
}

}  // namespace simt_ptx_tests
