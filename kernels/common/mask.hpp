// The attention mask as a key interval per query row.
//
// Query i of a sequence with Lq queries and Lk keys sits at key position
// p = i + Lk - Lq (bottom-right alignment). It sees the keys j in [lo, hi):
//   hi = min(Lk, p + right + 1)          if right >= 0 (causal: right = 0), else Lk
//   lo = max(0, p - left)                if left >= 0, else 0
//   chunk C: lo = max(lo, C * floor(p / C)), hi = min(hi, C * floor(p / C) + C)
// lo and hi never decrease as i grows, so a tile of rows [m0, m1) sees keys
// [lo(m0), hi(m1 - 1)) and only the rows near its edges need the per-key test.
// An empty interval (hi <= lo) is a row that sees no key: O = 0, LSE = -inf.
#pragma once

#include "kernels/common/host_device.hpp"

namespace attncheck::kernels {

struct KeyRange {
  int lo, hi;
  ATTNCHECK_HD bool empty() const { return hi <= lo; }
  ATTNCHECK_HD bool contains(int j) const { return lo <= j && j < hi; }
};

struct MaskParams {
  bool causal = false;
  int window_left = -1;   // -1 unbounded
  int window_right = -1;  // -1 unbounded; causal forces 0
  int chunk = 0;          // 0: no chunking

  ATTNCHECK_HD KeyRange keys(int i, int lq, int lk) const {
    const int p = i + lk - lq;
    const int right = causal ? 0 : window_right;
    int lo = 0, hi = lk;
    if (right >= 0 && p + right + 1 < hi) hi = p + right + 1;
    if (window_left >= 0 && p - window_left > lo) lo = p - window_left;
    if (chunk > 0) {
      // floor(p / C) for negative p too (p < 0 when Lq > Lk).
      const int first = (p >= 0 ? p / chunk : -((-p + chunk - 1) / chunk)) * chunk;
      if (first > lo) lo = first;
      if (first + chunk < hi) hi = first + chunk;
    }
    return {lo, hi};
  }
};

// Queries [qlo, qhi) of a sequence that see at least one key of [n0, n1):
// the inverse of MaskParams::keys for a kv tile (backward pass). Found by
// binary search over the monotone interval ends.
ATTNCHECK_HD KeyRange queries_seeing(const MaskParams& m, int n0, int n1, int lq, int lk) {
  // First row whose hi exceeds n0.
  int a = 0, b = lq;
  while (a < b) {
    const int mid = (a + b) / 2;
    if (m.keys(mid, lq, lk).hi > n0) b = mid; else a = mid + 1;
  }
  const int qlo = a;
  // First row whose lo reaches n1 (rows from it on see nothing of the tile).
  a = qlo;
  b = lq;
  while (a < b) {
    const int mid = (a + b) / 2;
    if (m.keys(mid, lq, lk).lo >= n1) b = mid; else a = mid + 1;
  }
  return {qlo, a};
}

}  // namespace attncheck::kernels
