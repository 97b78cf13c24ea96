// P12 end to end: the reference run's loss falls; the curves of flash, ring
// and Ulysses (cp 2 and 4) match it within the bound of curves.hpp; the two
// broken runs of the bug zoo (doc-leak, ids-after-shard) and a subtler one
// (RoPE positions from the shard) are rejected by a wide margin.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>

#include "harness/train/curves.hpp"
#include "harness/train/train.hpp"
#include "mutants.hpp"

namespace attncheck::train {
namespace {

const TrainOptions& options() {
  static const TrainOptions o;  // the defaults of `attncheck loss`: 30 steps, seed 1
  return o;
}

const Curve& reference_curve() {
  static const Curve c = train_curve(reference_implementation(), options());
  return c;
}

double mean(const std::vector<double>& x, std::size_t from, std::size_t n) {
  double s = 0.0;
  for (std::size_t i = from; i < from + n; ++i) s += x[i];
  return s / double(n);
}

void print_curve_summary(const Curve& c, const CurveVerdict& v) {
  std::printf("%-22s max|diff| %.3g  worst diff/bound %.3g (step %d)  %.2f s\n", c.name.c_str(),
              v.max_abs_diff, v.worst_ratio, v.worst_step, c.seconds);
}

// The mean loss of the last 5 of 30 steps lies at least this far (nats) below
// the mean of the first 5. Measured 0.82..1.02 over seeds 1..5 (the per-step
// loss varies by ~0.2 between batches, hence means over 5 steps); a model
// whose attention does not work within documents stays near log(31) = 3.43
// (the doc-leak curve below ends >0.8 above the reference's).
constexpr double k_min_fall = 0.5;

TEST(LossCurve, ReferenceFallsClearlyWithin30Steps) {
  const Curve& ref = reference_curve();
  ASSERT_EQ(ref.loss.size(), 30u);
  for (double l : ref.loss) ASSERT_TRUE(std::isfinite(l));
  const double first = mean(ref.loss, 0, 5), last = mean(ref.loss, 25, 5);
  std::printf("reference: first 5 steps %.4f, last 5 steps %.4f, fall %.4f nats (%.2f s)\n", first,
              last, first - last, ref.seconds);
  EXPECT_GE(first - last, k_min_fall);
}

TEST(LossCurve, RunsAreDeterministic) {
  const Curve again = train_curve(reference_implementation(), options());
  EXPECT_EQ(again.loss, reference_curve().loss);
}

class RegisteredCurve : public testing::TestWithParam<const char*> {};

TEST_P(RegisteredCurve, MatchesTheReference) {
  const Curve c = train_curve(builtin_registry().find(GetParam()), options());
  const CurveVerdict v = compare_curve(reference_curve().loss, c.loss);
  print_curve_summary(c, v);
  EXPECT_TRUE(v.pass) << v.message;
}

INSTANTIATE_TEST_SUITE_P(P12, RegisteredCurve,
                         testing::Values("flash", "ring-cp2-flash", "ring-cp4-flash",
                                         "ulysses-cp2-flash", "ulysses-cp4-flash"),
                         [](const testing::TestParamInfo<const char*>& param) {
                           std::string n = param.param;
                           for (char& ch : n) ch = ch == '-' ? '_' : ch;
                           return n;
                         });

// A broken run must miss the bound by far more than the correct ones stay
// under it (correct: at most 0.008 of the bound): its worst |diff| is at least
// this many bounds (measured, curves.hpp: 183 for the subtlest, RoPE from the
// shard; ~2e4 for the two that leak across documents).
constexpr double k_reject_ratio = 30.0;

void expect_rejected(const Curve& c) {
  const CurveVerdict v = compare_curve(reference_curve().loss, c.loss);
  print_curve_summary(c, v);
  EXPECT_FALSE(v.pass) << c.name << " passed P12";
  EXPECT_GE(v.worst_ratio, k_reject_ratio) << c.name;
}

TEST(LossCurve, DocLeakIsRejected) {
  const Curve c = train_curve(mutants::doc_leak_implementation(), options());
  expect_rejected(c);
  // The task needs attention within documents: leaking, the loss hardly falls.
  const double gap = mean(c.loss, 25, 5) - mean(reference_curve().loss, 25, 5);
  std::printf("doc-leak: last 5 steps %.4f above the reference's\n", gap);
  EXPECT_GE(gap, 0.5);
}

TEST(LossCurve, IdsAfterShardIsRejected) {
  const Implementation& ulysses = builtin_registry().find("ulysses-cp2-flash");
  const TrainOptions& o = options();
  Curve c = train_curve(ulysses, o, [&o](int step) {
    return mutants::ids_after_shard(make_batch(o.data, o.seed, step), 2);
  });
  c.name = "ids-after-shard (cp 2)";
  expect_rejected(c);
}

// Subtler than the bug-zoo entry: documents and the attention's segmentation
// are right, only RoPE takes the rank-local position (0.. from each shard's
// first row) instead of the global id. It changes relative positions only
// between tokens on different shards.
TEST(LossCurve, RopeFromShardPositionsIsRejected) {
  const TrainOptions& o = options();
  Curve c = train_curve(reference_implementation(), o, [&o](int step) {
    PackedBatch b = make_batch(o.data, o.seed, step);
    b.position_ids = mutants::ids_after_shard(b, 2).position_ids;
    return b;
  });
  c.name = "rope-from-shard (cp 2)";
  expect_rejected(c);
}

TEST(CompareCurve, AppliesTheBoundAtEveryStep) {
  const std::vector<double> ref{3.0, 2.0, 1.0};
  EXPECT_TRUE(compare_curve(ref, ref).pass);
  std::vector<double> got = ref;
  got[1] += 0.9 * loss_bound(1, 2.0);
  CurveVerdict v = compare_curve(ref, got);
  EXPECT_TRUE(v.pass);
  EXPECT_NEAR(v.worst_ratio, 0.9, 1e-6);
  EXPECT_EQ(v.worst_step, 1);
  got[2] -= 1.1 * loss_bound(2, 1.0);
  v = compare_curve(ref, got);
  EXPECT_FALSE(v.pass);
  EXPECT_EQ(v.worst_step, 2);
  EXPECT_NE(v.message.find("step 2"), std::string::npos) << v.message;
  got = ref;
  got[0] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(compare_curve(ref, got).pass);
  EXPECT_FALSE(compare_curve(ref, std::vector<double>{3.0, 2.0}).pass);
  // The bound: k_loss_abs + k_loss_rel |r| at step 0, growing linearly.
  EXPECT_DOUBLE_EQ(loss_bound(0, -2.0), k_loss_abs + 2.0 * k_loss_rel);
  EXPECT_DOUBLE_EQ(loss_bound(int(k_loss_growth_steps), 2.0), 2.0 * loss_bound(0, 2.0));
}

}  // namespace
}  // namespace attncheck::train
