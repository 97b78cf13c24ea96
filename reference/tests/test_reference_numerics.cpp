// Numerical properties of the reference on generated packed batches:
//   P11 gradients equal central finite differences (float64),
//   P14 GQA equals MHA with repeated kv heads,
//   the same-precision baseline's error against the float64 oracle,
//   the float32 instantiation against the float64 one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "reference/attention.hpp"
#include "reference/baseline.hpp"
#include "reference/tests/ref_test_util.hpp"

namespace attncheck::reference::test {
namespace {

// ---------------------------------------------------------------------------
// P11: finite differences.
//
// Inputs are float32, so the perturbation must be exact in float32: values are
// multiples of 2^-10 in [-1, 1] (GridValue) and the step is h = 2^-12, so
// x +- h is exactly representable and the float64 reference sees exactly
// x +- h. The central difference (L(x+h) - L(x-h)) / 2h then differs from
// dL/dx by
//   truncation  h^2 / 6 * |d^3L/dx^3|  ~ 1e-8 * |L'''|, and |L'''| is O(1..10)
//               here (logits |s| <= sqrt(3), |v|, |dO| <= 1), so <= ~1e-7;
//   rounding    ~ eps64 * |L| / h      ~ 1e-16 * 10 / 2.4e-4 ~ 5e-12.
// Gradients are O(1) (max over a tensor), so a worst error of 1e-6 relative to
// the tensor's largest gradient has a margin of about 10x over this estimate
// (measured: worst 4e-9 for dQ, 1e-9 for dK, 2e-12 for dV, which is linear),
// while a wrong gradient (missing scale, wrong head, a dropped term) is off by
// O(1) and a 0.1% error in one element by 1e-3.
// The error is taken relative to the tensor's max |gradient|, not
// element-wise: an element with gradient ~1e-9 has an FD error of the same
// size, and a per-element ratio there would measure nothing.
constexpr float k_fd_step = 0x1p-12f;
constexpr double k_fd_rtol = 1e-6;

// L = sum over real q rows of O * dO.
double loss(const Built& c, const Inputs& in) {
  const Batch& b = c.batch;
  const auto r = attention<double>(b, in, /*with_grads=*/false);
  const auto real = expand(c.real_q, b.num_heads_q * b.head_dim_v);
  double l = 0.0;
  for (std::size_t e = 0; e < r.out.size(); ++e) {
    if (real[e]) l += r.out[e] * double(in.dout[e]);
  }
  return l;
}

// Central differences of L in every element of `x` flagged in `real`; 0 elsewhere.
std::vector<double> central_differences(const Built& c, Inputs in, std::vector<float> Inputs::*x,
                                        const std::vector<bool>& real) {
  std::vector<float>& t = in.*x;
  std::vector<double> g(t.size(), 0.0);
  for (std::size_t e = 0; e < t.size(); ++e) {
    if (!real[e]) continue;
    const float x0 = t[e];
    t[e] = x0 + k_fd_step;
    const double lp = loss(c, in);
    t[e] = x0 - k_fd_step;
    const double lm = loss(c, in);
    t[e] = x0;
    g[e] = (lp - lm) / (2.0 * double(k_fd_step));
  }
  return g;
}

struct GradCheck {
  double worst = 0.0;     // max |analytic - fd| / max |analytic|
  std::size_t where = 0;  // element of the worst error
  bool ok(double rtol) const { return worst <= rtol; }  // false for NaN
};

GradCheck compare_gradient(const std::vector<double>& analytic, const std::vector<double>& fd,
                           const std::vector<bool>& real) {
  double scale = 0.0;
  for (std::size_t e = 0; e < analytic.size(); ++e) {
    if (real[e]) scale = std::max(scale, std::abs(analytic[e]));
  }
  if (scale == 0.0) scale = 1.0;  // an all-zero gradient: compare absolutely
  GradCheck g;
  for (std::size_t e = 0; e < analytic.size(); ++e) {
    if (!real[e]) continue;
    double err = std::abs(analytic[e] - fd[e]) / scale;
    if (!std::isfinite(err)) err = k_inf;
    if (err > g.worst) g.worst = err, g.where = e;
  }
  return g;
}

// Packed batches with 2-3 documents, padding between and after them, GQA
// 4/2, D = 3, Dv = 5, one document with Lq != Lk (or several) in each.
std::vector<Spec> fd_specs() {
  return {
      {.docs = {{3, 3, 1, 1}, {2, 4, 0, 2}, {4, 2}},
       .tail_q = 2, .tail_kv = 1, .hq = 4, .hkv = 2, .d = 3, .dv = 5,
       .mask = {.causal = true}},
      {.docs = {{4, 4, 2, 0}, {3, 5, 0, 1}, {1, 1}},
       .tail_q = 1, .hq = 4, .hkv = 2, .d = 3, .dv = 5,
       .mask = {.window_left = 2, .window_right = 1}},
      {.docs = {{5, 5, 0, 1}, {3, 6, 1, 0}},
       .tail_kv = 2, .hq = 4, .hkv = 2, .d = 3, .dv = 5,
       .mask = {.causal = true, .chunk_size = 2}},
      {.docs = {{6, 4, 1, 1}, {2, 0}, {3, 3}},
       .tail_q = 1, .tail_kv = 1, .hq = 4, .hkv = 2, .d = 3, .dv = 5,
       .mask = {.window_left = 1, .chunk_size = 3}},
  };
}

struct FdRun {
  Built c;
  Inputs in;
  Results<double> r;
  std::vector<bool> real_q, real_k, real_v;
};

FdRun fd_run(const Spec& spec, unsigned seed) {
  FdRun f{build(spec), {}, {}, {}, {}, {}};
  std::mt19937 rng(seed);
  f.in = random_inputs(f.c, rng, GridValue{});
  f.r = attention<double>(f.c.batch, f.in, /*with_grads=*/true);
  const Batch& b = f.c.batch;
  f.real_q = expand(f.c.real_q, b.num_heads_q * b.head_dim);
  f.real_k = expand(f.c.real_kv, b.num_heads_kv * b.head_dim);
  f.real_v = expand(f.c.real_kv, b.num_heads_kv * b.head_dim_v);
  return f;
}

TEST(ReferenceGradients, MatchCentralFiniteDifferences) {
  ASSERT_EQ(0.5f + k_fd_step - 0.5f, k_fd_step);  // the step is exact at the grid
  const auto specs = fd_specs();
  for (std::size_t s = 0; s < specs.size(); ++s) {
    const FdRun f = fd_run(specs[s], 1000u + unsigned(s));
    SCOPED_TRACE(f.c.batch.describe());
    struct Tensor {
      const char* name;
      std::vector<float> Inputs::*x;
      const std::vector<double>& analytic;
      const std::vector<bool>& real;
    };
    const Tensor tensors[] = {{"dQ", &Inputs::q, f.r.dq, f.real_q},
                              {"dK", &Inputs::k, f.r.dk, f.real_k},
                              {"dV", &Inputs::v, f.r.dv, f.real_v}};
    for (const Tensor& t : tensors) {
      const auto fd = central_differences(f.c, f.in, t.x, t.real);
      const GradCheck g = compare_gradient(t.analytic, fd, t.real);
      EXPECT_TRUE(g.ok(k_fd_rtol))
          << t.name << ": worst relative error " << g.worst << " at element " << g.where
          << " (analytic " << t.analytic[g.where] << ", fd " << fd[g.where] << ")";
      for (std::size_t e = 0; e < t.analytic.size(); ++e) {
        if (!t.real[e]) {
          ASSERT_EQ(t.analytic[e], 0.0) << t.name << " padding element " << e;
        }
      }
    }
  }
}

TEST(ReferenceGradients, FiniteDifferenceCheckDetectsCorruptedDk) {
  const FdRun f = fd_run(fd_specs()[0], 1000u);
  const auto fd = central_differences(f.c, f.in, &Inputs::k, f.real_k);
  std::vector<double> dk = f.r.dk;
  ASSERT_TRUE(compare_gradient(dk, fd, f.real_k).ok(k_fd_rtol));
  std::size_t big = 0;
  for (std::size_t e = 0; e < dk.size(); ++e) {
    if (std::abs(dk[e]) > std::abs(dk[big])) big = e;
  }
  dk[big] *= 1.001;
  const GradCheck g = compare_gradient(dk, fd, f.real_k);
  EXPECT_FALSE(g.ok(k_fd_rtol)) << "a 0.1% error in dK went unnoticed: worst " << g.worst;
  EXPECT_EQ(g.where, big);
  EXPECT_NEAR(g.worst, 1e-3, 1e-4);
}

// ---------------------------------------------------------------------------
// P14: GQA equals MHA with repeated kv heads.

// Same tensors compared in float64: the two runs do the same products on the
// same numbers, so agreement to 1e-12 of the tensor's magnitude leaves room
// only for summation order.
constexpr double k_same_math_rtol = 1e-12;

TEST(ReferenceGqa, EqualsMhaWithRepeatedKvHeads) {
  constexpr int hq = 6, hkv = 2, group = hq / hkv, d = 4, dv = 3;
  Spec spec{.docs = {{3, 5, 1, 0}, {4, 4, 0, 2}, {5, 2}},
            .tail_q = 1, .tail_kv = 1, .hq = hq, .hkv = hkv, .d = d, .dv = dv,
            .mask = {.causal = true}};
  const Built gqa = build(spec);
  spec.hkv = hq;
  const Built mha = build(spec);
  std::mt19937 rng(14);
  const Inputs in = random_inputs(gqa, rng, NormalValue{});
  Inputs rep = in;
  rep.k.assign(mha.batch.k_elems(), 0.0f);
  rep.v.assign(mha.batch.v_elems(), 0.0f);
  const int tkv = gqa.batch.total_kv;
  for (int row = 0; row < tkv; ++row) {
    for (int h = 0; h < hq; ++h) {
      const int g = h / group;
      for (int c = 0; c < d; ++c) rep.k[at(row, h, c, hq, d)] = in.k[at(row, g, c, hkv, d)];
      for (int c = 0; c < dv; ++c) rep.v[at(row, h, c, hq, dv)] = in.v[at(row, g, c, hkv, dv)];
    }
  }
  const auto a = attention<double>(gqa.batch, in, /*with_grads=*/true);
  const auto m = attention<double>(mha.batch, rep, /*with_grads=*/true);
  const auto all = [](std::size_t n) { return std::vector<bool>(n, true); };
  EXPECT_LE(rel_err(a.out, m.out, all(a.out.size())), k_same_math_rtol);
  EXPECT_LE(rel_err(a.lse, m.lse, all(a.lse.size())), k_same_math_rtol);
  EXPECT_LE(rel_err(a.dq, m.dq, all(a.dq.size())), k_same_math_rtol);
  // dK, dV of kv head g = sum over the q heads of its group of the MHA ones.
  std::vector<double> dk(a.dk.size(), 0.0), dvv(a.dv.size(), 0.0);
  for (int row = 0; row < tkv; ++row) {
    for (int h = 0; h < hq; ++h) {
      const int g = h / group;
      for (int c = 0; c < d; ++c) dk[at(row, g, c, hkv, d)] += m.dk[at(row, h, c, hq, d)];
      for (int c = 0; c < dv; ++c) dvv[at(row, g, c, hkv, dv)] += m.dv[at(row, h, c, hq, dv)];
    }
  }
  EXPECT_LE(rel_err(a.dk, dk, all(dk.size())), k_same_math_rtol);
  EXPECT_LE(rel_err(a.dv, dvv, all(dvv.size())), k_same_math_rtol);
  // Not vacuous: the heads of a group do differ.
  EXPECT_NE(m.dk[at(0, 0, 0, hq, d)], m.dk[at(0, 1, 0, hq, d)]);
}

// ---------------------------------------------------------------------------
// Baseline and float32 reference against the float64 oracle.

// A causal batch with padding, a document whose first queries see no key
// (Lq > Lk) and GQA; moderate N(0, 1) values, padding rows NaN.
Spec numerics_spec(DType dtype) {
  return {.docs = {{7, 9, 1, 2}, {5, 5}, {3, 1, 0, 1}},
          .tail_q = 2, .tail_kv = 1, .hq = 4, .hkv = 2, .d = 16, .dv = 16,
          .mask = {.causal = true}, .dtype = dtype};
}

struct Errors {
  double out, lse, dq, dk, dv;
};

template <typename S>
Errors errors_vs_oracle(const Built& c, const Results<S>& x, const Results<double>& ref) {
  const Batch& b = c.batch;
  return {rel_err(x.out, ref.out, expand(c.real_q, b.num_heads_q * b.head_dim_v)),
          rel_err(x.lse, ref.lse, lse_real(c)),
          rel_err(x.dq, ref.dq, expand(c.real_q, b.num_heads_q * b.head_dim)),
          rel_err(x.dk, ref.dk, expand(c.real_kv, b.num_heads_kv * b.head_dim)),
          rel_err(x.dv, ref.dv, expand(c.real_kv, b.num_heads_kv * b.head_dim_v))};
}

// Low-precision storage: the error is that of rounding to the dtype (unit
// roundoff u = 2^-8 for bfloat16, 2^-11 for float16) at the rounding points
// (P, dS, outputs), relative to the tensor's magnitude: measured 2.4e-3..3.8e-3
// (bfloat16) and 2.3e-4..7.7e-4 (float16) here. Upper bound 1e-2: the baseline
// is as good as a same-precision kernel can be. Lower bound u / 16: well above
// float32 noise (~1e-7), so a baseline that forgot to round to the dtype (and
// would make every calibrated tolerance too tight) fails.
TEST(ReferenceBaseline, LowPrecisionErrorIsSmallButNonzero) {
  const std::pair<DType, double> cases[] = {{DType::BFloat16, 0x1p-8}, {DType::Float16, 0x1p-11}};
  for (const auto& [dtype, u] : cases) {
    const Built c = build(numerics_spec(dtype));
    SCOPED_TRACE(c.batch.describe());
    std::mt19937 rng(7);
    const Inputs in = random_inputs(c, rng, NormalValue{});
    const auto ref = attention<double>(c.batch, in, /*with_grads=*/true);
    const Errors e = errors_vs_oracle(c, baseline(c.batch, in, /*with_grads=*/true), ref);
    for (double x : {e.out, e.dq, e.dk, e.dv}) {
      EXPECT_GT(x, u / 16);
      EXPECT_LT(x, 1e-2);
    }
    EXPECT_LT(e.lse, 1e-5);  // LSE is kept in float32, not rounded to the dtype
  }
}

// float32 storage: only float32 accumulation error, ~1e-7 relative here.
TEST(ReferenceBaseline, Float32ErrorIsTiny) {
  const Built c = build(numerics_spec(DType::Float32));
  std::mt19937 rng(8);
  const Inputs in = random_inputs(c, rng, NormalValue{});
  const auto ref = attention<double>(c.batch, in, /*with_grads=*/true);
  const Errors e = errors_vs_oracle(c, baseline(c.batch, in, /*with_grads=*/true), ref);
  for (double x : {e.out, e.lse, e.dq, e.dk, e.dv}) EXPECT_LT(x, 1e-5);
}

// True when row `row` of a row-major [T, row_elems] tensor is all zero.
bool row_is_zero(const std::vector<float>& x, int row, int row_elems) {
  for (int e = 0; e < row_elems; ++e) {
    if (!(x[std::size_t(row) * row_elems + e] == 0.0f)) return false;
  }
  return true;
}

TEST(ReferenceBaseline, PaddingAndKeylessRowsAreExact) {
  const Built c = build(numerics_spec(DType::BFloat16));
  std::mt19937 rng(9);
  const Inputs in = random_inputs(c, rng, NormalValue{}, k_nan);
  const auto r = baseline(c.batch, in, /*with_grads=*/true);
  const Batch& b = c.batch;
  // Rows with no output: padding rows, and queries 0 and 1 of doc 2 (Lq 3,
  // Lk 1, causal: p = i - 2 < 0).
  std::vector<bool> empty_q(b.total_q, false);
  for (int row = 0; row < b.total_q; ++row) empty_q[row] = !c.real_q[row];
  empty_q[c.q_start[2] + 0] = empty_q[c.q_start[2] + 1] = true;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int row = 0; row < b.total_q; ++row) {
    SCOPED_TRACE(testing::Message() << "q row " << row);
    EXPECT_EQ(row_is_zero(r.out, row, b.num_heads_q * b.head_dim_v), empty_q[row]);
    if (empty_q[row]) {
      EXPECT_TRUE(row_is_zero(r.dq, row, b.num_heads_q * b.head_dim));
    }
    for (int h = 0; h < b.num_heads_q; ++h) {
      const float lse = r.lse[lse_at(b, row, h)];
      EXPECT_TRUE(empty_q[row] ? lse == neg_inf : std::isfinite(lse)) << "head " << h;
    }
  }
  for (int row = 0; row < b.total_kv; ++row) {
    if (c.real_kv[row]) continue;
    EXPECT_TRUE(row_is_zero(r.dk, row, b.num_heads_kv * b.head_dim)) << "kv row " << row;
    EXPECT_TRUE(row_is_zero(r.dv, row, b.num_heads_kv * b.head_dim_v)) << "kv row " << row;
  }
  for (const auto* t : {&r.out, &r.dq, &r.dk, &r.dv}) {
    for (float x : *t) ASSERT_TRUE(std::isfinite(x));
  }
}

// float32 reference: the same Eigen math in float32 on float32 inputs; its
// error is float32 rounding over sums of ~10 terms, ~1e-7 relative.
TEST(ReferenceFloat32, AgreesWithFloat64) {
  const Built c = build({.docs = {{9, 6, 2, 1}, {4, 7}, {1, 3, 0, 2}},
                         .tail_q = 1, .hq = 4, .hkv = 1, .d = 8, .dv = 6,
                         .mask = {.window_left = 3, .window_right = 2}});
  std::mt19937 rng(32);
  const Inputs in = random_inputs(c, rng, NormalValue{});
  const auto f64 = attention<double>(c.batch, in, /*with_grads=*/true);
  const auto f32 = attention<float>(c.batch, in, /*with_grads=*/true);
  const auto all = [](std::size_t n) { return std::vector<bool>(n, true); };
  EXPECT_LT(rel_err(f32.out, f64.out, all(f64.out.size())), 1e-5);
  EXPECT_LT(rel_err(f32.lse, f64.lse, all(f64.lse.size())), 1e-5);  // -inf rows match too
  EXPECT_LT(rel_err(f32.dq, f64.dq, all(f64.dq.size())), 1e-5);
  EXPECT_LT(rel_err(f32.dk, f64.dk, all(f64.dk.size())), 1e-5);
  EXPECT_LT(rel_err(f32.dv, f64.dv, all(f64.dv.size())), 1e-5);
  EXPECT_GT(rel_err(f32.out, f64.out, all(f64.out.size())), 0.0);  // it is float32 math
}

}  // namespace
}  // namespace attncheck::reference::test
