// kernels/common headers, tested on the CPU directly against brute force.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/common/mask.hpp"
#include "kernels/common/online_softmax.hpp"
#include "kernels/common/seqlen.hpp"

namespace attncheck::kernels {
namespace {

// The contract's mask as a predicate (DESIGN.md), written out per key.
bool sees(const MaskParams& m, int i, int j, int lq, int lk) {
  const long p = long(i) + lk - lq;
  if (j < 0 || j >= lk) return false;
  const int right = m.causal ? 0 : m.window_right;
  if (right >= 0 && j > p + right) return false;
  if (m.window_left >= 0 && j < p - m.window_left) return false;
  if (m.chunk > 0) {
    auto fdiv = [](long a, long b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
    if (fdiv(j, m.chunk) != fdiv(p, m.chunk)) return false;
  }
  return true;
}

std::vector<MaskParams> masks() {
  std::vector<MaskParams> out;
  for (bool causal : {false, true}) {
    for (int left : {-1, 0, 1, 3, 17}) {
      for (int right : {-1, 0, 2, 9}) {
        for (int chunk : {0, 1, 2, 5, 16}) {
          if (causal && right > 0) continue;
          out.push_back({causal, left, right, chunk});
        }
      }
    }
  }
  return out;
}

TEST(Mask, KeyIntervalEqualsThePredicate) {
  int checked = 0;
  for (const auto& m : masks()) {
    for (int lq : {0, 1, 2, 7, 33}) {
      for (int lk : {0, 1, 3, 7, 40}) {
        for (int i = 0; i < lq; ++i) {
          const KeyRange r = m.keys(i, lq, lk);
          for (int j = -2; j < lk + 2; ++j) {
            ASSERT_EQ(r.contains(j) && j >= 0 && j < lk, sees(m, i, j, lq, lk))
                << "causal=" << m.causal << " window=(" << m.window_left << "," << m.window_right
                << ") chunk=" << m.chunk << " lq=" << lq << " lk=" << lk << " i=" << i
                << " j=" << j;
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 100000);
}

TEST(Mask, IntervalEndsNeverDecrease) {
  for (const auto& m : masks()) {
    for (int lq : {1, 9, 40}) {
      for (int lk : {1, 8, 40}) {
        for (int i = 1; i < lq; ++i) {
          const KeyRange a = m.keys(i - 1, lq, lk), b = m.keys(i, lq, lk);
          if (a.empty() || b.empty()) continue;
          ASSERT_LE(a.lo, b.lo);
          ASSERT_LE(a.hi, b.hi);
        }
      }
    }
  }
}

TEST(Mask, QueriesSeeingATileIsTheInverse) {
  for (const auto& m : masks()) {
    for (int lq : {0, 1, 5, 37}) {
      for (int lk : {1, 6, 37}) {
        for (int n0 = 0; n0 < lk; n0 += 4) {
          const int n1 = std::min(lk, n0 + 4);
          const KeyRange q = queries_seeing(m, n0, n1, lq, lk);
          for (int i = 0; i < lq; ++i) {
            bool any = false;
            for (int j = n0; j < n1; ++j) any = any || sees(m, i, j, lq, lk);
            // Every query that sees the tile is inside; rows inside may see
            // nothing of it only where the interval is empty.
            if (any) {
              ASSERT_TRUE(q.contains(i)) << "row " << i << " tile " << n0;
            }
            if (!q.contains(i)) {
              ASSERT_FALSE(any);
            }
          }
        }
      }
    }
  }
}

TEST(SeqlenInfo, PaddedOffsetsWinOverActualOnes) {
  const int cu[] = {0, 3, 3, 8}, cu_pad[] = {0, 4, 6, 16}, cu_kv[] = {0, 2, 5, 5};
  const SeqlenInfo a(cu, cu_kv, cu_pad, nullptr, 1);
  EXPECT_EQ(a.q_start, 4);
  EXPECT_EQ(a.q_len, 0);
  EXPECT_EQ(a.kv_start, 2);
  EXPECT_EQ(a.kv_len, 3);
  const SeqlenInfo b(cu, cu_kv, nullptr, nullptr, 2);
  EXPECT_EQ(b.q_start, 3);
  EXPECT_EQ(b.q_len, 5);
  EXPECT_EQ(b.kv_len, 0);
}

TEST(OnlineSoftmax, TilesGiveTheDirectSoftmax) {
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.0f, 30.0f);
  for (int trial = 0; trial < 200; ++trial) {
    const int len = 1 + int(rng() % 70), tile = 1 + int(rng() % 9);
    std::vector<float> s(static_cast<std::size_t>(len)), v(static_cast<std::size_t>(len));
    for (int j = 0; j < len; ++j) {
      s[j] = (rng() % 5 == 0) ? -INFINITY : n(rng);  // some keys masked
      v[j] = n(rng);
    }
    OnlineSoftmax st;
    float o = 0.0f;
    for (int t0 = 0; t0 < len; t0 += tile) {
      float mx = -INFINITY;
      for (int j = t0; j < std::min(len, t0 + tile); ++j) mx = std::max(mx, s[j]);
      const float alpha = st.rescale(mx);
      o *= alpha;
      for (int j = t0; j < std::min(len, t0 + tile); ++j) {
        const float p = st.prob(s[j]);
        st.l += p;
        o += p * v[j];
      }
    }
    double m = -INFINITY, l = 0.0, od = 0.0;
    for (float x : s) m = std::max(m, double(x));
    for (int j = 0; j < len; ++j) {
      if (s[j] == -INFINITY) continue;
      l += std::exp(s[j] - m);
      od += std::exp(s[j] - m) * v[j];
    }
    if (l == 0.0) {
      EXPECT_EQ(o * st.inv_sum(), 0.0f);
      EXPECT_EQ(st.lse(), -INFINITY);
      continue;
    }
    EXPECT_NEAR(o * st.inv_sum(), od / l, 1e-4 * (1.0 + std::abs(od / l))) << trial;
    EXPECT_NEAR(st.lse(), m + std::log(l), 1e-4 * (1.0 + std::abs(m))) << trial;
    EXPECT_FALSE(std::isnan(st.lse()));
  }
}

TEST(OnlineSoftmax, AllMaskedRowIsZeroAndMinusInfinity) {
  OnlineSoftmax st;
  EXPECT_EQ(st.rescale(-INFINITY), 1.0f);
  EXPECT_EQ(st.prob(-INFINITY), 0.0f);
  EXPECT_EQ(st.inv_sum(), 0.0f);
  EXPECT_EQ(st.lse(), -INFINITY);
}

}  // namespace
}  // namespace attncheck::kernels
