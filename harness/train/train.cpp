#include "harness/train/train.hpp"

#include <chrono>
#include <cmath>

namespace attncheck::train {

Adam::Adam(const Params& like, AdamOptions o) : o_(o), m_(like), v_(like) {
  for (auto* ps : {&m_, &v_}) {
    for (Tensor& t : *ps) std::fill(t.data.begin(), t.data.end(), 0.0);
  }
}

void Adam::step(Params& p, const Params& g) {
  ++t_;
  const double c1 = 1.0 - std::pow(o_.beta1, t_);
  const double c2 = 1.0 - std::pow(o_.beta2, t_);
  for (std::size_t i = 0; i < p.size(); ++i) {
    auto& w = p[i].data;
    const auto& gi = g[i].data;
    auto& m = m_[i].data;
    auto& v = v_[i].data;
    for (std::size_t e = 0; e < w.size(); ++e) {
      m[e] = o_.beta1 * m[e] + (1.0 - o_.beta1) * gi[e];
      v[e] = o_.beta2 * v[e] + (1.0 - o_.beta2) * gi[e] * gi[e];
      w[e] -= o_.lr * (m[e] / c1) / (std::sqrt(v[e] / c2) + o_.eps);
    }
  }
}

StepResult loss_and_grads(const Model& model, const Params& params, const PackedBatch& data,
                          const AttentionOp& attention, const LossSplit& split) {
  const Batch batch = model.attention_batch(data);
  const Activations acts = model.forward(params, data, batch, attention);
  StepResult r;
  r.ce = cross_entropy(acts.logits, data.targets, row_ranks(batch, split), split.ranks());
  r.grads = model.backward(params, data, batch, acts, r.ce.dlogits, attention);
  return r;
}

Curve train_curve(const std::string& name, const AttentionOp& attention, const LossSplit& split,
                  const TrainOptions& o, const BatchSource& source) {
  const auto start = std::chrono::steady_clock::now();
  const Model model(o.model);
  Params params = model.init(o.seed);
  Adam adam(params, o.adam);
  Curve c;
  c.name = name;
  for (int step = 0; step < o.steps; ++step) {
    const PackedBatch data = source ? source(step) : make_batch(o.data, o.seed, step);
    const StepResult r = loss_and_grads(model, params, data, attention, split);
    c.loss.push_back(r.ce.loss);
    adam.step(params, r.grads);
  }
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return c;
}

Curve train_curve(const Implementation& impl, const TrainOptions& o, const BatchSource& source) {
  return train_curve(impl.name, implementation_attention(impl), loss_split_for(impl), o, source);
}

}  // namespace attncheck::train
