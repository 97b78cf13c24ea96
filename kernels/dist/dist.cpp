#include "kernels/dist/dist.hpp"

#include <fmt/format.h>

#include <limits>
#include <mutex>

#include "harness/error.hpp"
#include "kernels/comm/threads.hpp"

namespace attncheck::dist {

const char* to_string(Variant v) {
  switch (v) {
    case Variant::Ring: return "ring";
    case Variant::Ulysses: return "ulysses";
    case Variant::AllGather: return "allgather";
  }
  return "?";
}

Support support(Variant v) {
  switch (v) {
    // TransformerEngine's P2P ring: causal or no mask, no sliding windows.
    case Variant::Ring: return {.non_causal = true, .windows = false, .chunked = false};
    // Each query chunk against the gathered key prefix: causal masks (with
    // left windows and chunks) and no mask.
    case Variant::AllGather:
      return {.non_causal = true, .windows = true, .chunked = true, .windows_need_causal = true};
    // Full sequences per head after the all-to-all: every mask; document
    // boundaries come from the gathered position ids.
    case Variant::Ulysses:
      return {.non_causal = true,
              .windows = true,
              .chunked = true,
              .needs_position_ids = true,
              .splits_heads = true};
  }
  return {};
}

std::optional<std::string> refusal(Variant v, int cp, const Batch& b) {
  const Support sup = support(v);
  const char* name = to_string(v);
  if (cp < 1) return fmt::format("{}: cp = {} must be >= 1", name, cp);
  for (int s = 0; s < b.num_seqs(); ++s) {
    if (b.q_len(s) != b.kv_len(s)) {
      return fmt::format("{}: sequence {} has Lq != Lk (context parallelism is self-attention)",
                         name, s);
    }
  }
  if (!sup.windows && b.mask.has_window()) return fmt::format("{}: no sliding windows", name);
  if (!sup.chunked && b.mask.chunk_size > 0) return fmt::format("{}: no chunked attention", name);
  if (sup.windows_need_causal && !b.mask.causal && (b.mask.has_window() || b.mask.chunk_size > 0)) {
    return fmt::format("{}: windows and chunks only with causal masks", name);
  }
  if (sup.splits_heads) {
    if (b.num_heads_q % cp != 0) {
      return fmt::format("{}: Hq = {} is not divisible by cp = {} (heads are split over ranks)",
                         name, b.num_heads_q, cp);
    }
    if (b.num_heads_kv % cp != 0 && cp % b.num_heads_kv != 0) {
      return fmt::format("{}: Hkv = {} neither divides nor is divisible by cp = {}", name,
                         b.num_heads_kv, cp);
    }
  }
  return std::nullopt;
}

void round_like_local(const LocalAttention& local, const Batch& b, std::vector<float>& x) {
  if (local.rounds_to_dtype) round_to(b.dtype, x);
}

Sharded shard_case(Variant v, int cp, const Case& c, bool grads) {
  const Batch& b = c.batch;
  const Support sup = support(v);
  if (auto why = refusal(v, cp, b)) throw Error(ErrorKind::Unsupported, "batch", -1, *why);
  Sharded sh{shard::make_cp_layout(b, cp, sup.needs_position_ids), {}, {}, grads};
  sh.global = shard::layout_batch(sh.layout, b);
  const int hq = b.num_heads_q, hkv = b.num_heads_kv, d = b.head_dim, dv = b.head_dim_v;
  // The global inputs in layout order; each rank takes its rows.
  // Padding rows of the layout hold NaN: a rank that reads one breaks loudly.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto q = shard::to_layout(sh.layout, c.inputs.q, hq * d, false, nan);
  const auto k = shard::to_layout(sh.layout, c.inputs.k, hkv * d, true, nan);
  const auto vv = shard::to_layout(sh.layout, c.inputs.v, hkv * dv, true, nan);
  const auto dout = grads ? shard::to_layout(sh.layout, c.inputs.dout, hq * dv, false, nan)
                          : std::vector<float>{};
  sh.io.resize(static_cast<std::size_t>(cp));
  for (int r = 0; r < cp; ++r) {
    RankIo& x = sh.io[std::size_t(r)];
    x.rows = v == Variant::Ulysses ? shard::contiguous_rows(sh.layout, r)
                                   : shard::zigzag_rows(sh.layout, r);
    x.in.q = shard::take_rows(q, x.rows, hq * d);
    x.in.k = shard::take_rows(k, x.rows, hkv * d);
    x.in.v = shard::take_rows(vv, x.rows, hkv * dv);
    if (grads) x.in.dout = shard::take_rows(dout, x.rows, hq * dv);
  }
  return sh;
}

void run_rank(Variant v, comm::Communicator& comm, const Sharded& sh,
              const LocalAttention& local, RankIo& io) {
  const Context ctx{sh.layout, sh.global, local, sh.grads};
  switch (v) {
    case Variant::Ring: ring_rank(comm, ctx, io); break;
    case Variant::Ulysses: ulysses_rank(comm, ctx, io); break;
    case Variant::AllGather: allgather_rank(comm, ctx, io); break;
  }
}

void unshard(Variant v, const Sharded& sh, const Case& c, Results<float>& out) {
  const Batch& b = c.batch;
  const shard::CpLayout& layout = sh.layout;
  const int cp = layout.cp;
  const bool grads = sh.grads;
  const int hq = b.num_heads_q, hkv = b.num_heads_kv, d = b.head_dim, dv = b.head_dim_v;
  // Local results back to the layout, then to the case.
  const int t = layout.total;
  std::vector<float> o_l(std::size_t(t) * hq * dv, 0.0f);
  std::vector<float> lse_l(std::size_t(hq) * t, -std::numeric_limits<float>::infinity());
  std::vector<float> dq_l, dk_l, dv_l;
  if (grads) {
    dq_l.assign(std::size_t(t) * hq * d, 0.0f);
    dk_l.assign(std::size_t(t) * hkv * d, 0.0f);
    dv_l.assign(std::size_t(t) * hkv * dv, 0.0f);
  }
  for (const RankIo& x : sh.io) {
    const std::size_t n = x.rows.size();
    auto expect = [&](const std::vector<float>& got, std::size_t want, const char* what) {
      if (got.size() != want) {
        throw std::logic_error(fmt::format("{}: a rank returned {} {} elements, expected {}",
                                           to_string(v), got.size(), what, want));
      }
    };
    expect(x.out, n * hq * dv, "out");
    expect(x.lse, n * hq, "lse");
    shard::put_rows(o_l, x.rows, x.out, hq * dv);
    for (int h = 0; h < hq; ++h) {
      for (std::size_t i = 0; i < n; ++i) {
        lse_l[std::size_t(h) * t + std::size_t(x.rows[i])] = x.lse[std::size_t(h) * n + i];
      }
    }
    if (grads) {
      expect(x.dq, n * hq * d, "dq");
      expect(x.dk, n * hkv * d, "dk");
      expect(x.dv, n * hkv * dv, "dv");
      shard::put_rows(dq_l, x.rows, x.dq, hq * d);
      shard::put_rows(dk_l, x.rows, x.dk, hkv * d);
      shard::put_rows(dv_l, x.rows, x.dv, hkv * dv);
    }
  }
  // The layout's own padding rows (sequences padded to 2*cp) must come back
  // as the contract says: a rank that leaves garbage there is wrong even
  // though those rows are not the case's.
  auto check_pad = [&](const std::vector<float>& x, int row_elems, const char* what, float want) {
    for (int r = 0; r < t; ++r) {
      if (layout.valid[std::size_t(r)]) continue;
      for (int e = 0; e < row_elems; ++e) {
        const float got = x[std::size_t(r) * row_elems + std::size_t(e)];
        if (!(got == want)) {
          // A wrong result, not a capability gap: the properties report it as a failure.
          throw std::runtime_error(
              fmt::format("{}: {}[{}]: padding row {} of the cp={} layout holds {} (expected {})",
                          to_string(v), what, std::int64_t(r) * row_elems + e, r, cp, got, want));
        }
      }
    }
  };
  check_pad(o_l, hq * dv, "out", 0.0f);
  {
    std::vector<float> lse_t(std::size_t(t) * hq);  // token-major copy for the check
    for (int h = 0; h < hq; ++h) {
      for (int r = 0; r < t; ++r) lse_t[std::size_t(r) * hq + std::size_t(h)] = lse_l[std::size_t(h) * t + std::size_t(r)];
    }
    check_pad(lse_t, hq, "lse", -std::numeric_limits<float>::infinity());
  }
  if (grads) {
    check_pad(dq_l, hq * d, "dq", 0.0f);
    check_pad(dk_l, hkv * d, "dk", 0.0f);
    check_pad(dv_l, hkv * dv, "dv", 0.0f);
  }
  out.out = shard::from_layout(layout, o_l, hq * dv, false, b.total_q);
  out.lse = shard::lse_from_layout(layout, lse_l, hq, b.total_q);
  if (grads) {
    out.dq = shard::from_layout(layout, dq_l, hq * d, false, b.total_q);
    out.dk = shard::from_layout(layout, dk_l, hkv * d, true, b.total_kv);
    out.dv = shard::from_layout(layout, dv_l, hkv * dv, true, b.total_kv);
  }
}


void run_variant(Variant v, int cp, const LocalAttention& local, const Case& c, bool grads,
                 Results<float>& out, std::vector<comm::Traffic>* traffic) {
  Sharded sh = shard_case(v, cp, c, grads);
  std::vector<comm::Traffic> tr(static_cast<std::size_t>(cp));
  comm::run_threads(cp, [&](comm::Communicator& comm) {
    run_rank(v, comm, sh, local, sh.io[std::size_t(comm.rank())]);
    tr[std::size_t(comm.rank())] = comm.traffic();
  });
  if (traffic) *traffic = tr;
  unshard(v, sh, c, out);
}

void run_on(Variant v, comm::Communicator& comm, const LocalAttention& local, const Case& c,
            bool grads, Results<float>& out) {
  Sharded sh = shard_case(v, comm.size(), c, grads);
  RankIo& mine = sh.io[std::size_t(comm.rank())];
  run_rank(v, comm, sh, local, mine);
  // Every rank's results to every rank (equal sizes: n rows each).
  auto gather = [&](std::vector<float> RankIo::*field) {
    const std::vector<float>& local_part = mine.*field;
    std::vector<float> all(local_part.size() * sh.io.size());
    comm.all_gather<float>(local_part, all);
    for (std::size_t j = 0; j < sh.io.size(); ++j) {
      (sh.io[j].*field).assign(all.begin() + std::ptrdiff_t(j * local_part.size()),
                               all.begin() + std::ptrdiff_t((j + 1) * local_part.size()));
    }
  };
  gather(&RankIo::out);
  gather(&RankIo::lse);
  if (grads) {
    gather(&RankIo::dq);
    gather(&RankIo::dk);
    gather(&RankIo::dv);
  }
  unshard(v, sh, c, out);
}

}  // namespace attncheck::dist
