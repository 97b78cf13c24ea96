// flash-bench: times kernels/flash forward and backward on one packed batch
// shape per line and prints TFLOP/s with flash-attention's count:
//   forward 4 * B * S^2 * H * D (halved when causal), backward 2.5 x forward.
// Built natively (flash-bench-cuda, for a GPU) and on simt (flash-bench, a
// CPU smoke run of the same code at small sizes, with the kernels built for
// the race detector so that --bank-conflicts also sees plain shared-memory
// loads and stores). --kernels picks the simple kernels, the tensor-core
// ones (tc) or both.
#include <cuda_bf16.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/flash/flash.hpp"  // and the runtime API of this build
#if !defined(ATTNCHECK_NATIVE_CUDA)
#include "kernels/simt/simt.hpp"
#endif

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "flash-bench: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(2);
  }
}

struct Shape {
  int batch, seqlen, heads, dim;
  bool causal;
};

// Mean milliseconds of `fn` over `reps` runs after one warm-up.
template <typename F>
float time_ms(int reps, F&& fn) {
  fn();
  check(cudaDeviceSynchronize(), "warm-up");
  cudaEvent_t a, b;
  check(cudaEventCreate(&a), "cudaEventCreate");
  check(cudaEventCreate(&b), "cudaEventCreate");
  check(cudaEventRecord(a, nullptr), "cudaEventRecord");
  for (int i = 0; i < reps; ++i) fn();
  check(cudaEventRecord(b, nullptr), "cudaEventRecord");
  check(cudaEventSynchronize(b), "cudaEventSynchronize");
  float ms = 0.0f;
  check(cudaEventElapsedTime(&ms, a, b), "cudaEventElapsedTime");
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms / float(reps);
}

