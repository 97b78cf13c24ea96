#include "harness/train/loss.hpp"

#include <fmt/format.h>

#include <cmath>
#include <numeric>

#include "harness/error.hpp"
#include "harness/shard.hpp"

namespace attncheck::train {

LossSplit loss_split_for(const Implementation& impl) {
  LossSplit s;
  s.cp = impl.caps.cp;
  s.rows = impl.name.starts_with("ulysses") ? RankRows::Contiguous : RankRows::Zigzag;
  return s;
}

std::vector<int> row_ranks(const Batch& b, const LossSplit& split) {
  if (split.ranks() == 1) return std::vector<int>(std::size_t(b.total_q), 0);
  std::vector<int> rank(std::size_t(b.total_q), -1);
  const shard::CpLayout layout = shard::make_cp_layout(b, split.cp);
  for (int r = 0; r < split.cp; ++r) {
    const std::vector<int> rows = split.rows == RankRows::Contiguous
                                      ? shard::contiguous_rows(layout, r)
                                      : shard::zigzag_rows(layout, r);
    for (int row : rows) {
      const int case_row = layout.q_row[std::size_t(row)];
      if (case_row >= 0) rank[std::size_t(case_row)] = r;
    }
  }
  return rank;
}

double combine_rank_losses(std::span<const double> sums, std::span<const std::int64_t> counts) {
  const double total = std::accumulate(sums.begin(), sums.end(), 0.0);
  const std::int64_t n = std::accumulate(counts.begin(), counts.end(), std::int64_t(0));
  if (n == 0) {
    throw Error(ErrorKind::InvalidBatch, "targets", -1,
                "the batch has no target token: the loss is undefined");
  }
  return total / double(n);
}

CrossEntropy cross_entropy(const Matrix& logits, const std::vector<std::int32_t>& targets,
                           const std::vector<int>& rank, int ranks) {
  CrossEntropy ce;
  ce.sums.assign(std::size_t(ranks), 0.0);
  ce.counts.assign(std::size_t(ranks), 0);
  ce.dlogits = Matrix::Zero(logits.rows(), logits.cols());
  // Per row: softmax - onehot (scaled by the rank's weight below).
  for (Eigen::Index t = 0; t < logits.rows(); ++t) {
    const std::int32_t y = targets[std::size_t(t)];
    if (y < 0) continue;
    const int r = rank[std::size_t(t)];
    if (r < 0 || r >= ranks || y >= logits.cols()) {
      throw Error(ErrorKind::InvalidBatch, "targets", t,
                  fmt::format("row {} has target {} but rank {} of {} and {} classes", t, y, r,
                              ranks, logits.cols()));
    }
    // log softmax with the row max subtracted (no overflow).
    const double m = logits.row(t).maxCoeff();
    const Eigen::RowVectorXd e = (logits.row(t).array() - m).exp().matrix();
    const double z = e.sum();
    ce.sums[std::size_t(r)] += std::log(z) + m - logits(t, y);
    ce.counts[std::size_t(r)] += 1;
    ce.dlogits.row(t) = e / z;
    ce.dlogits(t, y) -= 1.0;
  }
  ce.loss = combine_rank_losses(ce.sums, ce.counts);
  // dL/dS_r by linearity of the combination (loss.hpp).
  std::vector<double> unit(std::size_t(ranks), 0.0);
  std::vector<double> weight(static_cast<std::size_t>(ranks));
  for (int r = 0; r < ranks; ++r) {
    unit[std::size_t(r)] = 1.0;
    weight[std::size_t(r)] = combine_rank_losses(unit, ce.counts);
    unit[std::size_t(r)] = 0.0;
  }
  for (Eigen::Index t = 0; t < logits.rows(); ++t) {
    if (targets[std::size_t(t)] >= 0) ce.dlogits.row(t) *= weight[std::size_t(rank[std::size_t(t)])];
  }
  return ce;
}

}  // namespace attncheck::train
