// simt's emulation of mma.sync m16n8k16, ldmatrix and cp.async
// (kernels/simt/ptx.hpp) against scalar definitions written from the PTX
// ISA's text, and its checks: early reads of cp.async destinations,
// misaligned and out-of-bounds addresses, bank-conflict counts.
#include <gtest/gtest.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/simt/simt.hpp"
#include "kernels/simt/tests/ptx_kernels.hpp"
#include "kernels/simt/tests/simt_test_util.hpp"

namespace {

using simt_test::DeviceBuffer;

// ---- Scalar definitions (PTX ISA, "Matrix fragments for mma.m16n8k16 with
// floating point type"): element i of a lane's fragment, groupID = lane >> 2,
// threadID_in_group = lane % 4. Register i / 2 holds elements i and i + 1,
// the lower-indexed one in the low 16 bits.
struct RowCol {
  int row, col;
};
RowCol a_element(int lane, int i) {  // a0..a7 of the 16 x 16 A
  const int group = lane >> 2, tig = lane % 4;
  const int row = (i < 2 || (i >= 4 && i < 6)) ? group : group + 8;
  const int col = i < 4 ? tig * 2 + (i & 1) : tig * 2 + (i & 1) + 8;
  return {row, col};
}
RowCol b_element(int lane, int i) {  // b0..b3 of the 16 x 8 B
  const int group = lane >> 2, tig = lane % 4;
  const int row = i < 2 ? tig * 2 + (i & 1) : tig * 2 + (i & 1) + 8;
  return {row, group};
}
RowCol c_element(int lane, int i) {  // c0..c3 (and d0..d3) of the 16 x 8 C
  const int group = lane >> 2, tig = lane % 4;
  return {i < 2 ? group : group + 8, tig * 2 + (i & 1)};
}

template <typename T>
std::uint16_t bits16(float x) {
  T v;
  if constexpr (std::is_same_v<T, __nv_bfloat16>) v = __float2bfloat16_rn(x);
  else v = __float2half_rn(x);
  std::uint16_t u;
  std::memcpy(&u, &v, 2);
  return u;
}
template <typename T>
float value16(float x) {  // x rounded to T
  if constexpr (std::is_same_v<T, __nv_bfloat16>) return __bfloat162float(__float2bfloat16_rn(x));
  else return __half2float(__float2half_rn(x));
}

struct MmaCase {
  std::vector<float> a, b, c;  // 16 x 16, 16 x 8, 16 x 8 row-major (a and b already rounded)
};

template <typename T>
std::vector<float> run_mma(const MmaCase& m) {
  std::vector<std::uint32_t> ra(32 * 4, 0), rb(32 * 2, 0);
  std::vector<float> rc(32 * 4);
  for (int lane = 0; lane < 32; ++lane) {
    for (int i = 0; i < 8; ++i) {
      const RowCol e = a_element(lane, i);
      ra[std::size_t(lane * 4 + i / 2)] |= std::uint32_t(bits16<T>(m.a[std::size_t(e.row * 16 + e.col)]))
                                          << (16 * (i % 2));
    }
    for (int i = 0; i < 4; ++i) {
      const RowCol e = b_element(lane, i);
      rb[std::size_t(lane * 2 + i / 2)] |= std::uint32_t(bits16<T>(m.b[std::size_t(e.row * 8 + e.col)]))
                                          << (16 * (i % 2));
    }
    for (int i = 0; i < 4; ++i) {
      const RowCol e = c_element(lane, i);
      rc[std::size_t(lane * 4 + i)] = m.c[std::size_t(e.row * 8 + e.col)];
    }
  }
  DeviceBuffer<std::uint32_t> da(ra), db(rb);
  DeviceBuffer<float> dc(rc), dd(32 * 4);
  const cudaError_t e = std::is_same_v<T, __nv_bfloat16> ? simt_ptx_tests::mma_bf16(da.ptr, db.ptr, dc.ptr, dd.ptr)
                                                         : simt_ptx_tests::mma_f16(da.ptr, db.ptr, dc.ptr, dd.ptr);
  EXPECT_EQ(e, cudaSuccess) << simt::last_failure();
  const std::vector<float> rd = dd.host();
  std::vector<float> d(16 * 8);
  for (int lane = 0; lane < 32; ++lane) {
    for (int i = 0; i < 4; ++i) {
      const RowCol el = c_element(lane, i);
      d[std::size_t(el.row * 8 + el.col)] = rd[std::size_t(lane * 4 + i)];
    }
  }
  return d;
}

template <typename T>
MmaCase random_mma(std::mt19937& rng, bool integers) {
  MmaCase m{std::vector<float>(256), std::vector<float>(128), std::vector<float>(128)};
  std::uniform_int_distribution<int> small(-8, 8);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& x : m.a) x = integers ? float(small(rng)) : value16<T>(normal(rng));
  for (float& x : m.b) x = integers ? float(small(rng)) : value16<T>(normal(rng));
  for (float& x : m.c) x = integers ? float(small(rng)) : normal(rng);
  return m;
}

