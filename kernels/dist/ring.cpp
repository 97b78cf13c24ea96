// Ring attention with the zigzag split (TransformerEngine's P2P context
// parallelism). Rank r holds chunks r and 2cp-1-r of every sequence; K and V
// travel the ring, rank r holding those of rank src = (r - i) mod cp at step i:
//   step 0          : its own chunks, causal (the zigzag order keeps positions
//                     increasing within a shard, so a local causal mask is right)
//   src < r (lower) : all local queries against the FIRST half of src's K/V
//                     (chunk src precedes both local chunks; chunk 2cp-1-src
//                     follows both): kv slots of c_s rows, padded offsets halved
//   src > r (upper) : the SECOND half of the local queries (chunk 2cp-1-r)
//                     against all of src's K/V (both its chunks precede it):
//                     q slots of c_s rows, padded offsets halved
// Without a mask every step is all local queries against all of src's keys.
// Partial results merge through their LSE. Backward: each step's dK, dV are
// added to an accumulator that travels with its K/V and returns to the owner
// after the last step; dQ accumulates locally. Lengths in the half steps are
// the real rows of each half: padded slots are halved, actual lengths are
// not (TransformerEngine PR #2596).
#include <limits>

#include "kernels/dist/blocks.hpp"
#include "kernels/dist/dist.hpp"

namespace attncheck::dist {

void ring_rank(comm::Communicator& comm, const Context& ctx, RankIo& io) {
  const shard::CpLayout& l = ctx.layout;
  const Batch& g = ctx.global;
  const int P = comm.size(), r = comm.rank();
  const int n = l.rows_per_rank();
  const int hq = g.num_heads_q, hkv = g.num_heads_kv, d = g.head_dim, dv = g.head_dim_v;
  const bool causal = g.mask.causal;
  const MaskSpec none{};

  const Batch mine = shard::zigzag_local_batch(l, g, r);
  const auto first_rows = half_rows(l, false), second_rows = half_rows(l, true);
  const Batch my_second = chunk_batch(l, g, [&](int) { return 2 * P - 1 - r; });

  enum class Kind { Diagonal, Lower, Upper, Full };
  auto kind_of = [&](int src) {
    if (!causal) return Kind::Full;
    if (src == r) return Kind::Diagonal;
    return src < r ? Kind::Lower : Kind::Upper;
  };
  // Batch, query rows and key rows (of the held K/V) of the block at a step.
  struct Block {
    Batch b;
    const std::vector<int>* q_rows;  // nullptr: all local rows
    std::vector<int> kv_rows;        // empty: all held rows
  };
  auto block_of = [&](int src) -> Block {
    const Batch theirs = shard::zigzag_local_batch(l, g, src);
    switch (kind_of(src)) {
      case Kind::Diagonal: return {mine, nullptr, {}};
      case Kind::Full: return {pair_batch(mine, theirs, none), nullptr, {}};
      case Kind::Lower:
        return {pair_batch(mine, chunk_batch(l, g, [&](int) { return src; }), none), nullptr,
                first_rows};
      case Kind::Upper: return {pair_batch(my_second, theirs, none), &second_rows, {}};
    }
    return {mine, nullptr, {}};
  };
  auto block_inputs = [&](const Block& blk, const std::vector<float>& k, const std::vector<float>& v,
                          bool with_dout) {
    Inputs in;
    in.q = blk.q_rows ? shard::take_rows(io.in.q, *blk.q_rows, hq * d) : io.in.q;
    in.k = blk.kv_rows.empty() ? k : shard::take_rows(k, blk.kv_rows, hkv * d);
    in.v = blk.kv_rows.empty() ? v : shard::take_rows(v, blk.kv_rows, hkv * dv);
    if (with_dout) in.dout = blk.q_rows ? shard::take_rows(io.in.dout, *blk.q_rows, hq * dv) : io.in.dout;
    return in;
  };
  std::vector<int> all_rows(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) all_rows[std::size_t(i)] = i;

  // ---- forward
  io.out.assign(std::size_t(n) * hq * dv, 0.0f);
  io.lse.assign(std::size_t(hq) * n, -std::numeric_limits<float>::infinity());
  std::vector<float> k = io.in.k, v = io.in.v, k_next(k.size()), v_next(v.size());
  for (int i = 0; i < P; ++i) {
    const int src = ((r - i) % P + P) % P;
    const Block blk = block_of(src);
    std::vector<float> o, lse;
    ctx.local.forward(blk.b, block_inputs(blk, k, v, false), o, lse);
    merge_block(io.out, io.lse, hq, dv, n, blk.q_rows ? *blk.q_rows : all_rows, o, lse);
    if (i + 1 < P) {
      ring_shift(comm, k, k_next);
      ring_shift(comm, v, v_next);
    }
  }
  round_like_local(ctx.local, g, io.out);
  if (!ctx.grads) return;

  // ---- backward
  io.dq.assign(std::size_t(n) * hq * d, 0.0f);
  k = io.in.k;
  v = io.in.v;
  std::vector<float> dk_acc(k.size(), 0.0f), dv_acc(v.size(), 0.0f);
  std::vector<float> dk_next(k.size()), dv_next(v.size());
  for (int i = 0; i < P; ++i) {
    const int src = ((r - i) % P + P) % P;
    const Block blk = block_of(src);
    const Inputs in = block_inputs(blk, k, v, true);
    const auto& q_rows = blk.q_rows ? *blk.q_rows : all_rows;
    const std::vector<float> o = blk.q_rows ? shard::take_rows(io.out, q_rows, hq * dv) : io.out;
    const std::vector<float> lse = blk.q_rows ? take_lse(io.lse, hq, n, q_rows) : io.lse;
    std::vector<float> dq, dk, dvv;
    ctx.local.backward(blk.b, in, o, lse, dq, dk, dvv);
    add_rows(io.dq, q_rows, dq, hq * d);
    if (blk.kv_rows.empty()) {
      add_rows(dk_acc, all_rows, dk, hkv * d);
      add_rows(dv_acc, all_rows, dvv, hkv * dv);
    } else {
      add_rows(dk_acc, blk.kv_rows, dk, hkv * d);
      add_rows(dv_acc, blk.kv_rows, dvv, hkv * dv);
    }
    // K/V move on while there are steps left; the dK/dV accumulator always
    // does: after the last step it returns to the owner of its K/V.
    if (i + 1 < P) {
      ring_shift(comm, k, k_next);
      ring_shift(comm, v, v_next);
    }
    ring_shift(comm, dk_acc, dk_next);
    ring_shift(comm, dv_acc, dv_next);
  }
  io.dk = std::move(dk_acc);
  io.dv = std::move(dv_acc);
  round_like_local(ctx.local, g, io.dq);
  round_like_local(ctx.local, g, io.dk);
  round_like_local(ctx.local, g, io.dv);
}

}  // namespace attncheck::dist
