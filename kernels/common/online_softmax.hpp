// Online softmax (FlashAttention-2) for one query row, in float32.
//
// Over key tiles, with running max m, running sum l and unnormalized output O:
//   m_new = max(m, max_j s_j)
//   alpha = exp(m - m_new)                       (0 when m = -inf: nothing seen yet)
//   l     = alpha * l + sum_j exp(s_j - m_new)
//   O     = alpha * O + sum_j exp(s_j - m_new) v_j
// At the end: O / l, and LSE = m + log(l). If the row saw no key, m stays -inf:
// O = 0 and LSE = -inf, never -inf - -inf = NaN.
#pragma once

#include <math.h>

#include "kernels/common/host_device.hpp"

namespace attncheck::kernels {

struct OnlineSoftmax {
  float m = -INFINITY;  // running max of the scaled scores
  float l = 0.0f;       // running sum of exp(s - m)

  // Takes the tile's max score; returns the factor alpha for O and l.
  ATTNCHECK_HD float rescale(float tile_max) {
    const float m_new = fmaxf(m, tile_max);
    // If every score so far is -inf, keep alpha = 0 rather than exp(NaN).
    const float alpha = m_new == -INFINITY ? 1.0f : expf(m - m_new);
    m = m_new;
    l *= alpha;
    return alpha;
  }
  // exp(s - m) for a score of the current tile (0 for a masked -inf score).
  ATTNCHECK_HD float prob(float s) const { return m == -INFINITY ? 0.0f : expf(s - m); }
  ATTNCHECK_HD bool empty() const { return m == -INFINITY || l == 0.0f; }
  ATTNCHECK_HD float inv_sum() const { return empty() ? 0.0f : 1.0f / l; }
  ATTNCHECK_HD float lse() const { return empty() ? -INFINITY : m + logf(l); }
};

}  // namespace attncheck::kernels
