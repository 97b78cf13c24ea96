// The reference's own mask. It shares NOTHING with kernels/ (a bug shared by
// the oracle and the kernel would hide itself, as it once did in CUTLASS).
//
// Query i of a sequence with Lq queries and Lk keys sits at key position
// p = i + Lk - Lq (bottom-right alignment). It sees key j iff
//   causal            : j <= p
//   window (l, r)     : p - l <= j (l >= 0)  and  j <= p + r (r >= 0); -1 = unbounded
//   chunk C           : floor(j / C) == floor(p / C)   (chunks from the document start)
// all of which hold together. causal forces r = 0.
#pragma once

#include <cstdint>

#include "harness/batch.hpp"

namespace attncheck::reference {

// Floor division for a possibly negative numerator (p < 0 when Lq > Lk).
inline std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

inline bool visible(const MaskSpec& m, std::int64_t i, std::int64_t j, std::int64_t lq,
                    std::int64_t lk) {
  const std::int64_t p = i + lk - lq;
  const std::int64_t right = m.causal ? 0 : m.window_right;
  if (right >= 0 && j > p + right) return false;
  if (m.window_left >= 0 && j < p - m.window_left) return false;
  if (m.chunk_size > 0 && floor_div(j, m.chunk_size) != floor_div(p, m.chunk_size)) return false;
  return true;
}

}  // namespace attncheck::reference
