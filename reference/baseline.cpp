#include "reference/baseline.hpp"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "harness/error.hpp"
#include "reference/mask.hpp"

namespace attncheck::reference {

namespace {

// sum_c a[c] * b[c] by pairwise (tree) summation in float32.
float pairwise_dot(const float* a, const float* b, int n) {
  if (n <= 2) {
    float s = 0.0f;
    for (int c = 0; c < n; ++c) s += a[c] * b[c];
    return s;
  }
  const int h = n / 2;
  return pairwise_dot(a, b, h) + pairwise_dot(a + h, b + h, n - h);
}

}  // namespace

Results<float> baseline(const Batch& b, const Inputs& in, bool with_grads) {
  b.validate();
  validate_inputs(b, in);
  if (with_grads && in.dout.size() != b.o_elems()) {
    throw Error(ErrorKind::InvalidBatch, "do", -1, fmt::format("backward needs the output gradient dO with {} elements (total_q * Hq * Dv), got {}", b.o_elems(), in.dout.size()));
  }
  constexpr float k_neg_inf = -std::numeric_limits<float>::infinity();
  const DType dt = b.dtype;
  const float scale = float(b.softmax_scale);
  const int hq = b.num_heads_q, hkv = b.num_heads_kv, d = b.head_dim, dv = b.head_dim_v;
  const int group = b.group_size();

  Results<float> r;
  r.out.assign(b.o_elems(), 0.0f);
  r.lse.assign(b.lse_elems(), k_neg_inf);
  if (with_grads) {
    r.dq.assign(b.q_elems(), 0.0f);
    r.dk.assign(b.k_elems(), 0.0f);
    r.dv.assign(b.v_elems(), 0.0f);
  }
  auto qat = [&](int row, int h) { return in.q.data() + (std::size_t(row) * hq + h) * d; };
  auto kat = [&](int row, int g) { return in.k.data() + (std::size_t(row) * hkv + g) * d; };
  auto vat = [&](int row, int g) { return in.v.data() + (std::size_t(row) * hkv + g) * dv; };
  auto oidx = [&](int row, int h) { return (std::size_t(row) * hq + h) * dv; };

  std::vector<float> p, ds;
  std::vector<float> dk_acc, dv_acc;
  for (int seq = 0; seq < b.num_seqs(); ++seq) {
    const int lq = b.q_len(seq), lk = b.kv_len(seq);
    const int q0 = b.q_start(seq), k0 = b.kv_start(seq);
    if (lq == 0 || lk == 0) continue;
    p.assign(std::size_t(lq) * lk, 0.0f);
    if (with_grads) {
      dk_acc.assign(std::size_t(lk) * hkv * d, 0.0f);
      dv_acc.assign(std::size_t(lk) * hkv * dv, 0.0f);
    }
    for (int h = 0; h < hq; ++h) {
      const int g = h / group;
      std::vector<float> lse_row(std::size_t(lq), k_neg_inf);
      // Forward: P = softmax(scale * Q K^T) in float32, rounded before P.V.
      for (int i = 0; i < lq; ++i) {
        float* prow = p.data() + std::size_t(i) * lk;
        float m = k_neg_inf;
        for (int j = 0; j < lk; ++j) {
          if (!visible(b.mask, i, j, lq, lk)) {
            prow[j] = k_neg_inf;
            continue;
          }
          float s = 0.0f;
          for (int c = 0; c < d; ++c) s += qat(q0 + i, h)[c] * kat(k0 + j, g)[c];
          prow[j] = s * scale;
          m = std::max(m, prow[j]);
        }
        if (m == k_neg_inf) {  // no visible key: avoid -inf - -inf
          for (int j = 0; j < lk; ++j) prow[j] = 0.0f;
          continue;
        }
        float l = 0.0f;
        for (int j = 0; j < lk; ++j) {
          prow[j] = std::exp(prow[j] - m);
          l += prow[j];
        }
        for (int j = 0; j < lk; ++j) prow[j] /= l;
        lse_row[std::size_t(i)] = m + std::log(l);
        float* o = r.out.data() + oidx(q0 + i, h);
        for (int c = 0; c < dv; ++c) {
          float acc = 0.0f;
          for (int j = 0; j < lk; ++j) acc += round_to(dt, prow[j]) * vat(k0 + j, g)[c];
          o[c] = round_to(dt, acc);
        }
        r.lse[std::size_t(h) * b.total_q + q0 + i] = lse_row[std::size_t(i)];
      }
      if (!with_grads) continue;
      // Backward: dP = dO V^T; Di = rowsum(dO * O); dS = P (dP - Di).
      ds.assign(std::size_t(lq) * lk, 0.0f);
      for (int i = 0; i < lq; ++i) {
        if (lse_row[std::size_t(i)] == k_neg_inf) continue;
        const float* dorow = in.dout.data() + oidx(q0 + i, h);
        const float* orow = r.out.data() + oidx(q0 + i, h);
        // Di is a tree reduction, dP a sequential accumulation: in a kernel they
        // come from different reductions (a warp reduction vs an MMA), so where
        // they cancel exactly in real arithmetic (a row that sees one key:
        // P = 1, dS = dP - Di = 0) the rounding residue of a kernel is
        // represented here too instead of vanishing by a shared summation order.
        const float di = pairwise_dot(dorow, orow, dv);
        for (int j = 0; j < lk; ++j) {
          const float pij = p[std::size_t(i) * lk + j];
          if (pij == 0.0f) continue;
          float dp = 0.0f;
          for (int c = 0; c < dv; ++c) dp += dorow[c] * vat(k0 + j, g)[c];
          ds[std::size_t(i) * lk + j] = round_to(dt, pij * (dp - di));
          float* dvrow = dv_acc.data() + (std::size_t(j) * hkv + g) * dv;
          const float pr = round_to(dt, pij);
          for (int c = 0; c < dv; ++c) dvrow[c] += pr * dorow[c];
        }
      }
      for (int i = 0; i < lq; ++i) {
        float* dqrow = r.dq.data() + (std::size_t(q0 + i) * hq + h) * d;
        for (int c = 0; c < d; ++c) {
          float acc = 0.0f;
          for (int j = 0; j < lk; ++j) acc += ds[std::size_t(i) * lk + j] * kat(k0 + j, g)[c];
          dqrow[c] = round_to(dt, acc * scale);
        }
      }
      for (int j = 0; j < lk; ++j) {
        float* dkrow = dk_acc.data() + (std::size_t(j) * hkv + g) * d;
        for (int c = 0; c < d; ++c) {
          float acc = 0.0f;
          for (int i = 0; i < lq; ++i) acc += ds[std::size_t(i) * lk + j] * qat(q0 + i, h)[c];
          dkrow[c] += acc * scale;
        }
      }
    }
    if (!with_grads) continue;
    for (int j = 0; j < lk; ++j) {
      for (int e = 0; e < hkv * d; ++e) {
        r.dk[std::size_t(k0 + j) * hkv * d + e] = round_to(dt, dk_acc[std::size_t(j) * hkv * d + e]);
      }
      for (int e = 0; e < hkv * dv; ++e) {
        r.dv[std::size_t(k0 + j) * hkv * dv + e] = round_to(dt, dv_acc[std::size_t(j) * hkv * dv + e]);
      }
    }
  }
  return r;
}

}  // namespace attncheck::reference
