// The data movement of Ulysses (kernels/dist/ulysses.cpp), exposed so that
// tests can check it moves data exactly (DESIGN.md "Exact checks").
//
// A sequence-sharded tensor is [n, heads, dim] on every rank: rank r holds
// rows [r n, (r+1) n) of a T = P n row sequence. A head-sharded tensor is
// [T, per_rank, dim]: all T rows, the heads a HeadSplit gives the rank.
#pragma once

#include <span>
#include <vector>

#include "kernels/comm/communicator.hpp"

namespace attncheck::dist::ulysses {

// The heads each rank works on after the sequence -> heads exchange: rank j
// holds heads [first[j], first[j] + per_rank) of `heads`. Ranges are disjoint
// (plain split) or, for replicated kv heads, several ranks share one head.
struct HeadSplit {
  int heads = 0;
  int per_rank = 0;
  std::vector<int> first;  // one entry per rank
};

// Query heads: Hq / cp contiguous heads per rank. Throws
// Error(Unsupported, "num_heads_q") when Hq % cp != 0.
HeadSplit split_q_heads(int hq, int cp);

// Key/value heads matching split_q_heads (q head h reads kv head h / (Hq/Hkv)):
// Hkv % cp == 0: Hkv / cp contiguous heads per rank;
// Hkv < cp and cp % Hkv == 0: one head per rank, rank j holding head
// j Hkv / cp (replicated on cp / Hkv ranks). Otherwise Error(Unsupported,
// "num_heads_kv"); also Error(Unsupported, "num_heads_q") as split_q_heads.
HeadSplit split_kv_heads(int hq, int hkv, int cp);

// Sequence -> heads: `local` [n, split.heads, dim] of this rank becomes
// [P n, split.per_rank, dim]: every rank's rows (in rank order) of the heads
// this rank holds. One all_to_all of (P - 1) n per_rank dim floats sent.
std::vector<float> seq_to_heads(comm::Communicator& comm, const HeadSplit& split,
                                std::span<const float> local, int dim);

// Heads -> sequence, the inverse: `full` [P n, split.per_rank, dim] becomes
// [n, split.heads, dim] for this rank's rows. A head held by one rank is
// copied (bit for bit); a head held by several (replicated kv) is their sum
// in rank order: the lowest rank's value, then the others added one by one.
// One all_to_all, the same bytes as seq_to_heads.
std::vector<float> heads_to_seq(comm::Communicator& comm, const HeadSplit& split,
                                std::span<const float> full, int dim);

// The same for a head-major LSE: `full` [split.per_rank, P n] becomes
// [split.heads, n] (heads held by one rank only: a query split).
std::vector<float> lse_heads_to_seq(comm::Communicator& comm, const HeadSplit& split,
                                    std::span<const float> full);

}  // namespace attncheck::dist::ulysses
