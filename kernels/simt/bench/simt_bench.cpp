// simt-bench: what running CUDA kernels on the CPU costs (DESIGN.md
// "kernels/simt"). Figures, not pass/fail gates: the targets are read off the
// printed table. The exit code is non-zero only when a launch fails or the
// determinism check says no.
#include <ucontext.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/simt/bench/bench_kernels.hpp"
#include "kernels/simt/simt.hpp"

namespace {

using Clock = std::chrono::steady_clock;

constexpr int k_exit_ok = 0;
constexpr int k_exit_failed = 1;
constexpr int k_exit_usage = 2;

template <typename F>
double best_seconds(int reps, F&& f) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    const std::string why = simt::last_failure();
    throw std::runtime_error(fmt::format("{}: {}{}{}", what, cudaGetErrorName(e),
                                         why.empty() ? "" : ": ", why));
  }
}

// A device buffer of n floats, freed at scope exit.
class DeviceFloats {
 public:
  explicit DeviceFloats(std::size_t n) : n_(n) {
    check(cudaMalloc(reinterpret_cast<void**>(&p_), n * sizeof(float)), "cudaMalloc");
  }
  DeviceFloats(const DeviceFloats&) = delete;
  DeviceFloats& operator=(const DeviceFloats&) = delete;
  ~DeviceFloats() { cudaFree(p_); }
  float* get() const { return p_; }
  void upload(const std::vector<float>& h) {
    check(cudaMemcpy(p_, h.data(), n_ * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
  }
  std::vector<float> download() const {
    std::vector<float> h(n_);
    check(cudaMemcpy(h.data(), p_, n_ * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
    return h;
  }

 private:
  std::size_t n_;
  float* p_ = nullptr;
};

// ---- ucontext round trip, for comparison with simt's fibers (swapcontext
// saves and restores the signal mask with a system call each way).
struct UcontextPair {
  ucontext_t caller{}, callee{};
};

void ucontext_ping(unsigned hi, unsigned lo) {
  auto* p = reinterpret_cast<UcontextPair*>((std::uintptr_t(hi) << 32) | std::uintptr_t(lo));
  for (;;) swapcontext(&p->callee, &p->caller);
}

double ucontext_round_trip_ns(int iterations) {
  UcontextPair p;
  std::vector<char> stack(64 << 10);
  getcontext(&p.callee);
  p.callee.uc_stack.ss_sp = stack.data();
  p.callee.uc_stack.ss_size = stack.size();
  p.callee.uc_link = nullptr;
  const auto addr = reinterpret_cast<std::uintptr_t>(&p);
  // makecontext passes int arguments only: the pointer travels in two halves.
  makecontext(&p.callee, reinterpret_cast<void (*)()>(&ucontext_ping), 2, unsigned(addr >> 32),
              unsigned(addr & 0xffffffffu));
  for (int i = 0; i < 1000; ++i) swapcontext(&p.caller, &p.callee);  // warm up
  const auto t0 = Clock::now();
  for (int i = 0; i < iterations; ++i) swapcontext(&p.caller, &p.callee);
  const auto t1 = Clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / iterations;
}

void set_workers(int workers, simt::Schedule schedule = simt::Schedule::Deterministic,
                 std::uint64_t seed = 0) {
  simt::Config c = simt::config();
  c.workers = workers;
  c.schedule = schedule;
  c.seed = seed;
  simt::set_config(c);
}

struct Options {
  int reps = 3;
  int workers = 0;  // 0: one per core
  int fiber_iterations = 10'000'000;
  int fma_blocks = 256;
  int fmas_per_thread = 4096;
  int matmul_size = 256;
};

std::string command_line(int argc, char** argv) {
  std::string s = argv[0];
  for (int i = 1; i < argc; ++i) s += std::string(" ") + argv[i];
  return s;
}

void row(const std::string& what, double value, const char* unit, int precision = 2) {
  std::cout << fmt::format("{:<68} {:>10.{}f} {:>9}\n", what, value, precision, unit);
}

int run(const Options& o, const std::string& command) {
  const int all_workers = o.workers > 0 ? o.workers
                                  : int(std::max(1u, std::thread::hardware_concurrency()));
  constexpr int k_threads = 256;
  // Timings on a shared machine: the load at the start says how far to trust them.
  double load[1] = {0.0};
  getloadavg(load, 1);
  std::cout << fmt::format(
      "simt-bench: CUDA kernels on the CPU through kernels/simt ({} workers, best of {}, load "
      "average {:.2f})\n",
      all_workers, o.reps, load[0]);
  std::cout << "command: " << command << "\n\n";
  std::cout << fmt::format("{:<68} {:>10} {:>9}\n", "measurement", "value", "unit");
  std::cout << std::string(89, '-') << "\n";

  // (a) Context switches.
  double fiber_ns = 1e30, ucontext_ns = 1e30;
  for (int i = 0; i < o.reps; ++i) {
    fiber_ns = std::min(fiber_ns, simt::fiber_round_trip_ns(o.fiber_iterations));
    ucontext_ns = std::min(ucontext_ns, ucontext_round_trip_ns(o.fiber_iterations / 10));
  }
  row("fiber round trip, Boost.Context (target <= 20)", fiber_ns, "ns", 1);
  row("  ucontext swapcontext round trip, for comparison", ucontext_ns, "ns", 1);

  // (b) FMA-bound kernel: registers only, one fiber switch per thread.
  const std::size_t fma_threads = std::size_t(o.fma_blocks) * k_threads;
  const double fma_flops = 2.0 * double(fma_threads) * o.fmas_per_thread;
  DeviceFloats fma_out(fma_threads);
  auto fma_gflops = [&](int workers, bool use_fmaf) {
    set_workers(workers);
    const double t = best_seconds(o.reps, [&] {
      check(simt_bench::fma_chains(fma_out.get(), o.fma_blocks, k_threads, o.fmas_per_thread,
                                   0.9999f, 1e-4f, use_fmaf),
            "fma_chains");
    });
    return fma_flops / t * 1e-9;
  };
  const std::string fma_name = fmt::format("FMA kernel, {} blocks x {} threads x {} FMA",
                                           o.fma_blocks, k_threads, o.fmas_per_thread);
  const double fma1 = fma_gflops(1, /*use_fmaf=*/true);
  const double fma_all = fma_gflops(all_workers, /*use_fmaf=*/true);
  // The same kernel with a * b + c: what the arithmetic costs when it is inline
  // (fmaf is a libm call unless the host compiler may emit FMA instructions).
  const double mul_add1 = fma_gflops(1, /*use_fmaf=*/false);
  row(fma_name + ", 1 worker", fma1, "GFLOP/s");
  row(fmt::format("  {} worker(s)", all_workers), fma_all, "GFLOP/s");
  row("  per core (target >= 1)", fma_all / all_workers, "GFLOP/s");
  row("  same kernel with a * b + c instead of fmaf, 1 worker", mul_add1, "GFLOP/s");

  // (c) Shared-memory tiled matrix product: two barriers per 16-wide k step.
  const int n = o.matmul_size;
  const std::size_t nn = std::size_t(n) * n;
  std::vector<float> ha(nn), hb(nn);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (float& x : ha) x = u(rng);
  for (float& x : hb) x = u(rng);
  DeviceFloats da(nn), db(nn), dc(nn);
  da.upload(ha);
  db.upload(hb);
  const double mm_flops = 2.0 * double(n) * n * n;
  auto mm_gflops = [&](int workers) {
    set_workers(workers);
    const double t = best_seconds(o.reps, [&] {
      check(simt_bench::tiled_matmul(da.get(), db.get(), dc.get(), n, n, n), "tiled_matmul");
    });
    return mm_flops / t * 1e-9;
  };
  const std::string mm_name = fmt::format(
      "tiled matmul {0}x{0}x{0}, {1}x{1} tiles in static __shared__", n, simt_bench::k_tile);
  const double mm1 = mm_gflops(1);
  const double mm_all = mm_gflops(all_workers);
  row(mm_name + ", 1 worker", mm1, "GFLOP/s");
  row(fmt::format("  {} worker(s)", all_workers), mm_all, "GFLOP/s");
  row("  per core", mm_all / all_workers, "GFLOP/s");

  // (d) Determinism: the same product again, on a different number of workers
  // and in a seeded random fiber order, is bitwise identical.
  set_workers(all_workers);
  check(simt_bench::tiled_matmul(da.get(), db.get(), dc.get(), n, n, n), "tiled_matmul");
  const std::vector<float> first = dc.download();
  check(cudaMemset(dc.get(), 0xff, nn * sizeof(float)), "cudaMemset");
  set_workers(1, simt::Schedule::Random, 12345);
  check(simt_bench::tiled_matmul(da.get(), db.get(), dc.get(), n, n, n), "tiled_matmul");
  const std::vector<float> second = dc.download();
  set_workers(0);
  const bool same = std::memcmp(first.data(), second.data(), nn * sizeof(float)) == 0;
  std::cout << fmt::format(
      "{:<68} {:>10} {:>9}\n",
      fmt::format("tiled matmul bitwise identical: {} worker(s) vs 1, random order", all_workers),
      same ? "yes" : "no", "");
  std::cout << fmt::format(
      "simt-bench: fiber {:.1f} ns, ucontext {:.1f} ns, fma {:.2f} GFLOP/s/core, mul+add {:.2f} "
      "GFLOP/s/core, matmul {:.2f} GFLOP/s/core, deterministic {}\n",
      fiber_ns, ucontext_ns, fma_all / all_workers, mul_add1, mm_all / all_workers,
      same ? "yes" : "no");
  return same ? k_exit_ok : k_exit_failed;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"simt-bench: costs of running CUDA kernels on the CPU (kernels/simt)"};
  app.add_option("--reps", o.reps, "repetitions per timing (best is kept)")
      ->check(CLI::Range(1, 100));
  app.add_option("--workers", o.workers, "worker threads of the all-cores rows (0: one per core)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--fiber-iterations", o.fiber_iterations, "round trips per fiber timing")
      ->check(CLI::Range(1000, 1'000'000'000));
  app.add_option("--fma-blocks", o.fma_blocks, "blocks of 256 threads of the FMA kernel")
      ->check(CLI::Range(1, 65535));
  app.add_option("--fma-per-thread", o.fmas_per_thread, "FMAs per thread (multiple of 8)")
      ->check(CLI::Range(8, 1 << 24));
  app.add_option("--matmul-size", o.matmul_size, "m = n = k of the tiled product (multiple of 16)")
      ->check(CLI::Range(16, 4096));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? k_exit_ok : k_exit_usage;
  }
  if (o.fmas_per_thread % simt_bench::k_fma_accumulators != 0 ||
      o.matmul_size % simt_bench::k_tile != 0) {
    std::cerr << fmt::format(
        "simt-bench: --fma-per-thread must be a multiple of {} and --matmul-size of {}\n",
        simt_bench::k_fma_accumulators, simt_bench::k_tile);
    return k_exit_usage;
  }
  try {
    return run(o, command_line(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "simt-bench: error: " << e.what() << "\n";
    return k_exit_failed;
  }
}