template <typename T>
void check_mma() {
  std::mt19937 rng(7);
  // Integers: every sum is exact, so D = A B + C whatever the order; a wrong
  // fragment mapping puts products in the wrong place.
  for (int rep = 0; rep < 3; ++rep) {
    const MmaCase m = random_mma<T>(rng, true);
    const std::vector<float> d = run_mma<T>(m);
    for (int r = 0; r < 16; ++r) {
      for (int n = 0; n < 8; ++n) {
        double exact = m.c[std::size_t(r * 8 + n)];
        for (int k = 0; k < 16; ++k) exact += double(m.a[std::size_t(r * 16 + k)]) * m.b[std::size_t(k * 8 + n)];
        ASSERT_EQ(d[std::size_t(r * 8 + n)], float(exact)) << "D[" << r << "][" << n << "]";
      }
    }
  }
  // General values: simt's stated order (C, then the products in k order,
  // each addition rounded in float32), bit for bit.
  for (int rep = 0; rep < 3; ++rep) {
    const MmaCase m = random_mma<T>(rng, false);
    const std::vector<float> d = run_mma<T>(m);
    for (int r = 0; r < 16; ++r) {
      for (int n = 0; n < 8; ++n) {
        float acc = m.c[std::size_t(r * 8 + n)];
        for (int k = 0; k < 16; ++k) {
          const float p = m.a[std::size_t(r * 16 + k)] * m.b[std::size_t(k * 8 + n)];
          acc = acc + p;
        }
        ASSERT_EQ(d[std::size_t(r * 8 + n)], acc) << "D[" << r << "][" << n << "]";
      }
    }
  }
}

TEST(SimtPtx, MmaBf16MatchesTheIsaFragmentsAndTheStatedOrder) { check_mma<__nv_bfloat16>(); }
TEST(SimtPtx, MmaF16MatchesTheIsaFragmentsAndTheStatedOrder) { check_mma<__half>(); }

// ---- The grid forms: the same registers and accumulators, bit for bit, as
// the single instructions they stand for, for every shape within the bounds.
struct GridRun {
  cudaError_t err;
  std::vector<std::uint32_t> ld_grid, ld_single;
  std::vector<float> d_grid, d_single;
};

template <typename T>
GridRun run_grid(bool trans, int nk, int nn, int odd_lane, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::uint16_t> tile(40 * 64);
  for (auto& x : tile) x = bits16<T>(normal(rng));
  std::vector<std::uint32_t> a(32 * 16);
  for (auto& x : a) x = std::uint32_t(bits16<T>(normal(rng))) | std::uint32_t(bits16<T>(normal(rng))) << 16;
  std::vector<float> c(32 * 24);
  for (auto& x : c) x = normal(rng);
  DeviceBuffer<std::uint16_t> dt(tile);
  DeviceBuffer<std::uint32_t> da(a), lg(32 * 48), ls(32 * 48);
  DeviceBuffer<float> dc(c), dg(32 * 24), ds(32 * 24);
  GridRun r;
  r.err = simt_ptx_tests::grid_forms(std::is_same_v<T, __nv_bfloat16>, trans, dt.ptr, da.ptr, dc.ptr, nk, nn,
                                     odd_lane, lg.ptr, ls.ptr, dg.ptr, ds.ptr);
  if (r.err != cudaSuccess) return r;
  r.ld_grid = lg.host();
  r.ld_single = ls.host();
  r.d_grid = dg.host();
  r.d_single = ds.host();
  return r;
}

