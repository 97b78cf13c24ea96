// Ulysses sequence parallelism (DeepSpeed-Ulysses): trade the sequence shard
// for a head shard with all-to-alls, run the local attention over the FULL
// sequence for a subset of heads, and trade back.
//
// Rank r of P holds the contiguous layout rows [r n, (r+1) n), n = T / P
// (shard::contiguous_rows): q [n, Hq, D], k [n, Hkv, D], v [n, Hkv, Dv].
//
// Head split (ulysses::split_q_heads / split_kv_heads):
//   q  : rank j takes the Hq / P heads [j Hq/P, (j+1) Hq/P); Hq % P != 0 is
//        Error(Unsupported, "num_heads_q").
//   kv : q head h reads kv head h / G, G = Hq / Hkv.
//        Hkv % P == 0: rank j takes kv heads [j Hkv/P, (j+1) Hkv/P), exactly
//        the heads its q heads read (Hq/P = G Hkv/P), local group size G.
//        Hkv < P, P % Hkv == 0: replication. Rank j takes the ONE kv head
//        j Hkv / P; its q heads [j G/R, (j+1) G/R), R = P / Hkv, all read
//        it. Each kv head lives on R ranks, and in the backward its dK, dV
//        are the sum of those R ranks' contributions, added in rank order
//        (deterministic; dropping the sum is BUGZOO ulysses-gqa).
//        Any other Hkv is Error(Unsupported, "num_heads_kv").
//
// Forward:
//   1. seq -> heads all-to-all of q, k, v: block j of the send buffer is my
//      n rows of rank j's heads; received block i is rank i's rows of my
//      heads, so the blocks in rank order are the full sequence [T, h, dim]
//      in layout row order.
//   2. Document boundaries: each rank contributes the GLOBAL position ids of
//      its rows (built before sharding, never regenerated: BUGZOO
//      ids-after-shard) and their validity flags; both are all-gathered and
//      segment_from_position_ids_and_valid turns the full-length ids into
//      cu_seqlens / padded slots of the T-row sequence (never of the local
//      n rows: BUGZOO mask-local-len). A zero-length document of the case
//      has no ids and vanishes; real rows are unaffected.
//   3. The local attention (any mask: it sees whole documents) on the full
//      sequence with Hq/P q heads and the rank's kv heads.
//   4. heads -> seq all-to-all of O [T, Hq/P, Dv] and of LSE (head-major
//      [Hq/P, T], sent as [T, Hq/P, 1] and transposed back): io.out
//      [n, Hq, Dv], io.lse [Hq, n].
// Backward: dO goes seq -> heads like q; the local backward runs with the
// rank's full-sequence O and LSE kept from the forward; dQ goes back like O,
// dK and dV back over the kv split (replicated heads summed in rank order).
//
// Communication per rank, bytes as kernels/comm counts them (all_to_all
// sends (P-1) * block, all_gather (P-1) * send.size()); float32 payloads,
// hq = Hq/P, hkv = Hkv/P (1 when replicated):
//   forward  all_to_all  q   (P-1) n hq  D  4
//                        k   (P-1) n hkv D  4
//                        v   (P-1) n hkv Dv 4
//                        O   (P-1) n hq  Dv 4
//                        LSE (P-1) n hq     4
//            all_gather  position ids (P-1) n 4,  valid flags (P-1) n 1
//   backward all_to_all  dO  (P-1) n hq  Dv 4,  dQ (P-1) n hq D 4
//                        dK  (P-1) n hkv D  4,  dV (P-1) n hkv Dv 4
// 7 calls forward, 4 more backward. Per rank that is about T/P rows of
// activations however large P is (Ulysses' selling point); replication
// multiplies the kv terms by P/Hkv over an even split.
#include "kernels/dist/ulysses.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "harness/error.hpp"
#include "harness/packing.hpp"
#include "kernels/dist/dist.hpp"

