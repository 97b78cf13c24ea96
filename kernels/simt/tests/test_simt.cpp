// The simt test kernels through the CUDA runtime API: the same file runs on the
// CPU (simt) and, in the native build (ATTNCHECK_NATIVE_CUDA), on a GPU. What
// only simt has (the poison fill, schedules, failure reports) is tested in the
// `#if !defined(ATTNCHECK_NATIVE_CUDA)` sections.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/simt/tests/test_kernels.hpp"

#if !defined(ATTNCHECK_NATIVE_CUDA)
#include "kernels/simt/simt.hpp"
#endif

namespace {

// A device array that frees itself (tests stop at the first fatal failure).
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(std::size_t n) : n_(n) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, bytes()), cudaSuccess);
    p_ = static_cast<T*>(p);
  }
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) { upload(host); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() { cudaFree(p_); }

  T* get() const { return p_; }
  std::size_t bytes() const { return n_ * sizeof(T); }
  void upload(const std::vector<T>& host) {
    ASSERT_EQ(host.size(), n_);
    EXPECT_EQ(cudaMemcpy(p_, host.data(), bytes(), cudaMemcpyHostToDevice), cudaSuccess);
  }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    EXPECT_EQ(cudaMemcpy(host.data(), p_, bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    return host;
  }

 private:
  std::size_t n_;
  T* p_ = nullptr;
};

template <typename T>
std::uint32_t bits_of(T x) {
  static_assert(sizeof(T) == 4);
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}

float float_of(std::uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// ---------------------------------------------------------------------------
// Reductions, scans, tiled product.

TEST(SimtKernels, BlockReduction) {
  const int rows = 7, n = 1000, threads = 128;
  std::vector<float> in(std::size_t(rows) * n);
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> d(-8, 8);
  for (float& x : in) x = float(d(rng));  // integers: every summation order is exact
  DeviceArray<float> din(in), dout(rows);
  ASSERT_EQ(simt_tests::block_reduce(din.get(), dout.get(), rows, n, threads), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto out = dout.download();
  for (int r = 0; r < rows; ++r) {
    float want = 0;
    for (int i = 0; i < n; ++i) want += in[std::size_t(r) * n + i];
    EXPECT_EQ(out[r], want) << "row " << r;
  }
}

TEST(SimtKernels, InclusiveScanAcrossBlocks) {
  // Lengths around the block size, several blocks with a partial last one, and
  // more than kScanBlock blocks (the block totals are scanned by a recursion).
  const int b = simt_tests::kScanBlock;
  for (const int n : {1, 7, b - 1, b, b + 1, 5 * b + 77, 70001}) {
    std::vector<float> in(n);
    std::mt19937 rng{unsigned(n)};
    std::uniform_int_distribution<int> d(-9, 9);
    for (float& x : in) x = float(d(rng));  // integers with |prefix| < 2^24: exact in any order
    DeviceArray<float> din(in), dout(n);
    ASSERT_EQ(simt_tests::inclusive_scan(din.get(), dout.get(), n), cudaSuccess) << "n " << n;
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const auto out = dout.download();
    double want = 0;
    int bad = 0;
    for (int i = 0; i < n; ++i) {
      want += in[i];
      if (out[i] != float(want) && ++bad <= 5) {
        ADD_FAILURE() << "n " << n << ": out[" << i << "] = " << out[i] << ", want " << want;
      }
    }
    EXPECT_EQ(bad, 0) << "n " << n;
  }
}

TEST(SimtKernels, TiledMatmulMatchesDoubleProduct) {
  struct Shape {
    int m, n, k;
  };
  for (const Shape s : {Shape{37, 53, 45}, Shape{17, 1, 33}, Shape{1, 31, 7}, Shape{50, 20, 130}}) {
    std::mt19937 rng{unsigned(s.m * 1000 + s.n * 10 + s.k)};
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    std::vector<float> a(std::size_t(s.m) * s.k), b(std::size_t(s.k) * s.n);
    for (float& x : a) x = d(rng);
    for (float& x : b) x = d(rng);
    DeviceArray<float> da(a), db(b), dc(std::size_t(s.m) * s.n);
    ASSERT_EQ(simt_tests::tiled_matmul(da.get(), db.get(), dc.get(), s.m, s.n, s.k), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const auto c = dc.download();
    // A float dot product of k terms, accumulated in any order, with or without
    // fused multiply-adds (nvcc contracts acc += a * b, g++ on x86-64 does not),
    // is within gamma_k * sum |a_i b_i| of the exact value, gamma_k = k u / (1 - k u),
    // u = 2^-24 (Higham, Accuracy and Stability of Numerical Algorithms, 3.1).
    // The float64 reference is exact to ~k 2^-53 relative; the factor 1.01 covers
    // 1 / (1 - k u) and that. A missing or misplaced term (|a b| ~ 0.25 against a
    // bound ~ k^2 6e-8 / 4) fails by orders of magnitude.
    const double gamma = 1.01 * s.k * std::ldexp(1.0, -24);
    for (int i = 0; i < s.m; ++i) {
      for (int j = 0; j < s.n; ++j) {
        double exact = 0, magnitude = 0;
        for (int p = 0; p < s.k; ++p) {
          const double t = double(a[std::size_t(i) * s.k + p]) * b[std::size_t(p) * s.n + j];
          exact += t;
          magnitude += std::abs(t);
        }
        const float got = c[std::size_t(i) * s.n + j];
        ASSERT_LE(std::abs(double(got) - exact), gamma * magnitude)
            << "shape " << s.m << "x" << s.n << "x" << s.k << " at (" << i << ", " << j
            << "): got " << got << ", want " << exact;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Warp collectives.

// The lanes of warp `w` in a block of `threads` threads.
int lanes_of(int threads, int w) { return std::min(32, threads - 32 * w); }

struct ShuffleRun {
  std::vector<int> out;
  std::vector<double> out_double;
};

ShuffleRun run_shuffles(const std::vector<int>& in, int blocks, int threads) {
  DeviceArray<int> din(in), dout(in.size() * simt_tests::kShuffleOutputs);
  DeviceArray<double> dd(in.size());
  EXPECT_EQ(simt_tests::warp_shuffles(din.get(), dout.get(), dd.get(), blocks, threads),
            cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  return {dout.download(), dd.download()};
}

// Checks run_shuffles' results against the semantics of the CUDA programming
// guide (a source lane outside the caller's segment of `width` lanes, for
// down/up, leaves the caller's own value).
void check_shuffles(const std::vector<int>& in, int blocks, int threads, const ShuffleRun& r) {
  const int k = simt_tests::kShuffleOutputs;
  int bad = 0;
  for (int blk = 0; blk < blocks; ++blk) {
    for (int tt = 0; tt < threads; ++tt) {
      const int w = tt / 32, lane = tt % 32, lanes = lanes_of(threads, w);
      const std::size_t base = std::size_t(blk) * threads + std::size_t(w) * 32;
      const auto v = [&](int l) { return in[base + std::size_t(l)]; };
      int sum16 = 0, sum = 0, prefix = 0;
      for (int l = lane & ~15; l < (lane & ~15) + 16; ++l) sum16 += v(l);
      for (int l = 0; l < lanes; ++l) sum += v(l);
      for (int l = 0; l <= lane; ++l) prefix += v(l);
      const int want[] = {
          v((lane * 5 + 3) % lanes),
          v((lane & ~7) + ((lane * 3 + 1) & 7)),
          sum16,
          sum,
          lane + 3 < lanes ? v(lane + 3) : v(lane),
          lane + 2 < (lane & ~7) + 8 ? v(lane + 2) : v(lane),
          lane >= 5 ? v(lane - 5) : v(lane),
          lane - 1 >= (lane & ~3) ? v(lane - 1) : v(lane),
          prefix,
          lane == 0 ? sum : 0,
          (lane ^ 12) <= (lane | 7) ? v(lane ^ 12) : v(lane),
      };
      static_assert(sizeof want / sizeof want[0] == simt_tests::kShuffleOutputs);
      const std::size_t t = base + std::size_t(lane);
      for (int j = 0; j < k; ++j) {
        if (r.out[t * k + j] != want[j] && ++bad <= 10) {
          ADD_FAILURE() << "threads " << threads << " block " << blk << " thread " << tt
                        << " output " << j << ": got " << r.out[t * k + j] << ", want " << want[j];
        }
      }
      const double want_double = double(v(lane ^ 1)) + 0.25;
      if (r.out_double[t] != want_double && ++bad <= 10) {
        ADD_FAILURE() << "threads " << threads << " block " << blk << " thread " << tt
                      << " double xor shuffle: got " << r.out_double[t] << ", want " << want_double;
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

std::vector<int> shuffle_input(int blocks, int threads) {
  std::vector<int> in(std::size_t(blocks) * threads);
  std::mt19937 rng{unsigned(threads)};
  std::uniform_int_distribution<int> d(-100000, 100000);
  for (int& x : in) x = d(rng);
  return in;
}

TEST(SimtKernels, WarpShuffles) {
  // 48: a full warp and a partial one of 16 lanes; 64: two full warps.
  for (const int threads : {48, 64, 32}) {
    const int blocks = 3;
    const auto in = shuffle_input(blocks, threads);
    check_shuffles(in, blocks, threads, run_shuffles(in, blocks, threads));
  }
}

// Predicates by warp: random, all true, all false, only lane 5 (as varied ints:
// any nonzero value is true).
std::vector<int> vote_input(int blocks, int threads) {
  std::vector<int> pred(std::size_t(blocks) * threads);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> d(-3, 3);
  for (int blk = 0; blk < blocks; ++blk) {
    for (int tt = 0; tt < threads; ++tt) {
      const int warp = blk * ((threads + 31) / 32) + tt / 32, lane = tt % 32;
      int p = 0;
      switch (warp % 4) {
        case 0: p = d(rng) > 0 ? d(rng) | 1 : 0; break;
        case 1: p = lane + 1; break;
        case 2: p = 0; break;
        case 3: p = lane == 5 ? -7 : 0; break;
      }
      pred[std::size_t(blk) * threads + tt] = p;
    }
  }
  return pred;
}

std::vector<unsigned> run_votes(const std::vector<int>& pred, int blocks, int threads,
                                bool full_mask) {
  DeviceArray<int> dp(pred);
  DeviceArray<unsigned> dout(pred.size() * simt_tests::kVoteOutputs);
  EXPECT_EQ(full_mask ? simt_tests::warp_votes_full_mask(dp.get(), dout.get(), blocks, threads)
                      : simt_tests::warp_votes(dp.get(), dout.get(), blocks, threads),
            cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  return dout.download();
}

// Lanes l < lanes of the warp starting at `base` whose predicate holds.
template <typename Pred>
unsigned ballot_of(int lanes, Pred pred) {
  unsigned bits = 0;
  for (int l = 0; l < lanes; ++l) {
    if (pred(l)) bits |= 1u << l;
  }
  return bits;
}

// full_mask: the kernel gave every collective 0xffffffff (warp_votes_full_mask).
void check_votes(const std::vector<int>& pred, int blocks, int threads,
                 const std::vector<unsigned>& out, bool full_mask = false) {
  const int k = simt_tests::kVoteOutputs;
  int bad = 0;
  for (int blk = 0; blk < blocks; ++blk) {
    for (int tt = 0; tt < threads; ++tt) {
      const int w = tt / 32, lanes = lanes_of(threads, w);
      const std::size_t base = std::size_t(blk) * threads + std::size_t(w) * 32;
      const unsigned mask = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
      const unsigned ballot = ballot_of(lanes, [&](int l) { return pred[base + l] != 0; });
      const int lane = tt % 32;
      const unsigned even =
          ballot_of(lanes, [&](int l) { return l % 2 == 0 && pred[base + std::size_t(l)] != 0; });
      const unsigned want[] = {
          ballot, ballot != 0, ballot == mask, ballot_of(lanes, [](int l) { return l % 3 == 0; }),
          // all(1), not any(0), not all(lane != 0), ballot(1) == the mask given, any(1)
          0b10001u | unsigned(mask == 0xffffffffu || !full_mask) << 3,
          lane % 2 == 0 ? even : 0u,
      };
      static_assert(sizeof want / sizeof want[0] == simt_tests::kVoteOutputs);
      const std::size_t t = std::size_t(blk) * threads + tt;
      for (int j = 0; j < k; ++j) {
        if (out[t * k + j] != want[j] && ++bad <= 10) {
          ADD_FAILURE() << "threads " << threads << " block " << blk << " thread " << tt
                        << " output " << j << std::hex << ": got 0x" << out[t * k + j]
                        << ", want 0x" << want[j];
        }
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST(SimtKernels, WarpVotes) {
  for (const int threads : {48, 64}) {
    const int blocks = 4;  // warps 0..7 (48: 0..7 in 4 blocks): every predicate pattern
    const auto pred = vote_input(blocks, threads);
    check_votes(pred, blocks, threads, run_votes(pred, blocks, threads, false));
  }
}

std::vector<unsigned> run_divergent_ballots(const std::vector<int>& pred, int blocks,
                                            int threads) {
  DeviceArray<int> dp(pred);
  DeviceArray<unsigned> dout(2 * pred.size());
  EXPECT_EQ(simt_tests::warp_divergent_ballots(dp.get(), dout.get(), blocks, threads),
            cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  return dout.download();
}

void check_divergent_ballots(const std::vector<int>& pred, int blocks, int threads,
                             const std::vector<unsigned>& out) {
  const std::size_t n = pred.size();
  int bad = 0;
  for (int blk = 0; blk < blocks; ++blk) {
    for (int tt = 0; tt < threads; ++tt) {
      const int w = tt / 32, lane = tt % 32, lanes = lanes_of(threads, w);
      const std::size_t base = std::size_t(blk) * threads + std::size_t(w) * 32;
      const unsigned branch = ballot_of(
          lanes, [&](int l) { return l % 2 == lane % 2 && pred[base + std::size_t(l)] != 0; });
      const unsigned all = ballot_of(lanes, [&](int l) { return pred[base + std::size_t(l)] != 0; });
      const std::size_t t = base + std::size_t(lane);
      if ((out[t] != branch || out[n + t] != all) && ++bad <= 10) {
        ADD_FAILURE() << "threads " << threads << " block " << blk << " thread " << tt << std::hex
                      << ": got 0x" << out[t] << ", 0x" << out[n + t] << "; want 0x" << branch
                      << ", 0x" << all;
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

// Disjoint lane groups of one warp vote in divergent branches, then the whole
// warp: legal since Volta (independent thread scheduling).
TEST(SimtKernels, WarpBallotsInDivergentBranches) {
  for (const int threads : {48, 64}) {
    const int blocks = 4;
    const auto pred = vote_input(blocks, threads);
    check_divergent_ballots(pred, blocks, threads, run_divergent_ballots(pred, blocks, threads));
  }
}

// ---------------------------------------------------------------------------
// Atomics.

TEST(SimtKernels, AtomicsAcrossBlocks) {
  const int n = 40000;  // 157 blocks of 256 threads
  const int rounds = simt_tests::kAtomicRounds;
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> di(-1000, 1000), df(-20, 20);
  std::normal_distribution<float> dg(0.0f, 1000.0f);
  std::vector<int> ivals(n);
  std::vector<float> fvals(n), gvals(n);
  for (int i = 0; i < n; ++i) {
    ivals[i] = di(rng);
    fvals[i] = float(df(rng));  // integers, rounds * sum |f| < 2^24: every partial sum exact
    gvals[i] = dg(rng);
  }
  DeviceArray<int> d_ivals(ivals), d_isum(std::vector<int>{0}), d_imax(std::vector<int>{INT_MIN}),
      d_imin(std::vector<int>{INT_MAX}), d_slots(std::size_t(n) * rounds),
      d_exch(std::vector<int>{-1}), d_exch_old(std::size_t(n) * rounds),
      d_cas_word(std::vector<int>(n, 0)), d_cas_old(2 * std::size_t(n));
  DeviceArray<float> d_fvals(fvals), d_gvals(gvals), d_fsum(std::vector<float>{0.0f}),
      d_fmax(std::vector<float>{-std::numeric_limits<float>::infinity()});
  DeviceArray<unsigned> d_usum(std::vector<unsigned>{0u}), d_counter(std::vector<unsigned>{0u});
  simt_tests::AtomicsArgs args{};
  args.ivals = d_ivals.get();
  args.fvals = d_fvals.get();
  args.gvals = d_gvals.get();
  args.n = n;
  args.isum = d_isum.get();
  args.usum = d_usum.get();
  args.fsum = d_fsum.get();
  args.imax = d_imax.get();
  args.imin = d_imin.get();
  args.fmax = d_fmax.get();
  args.counter = d_counter.get();
  args.slots = d_slots.get();
  args.exch = d_exch.get();
  args.exch_old = d_exch_old.get();
  args.cas_word = d_cas_word.get();
  args.cas_old = d_cas_old.get();
  ASSERT_EQ(simt_tests::atomics(args), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  int isum = 0;
  unsigned usum = 0;
  float fsum = 0;
  for (int r = 0; r < rounds; ++r) {
    for (int i = 0; i < n; ++i) {
      isum += ivals[i];
      usum += unsigned(ivals[i]) * 2654435761u;  // wraps modulo 2^32 as the device's does
      fsum += fvals[i];
    }
  }
  // Lost updates (a non-atomic read-modify-write between blocks running at
  // the same time) would show in the sums.
  EXPECT_EQ(d_isum.download()[0], isum);
  EXPECT_EQ(d_usum.download()[0], usum);
  EXPECT_EQ(d_fsum.download()[0], fsum);
  EXPECT_EQ(d_imax.download()[0], *std::max_element(ivals.begin(), ivals.end()));
  EXPECT_EQ(d_imin.download()[0], *std::min_element(ivals.begin(), ivals.end()));
  EXPECT_EQ(d_fmax.download()[0], *std::max_element(gvals.begin(), gvals.end()));
  // atomicAdd's return values: every ticket 0..n*rounds-1 handed out exactly once.
  EXPECT_EQ(d_counter.download()[0], unsigned(n * rounds));
  auto slots = d_slots.download();
  std::sort(slots.begin(), slots.end());
  std::vector<int> tickets(std::size_t(n) * rounds);
  std::iota(tickets.begin(), tickets.end(), 0);
  EXPECT_EQ(slots, tickets) << "atomicAdd returned a ticket twice (or skipped one)";
  // atomicExch: the old values and the final value are -1, 0, ..., n*rounds-1, each once.
  auto olds = d_exch_old.download();
  olds.push_back(d_exch.download()[0]);
  std::sort(olds.begin(), olds.end());
  tickets.insert(tickets.begin(), -1);
  EXPECT_EQ(olds, tickets) << "atomicExch lost or duplicated a value";
  // atomicCAS returns the old value and writes only on a match.
  const auto cas_word = d_cas_word.download();
  const auto cas_old = d_cas_old.download();
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(cas_old[2 * std::size_t(i)], 0) << i;
    ASSERT_EQ(cas_old[2 * std::size_t(i) + 1], i + 1) << i;
    ASSERT_EQ(cas_word[i], i + 1) << i;
  }
}

// ---------------------------------------------------------------------------
// Dynamic shared memory above 48 KiB.

TEST(SimtKernels, DynamicSharedMemoryOptIn) {
  const int blocks = 3;
  const int small = (48 << 10) / 4;  // exactly the default limit
  const int large = (96 << 10) / 4;  // needs the opt-in (sm_80 and sm_90 allow it)
  std::vector<float> in(std::size_t(blocks) * large);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = float(i) * 0.5f;
  DeviceArray<float> din(in), dout(in.size());
  const auto check_reversed = [&](int per_block) {
    const auto out = dout.download();
    for (int b = 0; b < blocks; ++b) {
      for (int i = 0; i < per_block; ++i) {
        const std::size_t base = std::size_t(b) * per_block;
        ASSERT_EQ(out[base + i], in[base + per_block - 1 - i])
            << "per_block " << per_block << " block " << b << " i " << i;
      }
    }
  };
  // The default (48 KiB) limit, in case an earlier run of this test raised it.
  ASSERT_EQ(simt_tests::smem_reverse_set_limit(48 << 10), cudaSuccess);
  ASSERT_EQ(simt_tests::smem_reverse(din.get(), dout.get(), small, blocks), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  check_reversed(small);

  ASSERT_EQ(cudaMemset(dout.get(), 0, dout.bytes()), cudaSuccess);
  EXPECT_EQ(simt_tests::smem_reverse(din.get(), dout.get(), large, blocks), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  const auto untouched = dout.download();
  EXPECT_TRUE(std::all_of(untouched.begin(), untouched.end(), [](float x) { return x == 0.0f; }))
      << "a launch refused for its shared memory ran anyway";

  ASSERT_EQ(simt_tests::smem_reverse_set_limit(96 << 10), cudaSuccess);
  ASSERT_EQ(simt_tests::smem_reverse(din.get(), dout.get(), large, blocks), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  check_reversed(large);
  EXPECT_EQ(simt_tests::smem_reverse_set_limit(48 << 10), cudaSuccess);
}

// ---------------------------------------------------------------------------
// bfloat16 and float16 conversions in a kernel, against integer references.

bool is_nan_f32(std::uint32_t u) { return (u & 0x7fffffffu) > 0x7f800000u; }
bool is_nan_bf16(std::uint16_t u) { return (u & 0x7fffu) > 0x7f80u; }
bool is_nan_f16(std::uint16_t u) { return (u & 0x7fffu) > 0x7c00u; }

// float -> bfloat16, round to nearest even (non-NaN inputs): keep the upper 16
// bits, add one unit if the dropped 16 bits exceed half a unit, or equal it and
// the kept part is odd. A carry out of the mantissa bumps the exponent, up to
// infinity (0x7f80), as it should.
std::uint16_t bf16_ref(std::uint32_t f) {
  std::uint32_t q = f >> 16;
  const std::uint32_t rem = f & 0xffffu;
  if (rem > 0x8000u || (rem == 0x8000u && (q & 1u))) ++q;
  return std::uint16_t(q);
}

// float -> float16, round to nearest even (non-NaN inputs).
std::uint16_t half_ref(std::uint32_t f) {
  const std::uint16_t sign = std::uint16_t((f >> 16) & 0x8000u);
  const std::uint32_t a = f & 0x7fffffffu;
  // 65520 = 0x477ff000 is halfway between 65504 (the largest half, odd
  // mantissa) and 2^16: ties and everything above round to infinity.
  if (a >= 0x477ff000u) return sign | 0x7c00u;
  const std::uint32_t e = a >> 23;
  const auto round = [](std::uint32_t m, std::uint32_t shift) {
    std::uint32_t q = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (q & 1u))) ++q;
    return q;
  };
  if (e >= 113) {  // |x| >= 2^-14: a normal half (or a carry into the next binade)
    return std::uint16_t(sign | round(((e - 112) << 23) | (a & 0x7fffffu), 13));
  }
  // Subnormal halves count units of 2^-24; the float is m 2^(e - 150) with the
  // implicit bit, i.e. m 2^(e - 126) units: shift right by 126 - e (>= 14).
  // Below 2^-25 (e < 102: shift > 24) everything rounds to zero; 2^-25 itself
  // is a tie that rounds to the even zero.
  if (e < 102) return sign;
  return std::uint16_t(sign | round((a & 0x7fffffu) | 0x800000u, 126 - e));
}

// float16 -> float, exactly.
std::uint32_t half_to_float_ref(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t e = (h >> 10) & 31u, m = h & 0x3ffu;
  if (e == 31) return sign | 0x7f800000u | (m << 13);
  if (e == 0) return sign | bits_of(float(m) * 0x1p-24f);  // m < 2^10: exact
  return sign | ((e + 112) << 23) | (m << 13);
}

TEST(SimtKernels, ConversionReferencesSelfCheck) {
  // The references on values whose roundings are known by hand.
  EXPECT_EQ(bf16_ref(bits_of(1.0f)), 0x3f80);
  EXPECT_EQ(bf16_ref(0x3f808000u), 0x3f80);  // tie, even stays
  EXPECT_EQ(bf16_ref(0x3f818000u), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(bf16_ref(0x3f808001u), 0x3f81);
  EXPECT_EQ(bf16_ref(0x7f7fffffu), 0x7f80);  // FLT_MAX -> inf
  EXPECT_EQ(bf16_ref(0xff800000u), 0xff80);
  EXPECT_EQ(half_ref(bits_of(1.0f)), 0x3c00);
  EXPECT_EQ(half_ref(bits_of(0.1f)), 0x2e66);
  EXPECT_EQ(half_ref(bits_of(65504.0f)), 0x7bff);
  EXPECT_EQ(half_ref(bits_of(65519.0f)), 0x7bff);
  EXPECT_EQ(half_ref(bits_of(65520.0f)), 0x7c00);
  EXPECT_EQ(half_ref(bits_of(-0x1p-24f)), 0x8001);
  EXPECT_EQ(half_ref(bits_of(0x1p-25f)), 0x0000);
  EXPECT_EQ(half_ref(bits_of(0x1.8p-24f)), 0x0002);  // 1.5 units: tie to even 2
  EXPECT_EQ(half_ref(bits_of(0x1.000002p-25f)), 0x0001);
  EXPECT_EQ(half_ref(bits_of(0x1.ff8p-15f)), 0x03ff);  // largest subnormal, 1023 units
  EXPECT_EQ(half_ref(bits_of(0x1.ffcp-15f)), 0x0400);  // 1023.5 units: tie -> smallest normal
  EXPECT_EQ(half_ref(bits_of(0x1.ff4p-15f)), 0x03fe);  // 1022.5 units: tie -> even 1022
  EXPECT_EQ(half_ref(bits_of(0x1.ffep-15f)), 0x0400);
  EXPECT_EQ(half_to_float_ref(0x0001), bits_of(0x1p-24f));
  EXPECT_EQ(half_to_float_ref(0xfbff), bits_of(-65504.0f));
}

TEST(SimtKernels, Bf16RoundTripAllBitPatterns) {
  const int n = 65536;
  std::vector<std::uint16_t> bits(n);
  std::iota(bits.begin(), bits.end(), std::uint16_t(0));
  DeviceArray<std::uint16_t> dbits(bits), dback(n);
  DeviceArray<float> dfloat(n);
  ASSERT_EQ(simt_tests::bf16_round_trip(dbits.get(), dfloat.get(), dback.get(), n), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto f = dfloat.download();
  const auto back = dback.download();
  int bad = 0;
  for (int i = 0; i < n; ++i) {
    const std::uint16_t b = bits[i];
    const std::uint32_t fb = bits_of(f[i]);
    const bool ok = is_nan_bf16(b) ? is_nan_f32(fb) && is_nan_bf16(back[i])
                                   : fb == std::uint32_t(b) << 16 && back[i] == b;
    if (!ok && ++bad <= 10) {
      ADD_FAILURE() << std::hex << "bf16 0x" << b << " -> float 0x" << fb << " -> bf16 0x"
                    << back[i];
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST(SimtKernels, HalfRoundTripAllBitPatterns) {
  const int n = 65536;
  std::vector<std::uint16_t> bits(n);
  std::iota(bits.begin(), bits.end(), std::uint16_t(0));
  DeviceArray<std::uint16_t> dbits(bits), dback(n);
  DeviceArray<float> dfloat(n);
  ASSERT_EQ(simt_tests::half_round_trip(dbits.get(), dfloat.get(), dback.get(), n), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto f = dfloat.download();
  const auto back = dback.download();
  int bad = 0;
  for (int i = 0; i < n; ++i) {
    const std::uint16_t h = bits[i];
    const std::uint32_t fb = bits_of(f[i]);
    const bool ok = is_nan_f16(h) ? is_nan_f32(fb) && is_nan_f16(back[i])
                                  : fb == half_to_float_ref(h) && back[i] == h;
    if (!ok && ++bad <= 10) {
      ADD_FAILURE() << std::hex << "half 0x" << h << " -> float 0x" << fb << " (want 0x"
                    << half_to_float_ref(h) << ") -> half 0x" << back[i];
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST(SimtKernels, FloatToBf16AndHalfRandomBits) {
  std::vector<std::uint32_t> in;
  // Values at the edges: zeros, infinities, NaNs, extremes, denormals, ties.
  for (const std::uint32_t u :
       {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u, 0xffffffffu,
        0x7fbfffffu, 0x7f7fffffu, 0xff7fffffu, 0x00000001u, 0x807fffffu, 0x00800000u,
        0x3f808000u, 0x3f818000u, 0x7f7f8000u, 0x7f7e8000u, 0x00008000u, 0x00018000u,
        bits_of(65504.0f), bits_of(65519.996f), 0x477ff000u, 0xc77ff000u, bits_of(0x1p-14f),
        bits_of(0x1p-24f), bits_of(0x1p-25f), bits_of(0x1.000002p-25f), bits_of(0x1.8p-24f),
        bits_of(0x1.ffcp-15f), bits_of(0x1.ff4p-15f), bits_of(0x1.002p0f), bits_of(0x1.006p0f)}) {
    in.push_back(u);
  }
  std::mt19937 rng(12345);
  // 1,000,000 uniformly random bit patterns (about 1/256 each denormals and
  // NaN/inf exponents, most beyond the half range) ...
  for (int i = 0; i < 1000000; ++i) in.push_back(std::uint32_t(rng()));
  // ... and 200,000 with exponents around the float16 range, a quarter of them
  // ties for a normal half and an eighth ties for bfloat16.
  std::uniform_int_distribution<std::uint32_t> exp(96, 150);
  for (int i = 0; i < 200000; ++i) {
    std::uint32_t u = (std::uint32_t(rng()) & 0x807fffffu) | exp(rng) << 23;
    if (i % 4 == 0) u = (u & ~0x1fffu) | 0x1000u;
    if (i % 8 == 1) u = (u & ~0xffffu) | 0x8000u;
    in.push_back(u);
  }
  const int n = int(in.size());
  std::vector<float> inf(n);
  for (int i = 0; i < n; ++i) inf[i] = float_of(in[i]);
  DeviceArray<float> din(inf), dbf_back(n), dh_back(n);
  DeviceArray<std::uint16_t> dbf(n), dh(n);
  ASSERT_EQ(simt_tests::float_to_bf16_half(din.get(), dbf.get(), dbf_back.get(), dh.get(),
                                           dh_back.get(), n),
            cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto bf = dbf.download();
  const auto bf_back = dbf_back.download();
  const auto h = dh.download();
  const auto h_back = dh_back.download();
  int bad = 0;
  for (int i = 0; i < n; ++i) {
    const std::uint32_t u = in[i];
    const bool nan = is_nan_f32(u);
    const bool bf_ok = nan ? is_nan_bf16(bf[i]) && is_nan_f32(bits_of(bf_back[i]))
                           : bf[i] == bf16_ref(u) && bits_of(bf_back[i]) == std::uint32_t(bf[i]) << 16;
    const bool h_ok = nan ? is_nan_f16(h[i]) && is_nan_f32(bits_of(h_back[i]))
                          : h[i] == half_ref(u) && bits_of(h_back[i]) == half_to_float_ref(h[i]);
    if ((!bf_ok || !h_ok) && ++bad <= 10) {
      ADD_FAILURE() << std::hex << "float 0x" << u << ": bf16 0x" << bf[i] << " (want 0x"
                    << bf16_ref(u) << ") back 0x" << bits_of(bf_back[i]) << "; half 0x" << h[i]
                    << " (want 0x" << half_ref(u) << ") back 0x" << bits_of(h_back[i]);
    }
  }
  EXPECT_EQ(bad, 0);
}

// ---------------------------------------------------------------------------
// Unwritten outputs, built-in variables.

TEST(SimtKernels, PoisonShowsUnwrittenElements) {
  const int n = 1001;
  DeviceArray<std::uint32_t> dout(n);
  ASSERT_EQ(simt_tests::write_even(dout.get(), n), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto out = dout.download();
  for (int i = 0; i < n; i += 2) ASSERT_EQ(out[i], std::uint32_t(i)) << "i " << i;
#if !defined(ATTNCHECK_NATIVE_CUDA)
  // simt fills every allocation with the poison word: the odd elements show it.
  for (int i = 1; i < n; i += 2) ASSERT_EQ(out[i], simt::k_poison_word) << "i " << i;
  EXPECT_TRUE(std::isnan(float_of(simt::k_poison_word)));
#endif
}

// Runs on GPUs as well: nothing in it is specific to simt.
TEST(SimtKernels, ThreadCoordinatesOf2DAnd3DGrids) {
  const dim3 block(4, 3, 2);
  for (const dim3 grid : {dim3(2, 2, 2), dim3(3, 2, 1)}) {
    const unsigned per_block = block.x * block.y * block.z;
    const std::size_t threads = std::size_t(grid.x) * grid.y * grid.z * per_block;
    DeviceArray<unsigned> dout(threads * simt_tests::kCoordWords);
    ASSERT_EQ(cudaMemset(dout.get(), 0xff, dout.bytes()), cudaSuccess);  // unwritten: ~0u
    ASSERT_EQ(simt_tests::thread_coords(dout.get(), grid, block), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const auto out = dout.download();
    for (std::size_t g = 0; g < threads; ++g) {
      const unsigned b = unsigned(g / per_block), t = unsigned(g % per_block);
      const unsigned want[simt_tests::kCoordWords] = {
          t % block.x, t / block.x % block.y, t / (block.x * block.y),
          b % grid.x,  b / grid.x % grid.y,   b / (grid.x * grid.y),
          block.x,     block.y,               block.z,
          grid.x,      grid.y,                grid.z};
      for (int j = 0; j < simt_tests::kCoordWords; ++j) {
        ASSERT_EQ(out[g * simt_tests::kCoordWords + j], want[j])
            << "grid (" << grid.x << "," << grid.y << "," << grid.z << ") thread " << g
            << " word " << j;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Runtime API errors, streams, events.

TEST(SimtRuntime, FreeOfAnUnknownPointer) {
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  int host = 0;
  EXPECT_EQ(cudaFree(&host), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  void* p = nullptr;
  ASSERT_EQ(cudaMalloc(&p, 1024), cudaSuccess);
  EXPECT_EQ(cudaFree(static_cast<char*>(p) + 16), cudaErrorInvalidValue);  // not the base
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaFree(p), cudaSuccess);
#if !defined(ATTNCHECK_NATIVE_CUDA)
  EXPECT_EQ(cudaFree(p), cudaErrorInvalidValue);  // twice
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
#endif
  EXPECT_EQ(cudaFree(nullptr), cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

TEST(SimtRuntime, MemcpyOutsideAllocations) {
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  std::vector<char> host(1 << 20, 1);
  DeviceArray<char> dev(1000);
  EXPECT_EQ(cudaMemcpy(dev.get(), host.data(), host.size(), cudaMemcpyHostToDevice),
            cudaErrorInvalidValue);  // far past the end
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
#if !defined(ATTNCHECK_NATIVE_CUDA)
  // A destination that is no allocation (on a GPU, a copy whose pointers do
  // not match its direction is undefined behaviour; simt knows every allocation).
  std::vector<char> other(64, 0);
  EXPECT_EQ(cudaMemcpy(other.data(), host.data(), 64, cudaMemcpyHostToDevice),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(other[0], 0);
  // simt checks against the size asked for, to the byte.
  EXPECT_EQ(cudaMemcpy(dev.get(), host.data(), 1001, cudaMemcpyHostToDevice),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(dev.get() + 995, host.data(), 6, cudaMemcpyHostToDevice),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(host.data(), dev.get() + 1, 1000, cudaMemcpyDeviceToHost),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
#endif
  EXPECT_EQ(cudaMemcpy(dev.get() + 995, host.data(), 5, cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(dev.get(), host.data(), 1000, cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

TEST(SimtRuntime, LaunchWithTooManyThreadsPerBlock) {
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const int n = 3000;
  DeviceArray<int> dout(n);
  ASSERT_EQ(cudaMemset(dout.get(), 0, dout.bytes()), cudaSuccess);
  EXPECT_EQ(simt_tests::iota(dout.get(), n, 1025, nullptr), cudaErrorInvalidConfiguration);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // reset by the read
  const auto untouched = dout.download();
  EXPECT_TRUE(std::all_of(untouched.begin(), untouched.end(), [](int x) { return x == 0; }));
  // The limit itself is fine.
  ASSERT_EQ(simt_tests::iota(dout.get(), n, 1024, nullptr), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto out = dout.download();
  for (int i = 0; i < n; ++i) ASSERT_EQ(out[i], i);
}

TEST(SimtRuntime, ErrorStrings) {
  for (const cudaError_t e : {cudaSuccess, cudaErrorInvalidValue, cudaErrorMemoryAllocation,
                              cudaErrorInvalidConfiguration, cudaErrorLaunchFailure}) {
    const char* s = cudaGetErrorString(e);
    ASSERT_NE(s, nullptr);
    EXPECT_GT(std::strlen(s), 0u) << int(e);
  }
  EXPECT_STRNE(cudaGetErrorString(cudaSuccess), cudaGetErrorString(cudaErrorInvalidValue));
}

TEST(SimtRuntime, StreamsAndEvents) {
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const int n = 5000;
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
  {
    DeviceArray<int> dout(n);
    std::vector<int> out(n, -1);
    EXPECT_EQ(cudaMemsetAsync(dout.get(), 0, dout.bytes(), stream), cudaSuccess);
    EXPECT_EQ(cudaEventRecord(start, stream), cudaSuccess);
    EXPECT_EQ(simt_tests::iota(dout.get(), n, 256, stream), cudaSuccess);
    EXPECT_EQ(cudaEventRecord(stop, stream), cudaSuccess);
    EXPECT_EQ(cudaMemcpyAsync(out.data(), dout.get(), dout.bytes(), cudaMemcpyDeviceToHost, stream),
              cudaSuccess);
    EXPECT_EQ(cudaEventSynchronize(stop), cudaSuccess);
    EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    float ms = -1.0f;
    EXPECT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaSuccess);
    EXPECT_GE(ms, 0.0f);
    for (int i = 0; i < n; ++i) ASSERT_EQ(out[i], i);
  }
  EXPECT_EQ(cudaEventDestroy(start), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(stop), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

#if !defined(ATTNCHECK_NATIVE_CUDA)
// ---------------------------------------------------------------------------
// simt only: schedules.

// Restores the simt configuration when a test ends, however it ends.
class ConfigGuard {
 public:
  ConfigGuard() : saved_(simt::config()) {}
  ConfigGuard(const ConfigGuard&) = delete;
  ConfigGuard& operator=(const ConfigGuard&) = delete;
  ~ConfigGuard() { simt::set_config(saved_); }

 private:
  simt::Config saved_;
};

std::vector<simt::Config> schedules() {
  std::vector<simt::Config> out;
  simt::Config c;
  out.push_back(c);  // Deterministic, twice
  out.push_back(c);
  c.workers = 1;
  out.push_back(c);
  c.schedule = simt::Schedule::Random;
  for (const std::uint64_t seed : {1u, 2u, 3u, 977u, 123456789u}) {
    c.seed = seed;
    c.workers = seed % 2 ? 0 : 3;
    out.push_back(c);
  }
  return out;
}

std::string describe(const simt::Config& c) {
  return std::string(c.schedule == simt::Schedule::Random ? "Random" : "Deterministic") +
         " seed " + std::to_string(c.seed) + " workers " + std::to_string(c.workers);
}

// The scan and the tiled product are race-free: the same bits in every run,
// whatever the order of the fibers and the number of worker threads. Inputs
// are arbitrary floats, so a different summation order would show.
TEST(SimtSchedules, ScanAndTiledMatmulAreBitwiseReproducible) {
  ConfigGuard guard;
  const int n = 50000, m = 45, nn = 70, k = 83;
  std::mt19937 rng(5);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> in(n), a(std::size_t(m) * k), b(std::size_t(k) * nn);
  for (float& x : in) x = d(rng);
  for (float& x : a) x = d(rng);
  for (float& x : b) x = d(rng);
  DeviceArray<float> din(in), dscan(n), da(a), db(b), dc(std::size_t(m) * nn);
  std::vector<float> scan0, c0;
  for (const simt::Config& cfg : schedules()) {
    simt::set_config(cfg);
    ASSERT_EQ(cudaMemset(dscan.get(), 0, dscan.bytes()), cudaSuccess);
    ASSERT_EQ(cudaMemset(dc.get(), 0, dc.bytes()), cudaSuccess);
    ASSERT_EQ(simt_tests::inclusive_scan(din.get(), dscan.get(), n), cudaSuccess) << describe(cfg);
    ASSERT_EQ(simt_tests::tiled_matmul(da.get(), db.get(), dc.get(), m, nn, k), cudaSuccess)
        << describe(cfg);
    const auto scan = dscan.download();
    const auto c = dc.download();
    if (scan0.empty()) {
      scan0 = scan;
      c0 = c;
      // Not trivially reproducible: the last prefix is the sum, the product nonzero.
      EXPECT_NEAR(scan0.back(), std::accumulate(in.begin(), in.end(), 0.0), 1e-2);
      EXPECT_NE(c0[0], 0.0f);
      continue;
    }
    EXPECT_EQ(0, std::memcmp(scan.data(), scan0.data(), scan.size() * sizeof(float)))
        << "scan differs under " << describe(cfg);
    EXPECT_EQ(0, std::memcmp(c.data(), c0.data(), c.size() * sizeof(float)))
        << "tiled product differs under " << describe(cfg);
  }
}

TEST(SimtSchedules, WarpCollectivesUnderRandomSchedules) {
  ConfigGuard guard;
  for (const simt::Config& cfg : schedules()) {
    simt::set_config(cfg);
    SCOPED_TRACE(describe(cfg));
    for (const int threads : {48, 64}) {
      const int blocks = 4;
      const auto in = shuffle_input(blocks, threads);
      check_shuffles(in, blocks, threads, run_shuffles(in, blocks, threads));
      const auto pred = vote_input(blocks, threads);
      check_votes(pred, blocks, threads, run_votes(pred, blocks, threads, false));
    }
  }
}

// The random schedule does change the order of the fibers (else the
// reproducibility above would prove nothing): the last writer of a benign race
// is the block's last thread in the deterministic order, another one in some
// random order.
TEST(SimtSchedules, RandomScheduleChangesTheOrder) {
  ConfigGuard guard;
  const int blocks = 4, threads = 256;
  DeviceArray<unsigned> dout(blocks);
  bool other = false;
  for (const simt::Config& cfg : schedules()) {
    simt::set_config(cfg);
    ASSERT_EQ(simt_tests::last_writer(dout.get(), blocks, threads), cudaSuccess);
    for (const unsigned w : dout.download()) {
      if (cfg.schedule == simt::Schedule::Deterministic) {
        EXPECT_EQ(w, unsigned(threads - 1)) << describe(cfg);
      } else {
        other = other || w != unsigned(threads - 1);
      }
    }
  }
  EXPECT_TRUE(other) << "every random schedule ran the threads in order";
}

// simt's promise for a partial last warp: a full mask means the lanes that
// exist (the missing ones take no part), so the votes equal the exact-mask ones.
TEST(SimtSchedules, FullMaskVotesInAPartialWarp) {
  ConfigGuard guard;
  for (const simt::Config& cfg : schedules()) {
    simt::set_config(cfg);
    SCOPED_TRACE(describe(cfg));
    const int blocks = 4, threads = 48;
    const auto pred = vote_input(blocks, threads);
    check_votes(pred, blocks, threads, run_votes(pred, blocks, threads, true), true);
  }
}
#endif  // !defined(ATTNCHECK_NATIVE_CUDA)

}  // namespace