template <typename T>
void check_grid() {
  unsigned seed = 1;
  for (bool trans : {false, true}) {
    for (int nk = 1; nk <= 4; ++nk) {
      for (int nn = 1; nn <= 3; ++nn) {
        const GridRun r = run_grid<T>(trans, nk, nn, -1, seed++);
        ASSERT_EQ(r.err, cudaSuccess) << simt::last_failure();
        ASSERT_EQ(r.ld_grid, r.ld_single) << (trans ? ".trans " : "") << nk << " x " << nn;
        std::vector<std::uint32_t> g(r.d_grid.size()), s(r.d_single.size());
        std::memcpy(g.data(), r.d_grid.data(), 4 * g.size());
        std::memcpy(s.data(), r.d_single.data(), 4 * s.size());
        ASSERT_EQ(g, s) << "mma grid " << nk << " x " << nn;
        // The grid computed something: blocks past nn keep C, the others do not.
        ASSERT_NE(r.d_grid[0], 0.0f);
      }
    }
  }
}

TEST(SimtPtx, GridFormsMatchTheSingleInstructionsBf16) { check_grid<__nv_bfloat16>(); }
TEST(SimtPtx, GridFormsMatchTheSingleInstructionsF16) { check_grid<__half>(); }

TEST(SimtPtx, LanesDisagreeingOnAGridAreReported) {
  const GridRun r = run_grid<__nv_bfloat16>(false, 3, 2, 5, 99);
  EXPECT_NE(r.err, cudaSuccess);
  const std::string f = simt::last_failure();
  EXPECT_NE(f.find("lane 5 runs a 2 x 2 grid, lane 0 a 3 x 2"), std::string::npos) << f;
  EXPECT_NE(f.find("every lane must issue the same instructions"), std::string::npos) << f;
}

// ---- ldmatrix (PTX ISA, "ldmatrix"): lanes 8i .. 8i + 7 give the rows of
// matrix i; lane l receives row l / 4, elements 2 (l % 4) and 2 (l % 4) + 1;
// with .trans the matrix is read column-major: element l / 4 of rows
// 2 (l % 4) and 2 (l % 4) + 1.
std::uint16_t code(int row, int col) { return std::uint16_t(row * 1000 + col); }

void check_ldmatrix(int n, bool trans, int stride) {
  const int rows = 64;
  std::vector<std::uint16_t> tile(std::size_t(rows * stride));
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < stride; ++c) tile[std::size_t(r * stride + c)] = code(r, c);
  }
  std::vector<int> perm(rows);
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937 rng(unsigned(n * 10 + trans));
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<int> row_of_lane(32, -1);  // lanes past 8n give null: not used
  for (int l = 0; l < 8 * n; ++l) row_of_lane[std::size_t(l)] = perm[std::size_t(l)];
  DeviceBuffer<std::uint16_t> dt(tile);
  DeviceBuffer<int> dr(row_of_lane);
  DeviceBuffer<std::uint32_t> dout(std::size_t(32 * n));
  ASSERT_EQ(simt_ptx_tests::ldmatrix(dt.ptr, rows, stride, dr.ptr, n, trans, dout.ptr), cudaSuccess)
      << simt::last_failure();
  const auto out = dout.host();
  for (int l = 0; l < 32; ++l) {
    for (int m = 0; m < n; ++m) {
      // Matrix m: M[r][c] = element c of the row lane 8m + r gave.
      auto M = [&](int r, int c) { return code(row_of_lane[std::size_t(8 * m + r)], c); };
      const std::uint16_t lo = trans ? M(2 * (l % 4), l / 4) : M(l / 4, 2 * (l % 4));
      const std::uint16_t hi = trans ? M(2 * (l % 4) + 1, l / 4) : M(l / 4, 2 * (l % 4) + 1);
      const std::uint32_t want = std::uint32_t(lo) | std::uint32_t(hi) << 16;
      ASSERT_EQ(out[std::size_t(n * l + m)], want) << "x" << n << (trans ? ".trans" : "")
                                                   << " lane " << l << " register " << m;
    }
  }
}

