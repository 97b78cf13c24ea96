// Training runs of the loss-curve check (P12): the model of model.hpp on the
// packed batches of data.hpp, attention through one implementation, Adam.
// Deterministic: the same options and implementation give the same curve
// bit for bit (every registered implementation is deterministic, P10; the
// model and optimizer are sequential float64 code).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "harness/registry.hpp"
#include "harness/train/data.hpp"
#include "harness/train/loss.hpp"
#include "harness/train/model.hpp"

namespace attncheck::train {

// Adam (Kingma & Ba) with bias correction, no weight decay.
struct AdamOptions {
  double lr = 1e-2;
  double beta1 = 0.9;
  double beta2 = 0.99;
  double eps = 1e-8;
};

class Adam {
 public:
  Adam(const Params& like, AdamOptions o);
  // p -= lr * mhat / (sqrt(vhat) + eps), with m, v the moving averages of g, g^2.
  void step(Params& p, const Params& g);

 private:
  AdamOptions o_;
  Params m_, v_;
  int t_ = 0;
};

struct TrainOptions {
  ModelConfig model;
  DataOptions data;
  AdamOptions adam;
  int steps = 30;
  std::uint64_t seed = 1;  // model initialization and data
};

// The packed batch of a step; by default make_batch(options.data, seed, step).
using BatchSource = std::function<PackedBatch(int step)>;

struct Curve {
  std::string name;
  std::vector<double> loss;  // per step, before that step's update
  double seconds = 0.0;
};

// Trains with `attention`, the loss split as `split` says.
Curve train_curve(const std::string& name, const AttentionOp& attention, const LossSplit& split,
                  const TrainOptions& o, const BatchSource& source = {});
// Trains with the implementation `impl` (its loss split: loss_split_for).
Curve train_curve(const Implementation& impl, const TrainOptions& o, const BatchSource& source = {});

// One step's loss and gradients at `params` (no update): what train_curve
// does each step, for the tests.
struct StepResult {
  CrossEntropy ce;
  Params grads;
};
StepResult loss_and_grads(const Model& model, const Params& params, const PackedBatch& data,
                          const AttentionOp& attention, const LossSplit& split);

}  // namespace attncheck::train
