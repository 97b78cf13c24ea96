// Next-token cross-entropy of the loss-curve model, normalized by the GLOBAL
// number of target tokens, also under sequence parallelism (BUGZOO
// loss-weighting: DeepSpeed #7672, prime-rl PR #1957).
//
// A sequence-parallel run (Capabilities::cp > 0) computes the loss as its
// ranks would: rank r holds the target tokens of its rows of the CP layout
// (shard::make_cp_layout), takes the partial sum S_r of their cross-entropies
// and their count N_r, and the ranks combine them with combine_rank_losses:
//   L = sum_r S_r / sum_r N_r          (the global token-weighted mean)
// which equals the single-device mean whatever the split. Which rows a rank
// holds follows the implementation's name: `ulysses...` shards contiguously
// (shard::contiguous_rows), every other variant (ring, allgather) zigzag
// (shard::zigzag_rows). A single-device run is one rank holding every row.
//
// The gradient follows the combination itself: combine_rank_losses is linear
// in the partial sums (the global mean is, and so is a per-rank mean), so
// dL/dS_r = combine_rank_losses(e_r, counts) with e_r the r-th unit vector,
// and the row t of rank r gets dL/dlogits_t = dL/dS_r (softmax_t - onehot_t).
// Replacing the combination (a mutant) changes loss and gradient together.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "harness/batch.hpp"
#include "harness/registry.hpp"
#include "harness/train/matrix.hpp"

namespace attncheck::train {

enum class RankRows { Zigzag, Contiguous };

struct LossSplit {
  int cp = 0;  // 0 or 1: one rank holds every row
  RankRows rows = RankRows::Zigzag;
  int ranks() const { return cp > 1 ? cp : 1; }
};

// The split `impl` uses (see above).
LossSplit loss_split_for(const Implementation& impl);

// The rank holding each row of `b` (-1 for rows of the case that no rank
// holds: padding). Single device: 0 on every row.
std::vector<int> row_ranks(const Batch& b, const LossSplit& split);

// The ranks' partial cross-entropy sums and target counts combined into the
// loss: sum(sums) / sum(counts), the global token-weighted mean.
// Throws Error(InvalidBatch) when there is no target at all.
double combine_rank_losses(std::span<const double> sums, std::span<const std::int64_t> counts);

struct CrossEntropy {
  double loss = 0.0;
  std::vector<double> sums;          // per rank
  std::vector<std::int64_t> counts;  // per rank
  Matrix dlogits;                    // dL/dlogits [T, V]; 0 on rows without a target
};

// Cross-entropy of the rows with a target (targets[t] >= 0), rank by rank.
// A row with a target must belong to a rank (rank[t] >= 0) and its target
// must index a logit column; else Error(InvalidBatch).
CrossEntropy cross_entropy(const Matrix& logits, const std::vector<std::int32_t>& targets,
                           const std::vector<int>& rank, int ranks);

}  // namespace attncheck::train