void* device_random(std::size_t elems, std::mt19937& rng) {
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<__nv_bfloat16> host(elems);
  for (auto& x : host) x = __float2bfloat16_rn(n(rng));
  void* d = nullptr;
  check(cudaMalloc(&d, elems * sizeof(__nv_bfloat16)), "cudaMalloc");
  check(cudaMemcpy(d, host.data(), elems * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "flash-bench: kernels/flash forward/backward throughput (bfloat16), simple and tensor-core "
      "kernels"};
  std::vector<int> seqlens{512, 1024, 2048, 4096, 8192, 16384};
  std::vector<int> dims{64, 128};
  int tokens = 16384, heads = 16, reps = 10;
  bool csv = false, banks = false;
  std::vector<std::string> kernels{"simple", "tc"};
  app.add_option("--kernels", kernels, "simple (one thread per row) and/or tc (tensor cores)")
      ->delimiter(',')
      ->check(CLI::IsMember({"simple", "tc"}));
#if !defined(ATTNCHECK_NATIVE_CUDA)
  app.add_flag("--bank-conflicts", banks,
               "run each shape once and print simt's shared-memory bank-conflict counts per "
               "kernel instead of times");
#endif
  app.add_option("--seqlens", seqlens, "sequence lengths")->delimiter(',');
  app.add_option("--dims", dims, "head dims")->delimiter(',');
  app.add_option("--tokens", tokens, "tokens per batch (batch = tokens / seqlen, at least 1)");
  app.add_option("--heads", heads, "heads (Hq = Hkv)");
  app.add_option("--reps", reps, "timed repetitions");
  app.add_flag("--csv", csv, "machine-readable output");
  CLI11_PARSE(app, argc, argv);

#if !defined(ATTNCHECK_NATIVE_CUDA)
  if (banks) {
    simt::Config c = simt::config();
    c.count_bank_conflicts = true;
    simt::set_config(c);
    simt::reset_shared_memory_stats();
    reps = 0;
  }
#endif
  if (banks) {
    // Times are not printed: the table of counts follows the runs.
  } else if (csv) {
    std::printf("kernel,seqlen,dim,causal,batch,heads,fwd_ms,bwd_ms,fwd_tflops,bwd_tflops\n");
  } else {
    std::printf("%6s %6s %4s %6s %5s %5s %10s %10s %10s %10s\n", "kernel", "seqlen", "dim",
                "causal", "batch", "heads", "fwd ms", "bwd ms", "fwd TF/s", "bwd TF/s");
  }
  std::mt19937 rng(1);
  for (const std::string& kernel : kernels) {
    const bool tc = kernel == "tc";
    for (int dim : dims) {
      for (int s : seqlens) {
        for (bool causal : {false, true}) {
          const Shape sh{std::max(1, tokens / s), s, heads, dim, causal};
          const int total = sh.batch * s;
          const std::size_t qe = std::size_t(total) * heads * dim;
          std::vector<int> cu(std::size_t(sh.batch) + 1);
          for (int b = 0; b <= sh.batch; ++b) cu[std::size_t(b)] = b * s;
          int* dcu = nullptr;
          check(cudaMalloc(reinterpret_cast<void**>(&dcu), cu.size() * sizeof(int)), "cudaMalloc");
          check(cudaMemcpy(dcu, cu.data(), cu.size() * sizeof(int), cudaMemcpyHostToDevice),
                "cudaMemcpy");
          attncheck::flash::BwdParams p;
          p.q = device_random(qe, rng);
          p.k = device_random(qe, rng);
          p.v = device_random(qe, rng);
          p.dout = device_random(qe, rng);
          void *o, *dq, *dk, *dv, *lse, *work;
          for (void** x : {&o, &dq, &dk, &dv}) check(cudaMalloc(x, qe * 2), "cudaMalloc");
          for (void** x : {&lse, &work})
            check(cudaMalloc(x, std::size_t(total) * heads * 4), "cudaMalloc");
          p.o = o;
          p.dq = dq;
          p.dk = dk;
          p.dv = dv;
          p.lse = static_cast<float*>(lse);
          p.workspace = static_cast<float*>(work);
          p.cu_seqlens_q = p.cu_seqlens_kv = dcu;
          p.batch = sh.batch;
          p.total_q = p.total_kv = total;
          p.heads_q = p.heads_kv = heads;
          p.head_dim = p.head_dim_v = dim;
          p.max_seqlen_q = p.max_seqlen_kv = s;
          p.softmax_scale = 1.0f / std::sqrt(float(dim));
          p.mask.causal = causal;
          p.dtype = attncheck::flash::Dtype::BFloat16;
          auto forward = [&] {
            check(tc ? attncheck::flash::tc_forward(p, nullptr)
                     : attncheck::flash::forward(p, nullptr),
                  "forward");
          };
          auto backward = [&] {
            check(tc ? attncheck::flash::tc_backward(p, nullptr)
                     : attncheck::flash::backward(p, nullptr),
                  "backward");
          };
          if (banks) {
            forward();
            backward();
            check(cudaDeviceSynchronize(), "run");
            for (const void* x : {p.q, p.k, p.v, p.dout}) cudaFree(const_cast<void*>(x));
            for (void* x : {o, dq, dk, dv, lse, work}) cudaFree(x);
            cudaFree(dcu);
            continue;
          }
          const float fwd = time_ms(reps, forward);
          const float bwd = time_ms(reps, backward);
          const double flops = 4.0 * sh.batch * double(s) * s * heads * dim / (causal ? 2.0 : 1.0);
          const double fwd_tf = flops / (fwd * 1e-3) * 1e-12,
                       bwd_tf = 2.5 * flops / (bwd * 1e-3) * 1e-12;
          std::printf(csv ? "%s,%d,%d,%d,%d,%d,%.4f,%.4f,%.4f,%.4f\n"
                          : "%6s %6d %4d %6d %5d %5d %10.4f %10.4f %10.4f %10.4f\n",
                      kernel.c_str(), s, dim, int(causal), sh.batch, heads, fwd, bwd, fwd_tf,
                      bwd_tf);
          for (const void* x : {p.q, p.k, p.v, p.dout}) cudaFree(const_cast<void*>(x));
          for (void* x : {o, dq, dk, dv, lse, work}) cudaFree(x);
          cudaFree(dcu);
        }
      }
    }
  }
#if !defined(ATTNCHECK_NATIVE_CUDA)
  if (banks) {
    // Nsight Compute's view: requests (warp instructions) and wavefronts;
    // the wavefronts above the ideal count are the bank conflicts. ld/st
    // requests group each lane's k-th execution of an access site: exact for
    // lanes that run the same iterations, an overcount where a loop diverges
    // (a lane that skips a masked row pairs its next read with another lane's
    // different row; a GPU would issue those as separate requests).
    std::printf("%-42s %-9s %12s %12s %12s %10s\n", "kernel", "access", "requests", "wavefronts",
                "conflicted", "per req");
    std::printf("(ld/st: a lane's k-th execution of an access site pairs with the other lanes' k-th; "
                "loops that diverge under a mask count as conflicts)\n");
    for (const auto& [name, st] : simt::shared_memory_stats()) {
      const std::pair<const char*, simt::BankCounts> kinds[] = {
          {"ldmatrix", st.ldmatrix}, {"cp.async", st.cp_async}, {"ld/st", st.plain}};
      for (const auto& [what, c] : kinds) {
        if (c.requests == 0) continue;
        const auto conflicted = c.wavefronts - c.ideal;
        std::printf("%-42s %-9s %12llu %12llu %12llu %10.3f\n", name.c_str(), what,
                    (unsigned long long)c.requests, (unsigned long long)c.wavefronts,
                    (unsigned long long)conflicted, double(conflicted) / double(c.requests));
      }
    }
  }
#endif
  return 0;
}
