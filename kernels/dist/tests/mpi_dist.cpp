// The sequence-parallel variants across MPI processes (kernels/comm mpi
// backend), run by ctest under `mpiexec -n 2` and `-n 4`: every process shards
// the same case, runs its rank and all-gathers the results (dist::run_on).
// Each variant, with both local attentions, must give exactly the bits the
// threads backend gives (the same algorithm on the same data), and match the
// float64 reference. Exit 0 when every process passed, 1 otherwise.
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/comm/mpi.hpp"
#include "kernels/dist/dist.hpp"
#include "reference/attention.hpp"

using namespace attncheck;

namespace {

Case make_case(MaskSpec mask) {
  Case c;
  Batch& b = c.batch;
  b.num_heads_q = 8;
  b.num_heads_kv = 2;
  b.head_dim = 16;
  b.head_dim_v = 8;
  b.mask = mask;
  b.softmax_scale = 0.25;
  b.cu_seqlens_q = b.cu_seqlens_kv = {0, 13, 14, 14, 37};
  b.cu_seqlens_q_padded = b.cu_seqlens_kv_padded = std::vector<std::int32_t>{0, 15, 16, 19, 42};
  b.total_q = b.total_kv = 45;
  std::vector<std::int32_t> ids(45, 9);
  for (int s = 0; s < b.num_seqs(); ++s) {
    for (int t = 0; t < b.q_len(s); ++t) ids[std::size_t(b.q_start(s) + t)] = t;
  }
  b.position_ids = ids;
  std::mt19937_64 rng(42);
  std::normal_distribution<float> nd;
  for (auto* x : {&c.inputs.q, &c.inputs.k, &c.inputs.v, &c.inputs.dout}) {
    const std::size_t n = x == &c.inputs.q ? b.q_elems()
                          : x == &c.inputs.k ? b.k_elems()
                          : x == &c.inputs.v ? b.v_elems()
                                             : b.o_elems();
    x->resize(n);
    for (float& v : *x) v = nd(rng);
  }
  return c;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

double max_rel(const std::vector<float>& got, const std::vector<double>& want) {
  double scale = 1e-30, err = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (std::isinf(want[i])) {
      if (got[i] != want[i]) return INFINITY;
      continue;
    }
    scale = std::max(scale, std::abs(want[i]));
    const double e = std::abs(double(got[i]) - want[i]);
    err = std::isnan(e) ? INFINITY : std::max(err, e);
  }
  return err / scale;
}

}  // namespace

int main(int argc, char** argv) {
  comm::MpiSession session(argc, argv);
  comm::MpiCommunicator world;
  const int p = world.size();
  int failures = 0;
  for (const MaskSpec mask : {MaskSpec{.causal = true}, MaskSpec{}}) {
    const Case c = make_case(mask);
    const auto ref = reference::attention<double>(c.batch, c.inputs, true);
    for (dist::Variant v : {dist::Variant::Ring, dist::Variant::Ulysses, dist::Variant::AllGather}) {
      for (const auto& local : {dist::reference_local(), dist::flash_simt_local()}) {
        const std::string what = fmt::format("{} cp={} {} {}", dist::to_string(v), p, local.name,
                                             mask.causal ? "causal" : "no mask");
        if (auto why = dist::refusal(v, p, c.batch)) {
          if (world.rank() == 0) fmt::print("skip {}: {}\n", what, *why);
          continue;
        }
        Results<float> on_mpi, on_threads;
        try {
          dist::run_on(v, world, local, c, true, on_mpi);
          dist::run_variant(v, p, local, c, true, on_threads);
        } catch (const std::exception& e) {
          fmt::print("rank {}: FAIL {}: {}\n", world.rank(), what, e.what());
          ++failures;
          continue;
        }
        const bool bits = same_bits(on_mpi.out, on_threads.out) && same_bits(on_mpi.lse, on_threads.lse) &&
                          same_bits(on_mpi.dq, on_threads.dq) && same_bits(on_mpi.dk, on_threads.dk) &&
                          same_bits(on_mpi.dv, on_threads.dv);
        const double tol = local.rounds_to_dtype ? 1e-5 : 2e-6;
        const double err = std::max({max_rel(on_mpi.out, ref.out), max_rel(on_mpi.lse, ref.lse),
                                     max_rel(on_mpi.dq, ref.dq), max_rel(on_mpi.dk, ref.dk),
                                     max_rel(on_mpi.dv, ref.dv)});
        const bool ok = bits && err <= tol;
        if (!ok) ++failures;
        if (world.rank() == 0 || !ok) {
          fmt::print("rank {}: {} {}: same bits as threads: {}, max rel error vs reference {:.2e} (tol {:.0e})\n",
                     world.rank(), ok ? "ok  " : "FAIL", what, bits ? "yes" : "NO", err, tol);
        }
      }
    }
  }
  std::vector<double> flag{double(failures)};
  world.all_reduce_sum(std::span<double>(flag));
  if (world.rank() == 0) fmt::print("{} failure(s) over {} processes\n", flag[0], p);
  return flag[0] == 0 ? 0 : 1;
}
