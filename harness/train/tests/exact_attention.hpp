// Causal attention within each document in float64 on float64 inputs, plain
// loops: the attention of the model's finite-difference test, where the
// registered implementations' float32 inputs and outputs would drown the
// differences. Its own backward is checked by finite differences too
// (test_model.cpp), so the test does not trust it.
#pragma once

#include <cmath>
#include <vector>

#include "harness/train/attention.hpp"

namespace attncheck::train::exact {

// o_i = sum_{j <= i} p_ij v_j, p_i = softmax_j(scale q_i . k_j) within the
// document; with dout: ds_ij = p_ij (dout_i . v_j - sum_j' p_ij' dout_i . v_j'),
// dq_i = scale sum_j ds_ij k_j, dk_j = scale sum_i ds_ij q_i, dv_j = sum_i p_ij dout_i.
inline void run(const Batch& b, const Qkv& x, const std::vector<double>* dout,
                std::vector<double>& out, Qkv* grads) {
  const int hq = b.num_heads_q, hkv = b.num_heads_kv, d = b.head_dim, group = hq / hkv;
  const double scale = b.softmax_scale;
  out.assign(std::size_t(b.total_q) * hq * d, 0.0);
  if (grads) {
    grads->q.assign(x.q.size(), 0.0);
    grads->k.assign(x.k.size(), 0.0);
    grads->v.assign(x.v.size(), 0.0);
  }
  auto qa = [&](int row, int h) { return std::size_t(row * hq + h) * std::size_t(d); };
  auto ka = [&](int row, int g) { return std::size_t(row * hkv + g) * std::size_t(d); };
  for (int s = 0; s < b.num_seqs(); ++s) {
    const int start = b.q_start(s), len = b.q_len(s);
    for (int h = 0; h < hq; ++h) {
      const int g = h / group;
      for (int i = 0; i < len; ++i) {
        const int qi = start + i;
        std::vector<double> p(std::size_t(i + 1));
        double m = -INFINITY;
        for (int j = 0; j <= i; ++j) {
          double dot = 0;
          for (int e = 0; e < d; ++e) dot += x.q[qa(qi, h) + e] * x.k[ka(start + j, g) + e];
          p[std::size_t(j)] = scale * dot;
          m = std::max(m, p[std::size_t(j)]);
        }
        double z = 0;
        for (double& v : p) z += (v = std::exp(v - m));
        for (double& v : p) v /= z;
        for (int j = 0; j <= i; ++j) {
          for (int e = 0; e < d; ++e) out[qa(qi, h) + e] += p[std::size_t(j)] * x.v[ka(start + j, g) + e];
        }
        if (!grads) continue;
        std::vector<double> dp(std::size_t(i + 1));
        double di = 0;
        for (int j = 0; j <= i; ++j) {
          double dot = 0;
          for (int e = 0; e < d; ++e) dot += (*dout)[qa(qi, h) + e] * x.v[ka(start + j, g) + e];
          dp[std::size_t(j)] = dot;
          di += p[std::size_t(j)] * dot;
        }
        for (int j = 0; j <= i; ++j) {
          const double ds = p[std::size_t(j)] * (dp[std::size_t(j)] - di);
          for (int e = 0; e < d; ++e) {
            grads->q[qa(qi, h) + e] += scale * ds * x.k[ka(start + j, g) + e];
            grads->k[ka(start + j, g) + e] += scale * ds * x.q[qa(qi, h) + e];
            grads->v[ka(start + j, g) + e] += p[std::size_t(j)] * (*dout)[qa(qi, h) + e];
          }
        }
      }
    }
  }
}

inline AttentionOp attention() {
  AttentionOp op;
  op.name = "exact-f64";
  op.forward = [](const Batch& b, const Qkv& x) {
    std::vector<double> out;
    run(b, x, nullptr, out, nullptr);
    return out;
  };
  op.backward = [](const Batch& b, const Qkv& x, const std::vector<double>& dout) {
    std::vector<double> out;
    Qkv g;
    run(b, x, &dout, out, &g);
    return g;
  };
  return op;
}

}  // namespace attncheck::train::exact
