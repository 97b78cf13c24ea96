#include "harness/train/model.hpp"

#include <fmt/format.h>

#include <cmath>

#include "harness/error.hpp"
#include "harness/train/rng.hpp"

namespace attncheck::train {

namespace {

constexpr int k_tensors_per_layer = 8;
enum LayerTensor { AttnNorm, Wq, Wk, Wv, Wo, MlpNorm, W1, W2 };

int layer_index(int layer, LayerTensor t) { return 1 + layer * k_tensors_per_layer + t; }
int final_norm_index(const ModelConfig& c) { return 1 + c.layers * k_tensors_per_layer; }
int head_index(const ModelConfig& c) { return 2 + c.layers * k_tensors_per_layer; }

using ConstMap = Eigen::Map<const Matrix>;
using MutMap = Eigen::Map<Matrix>;
ConstMap view(const Tensor& t) { return ConstMap(t.data.data(), t.rows, t.cols); }
MutMap view(Tensor& t) { return MutMap(t.data.data(), t.rows, t.cols); }

std::vector<double> flat(const Matrix& m) { return std::vector<double>(m.data(), m.data() + m.size()); }
Matrix unflat(const std::vector<double>& v, Eigen::Index rows, Eigen::Index cols) {
  return ConstMap(v.data(), rows, cols);
}

// y = (x / sqrt(mean(x^2) + eps)) * g, per row.
void rmsnorm(const Matrix& x, const ConstMap& g, double eps, Vector& r, Matrix& n, Matrix& h) {
  r = ((x.array().square().rowwise().sum() / double(x.cols())) + eps).rsqrt().matrix();
  n = r.asDiagonal() * x;
  h = n.array().rowwise() * g.row(0).array();
}

// dx of rmsnorm, accumulating dg: with dn = dh * g,
//   dx = r * (dn - n * mean(dn * n))     (per row)
Matrix rmsnorm_backward(const Matrix& dh, const Vector& r, const Matrix& n, const ConstMap& g,
                        MutMap dg) {
  dg.row(0) += (dh.array() * n.array()).colwise().sum().matrix();
  const Matrix dn = dh.array().rowwise() * g.row(0).array();
  const Vector proj = (dn.array() * n.array()).rowwise().sum() / double(n.cols());
  return r.asDiagonal() * (dn - proj.asDiagonal() * n);
}

// Rotates pairs (2i, 2i+1) of every head of x [T, H * D] by pos[t] * theta_i,
// theta_i = base^(-2i / D); inverse = true rotates back (the transpose, used
// by the backward pass).
void rope(Matrix& x, int heads, int dim, const std::vector<std::int32_t>& pos, double base,
          bool inverse) {
  const int half = dim / 2;
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    for (int i = 0; i < half; ++i) {
      const double theta = std::pow(base, -2.0 * i / dim);
      const double angle = double(pos[std::size_t(t)]) * theta;
      const double c = std::cos(angle), s = inverse ? -std::sin(angle) : std::sin(angle);
      for (int h = 0; h < heads; ++h) {
        double& a = x(t, h * dim + 2 * i);
        double& b = x(t, h * dim + 2 * i + 1);
        const double a0 = a, b0 = b;
        a = a0 * c - b0 * s;
        b = a0 * s + b0 * c;
      }
    }
  }
}

}  // namespace

Model::Model(ModelConfig config) : cfg_(config) {
  const auto& c = cfg_;
  if (c.vocab < 2 || c.d_model < 1 || c.layers < 1 || c.heads_q < 1 || c.heads_kv < 1 ||
      c.heads_q % c.heads_kv != 0 || c.head_dim < 2 || c.head_dim % 2 != 0 || c.mlp_hidden < 1 ||
      !(c.rope_base > 1.0) || !(c.norm_eps > 0.0)) {
    throw Error(ErrorKind::Usage, "model config", -1,
                fmt::format("vocab {}, d_model {}, layers {}, heads {}/{}, head_dim {}, mlp {}: "
                            "need positive sizes, Hq % Hkv == 0, an even head_dim, base > 1, eps > 0",
                            c.vocab, c.d_model, c.layers, c.heads_q, c.heads_kv, c.head_dim,
                            c.mlp_hidden));
  }
}