namespace attncheck::dist {

namespace ulysses {

namespace {

// Divisors of h: the cp values a message can suggest.
std::string divisors_of(int h) {
  std::string s;
  for (int d = 1; d <= h; ++d) {
    if (h % d != 0) continue;
    s += s.empty() ? fmt::format("{}", d) : fmt::format(", {}", d);
  }
  return s;
}

void check_split(const HeadSplit& split, int P, const char* op) {
  if (int(split.first.size()) != P || split.per_rank < 1 || split.heads < 1) {
    throw std::invalid_argument(fmt::format(
        "ulysses::{}: head split for {} ranks with {} heads ({} per rank), the communicator has "
        "{} ranks",
        op, split.first.size(), split.heads, split.per_rank, P));
  }
}

// Elements per row of `data` are `row_elems`; returns the row count.
std::size_t rows_of(std::size_t size, std::size_t row_elems, const char* op) {
  if (row_elems == 0 || size % row_elems != 0) {
    throw std::invalid_argument(fmt::format(
        "ulysses::{}: {} elements are not a whole number of rows of {}", op, size, row_elems));
  }
  return size / row_elems;
}

}  // namespace

HeadSplit split_q_heads(int hq, int cp) {
  if (cp < 1) throw Error(ErrorKind::Usage, "cp", -1, fmt::format("is {}; must be >= 1", cp));
  if (hq < 1 || hq % cp != 0) {
    throw Error(ErrorKind::Unsupported, "num_heads_q", -1,
                fmt::format("ulysses: Hq = {} is not divisible by cp = {}; Ulysses gives every "
                            "rank Hq / cp whole query heads. Use a cp that divides Hq ({}), or "
                            "the ring or all-gather variant",
                            hq, cp, divisors_of(std::max(hq, 1))));
  }
  HeadSplit s{hq, hq / cp, {}};
  for (int j = 0; j < cp; ++j) s.first.push_back(j * s.per_rank);
  return s;
}

HeadSplit split_kv_heads(int hq, int hkv, int cp) {
  const HeadSplit q = split_q_heads(hq, cp);
  if (hkv < 1 || hq % hkv != 0) {
    throw Error(ErrorKind::InvalidBatch, "num_heads_kv", -1,
                fmt::format("is {}; must divide num_heads_q = {}", hkv, hq));
  }
  HeadSplit kv{hkv, 0, {}};
  if (hkv % cp == 0) {
    kv.per_rank = hkv / cp;
    for (int j = 0; j < cp; ++j) kv.first.push_back(j * kv.per_rank);
  } else if (hkv < cp && cp % hkv == 0) {
    kv.per_rank = 1;
    for (int j = 0; j < cp; ++j) kv.first.push_back(j * hkv / cp);
  } else {
    throw Error(ErrorKind::Unsupported, "num_heads_kv", -1,
                fmt::format("ulysses: Hkv = {} kv heads cannot be split over cp = {} ranks; Hkv "
                            "must be a multiple of cp (Hkv / cp heads per rank) or divide cp "
                            "(each kv head replicated on cp / Hkv ranks). Use a cp that divides "
                            "Hkv ({}) or a multiple of Hkv dividing Hq = {}",
                            hkv, cp, divisors_of(hkv), hq));
  }
  // The local attention maps local q head hh to local kv head hh / (q.per_rank
  // / kv.per_rank); that must be the head the global map h / G names.
  const int group = hq / hkv;
  if (q.per_rank % kv.per_rank != 0) {
    throw Error(ErrorKind::Unsupported, "num_heads_kv", -1,
                fmt::format("ulysses: {} q heads per rank cannot share {} kv heads evenly",
                            q.per_rank, kv.per_rank));
  }
  const int local_group = q.per_rank / kv.per_rank;
  for (int j = 0; j < cp; ++j) {
    for (int hh = 0; hh < q.per_rank; ++hh) {
      const int h = q.first[std::size_t(j)] + hh;
      if (h / group != kv.first[std::size_t(j)] + hh / local_group) {
        throw Error(ErrorKind::Unsupported, "num_heads_kv", -1,
                    fmt::format("ulysses: rank {}'s q head {} reads kv head {}, but the split "
                                "gives the rank kv heads [{}, {}) (Hq = {}, Hkv = {}, cp = {})",
                                j, h, h / group, kv.first[std::size_t(j)],
                                kv.first[std::size_t(j)] + kv.per_rank, hq, hkv, cp));
      }
    }
  }
  return kv;
}

std::vector<float> seq_to_heads(comm::Communicator& comm, const HeadSplit& split,
                                std::span<const float> local, int dim) {
  const int P = comm.size();
  check_split(split, P, "seq_to_heads");
  const std::size_t d = std::size_t(std::max(dim, 0));
  const std::size_t n = rows_of(local.size(), std::size_t(split.heads) * d, "seq_to_heads");
  const std::size_t h = std::size_t(split.per_rank);
  const std::size_t block = n * h * d;
  // Block j: my n rows of rank j's heads, [n, per_rank, dim].
  std::vector<float> send(std::size_t(P) * block);
  for (int j = 0; j < P; ++j) {
    const std::size_t first = std::size_t(split.first[std::size_t(j)]);
    for (std::size_t i = 0; i < n; ++i) {
      std::copy_n(local.begin() + std::ptrdiff_t((i * std::size_t(split.heads) + first) * d), h * d,
                  send.begin() + std::ptrdiff_t(std::size_t(j) * block + i * h * d));
    }
  }
  // Block i: rank i's rows of my heads. In rank order the blocks are the rows
  // of the full sequence, so the receive buffer is the result.
  std::vector<float> full(send.size());
  comm.all_to_all<float>(send, full);
  return full;
}

std::vector<float> heads_to_seq(comm::Communicator& comm, const HeadSplit& split,
                                std::span<const float> full, int dim) {
  const int P = comm.size();
  check_split(split, P, "heads_to_seq");
  const std::size_t d = std::size_t(std::max(dim, 0));
  const std::size_t h = std::size_t(split.per_rank);
  const std::size_t n = rows_of(full.size(), std::size_t(P) * h * d, "heads_to_seq");
  const std::size_t block = n * h * d;
  // Block j of `full` (rows [j n, (j+1) n)) goes to rank j as it is.
  std::vector<float> recv(full.size());
  comm.all_to_all<float>(full, recv);
  const std::size_t H = std::size_t(split.heads);
  std::vector<float> out(n * H * d, 0.0f);
  std::vector<bool> seen(H, false);
  for (int i = 0; i < P; ++i) {  // rank order: the sum over replicas is deterministic
    for (std::size_t hh = 0; hh < h; ++hh) {
      const std::size_t head = std::size_t(split.first[std::size_t(i)]) + hh;
      const bool add = seen[head];
      for (std::size_t row = 0; row < n; ++row) {
        const float* src = recv.data() + std::size_t(i) * block + (row * h + hh) * d;
        float* dst = out.data() + (row * H + head) * d;
        if (add) {
          for (std::size_t e = 0; e < d; ++e) dst[e] += src[e];
        } else {
          std::copy_n(src, d, dst);  // a copy, not 0 + x: keeps -0.0 and NaN payloads
        }
      }
      seen[head] = true;
    }
  }
  if (std::find(seen.begin(), seen.end(), false) != seen.end()) {
    throw std::invalid_argument(
        "ulysses::heads_to_seq: the head split leaves a head on no rank; build it with "
        "split_q_heads / split_kv_heads");
  }
  return out;
}

std::vector<float> lse_heads_to_seq(comm::Communicator& comm, const HeadSplit& split,
                                    std::span<const float> full) {
  const int P = comm.size();
  check_split(split, P, "lse_heads_to_seq");
  if (split.per_rank * P != split.heads) {
    throw std::invalid_argument(
        "ulysses::lse_heads_to_seq: LSE rows belong to q heads, which no two ranks share; pass "
        "a query head split");
  }
  const std::size_t h = std::size_t(split.per_rank);
  const std::size_t t = rows_of(full.size(), h, "lse_heads_to_seq");
  std::vector<float> token_major(full.size());  // [T, per_rank, 1]
  for (std::size_t hh = 0; hh < h; ++hh) {
    for (std::size_t row = 0; row < t; ++row) token_major[row * h + hh] = full[hh * t + row];
  }
  const std::vector<float> mine = heads_to_seq(comm, split, token_major, 1);  // [n, heads, 1]
  const std::size_t H = std::size_t(split.heads), n = mine.size() / H;
  std::vector<float> out(mine.size());  // [heads, n]
  for (std::size_t head = 0; head < H; ++head) {
    for (std::size_t row = 0; row < n; ++row) out[head * n + row] = mine[row * H + head];
  }
  return out;
}

}  // namespace ulysses

void ulysses_rank(comm::Communicator& comm, const Context& ctx, RankIo& io) {
  const shard::CpLayout& l = ctx.layout;
  const Batch& g = ctx.global;
  const int P = comm.size(), r = comm.rank();
  const int T = l.total;
  const int d = g.head_dim, dv = g.head_dim_v;
  if (io.rows != shard::contiguous_rows(l, r)) {
    throw std::logic_error(fmt::format(
        "ulysses: rank {} was given {} rows that are not its contiguous rows [{}, {}) of the "
        "layout",
        r, io.rows.size(), r * l.rows_per_rank(), (r + 1) * l.rows_per_rank()));
  }
  const ulysses::HeadSplit qs = ulysses::split_q_heads(g.num_heads_q, P);
  const ulysses::HeadSplit kvs = ulysses::split_kv_heads(g.num_heads_q, g.num_heads_kv, P);

  // Document boundaries of the full sequence from the GLOBAL ids of every
  // rank's rows (never rebuilt from the local shard).
  const std::size_t n = io.rows.size();
  std::vector<std::int32_t> my_ids(n);
  std::vector<std::uint8_t> my_valid(n);
  for (std::size_t i = 0; i < n; ++i) {
    my_ids[i] = l.position_ids[std::size_t(io.rows[i])];
    my_valid[i] = l.valid[std::size_t(io.rows[i])];
  }
  std::vector<std::int32_t> ids(std::size_t(P) * n);
  std::vector<std::uint8_t> valid(std::size_t(P) * n);
  comm.all_gather<std::int32_t>(my_ids, ids);
  comm.all_gather<std::uint8_t>(my_valid, valid);
  const Segmentation seg = segment_from_position_ids_and_valid(ids, valid);

  Batch b = g;
  b.num_heads_q = qs.per_rank;
  b.num_heads_kv = kvs.per_rank;
  apply_segmentation(b, seg, seg);
  b.position_ids.reset();

  auto expect = [&](const std::vector<float>& x, std::size_t want, const char* what) {
    if (x.size() != want) {
      throw std::logic_error(
          fmt::format("ulysses: the local attention ({}) returned {} {} "
                      "elements, expected {}",
                      ctx.local.name, x.size(), what, want));
    }
  };
  const std::size_t rows = std::size_t(T), hq = std::size_t(qs.per_rank);

  // ---- forward
  Inputs in;
  in.q = ulysses::seq_to_heads(comm, qs, io.in.q, d);
  in.k = ulysses::seq_to_heads(comm, kvs, io.in.k, d);
  in.v = ulysses::seq_to_heads(comm, kvs, io.in.v, dv);
  std::vector<float> o, lse;
  ctx.local.forward(b, in, o, lse);
  expect(o, rows * hq * std::size_t(dv), "out");
  expect(lse, hq * rows, "lse");
  // The backward reads O as the rank stores it.
  round_like_local(ctx.local, g, o);
  io.out = ulysses::heads_to_seq(comm, qs, o, dv);
  io.lse = ulysses::lse_heads_to_seq(comm, qs, lse);
  round_like_local(ctx.local, g, io.out);
  if (!ctx.grads) return;

  // ---- backward
  in.dout = ulysses::seq_to_heads(comm, qs, io.in.dout, dv);
  std::vector<float> dq, dk, dvv;
  ctx.local.backward(b, in, o, lse, dq, dk, dvv);
  expect(dq, rows * hq * std::size_t(d), "dq");
  expect(dk, rows * std::size_t(kvs.per_rank) * std::size_t(d), "dk");
  expect(dvv, rows * std::size_t(kvs.per_rank) * std::size_t(dv), "dv");
  io.dq = ulysses::heads_to_seq(comm, qs, dq, d);
  io.dk = ulysses::heads_to_seq(comm, kvs, dk, d);  // replicated heads summed in rank order
  io.dv = ulysses::heads_to_seq(comm, kvs, dvv, dv);
  round_like_local(ctx.local, g, io.dq);
  round_like_local(ctx.local, g, io.dk);
  round_like_local(ctx.local, g, io.dv);
}

}  // namespace attncheck::dist
