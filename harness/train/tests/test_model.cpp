// The loss-curve model's hand-written backward against central finite
// differences in float64: every parameter tensor, and the gradients the model
// hands back through attention (dL/dQ, dL/dK, dL/dV of each layer). Then the
// same gradients when attention runs through registered implementations
// (float32 in and out): equal to the float64 ones to float32 precision.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "exact_attention.hpp"
#include "harness/error.hpp"
#include "harness/train/rng.hpp"
#include "harness/train/train.hpp"

namespace attncheck::train {
namespace {

// Central differences with step k_fd_step: truncation error ~ h^2 |L'''| and
// rounding error ~ eps_f64 |L| / h, both near 1e-10 for this model's loss
// (~3.5). The tolerance is a hundred times that noise, yet a hundred
// thousand times below the gradients checked (|g| >~ 1e-4): a wrong term in
// the backward pass changes a gradient by a sizeable fraction of itself.
constexpr double k_fd_step = 1e-5;
constexpr double k_fd_abs = 1e-8;
constexpr double k_fd_rel = 1e-6;

TrainOptions small_options() {
  TrainOptions o;
  o.data.total_rows = 48;
  o.data.max_doc_len = 14;
  return o;
}

// Parameters away from the initialization's symmetries (gains exactly 1).
Params perturbed_params(const Model& m, std::uint64_t seed) {
  Params p = m.init(seed);
  Rng rng(seed, 99);
  for (Tensor& t : p) {
    for (double& x : t.data) x += 0.1 * rng.normal() * (t.name.ends_with("norm") ? 1.0 : std::abs(x) + 0.1);
  }
  return p;
}

double loss_at(const Model& m, const Params& p, const PackedBatch& data, const AttentionOp& op) {
  const Batch b = m.attention_batch(data);
  const Activations acts = m.forward(p, data, b, op);
  return cross_entropy(acts.logits, data.targets, row_ranks(b, LossSplit{}), 1).loss;
}

// Returns |analytic - fd| / tolerance (printed by the tests: the margin).
double expect_fd_match(double analytic, double fd, const std::string& what) {
  const double tol = k_fd_abs + k_fd_rel * std::abs(fd);
  EXPECT_LE(std::abs(analytic - fd), tol)
      << what << ": analytic " << analytic << ", finite difference " << fd;
  return std::abs(analytic - fd) / tol;
}

TEST(Model, BackwardMatchesFiniteDifferencesForEveryParameterTensor) {
  const TrainOptions o = small_options();
  const Model model(o.model);
  const PackedBatch data = make_batch(o.data, 7, 0);
  ASSERT_GT(data.num_docs(), 2);
  const AttentionOp op = exact::attention();
  Params p = perturbed_params(model, 3);
  const StepResult r = loss_and_grads(model, p, data, op, LossSplit{});
  ASSERT_EQ(r.grads.size(), p.size());
  std::set<std::int32_t> present(data.tokens.begin(), data.tokens.end());
  present.erase(k_pad_token);
  Rng rng(5);
  int checked = 0, nonzero = 0;
  double worst = 0.0;
  for (std::size_t ti = 0; ti < p.size(); ++ti) {
    Tensor& t = p[ti];
    std::vector<std::size_t> entries;
    for (int k = 0; k < 4; ++k) {
      int row = rng.uniform_int(0, t.rows - 1);
      // Embedding rows of tokens the batch does not hold have no gradient:
      // pick present tokens, plus the padding token's row, which must get
      // exactly none (padding rows feed no target and no real row's attention).
      if (t.name == "embed") {
        auto it = present.begin();
        std::advance(it, rng.uniform_int(0, int(present.size()) - 1));
        row = k == 0 ? k_pad_token : *it;
      }
      entries.push_back(std::size_t(row) * std::size_t(t.cols) + std::size_t(rng.uniform_int(0, t.cols - 1)));
    }
    for (std::size_t e : entries) {
      const double x0 = t.data[e];
      t.data[e] = x0 + k_fd_step;
      const double up = loss_at(model, p, data, op);
      t.data[e] = x0 - k_fd_step;
      const double down = loss_at(model, p, data, op);
      t.data[e] = x0;
      const double fd = (up - down) / (2 * k_fd_step);
      const double an = r.grads[ti].data[e];
      worst = std::max(worst, expect_fd_match(an, fd, t.name + "[" + std::to_string(e) + "]"));
      ++checked;
      if (std::abs(an) > 1e-4) ++nonzero;
      if (t.name == "embed" && e < std::size_t(t.cols)) {
        EXPECT_EQ(an, 0.0) << "the padding token's embedding got a gradient";
      }
    }
  }
  std::printf("%d entries of %zu tensors, worst |analytic - fd| / tolerance %.3g\n", checked,
              p.size(), worst);
  EXPECT_EQ(checked, int(p.size()) * 4);
  // The check means something only where gradients are not ~0.
  EXPECT_GE(nonzero, checked * 3 / 4);
}

// Records what the model hands attention in the backward pass (dL/dQ, dL/dK,
// dL/dV of each layer as returned) and perturbs one input element of one
// layer in the forward pass.
struct Probe {
  int layers = 0;
  int fwd_calls = 0, bwd_calls = 0;
  std::vector<Qkv> grads;  // per layer
  int layer = -1;          // perturb this layer's ...
  int which = 0;           // 0 q, 1 k, 2 v
  std::size_t index = 0;
  double delta = 0.0;

