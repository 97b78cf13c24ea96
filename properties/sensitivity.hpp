// How small an error the calibrated properties catch (P1 on O and LSE, P2 on
// dQ, dK and dV; P8 uses the same rule with the Slack of its cp).
//
// For each generated case, an implementation's own output (which passes) gets
// one element changed by e * max|X| (X the tensor's float64 reference over
// real rows; the element is the one of largest |X|, where a bug costs most),
// and e is bisected, in both directions, until the property's verdict flips.
// The flip point reported is the larger of the two directions: the largest
// single-element error that still passes. Beside it: the same-precision
// baseline's own max error on the same case, also relative to max|X|.
// FA2's rule (error at most 2x the baseline's) puts the flip near 2x the
// baseline's max error; the floors of harness/compare.hpp move it higher.
#pragma once

#include <string>
#include <vector>

#include "harness/registry.hpp"
#include "properties/generators.hpp"

namespace attncheck::props {

struct SensitivityOptions {
  int cases = 100;          // generated cases per dtype
  std::uint64_t seed = 1;
  gen::GenOptions gen;      // dtypes are set per row
  std::vector<DType> dtypes{DType::BFloat16, DType::Float16, DType::Float32};
};

// One case's figures for one tensor (all relative to max|X|).
struct Sensitivity {
  double flip = 0.0;      // smallest injected e that fails, worst direction
  double base_err = 0.0;  // the baseline's max error
};

struct SensitivityRow {
  DType dtype = DType::Float32;
  std::string tensor;       // out, lse, dq, dk, dv
  std::string property;     // P1 or P2
  int cases = 0;            // cases measured (baseline error > 0)
  int exact_baseline = 0;   // cases skipped because the baseline was exact
  int false_alarms = 0;     // cases where the unchanged output already failed
  double flip_median = 0, flip_max = 0;
  double base_median = 0, base_max = 0;
  // flip / base_err per case: median and 90th percentile (the largest is
  // set by cases whose baseline is exact but for a few elements).
  double ratio_median = 0, ratio_p90 = 0;
  // The same injection judged by rtol x baseline error alone (FA2's rule,
  // no floors): its median flip / base_err, and the cases where the
  // unchanged output already fails that rule (it would be a false alarm).
  double rule_ratio_median = 0;
  // The largest fraction of the dtype floor (k_dtype u rnd_e) and of the
  // float32 floor (k_gamma eps mag_e) that the unchanged outputs needed to
  // pass, over the cases: how much margin each floor leaves.
  double dtype_floor_use = 0, gamma_floor_use = 0;
  int rule_alarms = 0;
  // The first false alarms (of the calibrated rule): case index and diagnosis.
  std::vector<std::string> alarm_examples;
};

// The flip point of one tensor of `got` (passing) on case `c`: the verdict
// of the tensor's calibrated check with element `elem` moved by
// `sign * e * max|X|`. Exposed for tests.
double flip_point(const Implementation& impl, const Case& c, const Results<float>& got,
                  const std::string& tensor, std::int64_t elem, int sign);

std::vector<SensitivityRow> measure_sensitivity(const Implementation& impl,
                                                const SensitivityOptions& o);

}  // namespace attncheck::props
