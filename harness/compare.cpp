#include "harness/compare.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace attncheck {


std::vector<bool> element_mask(const std::vector<bool>& real_rows, std::size_t elems,
                               Layout layout) {
  std::vector<bool> m(elems, false);
  const std::size_t rows = real_rows.size();
  if (rows == 0) return m;
  const std::size_t per_row = elems / rows;
  for (std::size_t e = 0; e < elems; ++e) {
    m[e] = layout == Layout::TokenMajor ? real_rows[e / per_row] : real_rows[e % rows];
  }
  return m;
}

double faithful_step(double ref, double dtype_roundoff) {
  if (dtype_roundoff <= 0.0 || ref == 0.0) return 0.0;
  int exp = 0;
  std::frexp(ref, &exp);  // |ref| in [2^(exp-1), 2^exp)
  return std::ldexp(2.0 * dtype_roundoff, exp - 1);
}

TensorCheck compare_calibrated(const std::string& name, std::span<const float> impl,
                               std::span<const double> ref, std::span<const double> mag,
                               std::span<const double> rounded,
                               std::span<const float> base, const std::vector<bool>& mask,
                               double rtol, double dtype_roundoff,
                               std::span<const double> base_ref, Slack slack,
                               double dtype_steps) {
  TensorCheck c;
  if (base_ref.empty()) base_ref = ref;
  if (rounded.empty()) rounded = mag;
  c.tensor = name;
  if (impl.size() != ref.size() || base.size() != ref.size() || mask.size() != ref.size() ||
      (!mag.empty() && mag.size() != ref.size()) || rounded.size() != mag.size() ||
      base_ref.size() != ref.size()) {
    c.pass = false;
    c.ratio = std::numeric_limits<double>::infinity();
    c.message = fmt::format("{}: size mismatch (impl {}, reference {}, baseline {})", name,
                            impl.size(), ref.size(), base.size());
    return c;
  }
  double max_ref = 0.0;
  for (std::size_t e = 0; e < ref.size(); ++e) {
    if (!mask[e] || !std::isfinite(ref[e])) continue;
    max_ref = std::max(max_ref, std::abs(ref[e]));
    if (std::isfinite(base_ref[e])) {
      c.base_err = std::max(c.base_err, std::abs(double(base[e]) - base_ref[e]));
    }
  }
  const double rtol_bound = rtol * c.base_err;
  const double tensor_floor = k_eps_f32 * max_ref + k_flt_min;
  const double per_terms = k_eps_f32 * slack.gamma;
  const double per_rounded = slack.dtype * dtype_roundoff;
  // Stored in bfloat16/float16 (u above float32's): the larger of the
  // baseline term and the floors; float32 (LSE in every dtype, every tensor
  // of a float32 case): their sum (compare.hpp).
  const bool sixteen_bit = dtype_roundoff > k_eps_f32;
  for (std::size_t e = 0; e < ref.size(); ++e) {
    if (!mask[e]) continue;
    const double x = impl[e];
    if (std::isinf(ref[e])) {
      // -inf in the reference (a row that sees no key): exact match required.
      if (x != ref[e]) {
        c.pass = false;
        c.worst = std::int64_t(e);
        c.ratio = std::numeric_limits<double>::infinity();
        c.message = fmt::format("{}[{}] = {} but the reference is {} (row sees no key)", name, e,
                                x, ref[e]);
        return c;
      }
      continue;
    }
    if (!std::isfinite(x)) {
      c.pass = false;
      c.worst = std::int64_t(e);
      c.err = c.ratio = std::numeric_limits<double>::infinity();
      c.message = fmt::format("{}[{}] = {} (reference {:.9g}); NaN/Inf never passes", name, e, x,
                              ref[e]);
      return c;
    }
    const double err = std::abs(x - ref[e]);
    const double floor = tensor_floor + dtype_steps * faithful_step(ref[e], dtype_roundoff) +
                         (mag.empty() ? 0.0 : per_terms * mag[e] + per_rounded * rounded[e]);
    const double bound = sixteen_bit ? std::max(rtol_bound, floor) : rtol_bound + floor;
    const double ratio = bound > 0 ? err / bound
                                   : (err > 0 ? std::numeric_limits<double>::infinity() : 0.0);
    c.err = std::max(c.err, err);
    if (c.worst < 0 || ratio > c.ratio) {
      c.ratio = ratio;
      c.bound = bound;
      c.worst = std::int64_t(e);
    }
  }
  c.pass = c.ratio <= 1.0;
  if (!c.pass) {
    const std::size_t w = std::size_t(c.worst);
    c.message = fmt::format(
        "{}: error {:.3e} at element {} (impl {:.9g}, reference {:.9g}) exceeds its bound {:.3e} "
        "= {} x baseline error {:.3e} + noise floors (ratio {:.3g})",
        name, std::abs(double(impl[w]) - ref[w]), w, impl[w], ref[w], c.bound, rtol, c.base_err,
        c.ratio);
  }
  return c;
}