Params Model::zeros() const {
  const auto& c = cfg_;
  const int d = c.d_model, qd = c.heads_q * c.head_dim, kd = c.heads_kv * c.head_dim;
  Params p;
  auto add = [&](std::string name, int rows, int cols) {
    p.push_back({std::move(name), rows, cols, std::vector<double>(std::size_t(rows) * cols, 0.0)});
  };
  add("embed", c.vocab, d);
  for (int l = 0; l < c.layers; ++l) {
    add(fmt::format("{}.attn_norm", l), 1, d);
    add(fmt::format("{}.wq", l), d, qd);
    add(fmt::format("{}.wk", l), d, kd);
    add(fmt::format("{}.wv", l), d, kd);
    add(fmt::format("{}.wo", l), qd, d);
    add(fmt::format("{}.mlp_norm", l), 1, d);
    add(fmt::format("{}.w1", l), d, c.mlp_hidden);
    add(fmt::format("{}.w2", l), c.mlp_hidden, d);
  }
  add("final_norm", 1, d);
  add("head", d, c.vocab);
  return p;
}

Params Model::init(std::uint64_t seed) const {
  // A stream of its own, apart from the data's streams (one per step).
  Rng rng(seed, 0xFFFFFFFF00000001ull);
  Params p = zeros();
  const double residual = 1.0 / std::sqrt(2.0 * cfg_.layers);
  for (Tensor& t : p) {
    const bool norm = t.name.ends_with("norm");
    double stddev = 1.0 / std::sqrt(double(t.rows));
    if (t.name == "embed") stddev = 1.0;
    if (t.name.ends_with(".wo") || t.name.ends_with(".w2")) stddev *= residual;
    if (t.name == "head") stddev *= 0.5;
    for (double& x : t.data) x = norm ? 1.0 : stddev * rng.normal();
  }
  return p;
}

Batch Model::attention_batch(const PackedBatch& data) const {
  Batch b;
  b.num_heads_q = cfg_.heads_q;
  b.num_heads_kv = cfg_.heads_kv;
  b.head_dim = b.head_dim_v = cfg_.head_dim;
  b.mask.causal = true;
  b.softmax_scale = b.default_scale();
  b.dtype = DType::Float32;
  b.total_q = b.total_kv = data.total;
  b.cu_seqlens_q = b.cu_seqlens_kv = data.cu_seqlens;
  b.cu_seqlens_q_padded = b.cu_seqlens_kv_padded = data.cu_seqlens_padded;
  b.position_ids = data.position_ids;
  return b;
}

Activations Model::forward(const Params& p, const PackedBatch& data, const Batch& batch,
                           const AttentionOp& attention) const {
  const auto& c = cfg_;
  const int t_rows = data.total;
  if (!batch.position_ids || int(batch.position_ids->size()) != t_rows ||
      batch.total_q != t_rows || int(data.tokens.size()) != t_rows) {
    throw Error(ErrorKind::InvalidBatch, "position_ids", -1,
                fmt::format("the model needs {} tokens and position ids (RoPE) for a batch of {} rows",
                            t_rows, t_rows));
  }
  const auto& pos = *batch.position_ids;
  Activations acts;
  const ConstMap embed = view(p[0]);
  Matrix x(t_rows, c.d_model);
  for (int t = 0; t < t_rows; ++t) {
    const int tok = data.tokens[std::size_t(t)];
    if (tok < 0 || tok >= c.vocab) {
      throw Error(ErrorKind::InvalidBatch, "tokens", t,
                  fmt::format("token {} is outside the vocabulary 0..{}", tok, c.vocab - 1));
    }
    x.row(t) = embed.row(tok);
  }
  for (int l = 0; l < c.layers; ++l) {
    Activations::Layer& L = acts.layers.emplace_back();
    L.x_in = x;
    rmsnorm(x, view(p[std::size_t(layer_index(l, AttnNorm))]), c.norm_eps, L.r_attn, L.n_attn,
            L.h_attn);
    Matrix q = L.h_attn * view(p[std::size_t(layer_index(l, Wq))]);
    Matrix k = L.h_attn * view(p[std::size_t(layer_index(l, Wk))]);
    const Matrix v = L.h_attn * view(p[std::size_t(layer_index(l, Wv))]);
    rope(q, c.heads_q, c.head_dim, pos, c.rope_base, /*inverse=*/false);
    rope(k, c.heads_kv, c.head_dim, pos, c.rope_base, /*inverse=*/false);
    L.qkv = {flat(q), flat(k), flat(v)};
    L.o = unflat(attention.forward(batch, L.qkv), t_rows, q.cols());
    x += L.o * view(p[std::size_t(layer_index(l, Wo))]);
    L.x_mid = x;
    rmsnorm(x, view(p[std::size_t(layer_index(l, MlpNorm))]), c.norm_eps, L.r_mlp, L.n_mlp, L.h_mlp);
    L.a = L.h_mlp * view(p[std::size_t(layer_index(l, W1))]);
    L.z = L.a.array() / (1.0 + (-L.a.array()).exp());  // silu(a) = a * sigmoid(a)
    x += L.z * view(p[std::size_t(layer_index(l, W2))]);
  }
  rmsnorm(x, view(p[std::size_t(final_norm_index(c))]), c.norm_eps, acts.r_final, acts.n_final,
          acts.h_final);
  acts.logits = acts.h_final * view(p[std::size_t(head_index(c))]);
  return acts;
}

