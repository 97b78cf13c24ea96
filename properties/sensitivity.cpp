#include "properties/sensitivity.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "harness/compare.hpp"
#include "harness/error.hpp"
#include "properties/properties.hpp"
#include "reference/attention.hpp"
#include "reference/baseline.hpp"

namespace attncheck::props {

namespace {

template <typename T>
const std::vector<T>& tensor_of(const Results<T>& r, const std::string& t) {
  if (t == "out") return r.out;
  if (t == "lse") return r.lse;
  if (t == "dq") return r.dq;
  if (t == "dk") return r.dk;
  if (t == "dv") return r.dv;
  throw Error(ErrorKind::Usage, "sensitivity", -1, "unknown tensor '" + t + "'");
}

bool forward_tensor(const std::string& t) { return t == "out" || t == "lse"; }

// Everything one tensor's calibrated check needs, fixed across the bisection.
struct TensorJudge {
  std::string name;
  std::vector<float> got;
  std::span<const double> ref, mag, rounded;
  std::span<const float> base;
  std::vector<bool> mask;
  double rtol = 0, dtype_roundoff = 0, dtype_steps = 0;
  Slack slack;

  bool floors = true;  // false: rtol * baseline error alone (FA2's rule)

  TensorCheck check() const {
    if (!floors) {
      const std::vector<double> none;
      TensorCheck c = compare_calibrated(name, got, ref, none, none, base, mask, rtol, 0.0, {}, slack);
      c.pass = c.err <= rtol * c.base_err;
      return c;
    }
    return compare_calibrated(name, got, ref, mag, rounded, base, mask, rtol, dtype_roundoff, {}, slack,
                              dtype_steps);
  }
};

struct Prepared {
  reference::Oracle ref;
  Results<float> base;
};

TensorJudge judge_for(const Implementation& impl, const Case& c, const Prepared& p,
                      const Results<float>& got, const std::string& t) {
  const Batch& b = c.batch;
  TensorJudge j;
  j.name = t;
  j.got = tensor_of(got, t);
  j.ref = tensor_of(p.ref.value, t);
  j.mag = tensor_of(p.ref.magnitude.terms, t);
  j.rounded = tensor_of(p.ref.magnitude.rounded, t);
  j.base = tensor_of(p.base, t);
  const bool kv = t == "dk" || t == "dv";
  j.mask = element_mask(kv ? b.real_kv_rows() : b.real_q_rows(), j.ref.size(),
                        t == "lse" ? Layout::HeadMajor : Layout::TokenMajor);
  // The same constants as compare_forward / compare_backward.
  j.rtol = forward_tensor(t) ? k_rtol_forward : k_rtol_backward;
  j.dtype_steps = forward_tensor(t) ? k_steps_forward : k_steps_backward;
  j.dtype_roundoff = t == "lse" ? 0.0 : unit_roundoff(b.dtype);
  j.slack = calibrated_slack(impl);
  return j;
}

// Smallest e (relative to `scale`) at which
// the check of `j` with element `elem` moved by sign * e * scale fails;
// bisected in log space (the verdict is monotone in e: it passes at 0).
double bisect_flip(TensorJudge j, std::int64_t elem, int sign, double scale) {
  const std::size_t e = std::size_t(elem);
  const double x0 = j.got[e];
  auto fails = [&](double rel) {
    j.got[e] = float(x0 + sign * rel * scale);
    return !j.check().pass;
  };
  double lo = 1e-12, hi = 1e3;
  if (fails(lo)) return lo;
  if (!fails(hi)) return std::numeric_limits<double>::infinity();
  for (int i = 0; i < 40; ++i) {
    const double mid = std::sqrt(lo * hi);
    (fails(mid) ? hi : lo) = mid;
    if (hi / lo < 1.0 + 1e-4) break;
  }
  return hi;
}

// The fraction of one floor (Slack::dtype or Slack::gamma) the unchanged
// output needs: the smallest multiple of it with which the check still
// passes (0: passes without it), bisected.
double floor_use(TensorJudge j, double Slack::*floor) {
  const double full = j.slack.*floor;
  if (full <= 0.0) return 0.0;
  auto passes = [&](double f) {
    j.slack.*floor = f * full;
    return j.check().pass;
  };
  if (passes(0.0)) return 0.0;
  double lo = 0.0, hi = 1.0;
  for (int i = 0; i < 30; ++i) {
    const double mid = 0.5 * (lo + hi);
    (passes(mid) ? hi : lo) = mid;
  }
  return hi;
}

// The q-quantile of v (nearest rank); 0 when empty.
double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t k = std::size_t(std::ceil(q * double(v.size())));
  return v[std::min(v.size() - 1, k == 0 ? 0 : k - 1)];
}
double median(const std::vector<double>& v) { return quantile(v, 0.5); }

// The element of largest |X| over real, finite reference elements (-1: none).
std::int64_t largest_element(const TensorJudge& j, double* scale) {
  std::int64_t at = -1;
  *scale = 0.0;
  for (std::size_t e = 0; e < j.ref.size(); ++e) {
    if (!j.mask[e] || !std::isfinite(j.ref[e])) continue;
    if (at < 0 || std::abs(j.ref[e]) > *scale) {
      *scale = std::abs(j.ref[e]);
      at = std::int64_t(e);
    }
  }
  return *scale > 0 ? at : -1;
}

}  // namespace

