// The synthetic packed dataset of the loss-curve check (P12).
//
// Each step's batch is one packed buffer of `total_rows` rows: documents back
// to back, 0..max_gap padding rows between them and tail padding after the
// last. A document repeats a random pattern of 2..max_period tokens (its own
// pattern, drawn afresh), so after the first period every token is determined
// by the document's earlier tokens: a model that attends within its document
// can predict it (first which tokens the document uses, then which one comes
// next), while attention across documents or onto padding only adds noise.
// Without attention the next token is almost uniform over the vocabulary.
//
// Position ids reset to 0 at each document start and are built here, for the
// whole buffer, before any sharding (padding rows hold 0). Targets are the
// next token within the document: the last token of a document, a length-1
// document and padding rows have none (k_no_target).
#pragma once

#include <cstdint>
#include <vector>

namespace attncheck::train {

inline constexpr std::int32_t k_pad_token = 0;   // token id of padding rows
inline constexpr std::int32_t k_no_target = -1;  // a row without a next-token target

struct DataOptions {
  int vocab = 32;          // token ids 1..vocab-1 in documents, 0 on padding
  int total_rows = 256;    // rows of the packed buffer, padding included
  int min_doc_len = 1;
  int max_doc_len = 48;
  int max_period = 3;      // pattern length 2..max_period
  int max_gap = 3;         // padding rows between two documents: 0..max_gap
  int min_tail = 1;        // tail padding rows after the last document (at least)
};

struct PackedBatch {
  int total = 0;                                // rows
  std::vector<std::int32_t> cu_seqlens{0};      // actual lengths, prefix sums
  std::vector<std::int32_t> cu_seqlens_padded{0};  // slot starts (document + its gap)
  std::vector<std::int32_t> position_ids;       // [total]: 0..len-1 per document, 0 on padding
  std::vector<std::int32_t> tokens;             // [total]: k_pad_token on padding
  std::vector<std::int32_t> targets;            // [total]: next token in the document or k_no_target

  int num_docs() const { return int(cu_seqlens.size()) - 1; }
  int doc_len(int i) const { return cu_seqlens[i + 1] - cu_seqlens[i]; }
  int doc_start(int i) const { return cu_seqlens_padded[i]; }
  int num_targets() const;
};

// The batch of `step` for `seed` (the same for every implementation).
// Throws Error(Usage) for options that cannot form a batch.
PackedBatch make_batch(const DataOptions& o, std::uint64_t seed, int step);

// Next-token targets within documents for `tokens` laid out as `b` describes
// (b.targets is ignored): the loss mask of make_batch, exposed for its test.
std::vector<std::int32_t> next_token_targets(const PackedBatch& b);

}  // namespace attncheck::train
