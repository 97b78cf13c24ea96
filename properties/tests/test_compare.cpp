// Tests of the comparison rules (harness/compare.hpp) and of the properties
// built on them (properties/properties.hpp): every check passes on correct data
// and fails, naming what it should, on data with one planted defect.
//
// Cases are built by hand: two or three documents with padding between and
// after them, Hq = 4, Hkv = 2, D = 8. Which rows are real and which are padding
// is worked out HERE from the document list (not through Batch::real_q_rows()),
// so the tests do not lean on the code they check.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "harness/compare.hpp"
#include "harness/registry.hpp"
#include "properties/generators.hpp"
#include "properties/properties.hpp"
#include "reference/attention.hpp"
#include "reference/baseline.hpp"

namespace attncheck {
namespace {

using props::Outcome;
using props::PropertyId;
using Status = Outcome::Status;

constexpr float k_nanf = std::numeric_limits<float>::quiet_NaN();
constexpr float k_inff = std::numeric_limits<float>::infinity();

// ---------------------------------------------------------------------------
// Hand-built cases.

struct Doc {
  int lq = 0, lk = 0, pad_q = 0, pad_kv = 0;
};

struct Hand {
  std::vector<Doc> docs;
  int tail_q = 0, tail_kv = 0;
  int hq = 4, hkv = 2, d = 8, dv = 8;
  MaskSpec mask{};
  DType dtype = DType::Float32;
  std::uint64_t seed = 42;
};

struct Built {
  Case c;
  std::vector<bool> real_q, real_kv;  // per row, from the document list
};

// Real rows ~ N(0, 1), padding rows ~ N(0, 100) (finite garbage that shows up
// when read), all rounded to the dtype. Always passes cu_seqlens_*_padded.
Built build(const Hand& s) {
  Built bt;
  Batch& b = bt.c.batch;
  b.num_heads_q = s.hq;
  b.num_heads_kv = s.hkv;
  b.head_dim = s.d;
  b.head_dim_v = s.dv;
  b.mask = s.mask;
  b.dtype = s.dtype;
  std::vector<std::int32_t> cq{0}, ck{0}, pq{0}, pk{0};
  for (const Doc& doc : s.docs) {
    bt.real_q.insert(bt.real_q.end(), std::size_t(doc.lq), true);
    bt.real_q.insert(bt.real_q.end(), std::size_t(doc.pad_q), false);
    bt.real_kv.insert(bt.real_kv.end(), std::size_t(doc.lk), true);
    bt.real_kv.insert(bt.real_kv.end(), std::size_t(doc.pad_kv), false);
    cq.push_back(cq.back() + doc.lq);
    ck.push_back(ck.back() + doc.lk);
    pq.push_back(pq.back() + doc.lq + doc.pad_q);
    pk.push_back(pk.back() + doc.lk + doc.pad_kv);
  }
  bt.real_q.insert(bt.real_q.end(), std::size_t(s.tail_q), false);
  bt.real_kv.insert(bt.real_kv.end(), std::size_t(s.tail_kv), false);
  b.cu_seqlens_q = cq;
  b.cu_seqlens_kv = ck;
  b.cu_seqlens_q_padded = pq;
  b.cu_seqlens_kv_padded = pk;
  b.total_q = int(bt.real_q.size());
  b.total_kv = int(bt.real_kv.size());
  b.softmax_scale = b.default_scale();
  b.validate();
  bt.c.seed = s.seed;

  std::mt19937_64 rng(s.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto fill = [&](std::vector<float>& x, std::size_t elems, const std::vector<bool>& real) {
    x.assign(elems, 0.0f);
    const std::size_t w = elems / real.size();
    for (std::size_t e = 0; e < elems; ++e) {
      const double sigma = real[e / w] ? 1.0 : 100.0;
      x[e] = round_to(s.dtype, float(sigma * normal(rng)));
    }
  };
  fill(bt.c.inputs.q, b.q_elems(), bt.real_q);
  fill(bt.c.inputs.k, b.k_elems(), bt.real_kv);
  fill(bt.c.inputs.v, b.v_elems(), bt.real_kv);
  fill(bt.c.inputs.dout, b.o_elems(), bt.real_q);
  validate_inputs(b, bt.c.inputs);
  return bt;
}

// Three documents, padding between and after them, no mask.
//   q rows : doc0 0-4 | pad 5,6 | doc1 7-9 | pad 10 | doc2 11-14 | tail 15,16
//   kv rows: doc0 0-4 | pad 5   | doc1 6-8 | pad 9,10 | doc2 11-14 | tail 15-17
// The seed is a multiple of 3, so P5 targets document 0.
Built padded3(DType dt = DType::Float32, std::uint64_t seed = 42) {
  return build({.docs = {{5, 5, 2, 1}, {3, 3, 1, 2}, {4, 4, 0, 0}},
                .tail_q = 2,
                .tail_kv = 3,
                .dtype = dt,
                .seed = seed});
}
constexpr int k_p3_pad_q_between = 5, k_p3_pad_q_tail = 16;
constexpr int k_p3_pad_kv_between = 9, k_p3_pad_kv_tail = 17;
constexpr int k_p3_doc1_q_row = 8;

// Two causal documents, one with Lq > Lk (bottom-right aligned).
//   q rows : doc0 0-3 | pad 4 | doc1 5-7 | tail 8
//   kv rows: doc0 0,1 | pad 2 | doc1 3-5 | tail 6,7
// doc0: queries 0 and 1 see no key (LSE -inf), query 2 sees key 0 only,
// query 3 sees keys 0 and 1. doc1: query 5 sees key 3 only.
Built causal_cross(DType dt = DType::Float32, std::uint64_t seed = 11) {
  return build({.docs = {{4, 2, 1, 1}, {3, 3, 1, 0}},
                .tail_q = 1,
                .tail_kv = 2,
                .mask = MaskSpec{.causal = true},
                .dtype = dt,
                .seed = seed});
}
constexpr int k_cc_blind_row = 0, k_cc_one_key_row = 2, k_cc_seeing_row = 3;

// ---------------------------------------------------------------------------
// Indexing and masks (by hand).

std::size_t tok(int row, int head, int c, int heads, int width) {
  return (std::size_t(row) * std::size_t(heads) + std::size_t(head)) * std::size_t(width) +
         std::size_t(c);
}
std::size_t lse_at(const Batch& b, int row, int head) {
  return std::size_t(head) * std::size_t(b.total_q) + std::size_t(row);
}
// [T, H, W] tensor: each row flag repeated row_elems times.
std::vector<bool> token_mask(const std::vector<bool>& rows, int row_elems) {
  std::vector<bool> m;
  for (bool r : rows) m.insert(m.end(), std::size_t(row_elems), r);
  return m;
}
// [H, T] tensor (LSE).
std::vector<bool> head_mask(const std::vector<bool>& rows, int heads) {
  std::vector<bool> m;
  for (int h = 0; h < heads; ++h) m.insert(m.end(), rows.begin(), rows.end());
  return m;
}

std::vector<float> to_float(const std::vector<double>& x) {
  return std::vector<float>(x.begin(), x.end());
}

double max_abs(const std::vector<double>& x, const std::vector<bool>& mask) {
  double m = 0.0;
  for (std::size_t e = 0; e < x.size(); ++e) {
    if (mask[e] && std::isfinite(x[e])) m = std::max(m, std::abs(x[e]));
  }
  return m;
}

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

// The oracle, the baseline and the reference's own float32 result of a case.
struct Refs {
  reference::Oracle oracle;
  Results<float> base;
  Results<float> f32;
};
Refs refs(const Case& c, bool grads) {
  return {reference::oracle(c.batch, c.inputs, grads), reference::baseline(c.batch, c.inputs, grads),
          reference::attention<float>(c.batch, c.inputs, grads)};
}

// Calibrated check of one tensor of a hand-built case with the hand masks.
TensorCheck check_out(const Built& bt, const Refs& r, const std::vector<float>& impl) {
  const Batch& b = bt.c.batch;
  return compare_calibrated("out", impl, r.oracle.value.out, r.oracle.magnitude.terms.out, r.oracle.magnitude.rounded.out, r.base.out,
                            token_mask(bt.real_q, b.num_heads_q * b.head_dim_v), k_rtol_forward,
                            unit_roundoff(b.dtype), {}, {}, k_steps_forward);
}
TensorCheck check_lse(const Built& bt, const Refs& r, const std::vector<float>& impl) {
  const Batch& b = bt.c.batch;
  return compare_calibrated("lse", impl, r.oracle.value.lse, r.oracle.magnitude.terms.lse, r.oracle.magnitude.rounded.lse, r.base.lse,
                            head_mask(bt.real_q, b.num_heads_q), k_rtol_forward,
                            unit_roundoff(b.dtype));
}
TensorCheck check_dq(const Built& bt, const Refs& r, const std::vector<float>& impl,
                     bool with_floor = true) {
  const Batch& b = bt.c.batch;
  const std::vector<double> none;
  return compare_calibrated("dq", impl, r.oracle.value.dq,
                            with_floor ? std::span<const double>(r.oracle.magnitude.terms.dq)
                                       : std::span<const double>(none),
                            with_floor ? std::span<const double>(r.oracle.magnitude.rounded.dq)
                                       : std::span<const double>(none),
                            r.base.dq, token_mask(bt.real_q, b.num_heads_q * b.head_dim),
                            k_rtol_backward, unit_roundoff(b.dtype), {}, {},
                            with_floor ? k_steps_backward : 0.0);
}

void expect_all_pass(const std::vector<TensorCheck>& checks, const std::string& ctx) {
  for (const auto& c : checks) {
    EXPECT_TRUE(c.pass) << ctx << " " << c.tensor << ": " << c.message;
    EXPECT_LE(c.ratio, 1.0) << ctx << " " << c.tensor;
  }
}

// ---------------------------------------------------------------------------
// element_mask

TEST(ElementMask, TokenMajorAndHeadMajorMatchHandMasks) {
  const std::vector<bool> rows{true, false, true, true, false};
  EXPECT_EQ(element_mask(rows, 5 * 3 * 2, Layout::TokenMajor), token_mask(rows, 3 * 2));
  EXPECT_EQ(element_mask(rows, 5 * 4, Layout::HeadMajor), head_mask(rows, 4));
  EXPECT_TRUE(element_mask({}, 0, Layout::TokenMajor).empty());
}

// ---------------------------------------------------------------------------
// compare_calibrated

TEST(CompareCalibrated, ReferenceFloat32PassesInEachDtype) {
  for (DType dt : k_all_dtypes) {
    std::vector<Case> cases = {padded3(dt, 42).c, padded3(dt, 7).c, causal_cross(dt, 11).c};
    // A few generated shapes too (masks, value distributions, Dv != D), drawn
    // deterministically from fixed seeds.
    gen::GenOptions opts;
    opts.max_tokens = 96;
    opts.max_work = 2e5;
    opts.max_head_dim = 32;
    opts.dtypes = {dt};
    for (std::uint64_t seed : {1u, 2u, 3u}) {
      cases.push_back(gen::build_case(gen::case_spec(opts)(rc::Random(seed), 40).value()));
    }
    for (const Case& c : cases) {
      const Refs r = refs(c, true);
      const std::string ctx = std::string(to_string(dt)) + " " + c.batch.describe();
      expect_all_pass(compare_forward(c.batch, r.f32, r.oracle.value, r.oracle.magnitude, r.base),
                      ctx);
      expect_all_pass(compare_backward(c.batch, r.f32, r.oracle.value, r.oracle.magnitude, r.base),
                      ctx);
      // The baseline itself is within its own bound (rtol >= 1).
      expect_all_pass(compare_forward(c.batch, r.base, r.oracle.value, r.oracle.magnitude, r.base),
                      ctx + " (baseline)");
    }
  }
}

TEST(CompareCalibrated, PerturbedElementFailsAndIsNamed) {
  const Built bt = padded3();
  const Batch& b = bt.c.batch;
  const Refs r = refs(bt.c, true);
  ASSERT_TRUE(check_out(bt, r, r.f32.out).pass);

  const auto mask = token_mask(bt.real_q, b.num_heads_q * b.head_dim_v);
  const std::size_t e = tok(k_p3_doc1_q_row, 2, 3, b.num_heads_q, b.head_dim_v);
  std::vector<float> impl = r.f32.out;
  impl[e] = float(double(impl[e]) + 1e-3 * max_abs(r.oracle.value.out, mask));
  const TensorCheck c = check_out(bt, r, impl);
  EXPECT_FALSE(c.pass);
  EXPECT_EQ(c.worst, std::int64_t(e));
  EXPECT_GT(c.ratio, 1.0);
  EXPECT_TRUE(contains(c.message, "out: error"));
  EXPECT_TRUE(contains(c.message, "at element " + std::to_string(e) + " "));

  // The same through compare_backward: only the perturbed tensor fails.
  Results<float> grads = r.f32;
  const std::size_t ek = tok(12, 1, 5, b.num_heads_kv, b.head_dim);  // doc2 kv row, head 1
  ASSERT_TRUE(bt.real_kv[12]);
  grads.dk[ek] = float(double(grads.dk[ek]) +
                       1e-3 * max_abs(r.oracle.value.dk,
                                      token_mask(bt.real_kv, b.num_heads_kv * b.head_dim)));
  const auto checks = compare_backward(b, grads, r.oracle.value, r.oracle.magnitude, r.base);
  ASSERT_EQ(checks.size(), 3u);
  EXPECT_TRUE(checks[0].pass) << checks[0].message;
  EXPECT_FALSE(checks[1].pass);
  EXPECT_EQ(checks[1].tensor, "dk");
  EXPECT_EQ(checks[1].worst, std::int64_t(ek));
  EXPECT_TRUE(contains(checks[1].message, "dk: error"));
  EXPECT_TRUE(contains(checks[1].message, "at element " + std::to_string(ek) + " "));
  EXPECT_TRUE(checks[2].pass) << checks[2].message;
}

TEST(CompareCalibrated, PerturbationAboveTheBaselineBoundFailsInLowPrecision) {
  // In bfloat16/float16 the bound is the (larger) baseline error: a perturbation
  // of 1e-3 may be legitimately inside it, but 10 x rtol x baseline error is not.
  for (DType dt : {DType::BFloat16, DType::Float16}) {
    const Built bt = padded3(dt);
    const Batch& b = bt.c.batch;
    const Refs r = refs(bt.c, false);
    const TensorCheck ok = check_out(bt, r, r.f32.out);
    ASSERT_TRUE(ok.pass) << ok.message;
    ASSERT_GT(ok.base_err, 0.0);
    const std::size_t e = tok(k_p3_doc1_q_row, 1, 0, b.num_heads_q, b.head_dim_v);
    std::vector<float> impl = r.f32.out;
    impl[e] = float(double(impl[e]) + 10.0 * k_rtol_forward * ok.base_err +
                    1e-3 * std::abs(double(impl[e])));
    const TensorCheck c = check_out(bt, r, impl);
    EXPECT_FALSE(c.pass) << to_string(dt);
    EXPECT_EQ(c.worst, std::int64_t(e)) << to_string(dt);
  }
}

// The float16 case the faithful-rounding floor came from (compare.hpp): the
// exact dK -19776.0744 lies just below the float16 value -19776 (values are
// 16 apart there). A kernel's -19792, the other float16 neighbour, passes
// although it is 8x the baseline's largest error; -19808, two steps away,
// fails. The floor is not the baseline term: without the dtype it is gone.
TEST(CompareCalibrated, OneDtypeStepFromTheExactValuePassesTwoFail) {
  const double u = unit_roundoff(DType::Float16);
  EXPECT_EQ(faithful_step(-19776.0744, u), 16.0);
  EXPECT_EQ(faithful_step(1.0, u), std::ldexp(1.0, -10));
  EXPECT_EQ(faithful_step(0.75, unit_roundoff(DType::BFloat16)), std::ldexp(1.0, -8));
  EXPECT_EQ(faithful_step(3.0, 0.0), 0.0);
  const std::vector<double> ref{-19776.0744, 3.0, -2.0};
  const std::vector<double> mag{19776.0744, 3.0, 2.0};
  const std::vector<float> base{-19776.0f, 3.0f, -2.0f};  // baseline error 0.0744
  const std::vector<bool> mask(ref.size(), true);
  auto judge = [&](float x, double roundoff) {
    const std::vector<float> impl{x, 3.0f, -2.0f};
    return compare_calibrated("dk", impl, ref, mag, mag, base, mask, k_rtol_backward, roundoff, {},
                              {}, k_steps_backward);
  };
  const TensorCheck one = judge(-19792.0f, u);
  EXPECT_TRUE(one.pass) << one.message;
  EXPECT_GE(one.bound, 16.0);
  EXPECT_LT(one.bound, 16.0 + 0.5 * 16.0) << "the other floors are a fraction of a step here";
  const TensorCheck two = judge(-19808.0f, u);
  EXPECT_FALSE(two.pass);
  EXPECT_EQ(two.worst, 0);
  EXPECT_FALSE(judge(-19792.0f, 0.0).pass) << "without the dtype no step is allowed";
}

// In a 16-bit dtype the bound is the larger of rtol x baseline error and the
// floors, not their sum: an element off by just over 2x the baseline's
// largest error fails P1 although the floors alone would admit it on top.
TEST(CompareCalibrated, SixteenBitBoundIsTheLargerOfBaselineTermAndFloors) {
  const double u = unit_roundoff(DType::BFloat16);
  const std::vector<double> ref{1.0, 0.5, -0.25};
  const std::vector<double> mag{1.0, 0.5, 0.25};
  const std::vector<float> base{1.0078125f, 0.5f, -0.25f};  // one bfloat16 step high: 2u
  const std::vector<bool> mask(ref.size(), true);
  const double base_err = 2 * u;
  auto judge = [&](double x, double roundoff) {
    const std::vector<float> impl{float(x), 0.5f, -0.25f};
    return compare_calibrated("out", impl, ref, mag, mag, base, mask, k_rtol_forward, roundoff, {},
                              {}, k_steps_forward);
  };
  const TensorCheck at = judge(1.0, u);
  const double floors = k_eps_f32 * 1.0 + k_flt_min + k_steps_forward * faithful_step(1.0, u) +
                        k_gamma * k_eps_f32 * 1.0 + k_dtype * u * 1.0;
  ASSERT_LT(floors, k_rtol_forward * base_err);
  EXPECT_NEAR(at.bound, k_rtol_forward * base_err, 1e-15);
  EXPECT_FALSE(judge(1.0 - 1.01 * k_rtol_forward * base_err, u).pass);
  EXPECT_TRUE(judge(1.0 - 0.99 * k_rtol_forward * base_err, u).pass);
}

TEST(CompareCalibrated, NonFiniteInARealRowFails) {
  const Built bt = padded3();
  const Batch& b = bt.c.batch;
  const Refs r = refs(bt.c, false);
  const std::size_t e = tok(k_p3_doc1_q_row, 3, 7, b.num_heads_q, b.head_dim_v);
  for (float bad : {k_nanf, k_inff, -k_inff}) {
    std::vector<float> impl = r.f32.out;
    impl[e] = bad;
    const TensorCheck c = check_out(bt, r, impl);
    EXPECT_FALSE(c.pass) << bad;
    EXPECT_EQ(c.worst, std::int64_t(e));
    EXPECT_TRUE(std::isinf(c.ratio));
    EXPECT_TRUE(contains(c.message, "out[" + std::to_string(e) + "]"));
    EXPECT_TRUE(contains(c.message, "NaN/Inf never passes"));
  }
}

TEST(CompareCalibrated, LseOfARowThatSeesNoKeyMustBeExactlyMinusInf) {
  const Built bt = causal_cross();
  const Batch& b = bt.c.batch;
  const Refs r = refs(bt.c, false);
  const std::size_t blind = lse_at(b, k_cc_blind_row, 1);
  const std::size_t seeing = lse_at(b, k_cc_seeing_row, 1);
  ASSERT_EQ(r.oracle.value.lse[blind], -std::numeric_limits<double>::infinity());
  ASSERT_TRUE(std::isfinite(r.oracle.value.lse[seeing]));
  {
    const TensorCheck c = check_lse(bt, r, r.f32.lse);
    ASSERT_TRUE(c.pass) << c.message;
  }
  // A finite value (any), +inf or NaN where the reference is -inf.
  for (float bad : {0.0f, -1e30f, k_inff, k_nanf}) {
    std::vector<float> impl = r.f32.lse;
    impl[blind] = bad;
    const TensorCheck c = check_lse(bt, r, impl);
    EXPECT_FALSE(c.pass) << bad;
    EXPECT_EQ(c.worst, std::int64_t(blind));
    EXPECT_TRUE(contains(c.message, "lse[" + std::to_string(blind) + "]"));
    EXPECT_TRUE(contains(c.message, "row sees no key"));
  }
  // -inf where the reference is finite.
  std::vector<float> impl = r.f32.lse;
  impl[seeing] = -k_inff;
  const TensorCheck c = check_lse(bt, r, impl);
  EXPECT_FALSE(c.pass);
  EXPECT_EQ(c.worst, std::int64_t(seeing));
  EXPECT_TRUE(contains(c.message, "lse[" + std::to_string(seeing) + "]"));
  EXPECT_TRUE(contains(c.message, "NaN/Inf never passes"));
}

TEST(CompareCalibrated, PaddingRowsAreIgnored) {
  // NaN in padding rows is P3's business, not the calibrated check's.
  const Built bt = padded3();
  const Batch& b = bt.c.batch;
  const Refs r = refs(bt.c, true);
  Results<float> impl = r.f32;
  for (int h = 0; h < b.num_heads_q; ++h) {
    impl.out[tok(k_p3_pad_q_between, h, 0, b.num_heads_q, b.head_dim_v)] = k_nanf;
    impl.out[tok(k_p3_pad_q_tail, h, 4, b.num_heads_q, b.head_dim_v)] = k_inff;
    impl.lse[lse_at(b, k_p3_pad_q_between, h)] = k_nanf;
    impl.dq[tok(k_p3_pad_q_tail, h, 1, b.num_heads_q, b.head_dim)] = k_nanf;
  }
  impl.dk[tok(k_p3_pad_kv_between, 1, 2, b.num_heads_kv, b.head_dim)] = k_nanf;
  impl.dv[tok(k_p3_pad_kv_tail, 0, 7, b.num_heads_kv, b.head_dim_v)] = 1e30f;
  expect_all_pass(compare_forward(b, impl, r.oracle.value, r.oracle.magnitude, r.base), "fwd");
  expect_all_pass(compare_backward(b, impl, r.oracle.value, r.oracle.magnitude, r.base), "bwd");
  // ...but the same NaN in a real row is caught.
  impl.out[tok(k_p3_doc1_q_row, 0, 0, b.num_heads_q, b.head_dim_v)] = k_nanf;
  EXPECT_FALSE(compare_forward(b, impl, r.oracle.value, r.oracle.magnitude, r.base)[0].pass);
}

TEST(CompareCalibrated, SizeMismatchFails) {
  const std::vector<float> impl(3, 0.0f), base(4, 0.0f);
  const std::vector<double> ref(4, 0.0);
  const TensorCheck c = compare_calibrated("x", impl, ref, {}, {}, base, std::vector<bool>(4, true),
                                           k_rtol_forward, 0.0);
  EXPECT_FALSE(c.pass);
  EXPECT_TRUE(contains(c.message, "size mismatch"));
}

// The dtype floor's magnitudes are the terms without the score widening:
// every |X| is at most its rounded terms (|sum| <= sum of |terms|), which are
// at most the widened terms, and strictly less where scores are not zero.
TEST(OracleMagnitudes, RoundedTermsBoundTheValueAndStayBelowTheWidenedTerms) {
  for (DType dt : {DType::Float32, DType::BFloat16}) {
    const Built bt = causal_cross(dt);
    const auto o = reference::oracle(bt.c.batch, bt.c.inputs, true);
    const std::pair<const char*, const std::vector<double>*> t[][3] = {
        {{"out", &o.value.out}, {"", &o.magnitude.rounded.out}, {"", &o.magnitude.terms.out}},
        {{"dq", &o.value.dq}, {"", &o.magnitude.rounded.dq}, {"", &o.magnitude.terms.dq}},
        {{"dk", &o.value.dk}, {"", &o.magnitude.rounded.dk}, {"", &o.magnitude.terms.dk}},
        {{"dv", &o.value.dv}, {"", &o.magnitude.rounded.dv}, {"", &o.magnitude.terms.dv}}};
    for (const auto& row : t) {
      const auto& x = *row[0].second;
      const auto& rnd = *row[1].second;
      const auto& terms = *row[2].second;
      ASSERT_EQ(rnd.size(), x.size()) << row[0].first;
      int strictly_below = 0;
      for (std::size_t e = 0; e < x.size(); ++e) {
        EXPECT_LE(std::abs(x[e]), rnd[e] * (1 + 1e-12) + 1e-300) << row[0].first << "[" << e << "]";
        EXPECT_LE(rnd[e], terms[e] * (1 + 1e-12)) << row[0].first << "[" << e << "]";
        if (rnd[e] < 0.99 * terms[e]) ++strictly_below;
      }
      EXPECT_GT(strictly_below, 0) << row[0].first << ": the rounded terms equal the widened ones";
    }
  }
}

TEST(CompareCalibrated, MagnitudeFloorAdmitsFloat32NoiseWhereTermsCancel) {
  // Query 2 of causal_cross's doc0 sees exactly one key: P = (1, 0), O = V_0,
  // dP_0 = Di, so dS = 0 and dQ = 0 (to float64 rounding) although each term is
  // not small. A float32 kernel computes dQ there as noise of about
  // eps_f32 x the term magnitude; compare.hpp admits k_gamma x that.
  const Built bt = causal_cross();
  const Batch& b = bt.c.batch;
  const Refs r = refs(bt.c, true);
  const auto& ref = r.oracle.value.dq;
  const auto& mag = r.oracle.magnitude.terms.dq;
  std::vector<std::size_t> row_elems;
  for (int h = 0; h < b.num_heads_q; ++h) {
    for (int c = 0; c < b.head_dim; ++c) {
      const std::size_t e = tok(k_cc_one_key_row, h, c, b.num_heads_q, b.head_dim);
      ASSERT_GT(mag[e], 0.0);
      ASSERT_LE(std::abs(ref[e]), 1e-12 * mag[e]) << "dQ of a one-key row is not ~0";
      row_elems.push_back(e);
    }
  }
  auto noisy = [&](double times) {
    std::vector<float> x = to_float(ref);
    for (std::size_t i = 0; i < row_elems.size(); ++i) {
      const std::size_t e = row_elems[i];
      x[e] = float(ref[e] + (i % 2 ? -1.0 : 1.0) * times * k_eps_f32 * mag[e]);
    }
    return x;
  };
  {
    const TensorCheck c = check_dq(bt, r, to_float(ref));
    ASSERT_TRUE(c.pass) << c.message;
  }
  // Noise of eps_f32 x magnitude passes with the floor...
  const TensorCheck with_floor = check_dq(bt, r, noisy(1.0));
  EXPECT_TRUE(with_floor.pass) << with_floor.message;
  // ...and it is the floor that admits it: without `mag` the same noise fails.
  const TensorCheck without = check_dq(bt, r, noisy(1.0), /*with_floor=*/false);
  EXPECT_FALSE(without.pass) << "noise below the tensor-wide bound: the case does not exercise "
                                "the floor (err "
                             << without.err << ", bound " << without.bound << ")";
  // 100 x that noise fails, at an element of that row.
  const TensorCheck big = check_dq(bt, r, noisy(100.0));
  EXPECT_FALSE(big.pass);
  EXPECT_NE(std::find(row_elems.begin(), row_elems.end(), std::size_t(big.worst)),
            row_elems.end())
      << big.worst;
  EXPECT_TRUE(contains(big.message, "dq: error"));
  // The bound at that element is exactly compare.hpp's formula: rtol x
  // baseline error and the floors eps_f32 x max|ref| + FLT_MIN
  //   + steps x ulp_dtype(ref) + k_gamma x eps_f32 x mag + k_dtype x u_dtype x rounded.
  const auto mask = token_mask(bt.real_q, b.num_heads_q * b.head_dim);
  double base_err = 0.0;
  for (std::size_t e = 0; e < ref.size(); ++e) {
    if (mask[e]) base_err = std::max(base_err, std::abs(double(r.base.dq[e]) - ref[e]));
  }
  const std::size_t w = std::size_t(big.worst);
  const double u = unit_roundoff(b.dtype);
  const double floors = k_eps_f32 * max_abs(ref, mask) + k_flt_min +
                        k_steps_backward * faithful_step(ref[w], u) + k_gamma * k_eps_f32 * mag[w] +
                        k_dtype * u * r.oracle.magnitude.rounded.dq[w];
  // A float32 case: the baseline term and the floors add.
  ASSERT_EQ(b.dtype, DType::Float32);
  const double want = k_rtol_backward * base_err + floors;
  EXPECT_NEAR(big.bound, want, 1e-12 * want);
  EXPECT_DOUBLE_EQ(big.base_err, base_err);
}

// ---------------------------------------------------------------------------
// check_padding_zero

using TensorField = std::vector<float> Results<float>::*;

struct PadSlot {
  const char* name;
  TensorField field;
  bool kv;   // rows are kv rows
  bool dim;  // width is head_dim (else head_dim_v)
};
constexpr PadSlot k_pad_slots[] = {{"out", &Results<float>::out, false, false},
                                   {"dq", &Results<float>::dq, false, true},
                                   {"dk", &Results<float>::dk, true, true},
                                   {"dv", &Results<float>::dv, true, false}};

TEST(CheckPaddingZero, PassesOnReferenceOutputs) {
  for (const Built& bt : {padded3(), causal_cross(), padded3(DType::BFloat16)}) {
    const Batch& b = bt.c.batch;
    for (bool grads : {false, true}) {
      const auto r = reference::attention<float>(b, bt.c.inputs, grads);
      const ExactCheck c = check_padding_zero(b, r);
      EXPECT_TRUE(c.pass) << b.describe() << ": " << c.message;
      EXPECT_EQ(c.index, -1);
    }
  }
}

TEST(CheckPaddingZero, NegativeZeroIsZero) {
  const Built bt = padded3();
  const Batch& b = bt.c.batch;
  auto r = reference::attention<float>(b, bt.c.inputs, true);
  r.out[tok(k_p3_pad_q_between, 1, 1, b.num_heads_q, b.head_dim_v)] = -0.0f;
  r.dk[tok(k_p3_pad_kv_tail, 0, 0, b.num_heads_kv, b.head_dim)] = -0.0f;
  EXPECT_TRUE(check_padding_zero(b, r).pass);
}

TEST(CheckPaddingZero, NonzeroInEachTensorFailsNamingTensorAndRow) {
  const Built bt = padded3();
  const Batch& b = bt.c.batch;
  const auto ref = reference::attention<float>(b, bt.c.inputs, true);
  for (const PadSlot& s : k_pad_slots) {
    const int heads = s.kv ? b.num_heads_kv : b.num_heads_q;
    const int width = s.dim ? b.head_dim : b.head_dim_v;
    for (int row : s.kv ? std::vector<int>{k_p3_pad_kv_between, k_p3_pad_kv_tail}
                        : std::vector<int>{k_p3_pad_q_between, k_p3_pad_q_tail}) {
      ASSERT_FALSE((s.kv ? bt.real_kv : bt.real_q)[std::size_t(row)]);
      for (float bad : {1e-30f, -2.0f, k_nanf}) {
        Results<float> r = ref;
        const std::size_t e = tok(row, heads - 1, width - 1, heads, width);
        (r.*s.field)[e] = bad;
        const ExactCheck c = check_padding_zero(b, r);
        EXPECT_FALSE(c.pass) << s.name << " row " << row << " value " << bad;
        EXPECT_EQ(c.index, std::int64_t(e)) << s.name;
        EXPECT_TRUE(contains(c.message, std::string(s.name) + "[" + std::to_string(e) + "]"));
        EXPECT_TRUE(contains(c.message, "padding row " + std::to_string(row) + ";"));
      }
    }
  }
}

TEST(CheckPaddingZero, LseOfAPaddingRowMustBeMinusInf) {
  const Built bt = padded3();
  const Batch& b = bt.c.batch;
  const auto ref = reference::attention<float>(b, bt.c.inputs, false);
  for (int row : {k_p3_pad_q_between, k_p3_pad_q_tail}) {
    for (float bad : {0.0f, -1e30f, k_inff, k_nanf}) {
      Results<float> r = ref;
      const std::size_t e = lse_at(b, row, 2);
      r.lse[e] = bad;
      const ExactCheck c = check_padding_zero(b, r);
      EXPECT_FALSE(c.pass) << row << " " << bad;
      EXPECT_EQ(c.index, std::int64_t(e));
      EXPECT_TRUE(contains(c.message, "lse[" + std::to_string(e) + "]"));
      EXPECT_TRUE(contains(c.message, "padding row " + std::to_string(row) + ";"));
    }
  }
}

TEST(CheckPaddingZero, TailPaddingOnlyIsChecked) {
  // Every padding row between documents is clean; only the last tail row is not.
  const Built bt = padded3();
  const Batch& b = bt.c.batch;
  ASSERT_EQ(k_p3_pad_q_tail, b.total_q - 1);
  ASSERT_EQ(k_p3_pad_kv_tail, b.total_kv - 1);
  const auto ref = reference::attention<float>(b, bt.c.inputs, true);
  {
    Results<float> r = ref;
    r.out.back() = 0.5f;
    const ExactCheck c = check_padding_zero(b, r);
    EXPECT_FALSE(c.pass);
    EXPECT_TRUE(contains(c.message, "out[" + std::to_string(r.out.size() - 1) + "]"));
    EXPECT_TRUE(contains(c.message, "padding row " + std::to_string(k_p3_pad_q_tail) + ";"));
  }
  {
    Results<float> r = ref;
    r.dv.back() = -0.5f;
    const ExactCheck c = check_padding_zero(b, r);
    EXPECT_FALSE(c.pass);
    EXPECT_TRUE(contains(c.message, "dv[" + std::to_string(r.dv.size() - 1) + "]"));
    EXPECT_TRUE(contains(c.message, "padding row " + std::to_string(k_p3_pad_kv_tail) + ";"));
  }
  {
    Results<float> r = ref;
    r.lse.back() = 1.0f;  // head Hq-1, last row
    const ExactCheck c = check_padding_zero(b, r);
    EXPECT_FALSE(c.pass);
    EXPECT_TRUE(contains(c.message, "lse[" + std::to_string(r.lse.size() - 1) + "]"));
    EXPECT_TRUE(contains(c.message, "padding row " + std::to_string(k_p3_pad_q_tail) + ";"));
  }
}

TEST(CheckPaddingZero, ARealRowIsNotPadding) {
  // A nonzero real row (any real output) is not a padding violation.
  const Built bt = padded3();
  const Batch& b = bt.c.batch;
  auto r = reference::attention<float>(b, bt.c.inputs, true);
  r.out[tok(k_p3_doc1_q_row, 0, 0, b.num_heads_q, b.head_dim_v)] = k_nanf;
  r.lse[lse_at(b, k_p3_doc1_q_row, 0)] = k_nanf;
  EXPECT_TRUE(check_padding_zero(b, r).pass);
}

// ---------------------------------------------------------------------------
// check_all_written

TEST(CheckAllWritten, PoisonIsAQuietNaNWithItsOwnBits) {
  EXPECT_TRUE(std::isnan(output_poison()));
  EXPECT_TRUE(is_output_poison(output_poison()));
  EXPECT_FALSE(is_output_poison(k_nanf));
  EXPECT_FALSE(is_output_poison(std::bit_cast<float>(k_output_poison_bits + 1)));
  EXPECT_FALSE(is_output_poison(0.0f));
}

TEST(CheckAllWritten, PassesWhenAllWritten) {
  const Built bt = padded3();
  for (bool grads : {false, true}) {
    const auto r = reference::attention<float>(bt.c.batch, bt.c.inputs, grads);
    EXPECT_TRUE(check_all_written(r).pass);
    // Through the registry: buffers arrive poisoned and reference-f32 writes them all.
    const auto w =
        run_implementation(builtin_registry().find("reference-f32"), bt.c, grads);
    EXPECT_TRUE(check_all_written(w).pass) << check_all_written(w).message;
  }
  // Any other NaN was written (by someone): not the poison.
  auto r = reference::attention<float>(bt.c.batch, bt.c.inputs, true);
  r.out[0] = k_nanf;
  r.dk[3] = std::bit_cast<float>(k_output_poison_bits ^ 1u);
  EXPECT_TRUE(check_all_written(r).pass);
}

TEST(CheckAllWritten, OnePoisonedElementFails) {
  const Built bt = padded3();
  const Batch& b = bt.c.batch;
  const auto ref = reference::attention<float>(b, bt.c.inputs, true);
  struct Spot {
    const char* name;
    TensorField field;
    std::size_t e;
  };
  const Spot spots[] = {
      // a real row
      {"out", &Results<float>::out, tok(k_p3_doc1_q_row, 2, 5, b.num_heads_q, b.head_dim_v)},
      {"dq", &Results<float>::dq, tok(0, 0, 0, b.num_heads_q, b.head_dim)},
      {"lse", &Results<float>::lse, lse_at(b, k_p3_doc1_q_row, 3)},
      // a padding row
      {"out", &Results<float>::out, tok(k_p3_pad_q_between, 0, 0, b.num_heads_q, b.head_dim_v)},
      {"lse", &Results<float>::lse, lse_at(b, k_p3_pad_q_tail, 1)},
      {"dv", &Results<float>::dv, tok(k_p3_pad_kv_tail, 1, 7, b.num_heads_kv, b.head_dim_v)},
      {"dk", &Results<float>::dk, tok(k_p3_pad_kv_between, 0, 3, b.num_heads_kv, b.head_dim)},
  };
  for (const Spot& s : spots) {
    Results<float> r = ref;
    (r.*s.field)[s.e] = output_poison();
    const ExactCheck c = check_all_written(r);
    EXPECT_FALSE(c.pass) << s.name << "[" << s.e << "]";
    EXPECT_EQ(c.index, std::int64_t(s.e));
    EXPECT_TRUE(contains(c.message, std::string(s.name) + "[" + std::to_string(s.e) + "]"));
    EXPECT_TRUE(contains(c.message, "never written"));
  }
}

TEST(CheckAllWritten, AnImplementationThatWritesNothingFails) {
  const Built bt = padded3();
  const Implementation idle{.name = "idle", .device = "cpu", .description = "writes nothing",
                            .caps = Capabilities{},
                            .run = [](const Case&, bool, Results<float>&) {},
                            .stats = {}};
  const ExactCheck c = check_all_written(run_implementation(idle, bt.c, true));
  EXPECT_FALSE(c.pass);
  EXPECT_EQ(c.index, 0);
  EXPECT_TRUE(contains(c.message, "out[0]"));
}

// ---------------------------------------------------------------------------
// check_bitwise_equal

TEST(CheckBitwiseEqual, EqualBitsPass) {
  const float nan_a = std::bit_cast<float>(0x7FC00123u);
  const std::vector<float> a{1.0f, -0.0f, nan_a, k_inff, 1e-45f};
  EXPECT_TRUE(check_bitwise_equal("x", a, a).pass);
  EXPECT_TRUE(check_bitwise_equal("x", {}, {}).pass);
}

TEST(CheckBitwiseEqual, DistinguishesWhatValueComparisonDoesNot) {
  struct Pair {
    const char* what;
    float a, b;
  };
  const Pair pairs[] = {
      {"+0 vs -0", 0.0f, -0.0f},
      {"NaN payloads", std::bit_cast<float>(0x7FC00000u), std::bit_cast<float>(0x7FC00001u)},
      {"NaN sign", std::bit_cast<float>(0x7FC00000u), std::bit_cast<float>(0xFFC00000u)},
      {"one ulp at 1", 1.0f, std::nextafter(1.0f, 2.0f)},
      {"one ulp at -3.7", -3.7f, std::nextafter(-3.7f, 0.0f)},
      {"one ulp at 0", 0.0f, std::nextafter(0.0f, 1.0f)},
      {"one ulp below inf", k_inff, std::nextafter(k_inff, 0.0f)},
  };
  for (const Pair& p : pairs) {
    const std::vector<float> a{0.25f, 0.5f, p.a, 2.0f};
    std::vector<float> b = a;
    b[2] = p.b;
    const ExactCheck c = check_bitwise_equal("dq", a, b);
    EXPECT_FALSE(c.pass) << p.what;
    EXPECT_EQ(c.index, 2) << p.what;
    EXPECT_TRUE(contains(c.message, "dq[2] differs")) << p.what;
  }
}

TEST(CheckBitwiseEqual, RespectsTheMask) {
  const std::vector<float> a{1.0f, 2.0f, 3.0f, 4.0f};
  const std::vector<float> b{1.0f, -2.0f, 3.0f, std::nextafter(4.0f, 5.0f)};
  // Differences at 1 and 3: masked out -> pass.
  EXPECT_TRUE(check_bitwise_equal("out", a, b, {true, false, true, false}).pass);
  // Element 3 selected -> fails there (element 1 still masked out).
  const ExactCheck c = check_bitwise_equal("out", a, b, {true, false, true, true});
  EXPECT_FALSE(c.pass);
  EXPECT_EQ(c.index, 3);
  EXPECT_TRUE(contains(c.message, "out[3]"));
  // Empty mask: every element is compared; the first difference is named.
  const ExactCheck all = check_bitwise_equal("out", a, b);
  EXPECT_FALSE(all.pass);
  EXPECT_EQ(all.index, 1);
}

TEST(CheckBitwiseEqual, SizeMismatchFails) {
  const ExactCheck c = check_bitwise_equal("lse", std::vector<float>{1.0f},
                                           std::vector<float>{1.0f, 2.0f});
  EXPECT_FALSE(c.pass);
  EXPECT_TRUE(contains(c.message, "lse: sizes differ"));
}

// ---------------------------------------------------------------------------
// Properties: fake implementations with planted bugs.

void copy_results(const Results<float>& src, bool grads, Results<float>& dst) {
  std::copy(src.out.begin(), src.out.end(), dst.out.begin());
  std::copy(src.lse.begin(), src.lse.end(), dst.lse.begin());
  if (grads) {
    std::copy(src.dq.begin(), src.dq.end(), dst.dq.begin());
    std::copy(src.dk.begin(), src.dk.end(), dst.dk.begin());
    std::copy(src.dv.begin(), src.dv.end(), dst.dv.begin());
  }
}

Results<float> ref32(const Case& c, bool grads) {
  return reference::attention<float>(c.batch, c.inputs, grads);
}

Implementation fake(std::string name, RunFn run, Capabilities caps = {}) {
  return Implementation{.name = std::move(name), .device = "cpu",
                        .description = "test double", .caps = std::move(caps),
                        .run = std::move(run),
                        .stats = {}};
}

// The correct implementation: the reference in float32.
void run_correct(const Case& c, bool grads, Results<float>& out) {
  copy_results(ref32(c, grads), grads, out);
}

int first_padding_row(const std::vector<bool>& real) {
  for (std::size_t r = 0; r < real.size(); ++r) {
    if (!real[r]) return int(r);
  }
  return -1;
}

// (a) Leaves the first padding row of O unwritten.
void run_skips_padding_row(const Case& c, bool grads, Results<float>& out) {
  const Batch& b = c.batch;
  Results<float> r = ref32(c, grads);
  const std::size_t skip = std::size_t(first_padding_row(b.real_q_rows()));
  const std::size_t w = std::size_t(b.num_heads_q) * std::size_t(b.head_dim_v);
  // Keep whatever the buffer held in that row: it is never written.
  std::copy_n(out.out.begin() + std::ptrdiff_t(skip * w), w,
              r.out.begin() + std::ptrdiff_t(skip * w));
  copy_results(r, grads, out);
}

// (b) Writes 1.0 into every padding row of O.
void run_garbage_padding(const Case& c, bool grads, Results<float>& out) {
  const Batch& b = c.batch;
  run_correct(c, grads, out);
  const auto real = b.real_q_rows();
  const std::size_t w = std::size_t(b.num_heads_q) * std::size_t(b.head_dim_v);
  for (std::size_t e = 0; e < out.out.size(); ++e) {
    if (!real[e / w]) out.out[e] = 1.0f;
  }
}

// (c) Reads the first padding row of K into O.
void run_reads_padding_k(const Case& c, bool grads, Results<float>& out) {
  const Batch& b = c.batch;
  run_correct(c, grads, out);
  const int row = first_padding_row(b.real_kv_rows());
  const float k = c.inputs.k[tok(row, 0, 0, b.num_heads_kv, b.head_dim)];
  out.out[0] += 1e-3f * k;
}

// (d) O of document 0 depends on the first value of the last document.
void run_leaks_last_doc(const Case& c, bool grads, Results<float>& out) {
  const Batch& b = c.batch;
  run_correct(c, grads, out);
  const int last = b.num_seqs() - 1;
  const float v = c.inputs.v[tok(b.kv_start(last), 0, 0, b.num_heads_kv, b.head_dim_v)];
  const std::size_t w = std::size_t(b.num_heads_q) * std::size_t(b.head_dim_v);
  for (int row = b.q_start(0); row < b.q_start(0) + b.q_len(0); ++row) {
    out.out[std::size_t(row) * w] += 1e-3f * v;
  }
}

// (e) 1% error on one element of O (the largest of the first real row).
void run_forward_off(const Case& c, bool grads, Results<float>& out) {
  const Batch& b = c.batch;
  run_correct(c, grads, out);
  const std::size_t w = std::size_t(b.num_heads_q) * std::size_t(b.head_dim_v);
  const std::size_t r0 = std::size_t(b.q_start(0)) * w;
  const auto it = std::max_element(out.out.begin() + std::ptrdiff_t(r0),
                                   out.out.begin() + std::ptrdiff_t(r0 + w),
                                   [](float x, float y) { return std::abs(x) < std::abs(y); });
  *it *= 1.01f;
}

// (f) dK scaled by 1.01.
void run_dk_scaled(const Case& c, bool grads, Results<float>& out) {
  run_correct(c, grads, out);
  for (float& x : out.dk) x *= 1.01f;
}

// (g) Every second run moves one output element by one ulp.
void run_nondeterministic(const Case& c, bool grads, Results<float>& out) {
  static int calls = 0;
  run_correct(c, grads, out);
  if (++calls % 2 == 0) out.out[0] = std::nextafter(out.out[0], k_inff);
}

// (h) GQA head mapping h % Hkv instead of h / (Hq / Hkv): run the reference as
// MHA on kv heads gathered with the wrong map, and sum dK/dV back per kv head.
void run_gqa_modulo(const Case& c, bool grads, Results<float>& out) {
  const Batch& b = c.batch;
  const int hq = b.num_heads_q, hkv = b.num_heads_kv, d = b.head_dim, dv = b.head_dim_v;
  Case m = c;
  m.batch.num_heads_kv = hq;
  auto gather = [&](const std::vector<float>& x, int width) {
    std::vector<float> y(std::size_t(b.total_kv) * std::size_t(hq) * std::size_t(width));
    for (int r = 0; r < b.total_kv; ++r) {
      for (int h = 0; h < hq; ++h) {
        for (int e = 0; e < width; ++e) {
          y[tok(r, h, e, hq, width)] = x[tok(r, h % hkv, e, hkv, width)];
        }
      }
    }
    return y;
  };
  m.inputs.k = gather(c.inputs.k, d);
  m.inputs.v = gather(c.inputs.v, dv);
  const Results<float> r = ref32(m, grads);
  Results<float> g = r;
  if (grads) {
    auto scatter = [&](const std::vector<float>& x, int width) {
      std::vector<float> y(std::size_t(b.total_kv) * std::size_t(hkv) * std::size_t(width), 0.0f);
      for (int row = 0; row < b.total_kv; ++row) {
        for (int h = 0; h < hq; ++h) {
          for (int e = 0; e < width; ++e) {
            y[tok(row, h % hkv, e, hkv, width)] += x[tok(row, h, e, hq, width)];
          }
        }
      }
      return y;
    };
    g.dk = scatter(r.dk, d);
    g.dv = scatter(r.dv, dv);
  }
  copy_results(g, grads, out);
}

// (i) Ignores cu_seqlens_*_padded: treats the batch as tightly packed.
void run_ignores_padded_offsets(const Case& c, bool grads, Results<float>& out) {
  Case u = c;
  u.batch.cu_seqlens_q_padded.reset();
  u.batch.cu_seqlens_kv_padded.reset();
  copy_results(ref32(u, grads), grads, out);
}

std::string show(const Outcome& o) {
  const char* s = o.status == Status::Pass ? "pass" : o.status == Status::Fail ? "FAIL" : "skip";
  return std::string(s) + ": " + o.message;
}

void expect_fails(PropertyId p, const Implementation& impl, const Case& c,
                  const std::string& says = "") {
  const Outcome o = props::evaluate(p, impl, c);
  EXPECT_EQ(o.status, Status::Fail) << impl.name << ": " << show(o);
  if (!says.empty()) {
    EXPECT_TRUE(contains(o.message, says)) << impl.name;
  }
}

TEST(PropertyBugs, CorrectImplementationPassesEveryProperty) {
  const Implementation good = fake("correct", run_correct);
  for (const Built& bt : {padded3(), padded3(DType::BFloat16, 3), causal_cross()}) {
    for (const auto& info : props::all_properties()) {
      if (info.id == PropertyId::Sharding) continue;  // single-device: no P8
      const Outcome o = props::evaluate(info.id, good, bt.c);
      EXPECT_EQ(o.status, Status::Pass) << info.code << " " << bt.c.batch.describe() << " "
                                        << show(o);
    }
  }
}

TEST(PropertyBugs, UnwrittenPaddingRowFailsAllWritten) {
  const Built bt = padded3();
  const Batch& b = bt.c.batch;
  const Implementation bad = fake("skips-padding-row", run_skips_padding_row);
  const std::size_t e = tok(k_p3_pad_q_between, 0, 0, b.num_heads_q, b.head_dim_v);
  expect_fails(PropertyId::AllWritten, bad, bt.c, "out[" + std::to_string(e) + "]");
}

TEST(PropertyBugs, GarbageInPaddingRowsFailsPaddingZero) {
  const Built bt = padded3();
  const Implementation bad = fake("garbage-padding", run_garbage_padding);
  expect_fails(PropertyId::PaddingZero, bad, bt.c,
               "padding row " + std::to_string(k_p3_pad_q_between) + ";");
  // Real rows are right and everything is written.
  EXPECT_EQ(props::evaluate(PropertyId::Forward, bad, bt.c).status, Status::Pass);
  EXPECT_EQ(props::evaluate(PropertyId::AllWritten, bad, bt.c).status, Status::Pass);
}

TEST(PropertyBugs, ReadingPaddingKFailsPoison) {
  const Built bt = padded3();
  const Implementation bad = fake("reads-padding-k", run_reads_padding_k);
  expect_fails(PropertyId::Poison, bad, bt.c, "poisoned padding rows changed a real output");
}

TEST(PropertyBugs, CrossDocumentLeakFailsIsolation) {
  const Built bt = padded3();
  ASSERT_EQ(bt.c.seed % 3, 0u) << "P5 must target document 0";
  const Implementation bad = fake("leaks-last-doc", run_leaks_last_doc);
  expect_fails(PropertyId::Isolation, bad, bt.c, "document 0 changed");
}

TEST(PropertyBugs, OnePercentForwardErrorFailsForward) {
  const Built bt = padded3();
  const Implementation bad = fake("forward-off", run_forward_off);
  expect_fails(PropertyId::Forward, bad, bt.c, "out: error");
  EXPECT_EQ(props::evaluate(PropertyId::Backward, bad, bt.c).status, Status::Pass);
}

TEST(PropertyBugs, ScaledDkFailsBackward) {
  const Built bt = padded3();
  const Implementation bad = fake("dk-scaled", run_dk_scaled);
  expect_fails(PropertyId::Backward, bad, bt.c, "dk: error");
  EXPECT_EQ(props::evaluate(PropertyId::Forward, bad, bt.c).status, Status::Pass);
}

TEST(PropertyBugs, NondeterminismFailsDeterminism) {
  const Built bt = padded3();
  const Implementation bad = fake("nondeterministic", run_nondeterministic);
  expect_fails(PropertyId::Determinism, bad, bt.c, "two runs differ");
  // Declared non-deterministic: skipped with the reason.
  Capabilities caps;
  caps.deterministic = false;
  const Outcome o =
      props::evaluate(PropertyId::Determinism, fake("declared", run_nondeterministic, caps), bt.c);
  EXPECT_EQ(o.status, Status::Skip);
  EXPECT_TRUE(contains(o.message, "non-deterministic"));
}

TEST(PropertyBugs, WrongGqaHeadMapFailsForwardAndGqaMha) {
  const Built bt = padded3();
  ASSERT_GE(bt.c.batch.num_heads_kv, 2);
  ASSERT_GE(bt.c.batch.group_size(), 2);
  const Implementation bad = fake("gqa-modulo", run_gqa_modulo);
  expect_fails(PropertyId::Forward, bad, bt.c);
  expect_fails(PropertyId::GqaMha, bad, bt.c, "GQA differs from MHA");
  // The same implementation is right on MHA, where both maps agree.
  const Case mha = props::repeat_kv_heads(bt.c);
  EXPECT_EQ(props::evaluate(PropertyId::Forward, bad, mha).status, Status::Pass);
  EXPECT_EQ(props::evaluate(PropertyId::Backward, bad, mha).status, Status::Pass);
}

TEST(PropertyBugs, IgnoringPaddedOffsetsFailsForward) {
  const Built bt = padded3();
  const Implementation bad = fake("ignores-padded", run_ignores_padded_offsets);
  expect_fails(PropertyId::Forward, bad, bt.c);
  // Without padding the bug is invisible.
  const Built tight = build({.docs = {{5, 5, 0, 0}, {3, 3, 0, 0}, {4, 4, 0, 0}}});
  EXPECT_EQ(props::evaluate(PropertyId::Forward, bad, tight.c).status, Status::Pass);
}

TEST(PropertyBugs, UnsupportedDtypeIsSkippedNamingIt) {
  const Built bt = padded3(DType::BFloat16);
  Capabilities caps;
  caps.dtypes = {DType::Float32, DType::Float16};
  int calls = 0;
  const Implementation no_bf16 = fake(
      "no-bf16",
      [&calls](const Case& c, bool grads, Results<float>& out) {
        ++calls;
        run_correct(c, grads, out);
      },
      caps);
  for (const auto& info : props::all_properties()) {
    const Outcome o = props::evaluate(info.id, no_bf16, bt.c);
    EXPECT_EQ(o.status, Status::Skip) << info.code << " " << show(o);
    EXPECT_TRUE(contains(o.message, "bfloat16")) << info.code;
  }
  EXPECT_EQ(calls, 0);
  // The same implementation runs float16.
  EXPECT_EQ(props::evaluate(PropertyId::Forward, no_bf16, padded3(DType::Float16).c).status,
            Status::Pass);
}

}  // namespace
}  // namespace attncheck