double flip_point(const Implementation& impl, const Case& c, const Results<float>& got,
                  const std::string& tensor, std::int64_t elem, int sign) {
  const Prepared p{reference::oracle(c.batch, c.inputs, !forward_tensor(tensor)),
                   reference::baseline(c.batch, c.inputs, !forward_tensor(tensor))};
  const TensorJudge j = judge_for(impl, c, p, got, tensor);
  double scale = 0.0;
  largest_element(j, &scale);
  return bisect_flip(j, elem, sign, scale);
}

std::vector<SensitivityRow> measure_sensitivity(const Implementation& impl,
                                                const SensitivityOptions& o) {
  std::vector<std::string> tensors{"out"};
  if (impl.caps.lse) tensors.push_back("lse");
  const bool grads = impl.caps.backward;
  if (grads) tensors.insert(tensors.end(), {"dq", "dk", "dv"});
  std::vector<SensitivityRow> rows;
  for (const DType dt : o.dtypes) {
    gen::GenOptions g = o.gen;
    g.dtypes = {dt};
    std::vector<SensitivityRow> part(tensors.size());
    std::vector<std::vector<double>> flips(tensors.size()), bases(tensors.size()),
        ratios(tensors.size()), rule_ratios(tensors.size());
    for (std::size_t t = 0; t < tensors.size(); ++t) {
      part[t].dtype = dt;
      part[t].tensor = tensors[t];
      part[t].property = forward_tensor(tensors[t]) ? "P1" : "P2";
    }
    for (int i = 0; i < o.cases; ++i) {
      const rc::Random key(o.seed * 1000003u + std::uint64_t(i));
      // Sizes spread over RapidCheck's 0..100 as a property run's are.
      const int size = o.cases > 1 ? int(std::int64_t(i) * 100 / (o.cases - 1)) : 100;
      const Case c = gen::build_case(gen::case_spec(g)(key, size).value());
      if (skip_reason(impl, c.batch)) continue;
      const Prepared p{reference::oracle(c.batch, c.inputs, grads),
                       reference::baseline(c.batch, c.inputs, grads)};
      const Results<float> got = run_implementation(impl, c, grads);
      for (std::size_t t = 0; t < tensors.size(); ++t) {
        const TensorJudge j = judge_for(impl, c, p, got, tensors[t]);
        const TensorCheck unchanged = j.check();
        if (!unchanged.pass) {
          ++part[t].false_alarms;
          if (part[t].alarm_examples.size() < 3) {
            part[t].alarm_examples.push_back(fmt::format("case {}: {}", i, unchanged.message));
          }
          continue;
        }
        if (j.dtype_roundoff > 0.0) {
          part[t].dtype_floor_use = std::max(part[t].dtype_floor_use, floor_use(j, &Slack::dtype));
        }
        part[t].gamma_floor_use = std::max(part[t].gamma_floor_use, floor_use(j, &Slack::gamma));
        double scale = 0.0;
        const std::int64_t at = largest_element(j, &scale);
        if (at < 0) continue;
        if (unchanged.base_err == 0.0) {
          ++part[t].exact_baseline;
          continue;
        }
        const double flip = std::max(bisect_flip(j, at, +1, scale), bisect_flip(j, at, -1, scale));
        const double base = unchanged.base_err / scale;
        TensorJudge rule = j;
        rule.floors = false;
        // FA2's rule on the same injection (only where the unchanged output
        // meets it: where it does not, that rule alone is a false alarm).
        if (rule.check().pass) {
          const double f =
              std::max(bisect_flip(rule, at, +1, scale), bisect_flip(rule, at, -1, scale));
          rule_ratios[t].push_back(f / base);
        } else {
          ++part[t].rule_alarms;
        }
        flips[t].push_back(flip);
        bases[t].push_back(base);
        ratios[t].push_back(flip / base);
        ++part[t].cases;
      }
    }
    for (std::size_t t = 0; t < tensors.size(); ++t) {
      SensitivityRow& r = part[t];
      r.flip_median = median(flips[t]);
      r.base_median = median(bases[t]);
      r.ratio_median = median(ratios[t]);
      r.rule_ratio_median = median(rule_ratios[t]);
      for (double v : flips[t]) r.flip_max = std::max(r.flip_max, v);
      for (double v : bases[t]) r.base_max = std::max(r.base_max, v);
      r.ratio_p90 = quantile(ratios[t], 0.9);
      rows.push_back(r);
    }
  }
  return rows;
}

}  // namespace attncheck::props
