// Hand-worked cases for the float64 reference (reference/attention.cpp).
// Every expected value is worked out HERE, from exp/log arithmetic on explicit
// numbers and explicitly listed visible-key sets; no attncheck code computes an
// expectation. Head dim 1 keeps the scores readable: s_ij = scale * q_i * k_j.
// Unused input elements hold NaN, so a read of the wrong row shows up.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "reference/attention.hpp"
#include "reference/tests/ref_test_util.hpp"

namespace attncheck::reference::test {
namespace {

// Relative tolerance for float64 results of a handful of flops.
constexpr double k_hand_rtol = 1e-14;

void expect_close(double actual, double expected) {
  EXPECT_NEAR(actual, expected, k_hand_rtol * std::max(1.0, std::abs(expected)));
}

// Forward only: the test leaves dO empty.
Results<double> forward(const Built& c, Inputs in) {
  in.dout.clear();
  return attention<double>(c.batch, in, /*with_grads=*/false);
}

// ---------------------------------------------------------------------------
// One query, two keys.

TEST(ReferenceHand, OneQueryTwoKeysForward) {
  const Built c = build({.docs = {{1, 2}}});
  ASSERT_EQ(c.batch.softmax_scale, 1.0);  // 1/sqrt(D) with D = 1
  Inputs in = blank_inputs(c.batch);
  in.q = {1.0f};
  in.k = {0.5f, -1.0f};
  in.v = {2.0f, -3.0f};
  const auto r = forward(c, in);
  // s = (0.5, -1); O = (2 e^0.5 - 3 e^-1) / (e^0.5 + e^-1); LSE = log(e^0.5 + e^-1).
  const double e1 = std::exp(0.5), e2 = std::exp(-1.0);
  expect_close(r.out[0], (2.0 * e1 - 3.0 * e2) / (e1 + e2));
  expect_close(r.lse[0], std::log(e1 + e2));
  EXPECT_FALSE(r.has_grads());
}

TEST(ReferenceHand, OneQueryTwoKeysBackward) {
  Built c = build({.docs = {{1, 2}}});
  c.batch.softmax_scale = 0.5;  // not 1, so a missing scale in dQ/dK shows
  Inputs in = blank_inputs(c.batch);
  const double q = 1.5, k1 = 1.0, k2 = -0.5, v1 = 2.0, v2 = -1.0, g = 0.75, scale = 0.5;
  in.q = {float(q)};
  in.k = {float(k1), float(k2)};
  in.v = {float(v1), float(v2)};
  in.dout = {float(g)};
  const auto r = attention<double>(c.batch, in, /*with_grads=*/true);

  // Forward: s_j = scale q k_j, p = softmax(s), O = p1 v1 + p2 v2.
  const double s1 = scale * q * k1, s2 = scale * q * k2;  // 0.75, -0.375
  const double z = std::exp(s1) + std::exp(s2);
  const double p1 = std::exp(s1) / z, p2 = std::exp(s2) / z;
  const double o = p1 * v1 + p2 * v2;
  expect_close(r.out[0], o);
  expect_close(r.lse[0], std::log(z));

  // Backward of L = g * O.  dL/dp_j = g v_j;  softmax Jacobian
  // J = [[p1 (1 - p1), -p1 p2], [-p2 p1, p2 (1 - p2)]];  dS = J^T dL/dp.
  const double dp1 = g * v1, dp2 = g * v2;
  const double j11 = p1 * (1 - p1), j12 = -p1 * p2, j21 = -p2 * p1, j22 = p2 * (1 - p2);
  const double ds1 = j11 * dp1 + j21 * dp2;
  const double ds2 = j12 * dp1 + j22 * dp2;
  // s_j = scale q k_j:  dQ = scale (dS1 k1 + dS2 k2),  dK_j = scale dS_j q,  dV_j = p_j g.
  expect_close(r.dq[0], scale * (ds1 * k1 + ds2 * k2));
  expect_close(r.dk[0], scale * ds1 * q);
  expect_close(r.dk[1], scale * ds2 * q);
  expect_close(r.dv[0], p1 * g);
  expect_close(r.dv[1], p2 * g);
}

// ---------------------------------------------------------------------------
// Causal, bottom-right aligned.

TEST(ReferenceHand, CausalSquareTwoByTwo) {
  const Built c = build({.docs = {{2, 2}}, .mask = {.causal = true}});
  Inputs in = blank_inputs(c.batch);
  in.q = {1.0f, 2.0f};
  in.k = {0.5f, -0.25f};
  in.v = {3.0f, -1.0f};
  in.dout = {0.5f, -1.0f};
  const auto r = attention<double>(c.batch, in, /*with_grads=*/true);
  // Query 0 sees key 0 only: O0 = v0 exactly, LSE0 = s00 = 0.5.
  EXPECT_EQ(r.out[0], 3.0);
  expect_close(r.lse[0], 0.5);
  // Query 1 sees keys 0 and 1: s = (1, -0.5).
  const double z = std::exp(1.0) + std::exp(-0.5);
  const double p0 = std::exp(1.0) / z, p1 = std::exp(-0.5) / z;
  const double o1 = 3.0 * p0 - 1.0 * p1;
  expect_close(r.out[1], o1);
  expect_close(r.lse[1], std::log(z));
  // Backward. Query 0: one key, its softmax is constant -> dS0 = 0, dQ0 = 0.
  // Query 1: dS_1j = dO1 p_j (v_j - O1).
  const double ds10 = -1.0 * p0 * (3.0 - o1), ds11 = -1.0 * p1 * (-1.0 - o1);
  EXPECT_NEAR(r.dq[0], 0.0, 1e-15);
  expect_close(r.dq[1], ds10 * 0.5 + ds11 * -0.25);
  expect_close(r.dk[0], ds10 * 2.0);  // query 0 adds dS00 q0 = 0
  expect_close(r.dk[1], ds11 * 2.0);  // only query 1 sees key 1
  expect_close(r.dv[0], 1.0 * 0.5 + p0 * -1.0);
  expect_close(r.dv[1], p1 * -1.0);
}

TEST(ReferenceHand, BottomRightOneQueryThreeKeysSeesAll) {
  // p = i + Lk - Lq = 2: the single query sees keys 0, 1, 2 (top-left
  // alignment would give it key 0 only, O = 1).
  const Built c = build({.docs = {{1, 3}}, .mask = {.causal = true}});
  Inputs in = blank_inputs(c.batch);
  in.q = {1.0f};
  in.k = {1.0f, 0.0f, -1.0f};
  in.v = {1.0f, 2.0f, 4.0f};
  const auto r = forward(c, in);
  const double e = std::exp(1.0), z = e + 1.0 + 1.0 / e;
  expect_close(r.out[0], (e * 1.0 + 1.0 * 2.0 + 4.0 / e) / z);
  expect_close(r.lse[0], std::log(z));
}

TEST(ReferenceHand, BottomRightThreeQueriesOneKey) {
  // p = i - 2: queries 0 and 1 see no key; query 2 sees key 0.
  const Built c = build({.docs = {{3, 1}}, .mask = {.causal = true}});
  Inputs in = blank_inputs(c.batch);
  in.q = {1.0f, 2.0f, 3.0f};
  in.k = {0.5f};
  in.v = {-2.0f};
  in.dout = {1.0f, 0.5f, 0.25f};
  const auto r = attention<double>(c.batch, in, /*with_grads=*/true);
  for (int i : {0, 1}) {
    SCOPED_TRACE(i);
    EXPECT_EQ(r.out[i], 0.0);
    EXPECT_EQ(r.lse[i], -k_inf);
    EXPECT_EQ(r.dq[i], 0.0);
  }
  EXPECT_EQ(r.out[2], -2.0);  // p = 1 exactly
  expect_close(r.lse[2], 3.0 * 0.5);
  // One visible key: dS = dO p (v - O) = 0, so dQ2 = dK = 0; dV = p dO2 only.
  EXPECT_NEAR(r.dq[2], 0.0, 1e-15);
  EXPECT_NEAR(r.dk[0], 0.0, 1e-15);
  EXPECT_EQ(r.dv[0], 0.25);
}

// ---------------------------------------------------------------------------
// Which keys does each query mix? One document, D = 1, V = identity (Dv = Lk):
// row i of O is row i of P, so every masked key must read exactly 0 and every
// visible one exp(s_ij) / sum over the listed set.

void check_visible_sets(int lq, int lk, MaskSpec mask, const std::vector<float>& q,
                        const std::vector<float>& k, const std::vector<std::vector<int>>& visible) {
  const Built c = build({.docs = {{lq, lk}}, .dv = lk, .mask = mask});
  SCOPED_TRACE(c.batch.describe());
  Inputs in = blank_inputs(c.batch);
  in.q = q;
  in.k = k;
  for (int j = 0; j < lk; ++j) {
    for (int col = 0; col < lk; ++col) in.v[at(j, 0, col, 1, lk)] = j == col ? 1.0f : 0.0f;
  }
  const auto r = forward(c, in);
  for (int i = 0; i < lq; ++i) {
    double z = 0.0;
    for (int j : visible[i]) z += std::exp(double(q[i]) * k[j]);
    for (int j = 0; j < lk; ++j) {
      SCOPED_TRACE(testing::Message() << "query " << i << " key " << j);
      const double o = r.out[at(i, 0, j, 1, lk)];
      bool vis = false;
      for (int x : visible[i]) vis = vis || x == j;
      if (vis) {
        expect_close(o, std::exp(double(q[i]) * k[j]) / z);
      } else {
        EXPECT_EQ(o, 0.0);
      }
    }
    if (visible[i].empty()) {
      EXPECT_EQ(r.lse[i], -k_inf) << "query " << i;
    } else {
      expect_close(r.lse[i], std::log(z));
    }
  }
}

TEST(ReferenceHand, WindowLeftOneRightZero) {
  const std::vector<float> q{1.0f, -1.0f, 0.5f, 2.0f}, k{0.25f, 1.0f, -0.5f, 0.75f};
  const std::vector<std::vector<int>> vis{{0}, {0, 1}, {1, 2}, {2, 3}};
  check_visible_sets(4, 4, {.window_left = 1, .window_right = 0}, q, k, vis);
  // causal + left 1 is the same mask (causal forces right = 0).
  check_visible_sets(4, 4, {.causal = true, .window_left = 1}, q, k, vis);
}

TEST(ReferenceHand, WindowRightSideAndBottomRight) {
  // window (0, 1), Lq = 2, Lk = 4: p = i + 2, keys [p, p + 1] within [0, 4).
  check_visible_sets(2, 4, {.window_left = 0, .window_right = 1}, {1.0f, -0.5f},
                     {0.5f, 1.0f, -1.0f, 2.0f}, {{2, 3}, {3}});
  // window (1, -1), Lq = Lk = 3: keys j >= i - 1, unbounded on the right.
  check_visible_sets(3, 3, {.window_left = 1}, {0.5f, 1.0f, -1.0f}, {1.0f, -0.5f, 0.25f},
                     {{0, 1, 2}, {0, 1, 2}, {1, 2}});
}

TEST(ReferenceHand, ChunkedTwoOfFour) {
  const std::vector<float> q{1.0f, -0.5f, 0.75f, 2.0f}, k{0.5f, -1.0f, 1.5f, 0.25f};
  // Chunks {0, 1} and {2, 3}, counted from the document start.
  check_visible_sets(4, 4, {.chunk_size = 2}, q, k, {{0, 1}, {0, 1}, {2, 3}, {2, 3}});
  check_visible_sets(4, 4, {.causal = true, .chunk_size = 2}, q, k, {{0}, {0, 1}, {2}, {2, 3}});
}

TEST(ReferenceHand, ChunkedWithUnequalLengths) {
  // Lq = 3, Lk = 2, C = 2, no causal: p = i - 1. Query 0 sits at key
  // position -1, chunk floor(-1/2) = -1, which holds no key: it sees nothing.
  check_visible_sets(3, 2, {.chunk_size = 2}, {1.0f, -1.0f, 0.5f}, {0.5f, 2.0f},
                     {{}, {0, 1}, {0, 1}});
  // Lq = 2, Lk = 5, C = 2, causal: p = i + 3; p = 3 -> chunk {2, 3}; p = 4 -> chunk {4}.
  check_visible_sets(2, 5, {.causal = true, .chunk_size = 2}, {1.0f, 0.5f},
                     {0.25f, -0.5f, 1.0f, 2.0f, -1.0f}, {{2, 3}, {4}});
}

// ---------------------------------------------------------------------------
// Packing: padding between and after documents, empty documents.

// Doc 0: q rows 0..1, kv rows 0..2; padding q row 2, kv rows 3..4.
// Doc 1: q rows 3..4, kv rows 5..6; tail padding q rows 5..6, kv row 7.
// No mask: a query that leaked into the other document would mix its keys.
struct TwoDocs {
  Built c = build({.docs = {{2, 3, 1, 2}, {2, 2}}, .tail_q = 2, .tail_kv = 1});
  std::vector<std::vector<int>> q_rows{{0, 1}, {3, 4}};
  std::vector<std::vector<int>> kv_rows{{0, 1, 2}, {5, 6}};
  std::vector<int> pad_q{2, 5, 6};
  std::vector<int> pad_kv{3, 4, 7};

