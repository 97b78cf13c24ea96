// Merging partial attention results through their log-sum-exp (ring and
// all-gather sequence parallelism, split-KV decoding).
//
// Two partial results over disjoint key sets, (O_a, lse_a) and (O_b, lse_b),
// each normalized over its own keys, combine exactly into the result over the
// union:
//   lse = log(exp(lse_a) + exp(lse_b)) = m + log(exp(lse_a - m) + exp(lse_b - m)),
//         m = max(lse_a, lse_b)
//   O   = exp(lse_a - lse) O_a + exp(lse_b - lse) O_b
// A part that saw no key has lse = -inf and weight 0. When neither saw a key,
// lse = -inf and both weights are 0 (O = 0), never exp(-inf - -inf) = NaN.
#pragma once

#include <math.h>

#include "kernels/common/host_device.hpp"

namespace attncheck::kernels {

struct LseMerge {
  float lse;       // merged log-sum-exp
  float weight_a;  // exp(lse_a - lse)
  float weight_b;  // exp(lse_b - lse)
};

ATTNCHECK_HD LseMerge merge_lse(float lse_a, float lse_b) {
  const float m = fmaxf(lse_a, lse_b);
  if (m == -INFINITY) return {-INFINITY, 0.0f, 0.0f};
  const float ea = expf(lse_a - m);  // exp(-inf) = 0 for an empty part
  const float eb = expf(lse_b - m);
  const float lse = m + logf(ea + eb);
  return {lse, expf(lse_a - lse), expf(lse_b - lse)};
}

}  // namespace attncheck::kernels