Params Model::backward(const Params& p, const PackedBatch& data, const Batch& batch,
                       const Activations& acts, const Matrix& dlogits,
                       const AttentionOp& attention) const {
  const auto& c = cfg_;
  const auto& pos = *batch.position_ids;
  const Eigen::Index t_rows = dlogits.rows();
  Params g = zeros();
  auto grad = [&](int i) { return view(g[std::size_t(i)]); };
  auto param = [&](int i) { return view(p[std::size_t(i)]); };

  // logits = h_final W_head
  grad(head_index(c)) = acts.h_final.transpose() * dlogits;
  const Matrix dh_final = dlogits * param(head_index(c)).transpose();
  Matrix dx = rmsnorm_backward(dh_final, acts.r_final, acts.n_final, param(final_norm_index(c)),
                               grad(final_norm_index(c)));
  for (int l = c.layers - 1; l >= 0; --l) {
    const Activations::Layer& L = acts.layers[std::size_t(l)];
    // x_out = x_mid + silu(a) W2, a = h_mlp W1
    grad(layer_index(l, W2)) = L.z.transpose() * dx;
    const Matrix dz = dx * param(layer_index(l, W2)).transpose();
    // silu'(a) = sigmoid(a) (1 + a (1 - sigmoid(a)))
    const Eigen::ArrayXXd sig = 1.0 / (1.0 + (-L.a.array()).exp());
    const Matrix da = dz.array() * (sig * (1.0 + L.a.array() * (1.0 - sig)));
    grad(layer_index(l, W1)) = L.h_mlp.transpose() * da;
    dx += rmsnorm_backward(da * param(layer_index(l, W1)).transpose(), L.r_mlp, L.n_mlp,
                           param(layer_index(l, MlpNorm)), grad(layer_index(l, MlpNorm)));
    // x_mid = x_in + O Wo
    grad(layer_index(l, Wo)) = L.o.transpose() * dx;
    const Matrix dout = dx * param(layer_index(l, Wo)).transpose();
    const Qkv dqkv = attention.backward(batch, L.qkv, flat(dout));
    const Eigen::Index qcols = Eigen::Index(c.heads_q) * c.head_dim;
    const Eigen::Index kcols = Eigen::Index(c.heads_kv) * c.head_dim;
    Matrix dq = unflat(dqkv.q, t_rows, qcols);
    Matrix dk = unflat(dqkv.k, t_rows, kcols);
    const Matrix dv = unflat(dqkv.v, t_rows, kcols);
    // q = rope(h Wq): the rotation's transpose is the inverse rotation.
    rope(dq, c.heads_q, c.head_dim, pos, c.rope_base, /*inverse=*/true);
    rope(dk, c.heads_kv, c.head_dim, pos, c.rope_base, /*inverse=*/true);
    grad(layer_index(l, Wq)) = L.h_attn.transpose() * dq;
    grad(layer_index(l, Wk)) = L.h_attn.transpose() * dk;
    grad(layer_index(l, Wv)) = L.h_attn.transpose() * dv;
    const Matrix dh = dq * param(layer_index(l, Wq)).transpose() +
                      dk * param(layer_index(l, Wk)).transpose() +
                      dv * param(layer_index(l, Wv)).transpose();
    dx += rmsnorm_backward(dh, L.r_attn, L.n_attn, param(layer_index(l, AttnNorm)),
                           grad(layer_index(l, AttnNorm)));
  }
  MutMap dembed = grad(0);
  for (Eigen::Index t = 0; t < t_rows; ++t) dembed.row(data.tokens[std::size_t(t)]) += dx.row(t);
  return g;
}

}  // namespace attncheck::train
