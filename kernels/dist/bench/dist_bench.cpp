// dist-bench: communication volume and CPU time of the sequence-parallel
// variants (kernels/dist) on the threads backend.
//
// For each variant and cp: the bytes each rank sent in a forward pass (and in
// forward + backward) as comm::Traffic counts them, against the analytic
// volume of the algorithm, and the wall time per case against single-device
// flash on the same case (both on simt, this machine's CPU).
//
// Analytic forward volume per rank, N = tokens of the CP layout (every
// sequence padded to a multiple of 2 cp), P = cp, e = 4 bytes (values travel
// as float32), h_kv = Hkv * (D + Dv) / 2, h = H * D:
//   ring      : K and V of one shard pass P - 1 hops: (P-1) * (N/P) * Hkv*(D+Dv) * e
//               = 2 N h_kv (P-1)/P elements
//   allgather : the same volume, in one all-gather of K and V
//   ulysses   : all-to-all of Q, K, V and back of O, each (P-1)/P^2 of the
//               tensor: (P-1)/P^2 * N * (Hq*D + Hkv'*(D+Dv)... + Hq*Dv) * e, i.e.
//               4 N h (P-1)/P^2 for MHA with D = Dv ("4 N h / P per link" over
//               P - 1 links, each carrying 1/P of it); plus the LSE that
//               travels back with O ((P-1)/P^2 * N * Hq values) and the
//               all-gather of position ids and validity flags,
//               (P-1) * (N/P) * 5 bytes.
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <random>

#include "harness/impl_flash.hpp"
#include "harness/shard.hpp"
#include "kernels/dist/dist.hpp"

using namespace attncheck;

namespace {

Case make_case(int docs, int len, int hq, int hkv, int d) {
  Case c;
  Batch& b = c.batch;
  b.num_heads_q = hq;
  b.num_heads_kv = hkv;
  b.head_dim = b.head_dim_v = d;
  b.mask.causal = true;
  b.softmax_scale = 1.0 / std::sqrt(double(d));
  std::vector<std::int32_t> ids;
  for (int i = 0; i < docs; ++i) {
    const int l = len - 3 * i;  // uneven lengths, not multiples of 2 cp
    b.cu_seqlens_q.push_back(b.cu_seqlens_q.back() + l);
    for (int t = 0; t < l; ++t) ids.push_back(t);
  }
  b.cu_seqlens_kv = b.cu_seqlens_q;
  b.total_q = b.total_kv = b.cu_seqlens_q.back();
  b.position_ids = ids;
  std::mt19937_64 rng(5);
  std::normal_distribution<float> nd;
  for (auto* x : {&c.inputs.q, &c.inputs.k, &c.inputs.v, &c.inputs.dout}) {
    x->resize(x == &c.inputs.k || x == &c.inputs.v ? b.k_elems() : b.q_elems());
    for (float& v : *x) v = nd(rng);
  }
  return c;
}

double seconds(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double analytic_forward(dist::Variant v, const Batch& b, int n, int p) {
  const double e = 4.0, P = p, N = n;
  const double kv_row = double(b.num_heads_kv) * (b.head_dim + b.head_dim_v);
  switch (v) {
    case dist::Variant::Ring:
    case dist::Variant::AllGather: return (P - 1) * (N / P) * kv_row * e;
    case dist::Variant::Ulysses: {
      // kv heads per rank: Hkv/P, or 1 replicated head when Hkv < P.
      const double kv_heads = b.num_heads_kv >= p ? double(b.num_heads_kv) / P : 1.0;
      const double per_rank_rows = N / P;
      const double q = (P - 1) * per_rank_rows * (b.num_heads_q / P) * b.head_dim;
      const double kv = (P - 1) * per_rank_rows * kv_heads * (b.head_dim + b.head_dim_v);
      // O and its LSE travel back: Dv + 1 values per row and head.
      const double o = (P - 1) * per_rank_rows * (b.num_heads_q / P) * (b.head_dim_v + 1);
      return (q + kv + o) * e + (P - 1) * per_rank_rows * 5.0;
    }
  }
  return 0;
}

}  // namespace

int main() {
  const int docs = 4, len = 256, hq = 8, d = 64;
  fmt::print("dist-bench: {} causal documents of ~{} tokens, Hq={}, D=Dv={}, threads backend, "
             "values sent as float32\n\n", docs, len, hq, d);
  for (int hkv : {8, 2}) {
    const Case c = make_case(docs, len, hq, hkv, d);
    Results<float> single;
    single.out.assign(c.batch.o_elems(), 0.0f);
    single.lse.assign(c.batch.lse_elems(), 0.0f);
    single.dq.assign(c.batch.q_elems(), 0.0f);
    single.dk.assign(c.batch.k_elems(), 0.0f);
    single.dv.assign(c.batch.v_elems(), 0.0f);
    const double t_single = seconds([&] { simt_backend::run_flash(c, true, single); });
    fmt::print("Hkv={} ({} tokens): single-device flash (simt) fwd+bwd {:.3f} s\n", hkv,
               c.batch.total_q, t_single);
    fmt::print("{:<10} {:>3} {:>7} {:>14} {:>14} {:>7} {:>16} {:>10} {:>10} {:>8}\n", "variant",
               "cp", "N", "fwd B/rank", "analytic", "ratio", "fwd+bwd B/rank", "ref s",
               "flash s", "vs 1dev");
    for (dist::Variant v : {dist::Variant::Ring, dist::Variant::Ulysses, dist::Variant::AllGather}) {
      for (int cp : {2, 4, 8}) {
        if (dist::refusal(v, cp, c.batch)) {
          fmt::print("{:<10} {:>3}  refused: {}\n", dist::to_string(v), cp,
                     *dist::refusal(v, cp, c.batch));
          continue;
        }
        const int n = shard::make_cp_layout(c.batch, cp).total;
        Results<float> out;
        std::vector<comm::Traffic> tf, tb;
        dist::run_variant(v, cp, dist::reference_local(), c, false, out, &tf);
        const double t_ref = seconds([&] { dist::run_variant(v, cp, dist::reference_local(), c, true, out, &tb); });
        const double t_flash = seconds([&] { dist::run_variant(v, cp, dist::flash_simt_local(), c, true, out); });
        std::uint64_t fmax = 0, fmin = UINT64_MAX, bmax = 0;
        for (const auto& t : tf) {
          fmax = std::max(fmax, t.total());
          fmin = std::min(fmin, t.total());
        }
        for (const auto& t : tb) bmax = std::max(bmax, t.total());
        const double a = analytic_forward(v, c.batch, n, cp);
        fmt::print("{:<10} {:>3} {:>7} {:>14} {:>14.0f} {:>7.4f} {:>16} {:>10.3f} {:>10.3f} {:>7.2f}x{}\n",
                   dist::to_string(v), cp, n, fmax, a, double(fmax) / a, bmax, t_ref, t_flash,
                   t_flash / t_single, fmin != fmax ? " (ranks differ)" : "");
      }
    }
    fmt::print("\n");
  }
  return 0;
}
