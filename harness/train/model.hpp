// The loss-curve model (P12): a small decoder-only transformer in float64
// with a hand-written backward. Float64 throughout (it is cheap at this size):
// the finite-difference test runs the training code itself, and the only
// float32 steps of a training run are the attention implementation's own
// (harness/train/attention.hpp), so curves differ only where attention does.
//
//   x = E[tokens]                                              [T, d]
//   per layer:
//     h = rmsnorm(x) * g_attn
//     q = rope(h Wq), k = rope(h Wk), v = h Wv                 RoPE angle pos * base^(-2i/D),
//                                                              pos = the batch's position ids
//     x = x + attention(q, k, v) Wo                            through an AttentionOp
//     h = rmsnorm(x) * g_mlp
//     x = x + silu(h W1) W2
//   logits = (rmsnorm(x) * g_final) W_head                     [T, V]
//
// rmsnorm(x) = x / sqrt(mean(x^2) + eps) per row; silu(a) = a * sigmoid(a).
// Attention is causal within each document of the packed batch, GQA with
// Hq query heads over Hkv kv heads, scale 1/sqrt(D).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/batch.hpp"
#include "harness/train/attention.hpp"
#include "harness/train/data.hpp"
#include "harness/train/matrix.hpp"

namespace attncheck::train {

struct ModelConfig {
  int vocab = 32;
  int d_model = 32;
  int layers = 2;
  int heads_q = 8;
  int heads_kv = 2;
  int head_dim = 8;  // even (RoPE rotates pairs)
  int mlp_hidden = 64;
  double rope_base = 10000.0;
  double norm_eps = 1e-6;
};

// One parameter tensor, row-major [rows, cols].
struct Tensor {
  std::string name;
  int rows = 0, cols = 0;
  std::vector<double> data;
};

// Every parameter tensor in a fixed order: embed [V, d]; per layer l
// "l.attn_norm" [1, d], "l.wq" [d, Hq D], "l.wk" [d, Hkv D], "l.wv" [d, Hkv D],
// "l.wo" [Hq D, d], "l.mlp_norm" [1, d], "l.w1" [d, F], "l.w2" [F, d];
// final_norm [1, d]; head [d, V]. Gradients use the same layout.
using Params = std::vector<Tensor>;

// The activations the backward pass needs (opaque to callers but the logits).
struct Activations {
  struct Layer {
    Matrix x_in, n_attn, h_attn;  // input, normalized, scaled
    Vector r_attn;                // 1 / rms per row
    Qkv qkv;                      // after RoPE, what attention saw
    Matrix o;                     // attention output [T, Hq D]
    Matrix x_mid, n_mlp, h_mlp, a, z;
    Vector r_mlp;
  };
  std::vector<Layer> layers;
  Matrix n_final, h_final;
  Vector r_final;
  Matrix logits;  // [T, V]
};

class Model {
 public:
  // Throws Error(Usage) for an inconsistent configuration.
  explicit Model(ModelConfig config);
  const ModelConfig& config() const { return cfg_; }

  // Deterministic initialization from `seed`: embeddings N(0, 1), norm gains
  // 1, projections N(0, 1/fan_in) (residual outputs Wo, W2 further scaled by
  // 1/sqrt(2 layers)), head N(0, 1/(4 d)) so the first logits are small.
  Params init(std::uint64_t seed) const;
  // Zero tensors shaped like the parameters.
  Params zeros() const;

  // The attention batch of a packed batch: its cu_seqlens, padded offsets and
  // position ids; the model's heads and dims; causal; dtype Float32.
  Batch attention_batch(const PackedBatch& data) const;

  // Logits of every row (padding rows included; they carry no target).
  // `batch` is attention_batch(data) or a variant of it (its position ids
  // drive RoPE, its segmentation the attention).
  Activations forward(const Params& p, const PackedBatch& data, const Batch& batch,
                      const AttentionOp& attention) const;
  // Gradients of the loss given dL/dlogits (shaped like the parameters).
  Params backward(const Params& p, const PackedBatch& data, const Batch& batch,
                  const Activations& acts, const Matrix& dlogits,
                  const AttentionOp& attention) const;

 private:
  ModelConfig cfg_;
};

}  // namespace attncheck::train