  AttentionOp op() {
    const AttentionOp inner = exact::attention();
    AttentionOp o;
    o.name = "probe";
    o.forward = [this, inner](const Batch& b, const Qkv& x) {
      const int l = fwd_calls++ % layers;
      if (l != layer) return inner.forward(b, x);
      Qkv y = x;
      (which == 0 ? y.q : which == 1 ? y.k : y.v)[index] += delta;
      return inner.forward(b, y);
    };
    o.backward = [this, inner](const Batch& b, const Qkv& x, const std::vector<double>& dout) {
      const int l = layers - 1 - bwd_calls++ % layers;  // backward runs the layers in reverse
      Qkv g = inner.backward(b, x, dout);
      grads[std::size_t(l)] = g;
      return g;
    };
    return o;
  }
};

TEST(Model, GradientsThroughAttentionMatchFiniteDifferences) {
  const TrainOptions o = small_options();
  const Model model(o.model);
  const PackedBatch data = make_batch(o.data, 11, 0);
  const Params p = perturbed_params(model, 4);
  Probe probe;
  probe.layers = o.model.layers;
  probe.grads.resize(std::size_t(probe.layers));
  const AttentionOp op = probe.op();
  loss_and_grads(model, p, data, op, LossSplit{});
  const Batch b = model.attention_batch(data);
  const std::vector<bool> real = b.real_q_rows();
  Rng rng(13);
  int checked = 0;
  double worst = 0.0;
  for (int l = 0; l < probe.layers; ++l) {
    for (int which = 0; which < 3; ++which) {
      const int heads = which == 0 ? o.model.heads_q : o.model.heads_kv;
      const int row_elems = heads * o.model.head_dim;
      for (int k = 0; k < 3; ++k) {
        int row = rng.uniform_int(0, b.total_q - 1);
        while (!real[std::size_t(row)]) row = (row + 1) % b.total_q;
        const std::size_t index = std::size_t(row) * row_elems + std::size_t(rng.uniform_int(0, row_elems - 1));
        probe.layer = l;
        probe.which = which;
        probe.index = index;
        probe.delta = k_fd_step;
        const double up = loss_at(model, p, data, op);
        probe.delta = -k_fd_step;
        const double down = loss_at(model, p, data, op);
        probe.layer = -1;
        const double fd = (up - down) / (2 * k_fd_step);
        const Qkv& g = probe.grads[std::size_t(l)];
        const double an = (which == 0 ? g.q : which == 1 ? g.k : g.v)[index];
        worst = std::max(worst, expect_fd_match(an, fd, "layer " + std::to_string(l) + " d" +
                                                            "qkv"[which] + "[" +
                                                            std::to_string(index) + "]"));
        ++checked;
      }
    }
  }
  std::printf("%d entries of dQ, dK, dV, worst |analytic - fd| / tolerance %.3g\n", checked, worst);
  EXPECT_EQ(checked, probe.layers * 9);
}

// The same step through run_implementation: q, k, v and dO rounded to
// float32, O and dQ, dK, dV computed by the implementation. Every gradient
// must equal the float64 one to float32 precision (relative to the tensor's
// largest gradient; measured <= 2.3e-7 for reference, flash, ring-cp2 and
// ulysses-cp2: a margin of 40).
constexpr double k_impl_grad_rel = 1e-5;

TEST(Model, GradientsThroughImplementationsEqualTheFloat64Ones) {
  const TrainOptions o = small_options();
  const Model model(o.model);
  const PackedBatch data = make_batch(o.data, 17, 0);
  const Params p = perturbed_params(model, 5);
  const StepResult want = loss_and_grads(model, p, data, exact::attention(), LossSplit{});
  std::vector<const Implementation*> impls{&reference_implementation()};
  for (const char* n : {"flash", "ring-cp2-flash", "ulysses-cp2-flash"}) {
    impls.push_back(&builtin_registry().find(n));
  }
  for (const Implementation* impl : impls) {
    const StepResult got =
        loss_and_grads(model, p, data, implementation_attention(*impl), loss_split_for(*impl));
    EXPECT_NEAR(got.ce.loss, want.ce.loss, 1e-7 * want.ce.loss) << impl->name;
    double worst = 0.0;
    for (std::size_t t = 0; t < p.size(); ++t) {
      double scale = 0, err = 0;
      for (std::size_t e = 0; e < p[t].data.size(); ++e) {
        scale = std::max(scale, std::abs(want.grads[t].data[e]));
        err = std::max(err, std::abs(got.grads[t].data[e] - want.grads[t].data[e]));
      }
      EXPECT_LE(err, k_impl_grad_rel * scale) << impl->name << " " << p[t].name;
      worst = std::max(worst, err / scale);
    }
    std::printf("%-18s loss %.3g relative, gradients worst %.3g of the tensor's largest\n",
                impl->name.c_str(), std::abs(got.ce.loss - want.ce.loss) / want.ce.loss, worst);
  }
}

TEST(Model, RejectsInconsistentConfigurationsAndTokens) {
  ModelConfig c;
  c.head_dim = 7;
  EXPECT_THROW(Model{c}, Error);
  c = ModelConfig{};
  c.heads_kv = 3;
  EXPECT_THROW(Model{c}, Error);
  const Model m{ModelConfig{}};
  PackedBatch data = make_batch(DataOptions{}, 1, 0);
  data.tokens[0] = m.config().vocab;  // outside the vocabulary
  EXPECT_THROW(m.forward(m.init(1), data, m.attention_batch(data), exact::attention()), Error);
}

}  // namespace
}  // namespace attncheck::train
