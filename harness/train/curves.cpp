#include "harness/train/curves.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace attncheck::train {

double loss_bound(int step, double ref) {
  return (k_loss_abs + k_loss_rel * std::abs(ref)) * (1.0 + double(step) / k_loss_growth_steps);
}

CurveVerdict compare_curve(std::span<const double> ref, std::span<const double> got) {
  CurveVerdict v;
  if (ref.size() != got.size()) {
    v.max_abs_diff = std::numeric_limits<double>::quiet_NaN();
    v.message = fmt::format("{} steps, the reference has {}", got.size(), ref.size());
    return v;
  }
  v.pass = true;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double diff = std::abs(got[i] - ref[i]);
    const double bound = loss_bound(int(i), ref[i]);
    if (!(diff <= bound)) {
      if (v.pass) {
        v.message = fmt::format("step {}: loss {:.6f}, reference {:.6f}: |diff| {:.3g} > bound {:.3g}",
                                i, got[i], ref[i], diff, bound);
      }
      v.pass = false;
    }
    if (std::isnan(diff)) {
      // NaN wins over any number: the curve is unusable from here on.
      if (!std::isnan(v.max_abs_diff)) v.worst_step = int(i);
      v.max_abs_diff = v.worst_ratio = diff;
      continue;
    }
    if (std::isnan(v.max_abs_diff)) continue;
    v.max_abs_diff = std::max(v.max_abs_diff, diff);
    if (diff / bound > v.worst_ratio) {
      v.worst_ratio = diff / bound;
      v.worst_step = int(i);
    }
  }
  return v;
}

std::string bound_description() {
  return fmt::format("|loss - reference| <= ({:g} + {:g} * |reference|) * (1 + step / {:g}) at every "
                     "step",
                     k_loss_abs, k_loss_rel, k_loss_growth_steps);
}

}  // namespace attncheck::train