TEST(SimtPtx, LdmatrixX1X2X4MatchTheIsaRowsAndLanes) {
  for (int n : {1, 2, 4}) check_ldmatrix(n, false, 8);
}
TEST(SimtPtx, LdmatrixTransReadsEachMatrixColumnMajor) {
  for (int n : {1, 2, 4}) check_ldmatrix(n, true, 8);
}
TEST(SimtPtx, LdmatrixRowsMayComeFromAnyAlignedAddress) {
  for (int n : {1, 4}) check_ldmatrix(n, true, 24);  // rows 48 bytes apart, wider than 8
}

// ---- Bank conflicts: ldmatrix x4 over 32 consecutive rows.
simt::BankCounts ldmatrix_banks(int stride) {
  const int rows = 32;
  std::vector<std::uint16_t> tile(std::size_t(rows * stride), 1);
  std::vector<int> row_of_lane(32);
  std::iota(row_of_lane.begin(), row_of_lane.end(), 0);
  DeviceBuffer<std::uint16_t> dt(tile);
  DeviceBuffer<int> dr(row_of_lane);
  DeviceBuffer<std::uint32_t> dout(128);
  simt::Config counting = simt::config();
  counting.count_bank_conflicts = true;
  const simt_test::ConfigScope scope(counting);
  simt::reset_shared_memory_stats();
  EXPECT_EQ(simt_ptx_tests::ldmatrix(dt.ptr, rows, stride, dr.ptr, 4, false, dout.ptr), cudaSuccess);
  for (const auto& [name, s] : simt::shared_memory_stats()) {
    if (name == "(ldmatrix_kernel<4, false>)") return s.ldmatrix;
  }
  ADD_FAILURE() << "no ldmatrix counts for the kernel";
  return {};
}

TEST(SimtPtx, BankConflictsOfLdmatrixRowsOneBankLineApart) {
  // Rows 128 bytes apart: the 8 rows of each matrix fall in the same 4 banks,
  // 8 wavefronts per matrix instead of 1.
  const simt::BankCounts c = ldmatrix_banks(64);
  EXPECT_EQ(c.requests, 1u);
  EXPECT_EQ(c.ideal, 4u);
  EXPECT_EQ(c.wavefronts, 32u);
  // Padded by 16 bytes (144 apart): the rows start 4 banks apart, no conflict.
  const simt::BankCounts p = ldmatrix_banks(72);
  EXPECT_EQ(p.requests, 1u);
  EXPECT_EQ(p.ideal, 4u);
  EXPECT_EQ(p.wavefronts, 4u);
}

// ---- cp.async.
using simt_ptx_tests::CpAsyncCase;

std::vector<std::uint8_t> source_bytes() {
  std::vector<std::uint8_t> src(1024);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = std::uint8_t(i * 7 + 1);
  return src;
}

struct CpResult {
  cudaError_t error;
  std::string failure;
  std::vector<std::uint8_t> out;
};

CpResult run_cp(CpAsyncCase c) {
  const auto src = source_bytes();
  DeviceBuffer<std::uint8_t> dsrc(src), dout(2048);
  const cudaError_t e = simt_ptx_tests::cp_async(c, dsrc.ptr, dout.ptr);
  return {e, simt::last_failure(), dout.host()};
}

int marker_line(const std::string& marker) {
  std::ifstream f(SIMT_PTX_KERNELS_CU);
  std::string line;
  for (int n = 1; std::getline(f, line); ++n) {
    if (line.find("marker: " + marker) != std::string::npos) return n;
  }
  ADD_FAILURE() << "marker " << marker << " not found";
  return 0;
}

TEST(SimtPtx, CpAsyncCopiesSrcSizeBytesAndZeroFillsTheRest) {
  const CpResult r = run_cp(CpAsyncCase::Zfill);
  ASSERT_EQ(r.error, cudaSuccess) << r.failure;
  const auto src = source_bytes();
  for (int l = 0; l < 32; ++l) {
    for (int e = 0; e < 16; ++e) {
      const std::size_t i = std::size_t(16 * l + e);
      EXPECT_EQ(r.out[i], e < l % 17 ? src[i] : 0) << "lane " << l << " byte " << e;
    }
  }
}

TEST(SimtPtx, CpAsyncOfFourAndEightBytes) {
  const CpResult r = run_cp(CpAsyncCase::Small);
  ASSERT_EQ(r.error, cudaSuccess) << r.failure;
  const auto src = source_bytes();
  for (std::size_t i = 0; i < 384; ++i) EXPECT_EQ(r.out[i], src[i]) << "byte " << i;
}