std::vector<TensorCheck> compare_forward(const Batch& b, const Results<float>& impl,
                                         const Results<double>& ref, const Magnitudes& mag,
                                         const Results<float>& base,
                                         const Results<double>* base_ref, Slack slack) {
  const Results<double>& br = base_ref ? *base_ref : ref;
  const auto rq = b.real_q_rows();
  const double u = unit_roundoff(b.dtype);
  std::vector<TensorCheck> checks{
      compare_calibrated("out", impl.out, ref.out, mag.terms.out, mag.rounded.out, base.out,
                         element_mask(rq, ref.out.size(), Layout::TokenMajor), k_rtol_forward, u, br.out, slack,
                         k_steps_forward)};
  // An implementation that declares no LSE (Capabilities::lse) returns none.
  if (!impl.lse.empty()) {
    // LSE is float32 arithmetic on exact dtype inputs (scores are never
    // rounded to the storage dtype), so it gets no dtype floor.
    checks.push_back(compare_calibrated("lse", impl.lse, ref.lse, mag.terms.lse, mag.rounded.lse, base.lse,
                                        element_mask(rq, ref.lse.size(), Layout::HeadMajor),
                                        k_rtol_forward, 0.0, br.lse, slack));
  }
  return checks;
}

std::vector<TensorCheck> compare_backward(const Batch& b, const Results<float>& impl,
                                          const Results<double>& ref, const Magnitudes& mag,
                                          const Results<float>& base,
                                          const Results<double>* base_ref, Slack slack) {
  const Results<double>& br = base_ref ? *base_ref : ref;
  const auto rq = b.real_q_rows();
  const auto rk = b.real_kv_rows();
  const double u = unit_roundoff(b.dtype);
  return {
      compare_calibrated("dq", impl.dq, ref.dq, mag.terms.dq, mag.rounded.dq, base.dq,
                         element_mask(rq, ref.dq.size(), Layout::TokenMajor), k_rtol_backward, u, br.dq, slack,
                         k_steps_backward),
      compare_calibrated("dk", impl.dk, ref.dk, mag.terms.dk, mag.rounded.dk, base.dk,
                         element_mask(rk, ref.dk.size(), Layout::TokenMajor), k_rtol_backward, u, br.dk, slack,
                         k_steps_backward),
      compare_calibrated("dv", impl.dv, ref.dv, mag.terms.dv, mag.rounded.dv, base.dv,
                         element_mask(rk, ref.dv.size(), Layout::TokenMajor), k_rtol_backward, u, br.dv, slack,
                         k_steps_backward),
  };
}

namespace {

// First element of a padding row that is not `want` (compared by value:
// +0 and -0 are both zero; -inf must be -inf).
ExactCheck padding_rows_equal(const std::string& name, const std::vector<float>& x,
                              const std::vector<bool>& real, Layout layout, float want) {
  ExactCheck c;
  if (x.empty()) return c;
  const auto mask = element_mask(real, x.size(), layout);
  for (std::size_t e = 0; e < x.size(); ++e) {
    if (mask[e] || x[e] == want) continue;
    const std::size_t row = layout == Layout::TokenMajor ? e / (x.size() / real.size())
                                                          : e % real.size();
    c.pass = false;
    c.index = std::int64_t(e);
    c.message = fmt::format("{}[{}] = {} in padding row {}; padding rows must be exactly {}", name,
                            e, x[e], row, want);
    return c;
  }
  return c;
}

}  // namespace

ExactCheck check_padding_zero(const Batch& b, const Results<float>& r) {
  const auto rq = b.real_q_rows();
  const auto rk = b.real_kv_rows();
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (const auto& c : {padding_rows_equal("out", r.out, rq, Layout::TokenMajor, 0.0f),
                        padding_rows_equal("lse", r.lse, rq, Layout::HeadMajor, neg_inf),
                        padding_rows_equal("dq", r.dq, rq, Layout::TokenMajor, 0.0f),
                        padding_rows_equal("dk", r.dk, rk, Layout::TokenMajor, 0.0f),
                        padding_rows_equal("dv", r.dv, rk, Layout::TokenMajor, 0.0f)}) {
    if (!c.pass) return c;
  }
  return {};
}

ExactCheck check_all_written(const Results<float>& r) {
  const std::pair<const char*, const std::vector<float>*> tensors[] = {
      {"out", &r.out}, {"lse", &r.lse}, {"dq", &r.dq}, {"dk", &r.dk}, {"dv", &r.dv}};
  for (const auto& [name, x] : tensors) {
    for (std::size_t e = 0; e < x->size(); ++e) {
      if (is_output_poison((*x)[e])) {
        return {false, fmt::format("{}[{}] was never written (still holds the poison pattern)",
                                   name, e),
                std::int64_t(e)};
      }
    }
  }
  return {};
}

ExactCheck check_bitwise_equal(const std::string& what, std::span<const float> a,
                               std::span<const float> b, const std::vector<bool>& mask) {
  if (a.size() != b.size()) {
    return {false, fmt::format("{}: sizes differ ({} vs {})", what, a.size(), b.size()), -1};
  }
  for (std::size_t e = 0; e < a.size(); ++e) {
    if (!mask.empty() && !mask[e]) continue;
    if (std::bit_cast<std::uint32_t>(a[e]) != std::bit_cast<std::uint32_t>(b[e])) {
      return {false,
              fmt::format("{}[{}] differs: {:.9g} (bits {:08x}) vs {:.9g} (bits {:08x})", what, e,
                          a[e], std::bit_cast<std::uint32_t>(a[e]), b[e],
                          std::bit_cast<std::uint32_t>(b[e])),
              std::int64_t(e)};
    }
  }
  return {};
}

}  // namespace attncheck
