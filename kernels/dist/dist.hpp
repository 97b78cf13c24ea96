// Sequence (context) parallel attention: ring (zigzag P2P), Ulysses
// (all-to-all) and all-gather, forward and backward, written against
// comm::Communicator and a LocalAttention (DESIGN.md "Distributed variants").
//
// Every rank holds the GLOBAL metadata (shard::CpLayout: cu_seqlens, padded
// slots, position ids, built before sharding, as TransformerEngine passes
// cu_seqlens to every rank) and its shard of the data. The driver
// (run_variant) builds the layout, hands each rank its rows, runs the ranks
// on the threads backend and puts the local results back in the case's
// layout.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "harness/batch.hpp"
#include "harness/shard.hpp"
#include "kernels/comm/communicator.hpp"
#include "kernels/dist/local.hpp"

namespace attncheck::dist {

enum class Variant { Ring, Ulysses, AllGather };
const char* to_string(Variant v);

// One rank's shard: `rows` are the layout rows it holds, in local order; the
// inputs are those rows (token-major). The rank fills the outputs for the
// same rows: out [rows, Hq, Dv], lse [Hq, rows], dq, dk, dv.
struct RankIo {
  std::vector<int> rows;
  Inputs in;
  std::vector<float> out, lse, dq, dk, dv;
};

struct Context {
  const shard::CpLayout& layout;
  const Batch& global;  // layout_batch(): the global batch in layout order
  const LocalAttention& local;
  bool grads = false;
};

// Rank bodies; each is called on every rank of `comm` with its shard.
void ring_rank(comm::Communicator& comm, const Context& ctx, RankIo& io);
void allgather_rank(comm::Communicator& comm, const Context& ctx, RankIo& io);
void ulysses_rank(comm::Communicator& comm, const Context& ctx, RankIo& io);

// What each variant supports, and why it refuses a batch (nullopt: it runs).
struct Support {
  bool non_causal = true;    // masks without causal
  bool windows = true;
  bool chunked = true;
  bool needs_position_ids = false;
  bool windows_need_causal = false;  // windows and chunks only with causal masks
  bool splits_heads = false;         // heads over ranks: Hq % cp == 0, Hkv | cp or cp | Hkv
};
Support support(Variant v);
// Why the variant cannot run `b` at `cp` ranks (nullopt: it runs): masks it
// does not implement, head counts it cannot split, Lq != Lk.
std::optional<std::string> refusal(Variant v, int cp, const Batch& b);

// Shards `c`, runs the variant on `cp` ranks of the threads backend, and
// writes the results (case layout, padding rows 0 / -inf) into `out`.
// Throws Error(Unsupported) for a batch the variant refuses (Lq != Lk, a
// mask it does not implement, head counts it cannot split) and
// Error(MissingPositionIds) when it needs position ids and the batch has none.
// `traffic`, when given, receives every rank's comm::Traffic.
void run_variant(Variant v, int cp, const LocalAttention& local, const Case& c, bool grads,
                 Results<float>& out, std::vector<comm::Traffic>* traffic = nullptr);

// The same on any communicator (every process of an MPI job, every GPU of
// NCCL): each rank shards the case itself (deterministically), runs its rank,
// and the results are all-gathered, so every rank returns the whole `out`.
// comm.size() is cp.
void run_on(Variant v, comm::Communicator& comm, const LocalAttention& local, const Case& c,
            bool grads, Results<float>& out);

// The steps of run_variant.
struct Sharded {
  shard::CpLayout layout;
  Batch global;
  std::vector<RankIo> io;
  bool grads = false;
};
Sharded shard_case(Variant v, int cp, const Case& c, bool grads);
void run_rank(Variant v, comm::Communicator& comm, const Sharded& sh, const LocalAttention& local,
              RankIo& io);
// Collects every rank's results into `out` (case layout) and checks that the
// layout's own padding rows came back as 0 / -inf.
void unshard(Variant v, const Sharded& sh, const Case& c, Results<float>& out);

// Rounds the values to the batch's dtype when the local attention stores in it.
void round_like_local(const LocalAttention& local, const Batch& b, std::vector<float>& x);

}  // namespace attncheck::dist
