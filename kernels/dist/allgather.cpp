// All-gather context parallelism (Llama 3 / TorchTitan): K and V of every
// rank are all-gathered and put back in global layout order; each of the
// rank's two zigzag chunks then attends to its sequence's keys as one block:
//   causal: chunk ch of sequence s (positions [ch c, (ch+1) c)) against the
//           key prefix [0, min(len, (ch+1) c)). With the contract's
//           bottom-right alignment, query i of the chunk sits at key position
//           i + Lk - Lq = ch c + i: its true position, so left windows and
//           chunked attention (chunks counted from the document start) hold.
//   no mask: the chunk against all len keys.
// Backward: each rank's dK, dV cover every key; they are reduced to their
// owners with an all-to-all (block j: the rows rank j holds) and summed in
// rank order, so the result is deterministic (a reduce-scatter).
#include <algorithm>

#include "kernels/dist/blocks.hpp"
#include "kernels/dist/dist.hpp"

namespace attncheck::dist {

void allgather_rank(comm::Communicator& comm, const Context& ctx, RankIo& io) {
  const shard::CpLayout& l = ctx.layout;
  const Batch& g = ctx.global;
  const int P = comm.size(), r = comm.rank();
  const int n = l.rows_per_rank();
  const int hq = g.num_heads_q, hkv = g.num_heads_kv, d = g.head_dim, dv = g.head_dim_v;

  // Gather K and V; rank j's block holds its zigzag rows.
  std::vector<float> k_all(std::size_t(P) * io.in.k.size()), v_all(std::size_t(P) * io.in.v.size());
  comm.all_gather<float>(io.in.k, k_all);
  comm.all_gather<float>(io.in.v, v_all);
  std::vector<float> k(std::size_t(l.total) * hkv * d), v(std::size_t(l.total) * hkv * dv);
  std::vector<std::vector<int>> owner_rows(static_cast<std::size_t>(P));
  for (int j = 0; j < P; ++j) {
    owner_rows[std::size_t(j)] = shard::zigzag_rows(l, j);
    const std::size_t kb = io.in.k.size(), vb = io.in.v.size();
    shard::put_rows(k, owner_rows[std::size_t(j)],
                    std::span<const float>(k_all).subspan(std::size_t(j) * kb, kb), hkv * d);
    shard::put_rows(v, owner_rows[std::size_t(j)],
                    std::span<const float>(v_all).subspan(std::size_t(j) * vb, vb), hkv * dv);
  }

  // The two chunks of this rank: local rows, query batch, key batch.
  struct Part {
    std::vector<int> rows;
    Batch b;
  };
  std::vector<Part> parts;
  for (bool second : {false, true}) {
    const int ch = second ? 2 * P - 1 - r : r;
    Batch qb = chunk_batch(l, g, [&](int) { return ch; });
    Batch b = qb;
    b.cu_seqlens_kv = {0};
    for (int s = 0; s < l.num_seqs(); ++s) {
      const int keys = g.mask.causal ? std::min(l.len(s), (ch + 1) * l.chunk(s)) : l.len(s);
      b.cu_seqlens_kv.push_back(b.cu_seqlens_kv.back() + keys);
    }
    b.cu_seqlens_kv_padded = l.cu_seqlens_padded;
    b.total_kv = l.total;
    b.mask = g.mask;
    parts.push_back({half_rows(l, second), b});
  }

  io.out.assign(std::size_t(n) * hq * dv, 0.0f);
  io.lse.assign(std::size_t(hq) * n, 0.0f);
  for (const Part& p : parts) {
    Inputs in;
    in.q = shard::take_rows(io.in.q, p.rows, hq * d);
    in.k = k;
    in.v = v;
    std::vector<float> o, lse;
    ctx.local.forward(p.b, in, o, lse);
    shard::put_rows(io.out, p.rows, o, hq * dv);
    put_lse(io.lse, hq, n, p.rows, lse);
  }
  round_like_local(ctx.local, g, io.out);
  if (!ctx.grads) return;

  io.dq.assign(std::size_t(n) * hq * d, 0.0f);
  std::vector<float> dk_full(k.size(), 0.0f), dv_full(v.size(), 0.0f);
  for (const Part& p : parts) {
    Inputs in;
    in.q = shard::take_rows(io.in.q, p.rows, hq * d);
    in.k = k;
    in.v = v;
    in.dout = shard::take_rows(io.in.dout, p.rows, hq * dv);
    const auto o = shard::take_rows(io.out, p.rows, hq * dv);
    const auto lse = take_lse(io.lse, hq, n, p.rows);
    std::vector<float> dq, dk, dvv;
    ctx.local.backward(p.b, in, o, lse, dq, dk, dvv);
    shard::put_rows(io.dq, p.rows, dq, hq * d);
    for (std::size_t e = 0; e < dk.size(); ++e) dk_full[e] += dk[e];
    for (std::size_t e = 0; e < dvv.size(); ++e) dv_full[e] += dvv[e];
  }
  // Reduce-scatter through all-to-all: block j = the rows rank j owns.
  auto reduce_to_owners = [&](const std::vector<float>& full, int row_elems) {
    std::vector<float> send;
    send.reserve(std::size_t(P) * std::size_t(n) * row_elems);
    for (int j = 0; j < P; ++j) {
      const auto part = shard::take_rows(full, owner_rows[std::size_t(j)], row_elems);
      send.insert(send.end(), part.begin(), part.end());
    }
    std::vector<float> recv(send.size());
    comm.all_to_all<float>(send, recv);
    std::vector<float> mine(std::size_t(n) * row_elems, 0.0f);
    for (int j = 0; j < P; ++j) {  // rank order: deterministic
      for (std::size_t e = 0; e < mine.size(); ++e) mine[e] += recv[std::size_t(j) * mine.size() + e];
    }
    return mine;
  };
  io.dk = reduce_to_owners(dk_full, hkv * d);
  io.dv = reduce_to_owners(dv_full, hkv * dv);
  round_like_local(ctx.local, g, io.dq);
  round_like_local(ctx.local, g, io.dk);
  round_like_local(ctx.local, g, io.dv);
}

}  // namespace attncheck::dist
