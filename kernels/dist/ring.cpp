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
// after the last step; dQ accumulates locally. K and V travel as one
// message (and so do the dK and dV accumulators), as TransformerEngine sends
// its KV buffer: one hand-off per step, not two. Lengths in the half steps are
// the real rows of each half: padded slots are halved, actual lengths are
// not (TransformerEngine PR #2596).
#include <algorithm>
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
  // The held K/V travel as one buffer: K's rows, then V's.
  const std::size_t k_elems = io.in.k.size();
  auto pack = [](const std::vector<float>& a, const std::vector<float>& b) {
    std::vector<float> x(a.size() + b.size());
    std::copy(a.begin(), a.end(), x.begin());
    std::copy(b.begin(), b.end(), x.begin() + std::ptrdiff_t(a.size()));
    return x;
  };
  auto part = [&](const std::vector<float>& kv, bool second) {
    const auto mid = kv.begin() + std::ptrdiff_t(k_elems);
    return second ? std::vector<float>(mid, kv.end()) : std::vector<float>(kv.begin(), mid);
  };
  auto block_inputs = [&](const Block& blk, const std::vector<float>& kv, bool with_dout) {
    Inputs in;
    in.q = blk.q_rows ? shard::take_rows(io.in.q, *blk.q_rows, hq * d) : io.in.q;
    in.k = part(kv, false);
    in.v = part(kv, true);
    if (!blk.kv_rows.empty()) {
      in.k = shard::take_rows(in.k, blk.kv_rows, hkv * d);
      in.v = shard::take_rows(in.v, blk.kv_rows, hkv * dv);
    }
    if (with_dout) in.dout = blk.q_rows ? shard::take_rows(io.in.dout, *blk.q_rows, hq * dv) : io.in.dout;
    return in;
  };
  std::vector<int> all_rows(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) all_rows[std::size_t(i)] = i;

  // ---- forward
  io.out.assign(std::size_t(n) * hq * dv, 0.0f);
  io.lse.assign(std::size_t(hq) * n, -std::numeric_limits<float>::infinity());
  std::vector<float> kv = pack(io.in.k, io.in.v), kv_next(kv.size());
  for (int i = 0; i < P; ++i) {
    const int src = ((r - i) % P + P) % P;
    const Block blk = block_of(src);
    std::vector<float> o, lse;
    ctx.local.forward(blk.b, block_inputs(blk, kv, false), o, lse);
    merge_block(io.out, io.lse, hq, dv, n, blk.q_rows ? *blk.q_rows : all_rows, o, lse);
    if (i + 1 < P) ring_shift(comm, kv, kv_next);
  }
  round_like_local(ctx.local, g, io.out);
  if (!ctx.grads) return;

  // ---- backward
  io.dq.assign(std::size_t(n) * hq * d, 0.0f);
  kv = pack(io.in.k, io.in.v);
  // dK rows then dV rows, like kv.
  std::vector<float> dkv_acc(kv.size(), 0.0f), dkv_next(kv.size());
  for (int i = 0; i < P; ++i) {
    const int src = ((r - i) % P + P) % P;
    const Block blk = block_of(src);
    const Inputs in = block_inputs(blk, kv, true);
    const auto& q_rows = blk.q_rows ? *blk.q_rows : all_rows;
    const std::vector<float> o = blk.q_rows ? shard::take_rows(io.out, q_rows, hq * dv) : io.out;
    const std::vector<float> lse = blk.q_rows ? take_lse(io.lse, hq, n, q_rows) : io.lse;
    std::vector<float> dq, dk, dvv;
    ctx.local.backward(blk.b, in, o, lse, dq, dk, dvv);
    add_rows(io.dq, q_rows, dq, hq * d);
    const std::vector<int>& kv_rows = blk.kv_rows.empty() ? all_rows : blk.kv_rows;
    add_rows(dkv_acc.data(), kv_rows, dk, hkv * d);
    add_rows(dkv_acc.data() + k_elems, kv_rows, dvv, hkv * dv);
    // K/V move on while there are steps left; the dK/dV accumulator always
    // does: after the last step it returns to the owner of its K/V.
    if (i + 1 < P) ring_shift(comm, kv, kv_next);
    ring_shift(comm, dkv_acc, dkv_next);
  }
  io.dk = part(dkv_acc, false);
  io.dv = part(dkv_acc, true);
  round_like_local(ctx.local, g, io.dq);
  round_like_local(ctx.local, g, io.dk);
  round_like_local(ctx.local, g, io.dv);
}

}  // namespace attncheck::dist