  Inputs inputs(float pad) const {
    Inputs in = blank_inputs(c.batch, pad);
    const float q[] = {0.5f, -1.0f, 1.0f, 2.0f};
    const float k[] = {1.0f, 0.0f, -1.0f, 0.5f, -0.5f};
    const float v[] = {1.0f, 2.0f, 3.0f, -1.0f, 4.0f};
    const float d[] = {1.0f, -0.5f, 0.25f, 2.0f};
    const int qr[] = {0, 1, 3, 4}, kr[] = {0, 1, 2, 5, 6};
    for (int t = 0; t < 4; ++t) in.q[qr[t]] = q[t], in.dout[qr[t]] = d[t];
    for (int t = 0; t < 5; ++t) in.k[kr[t]] = k[t], in.v[kr[t]] = v[t];
    return in;
  }
};

TEST(ReferenceHand, TwoDocumentsWithPadding) {
  const TwoDocs t;
  const Inputs in = t.inputs(k_nan);
  const auto r = attention<double>(t.c.batch, in, /*with_grads=*/true);
  // Per document, per query i: p_ij = exp(q_i k_j) / Z_i over the document's
  // keys, O_i = sum p_ij v_j, dS_ij = dO_i p_ij (v_j - O_i),
  // dQ_i = sum_j dS_ij k_j, dK_j = sum_i dS_ij q_i, dV_j = sum_i p_ij dO_i.
  std::vector<double> dk(8, 0.0), dv(8, 0.0);
  for (int doc = 0; doc < 2; ++doc) {
    for (int i : t.q_rows[doc]) {
      SCOPED_TRACE(testing::Message() << "q row " << i);
      double z = 0.0, o = 0.0, dq = 0.0;
      for (int j : t.kv_rows[doc]) z += std::exp(double(in.q[i]) * in.k[j]);
      for (int j : t.kv_rows[doc]) o += std::exp(double(in.q[i]) * in.k[j]) / z * in.v[j];
      for (int j : t.kv_rows[doc]) {
        const double p = std::exp(double(in.q[i]) * in.k[j]) / z;
        const double ds = in.dout[i] * p * (in.v[j] - o);
        dq += ds * in.k[j];
        dk[j] += ds * in.q[i];
        dv[j] += p * in.dout[i];
      }
      expect_close(r.out[i], o);
      expect_close(r.lse[i], std::log(z));
      expect_close(r.dq[i], dq);
    }
    for (int j : t.kv_rows[doc]) {
      SCOPED_TRACE(testing::Message() << "kv row " << j);
      expect_close(r.dk[j], dk[j]);
      expect_close(r.dv[j], dv[j]);
    }
  }
  for (int i : t.pad_q) {
    EXPECT_EQ(r.out[i], 0.0) << "padding q row " << i;
    EXPECT_EQ(r.lse[i], -k_inf) << "padding q row " << i;
    EXPECT_EQ(r.dq[i], 0.0) << "padding q row " << i;
  }
  for (int j : t.pad_kv) {
    EXPECT_EQ(r.dk[j], 0.0) << "padding kv row " << j;
    EXPECT_EQ(r.dv[j], 0.0) << "padding kv row " << j;
  }
}

TEST(ReferenceHand, PaddingContentsChangeNoBit) {
  const TwoDocs t;
  const auto base = attention<double>(t.c.batch, t.inputs(0.0f), /*with_grads=*/true);
  for (float poison : {k_nan, std::numeric_limits<float>::infinity(), 1e30f, -3.0f}) {
    SCOPED_TRACE(poison);
    const auto r = attention<double>(t.c.batch, t.inputs(poison), /*with_grads=*/true);
    EXPECT_TRUE(same_bits(r.out, base.out));
    EXPECT_TRUE(same_bits(r.lse, base.lse));
    EXPECT_TRUE(same_bits(r.dq, base.dq));
    EXPECT_TRUE(same_bits(r.dk, base.dk));
    EXPECT_TRUE(same_bits(r.dv, base.dv));
  }
}

TEST(ReferenceHand, OtherDocumentChangesNoBit) {
  const TwoDocs t;
  const Inputs in = t.inputs(k_nan);
  Inputs changed = in;
  for (int i : t.q_rows[1]) changed.q[i] += 0.125f, changed.dout[i] -= 1.0f;
  for (int j : t.kv_rows[1]) changed.k[j] *= -2.0f, changed.v[j] += 3.0f;
  const auto a = attention<double>(t.c.batch, in, /*with_grads=*/true);
  const auto b = attention<double>(t.c.batch, changed, /*with_grads=*/true);
  for (int i : t.q_rows[0]) {
    EXPECT_EQ(a.out[i], b.out[i]);
    EXPECT_EQ(a.lse[i], b.lse[i]);
    EXPECT_EQ(a.dq[i], b.dq[i]);
  }
  for (int j : t.kv_rows[0]) {
    EXPECT_EQ(a.dk[j], b.dk[j]);
    EXPECT_EQ(a.dv[j], b.dv[j]);
  }
  EXPECT_NE(a.out[3], b.out[3]);  // the change did reach document 1
}

TEST(ReferenceHand, EmptyKeyAndEmptyQueryDocuments) {
  // Doc 0: 2 queries, 0 keys. Doc 1: 1 query, 2 keys. Doc 2: 0 queries, 2 keys.
  const Built c = build({.docs = {{2, 0}, {1, 2}, {0, 2}}});
  Inputs in = blank_inputs(c.batch);
  in.q = {1.0f, -1.0f, 0.5f};
  in.k = {1.0f, -1.0f, 2.0f, 3.0f};
  in.v = {2.0f, 4.0f, 5.0f, 6.0f};
  in.dout = {1.0f, 1.0f, 1.0f};
  const auto r = attention<double>(c.batch, in, /*with_grads=*/true);
  for (int i : {0, 1}) {
    EXPECT_EQ(r.out[i], 0.0) << i;
    EXPECT_EQ(r.lse[i], -k_inf) << i;
    EXPECT_EQ(r.dq[i], 0.0) << i;
  }
  const double a = std::exp(0.5), b = std::exp(-0.5);
  expect_close(r.out[2], (2.0 * a + 4.0 * b) / (a + b));
  expect_close(r.lse[2], std::log(a + b));
  for (int j : {2, 3}) {  // keys nobody queries
    EXPECT_EQ(r.dk[j], 0.0) << j;
    EXPECT_EQ(r.dv[j], 0.0) << j;
  }
}

// ---------------------------------------------------------------------------
// GQA: Hq = 2 query heads read the single kv head; dK, dV sum both heads.

TEST(ReferenceHand, GqaTwoQueryHeadsOneKvHead) {
  const Built c = build({.docs = {{1, 2}}, .hq = 2, .hkv = 1});
  Inputs in = blank_inputs(c.batch);
  in.q = {1.0f, -2.0f};  // [row 0, head 0], [row 0, head 1]
  in.k = {0.5f, 1.5f};
  in.v = {1.0f, -1.0f};
  in.dout = {1.0f, 0.5f};
  const auto r = attention<double>(c.batch, in, /*with_grads=*/true);
  double dk[2] = {0, 0}, dv[2] = {0, 0};
  for (int h = 0; h < 2; ++h) {
    SCOPED_TRACE(h);
    const double q = in.q[h], g = in.dout[h];
    const double e0 = std::exp(q * 0.5), e1 = std::exp(q * 1.5), z = e0 + e1;
    const double p0 = e0 / z, p1 = e1 / z, o = p0 * 1.0 + p1 * -1.0;
    const double ds0 = g * p0 * (1.0 - o), ds1 = g * p1 * (-1.0 - o);
    expect_close(r.out[h], o);
    expect_close(r.lse[std::size_t(h) * c.batch.total_q], std::log(z));
    expect_close(r.dq[h], ds0 * 0.5 + ds1 * 1.5);
    dk[0] += ds0 * q, dk[1] += ds1 * q;
    dv[0] += p0 * g, dv[1] += p1 * g;
  }
  expect_close(r.dk[0], dk[0]);
  expect_close(r.dk[1], dk[1]);
  expect_close(r.dv[0], dv[0]);
  expect_close(r.dv[1], dv[1]);
}

}  // namespace
}  // namespace attncheck::reference::test