TEST(SimtPtx, LdmatrixBeforeTheWaitIsReportedWithTheCopysLine) {
  const CpResult r = run_cp(CpAsyncCase::LdmatrixEarly);
  EXPECT_EQ(r.error, cudaErrorLaunchFailure);
  EXPECT_NE(r.failure.find("ldmatrix reads"), std::string::npos) << r.failure;
  EXPECT_NE(r.failure.find("before the cp.async.wait_group"), std::string::npos) << r.failure;
  const std::string copy_site = "ptx_kernels.cu:" + std::to_string(marker_line("ldmatrix-early"));
  EXPECT_NE(r.failure.find(copy_site), std::string::npos) << r.failure << "\nwant " << copy_site;
}

TEST(SimtPtx, MisalignedAndOutOfBoundsAddressesAreReported) {
  struct Want {
    CpAsyncCase c;
    const char* text;
  };
  for (const Want& w : {Want{CpAsyncCase::Misaligned, "aligned to the copy size 16"},
                        Want{CpAsyncCase::OutsideShared, "outside the block's shared memory"},
                        Want{CpAsyncCase::HostSource, "not inside one device allocation"},
                        Want{CpAsyncCase::SameDestination, "still in flight"},
                        Want{CpAsyncCase::LdmatrixMisaligned, "lane 3 gives row address"}}) {
    const CpResult r = run_cp(w.c);
    EXPECT_EQ(r.error, cudaErrorLaunchFailure) << w.text;
    EXPECT_NE(r.failure.find(w.text), std::string::npos) << r.failure;
    EXPECT_NE(r.failure.find("ptx_kernels.cu:"), std::string::npos) << r.failure;
  }
}

#if !defined(SIMT_PTX_RACE_CHECK)
// (A race-check build reports the early read of group 1 below.)
TEST(SimtPtx, WaitGroupLandsAllButTheNewestNGroups) {
  const CpResult r = run_cp(CpAsyncCase::Groups);
  ASSERT_EQ(r.error, cudaSuccess) << r.failure;
  const auto src = source_bytes();
  for (std::size_t i = 0; i < 512; ++i) {
    EXPECT_EQ(r.out[i], src[i]) << "group 0 after wait_group 1, byte " << i;
  }
  // Group 1 had not landed at wait_group 1: the old bytes (0xAB) were read.
  for (std::size_t i = 512; i < 1024; ++i) EXPECT_EQ(r.out[i], 0xAB) << "byte " << i;
  for (std::size_t i = 0; i < 512; ++i) {
    EXPECT_EQ(r.out[1024 + i], src[512 + i]) << "group 1 after wait_group 0, byte " << i;
  }
}

TEST(SimtPtx, APlainReadBeforeTheWaitSeesTheOldBytesWithoutRaceCheck) {
  const CpResult r = run_cp(CpAsyncCase::PlainReadEarly);
  ASSERT_EQ(r.error, cudaSuccess) << r.failure;
  for (int l = 0; l < 32; ++l) EXPECT_EQ(r.out[std::size_t(l)], 0xAB) << "lane " << l;
}
#else
TEST(SimtPtxRaces, APlainReadBeforeTheWaitIsReported) {
  ASSERT_TRUE(simt::race_check_enabled());
  const CpResult r = run_cp(CpAsyncCase::PlainReadEarly);
  EXPECT_EQ(r.error, cudaErrorLaunchFailure);
  EXPECT_NE(r.failure.find("reads dynamic shared memory offset 0 before the cp.async.wait_group"),
            std::string::npos)
      << r.failure;
  const std::string copy_site = "ptx_kernels.cu:" + std::to_string(marker_line("plain-read-early"));
  EXPECT_NE(r.failure.find(copy_site), std::string::npos) << r.failure;
  EXPECT_FALSE(simt::last_races().empty());
}
TEST(SimtPtxRaces, WaitedCopiesAreNoRace) {
  for (CpAsyncCase c : {CpAsyncCase::Zfill, CpAsyncCase::Small}) {
    const CpResult r = run_cp(c);
    EXPECT_EQ(r.error, cudaSuccess) << r.failure;
  }
}
#endif

}  // namespace
