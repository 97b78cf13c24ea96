// Helpers shared by the reference tests: build a packed batch by hand from a
// list of documents, fill inputs, index tensors. Real/padding rows are worked
// out here from the document list, NOT through Batch::real_q_rows(), so the
// tests do not lean on the code they check.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "harness/batch.hpp"
#include "harness/dtype.hpp"

namespace attncheck::reference::test {

inline constexpr double k_inf = std::numeric_limits<double>::infinity();
inline constexpr float k_nan = std::numeric_limits<float>::quiet_NaN();

// One document: its query and key lengths and the padding rows that follow it.
struct Doc {
  int lq = 0;
  int lk = 0;
  int pad_q = 0;
  int pad_kv = 0;
};

struct Spec {
  std::vector<Doc> docs;
  int tail_q = 0;  // extra rows after the last padded slot
  int tail_kv = 0;
  int hq = 1, hkv = 1, d = 1, dv = 1;
  MaskSpec mask{};
  DType dtype = DType::Float32;
};

struct Built {
  Batch batch;
  std::vector<bool> real_q;   // per q row
  std::vector<bool> real_kv;  // per kv row
  std::vector<int> q_start, kv_start;  // row of the first token of each doc
};

inline Built build(const Spec& s) {
  Built c;
  Batch& b = c.batch;
  b.num_heads_q = s.hq;
  b.num_heads_kv = s.hkv;
  b.head_dim = s.d;
  b.head_dim_v = s.dv;
  b.mask = s.mask;
  b.dtype = s.dtype;
  std::vector<std::int32_t> cq{0}, ck{0}, pq{0}, pk{0};
  for (const Doc& doc : s.docs) {
    c.q_start.push_back(pq.back());
    c.kv_start.push_back(pk.back());
    for (int r = 0; r < doc.lq; ++r) c.real_q.push_back(true);
    for (int r = 0; r < doc.pad_q; ++r) c.real_q.push_back(false);
    for (int r = 0; r < doc.lk; ++r) c.real_kv.push_back(true);
    for (int r = 0; r < doc.pad_kv; ++r) c.real_kv.push_back(false);
    cq.push_back(cq.back() + doc.lq);
    ck.push_back(ck.back() + doc.lk);
    pq.push_back(pq.back() + doc.lq + doc.pad_q);
    pk.push_back(pk.back() + doc.lk + doc.pad_kv);
  }
  for (int r = 0; r < s.tail_q; ++r) c.real_q.push_back(false);
  for (int r = 0; r < s.tail_kv; ++r) c.real_kv.push_back(false);
  b.cu_seqlens_q = cq;
  b.cu_seqlens_kv = ck;
  b.cu_seqlens_q_padded = pq;
  b.cu_seqlens_kv_padded = pk;
  b.total_q = static_cast<int>(c.real_q.size());
  b.total_kv = static_cast<int>(c.real_kv.size());
  b.softmax_scale = b.default_scale();
  b.validate();
  return c;
}

// Index of (row, head, c) in a row-major [T, heads, width] tensor.
inline std::size_t at(int row, int head, int c, int heads, int width) {
  return (std::size_t(row) * heads + head) * width + c;
}
inline std::size_t lse_at(const Batch& b, int row, int head) {
  return std::size_t(head) * b.total_q + row;
}

// Per-element "belongs to a real row" flags of a [T, heads, width] tensor.
inline std::vector<bool> expand(const std::vector<bool>& rows, int row_elems) {
  std::vector<bool> e;
  e.reserve(rows.size() * row_elems);
  for (bool r : rows) e.insert(e.end(), std::size_t(row_elems), r);
  return e;
}

// Per-element flags of the [Hq, total_q] LSE tensor.
inline std::vector<bool> lse_real(const Built& c) {
  std::vector<bool> e;
  for (int h = 0; h < c.batch.num_heads_q; ++h) e.insert(e.end(), c.real_q.begin(), c.real_q.end());
  return e;
}

// Every input element set to `fill` (NaN by default: a read of an element the
// test did not set shows up).
inline Inputs blank_inputs(const Batch& b, float fill = k_nan) {
  Inputs in;
  in.q.assign(b.q_elems(), fill);
  in.k.assign(b.k_elems(), fill);
  in.v.assign(b.v_elems(), fill);
  in.dout.assign(b.o_elems(), fill);
  return in;
}

// Real rows from gen(rng) (rounded to the batch dtype), padding rows = pad.
template <typename Gen>
Inputs random_inputs(const Built& c, std::mt19937& rng, Gen gen, float pad = k_nan) {
  const Batch& b = c.batch;
  Inputs in = blank_inputs(b, pad);
  auto fill = [&](std::vector<float>& x, const std::vector<bool>& rows, int row_elems) {
    const auto real = expand(rows, row_elems);
    for (std::size_t e = 0; e < x.size(); ++e) {
      if (real[e]) x[e] = round_to(b.dtype, gen(rng));
    }
  };
  fill(in.q, c.real_q, b.num_heads_q * b.head_dim);
  fill(in.k, c.real_kv, b.num_heads_kv * b.head_dim);
  fill(in.v, c.real_kv, b.num_heads_kv * b.head_dim_v);
  fill(in.dout, c.real_q, b.num_heads_q * b.head_dim_v);
  return in;
}

// Multiples of 2^-10 in [-1, 1]: x +- 2^-12 is then exact in float32.
struct GridValue {
  float operator()(std::mt19937& rng) const {
    return std::ldexp(float(std::uniform_int_distribution<int>(-1024, 1024)(rng)), -10);
  }
};
struct NormalValue {
  float sigma = 1.0f;
  float operator()(std::mt19937& rng) const {
    return std::normal_distribution<float>(0.0f, sigma)(rng);
  }
};

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// max |a - ref| / max |ref| over the elements flagged in `real`; +inf when a
// compared element is not finite or the two disagree on being finite (LSE
// -inf must match -inf).
template <typename A>
double rel_err(const std::vector<A>& a, const std::vector<double>& ref,
               const std::vector<bool>& real) {
  double scale = 0.0, err = 0.0;
  for (std::size_t e = 0; e < ref.size(); ++e) {
    if (real[e] && std::isfinite(ref[e])) scale = std::max(scale, std::abs(ref[e]));
  }
  for (std::size_t e = 0; e < ref.size(); ++e) {
    if (!real[e]) continue;
    const double x = double(a[e]);
    if (!std::isfinite(ref[e]) || !std::isfinite(x)) {
      if (!(x == ref[e])) return k_inf;  // NaN or finite-vs-inf
      continue;
    }
    err = std::max(err, std::abs(x - ref[e]));
  }
  return scale > 0.0 ? err / scale : err;
}

}  // namespace attncheck::reference::test
