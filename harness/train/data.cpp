#include "harness/train/data.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "harness/error.hpp"
#include "harness/train/rng.hpp"

namespace attncheck::train {

int PackedBatch::num_targets() const {
  return int(std::count_if(targets.begin(), targets.end(),
                           [](std::int32_t t) { return t != k_no_target; }));
}

std::vector<std::int32_t> next_token_targets(const PackedBatch& b) {
  std::vector<std::int32_t> t(std::size_t(b.total), k_no_target);
  for (int d = 0; d < b.num_docs(); ++d) {
    // Row i of the document predicts row i + 1 of the same document; the last
    // row has no successor in its document.
    for (int i = 0; i + 1 < b.doc_len(d); ++i) {
      t[std::size_t(b.doc_start(d) + i)] = b.tokens[std::size_t(b.doc_start(d) + i + 1)];
    }
  }
  return t;
}

PackedBatch make_batch(const DataOptions& o, std::uint64_t seed, int step) {
  if (o.vocab < 3 || o.min_doc_len < 1 || o.max_doc_len < o.min_doc_len || o.max_period < 2 ||
      o.max_gap < 0 || o.min_tail < 0 || o.total_rows < o.max_doc_len + o.min_tail) {
    throw Error(ErrorKind::Usage, "data options", -1,
                fmt::format("vocab {} (>= 3), doc lengths {}..{} (1 <= min <= max), period <= {} "
                            "(>= 2), gap <= {}, tail >= {} and {} rows (>= max doc + tail) "
                            "cannot form a packed batch",
                            o.vocab, o.min_doc_len, o.max_doc_len, o.max_period, o.max_gap,
                            o.min_tail, o.total_rows));
  }
  Rng rng(seed, std::uint64_t(step));
  PackedBatch b;
  b.total = o.total_rows;
  b.tokens.assign(std::size_t(b.total), k_pad_token);
  b.position_ids.assign(std::size_t(b.total), 0);
  const int room = b.total - o.min_tail;  // rows documents and gaps may use
  int row = 0;
  while (row + o.min_doc_len <= room) {
    const int len = std::min(rng.uniform_int(o.min_doc_len, o.max_doc_len), room - row);
    const int period = rng.uniform_int(2, o.max_period);
    std::vector<std::int32_t> pattern(static_cast<std::size_t>(period));
    for (auto& p : pattern) p = rng.uniform_int(1, o.vocab - 1);
    for (int i = 0; i < len; ++i) {
      b.tokens[std::size_t(row + i)] = pattern[std::size_t(i % period)];
      b.position_ids[std::size_t(row + i)] = i;
    }
    const int gap = std::min(rng.uniform_int(0, o.max_gap), room - row - len);
    b.cu_seqlens.push_back(b.cu_seqlens.back() + len);
    row += len + gap;
    b.cu_seqlens_padded.push_back(row);
  }
  b.targets = next_token_targets(b);
  return b;
}

}  // namespace attncheck::train
