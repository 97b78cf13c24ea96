// `attncheck bench`: figures, never pass/fail gates (targets are read off
// the printed table).
#include <fmt/format.h>
#include <sys/resource.h>

#include <Eigen/Dense>
#include <chrono>
#include <iostream>
#include <random>
#include <sstream>

#include "harness/cli/verbs.hpp"
#include "harness/registry.hpp"
#include "properties/campaign.hpp"
#include "properties/generators.hpp"
#include "properties/sensitivity.hpp"
#include "reference/attention.hpp"

namespace attncheck::cli {

namespace {

using Clock = std::chrono::steady_clock;

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

// float64 GEMM C = A B with A m x k, B k x n: 2 m n k flops.
double gemm_gflops(int m, int n, int k, int reps) {
  Eigen::MatrixXd a = Eigen::MatrixXd::Random(m, k), b = Eigen::MatrixXd::Random(k, n);
  Eigen::MatrixXd c(m, n);
  const double t = best_seconds(reps, [&] { c.noalias() = a * b; });
  if (c(0, 0) == 12345.678) std::cout << "";  // keep the product alive
  return 2.0 * m * n * k / t * 1e-9;
}

Case one_document(int len, int heads, int d) {
  Case c;
  Batch& b = c.batch;
  b.num_heads_q = b.num_heads_kv = heads;
  b.head_dim = b.head_dim_v = d;
  b.softmax_scale = b.default_scale();
  b.total_q = b.total_kv = len;
  b.cu_seqlens_q = b.cu_seqlens_kv = {0, len};
  std::mt19937_64 rng(7);
  std::normal_distribution<float> n(0.0f, 1.0f);
  for (auto* x : {&c.inputs.q, &c.inputs.k, &c.inputs.v, &c.inputs.dout}) {
    x->resize(std::size_t(len) * heads * d);
    for (float& v : *x) v = n(rng);
  }
  return c;
}

// The calibrated checks' sensitivity (properties/sensitivity.hpp): per dtype
// and tensor, the single-element error that flips P1/P2, beside the
// same-precision baseline's max error on the same cases.
void print_sensitivity(const Implementation& impl, const props::SensitivityOptions& o) {
  const auto t0 = Clock::now();
  const auto rows = props::measure_sensitivity(impl, o);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::cout << fmt::format(
      "\nsensitivity: one element of {}'s output moved by e * max|X| (X the reference tensor);\n"
      "e at which the verdict flips (worse direction) vs the baseline's max error / max|X|\n"
      "({} cases per dtype, seed {}, buffers <= {} rows; FA2's rule: flip about 2x baseline)\n",
      impl.name, o.cases, o.seed, o.gen.max_tokens);
  std::cout << fmt::format("{:<9} {:<4} {:<3} {:>5} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8} {:>6} {:>5} {:>7} {:>5} {:>6} {:>6}\n",
                           "dtype", "X", "P", "cases", "flip med", "flip max", "base med",
                           "base max", "ratio md", "ratio 90", "exact", "alarm", "rule md", "alarm", "u used",
                           "e used");
  for (const auto& r : rows) {
    std::cout << fmt::format(
        "{:<9} {:<4} {:<3} {:>5} {:>10.3e} {:>10.3e} {:>10.3e} {:>10.3e} {:>8.2f} {:>8.2f} {:>6} {:>5} {:>7.2f} {:>5} {:>6.3f} {:>6.3f}\n",
        to_string(r.dtype), r.tensor, r.property, r.cases, r.flip_median, r.flip_max,
        r.base_median, r.base_max, r.ratio_median, r.ratio_p90,
        r.exact_baseline, r.false_alarms, r.rule_ratio_median,
        r.rule_alarms, r.dtype_floor_use, r.gamma_floor_use);
  }
  for (const auto& r : rows) {
    for (const std::string& a : r.alarm_examples) {
      std::cout << fmt::format("false alarm, {} {}: {}\n", to_string(r.dtype), r.tensor, a);
    }
  }
  std::cout << fmt::format(
      "({:.1f} s. ratio: flip / base per case; exact: cases left out because the baseline was exact\n"
      "(ratio undefined); alarm: the unchanged output failed; rule md / alarm: the same with rtol x\n"
      "baseline alone; u used / e used: the largest share of the dtype / float32 floor any case needed)\n\n",
      secs);
}

}  // namespace

Action add_bench(CLI::App& app) {
  auto skip_campaign = std::make_shared<bool>(false);
  auto reps = std::make_shared<int>(3);
  app.add_flag("--skip-campaign", *skip_campaign, "do not time the default fuzz campaign");
  app.add_option("--reps", *reps, "repetitions per timing (best is kept)")->check(CLI::Range(1, 100));
  auto impls = std::make_shared<std::vector<std::string>>();
  app.add_option("--impl", *impls,
                 "implementations to time on the CI cases (comma-separated; default all); "
                 "py:MODULE:ATTR times a Python implementation through the bridge");
  auto sens = std::make_shared<props::SensitivityOptions>();
  sens->gen.max_tokens = 256;
  auto sens_impl = std::make_shared<std::string>("flash");
  auto skip_sens = std::make_shared<bool>(false);
  auto only_sens = std::make_shared<bool>(false);
  app.add_flag("--skip-sensitivity", *skip_sens, "do not measure the calibrated checks' sensitivity");
  app.add_flag("--sensitivity-only", *only_sens, "measure the sensitivity and nothing else");
  app.add_option("--sensitivity-impl", *sens_impl,
                 "the correct implementation whose outputs get the injected error")
      ->capture_default_str();
  app.add_option("--sensitivity-cases", sens->cases, "generated cases per dtype")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--sensitivity-seed", sens->seed, "seed of the generated cases")->capture_default_str();
  return [skip_campaign, reps, impls, sens, sens_impl, skip_sens, only_sens] {
    if (*only_sens) {
      print_sensitivity(builtin_registry().find(*sens_impl), *sens);
      return k_exit_ok;
    }
    std::vector<const Implementation*> timed;
    for (const auto& item : *impls) {
      std::size_t start = 0;
      while (start <= item.size()) {
        const std::size_t comma = item.find(',', start);
        const std::string name = item.substr(start, comma == std::string::npos ? comma : comma - start);
        if (!name.empty()) timed.push_back(&builtin_registry().find(name));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    if (timed.empty()) {
      for (const auto& impl : builtin_registry().all()) timed.push_back(&impl);
    }
    std::cout << "attncheck bench (single thread; best of " << *reps << ")\n\n";
    std::cout << fmt::format("{:<52} {:>12} {:>10}\n", "measurement", "value", "unit");
    std::cout << std::string(76, '-') << "\n";
    const int len = 1024, heads = 8, d = 64;
    double peak = 0.0;
    for (auto [m, n, k] : {std::tuple{len, len, d}, std::tuple{len, d, len}, std::tuple{512, 512, 512}}) {
      const double g = gemm_gflops(m, n, k, *reps);
      peak = std::max(peak, g);
      std::cout << fmt::format("{:<52} {:>12.2f} {:>10}\n",
                               fmt::format("Eigen float64 GEMM {}x{}x{}", m, n, k), g, "GFLOP/s");
    }
    // Reference forward + backward: per head QK^T and PV forward (2 x 2 L^2 D),
    // dP, dQ, dK, dV backward (4 x 2 L^2 D): 12 L^2 D H GEMM flops.
    const Case c = one_document(len, heads, d);
    const double t = best_seconds(*reps, [&] {
      const auto r = reference::attention<double>(c.batch, c.inputs, true);
      if (r.out.empty()) std::cout << "";
    });
    const double flops = 12.0 * len * double(len) * d * heads;
    const double g = flops / t * 1e-9;
    std::cout << fmt::format("{:<52} {:>12.3f} {:>10}\n",
                             "reference f64 fwd+bwd, 1 doc L=1024 Hq=8 D=64", t * 1e3, "ms");
    std::cout << fmt::format("{:<52} {:>12.2f} {:>10}\n", "  GEMM flops / time", g, "GFLOP/s");
    std::cout << fmt::format("{:<52} {:>12.1f} {:>10}\n", "  fraction of best GEMM (target >= 50)",
                             100.0 * g / peak, "%");
    // Every registered implementation, forward + backward, on the cases the CI
    // suite generates (buffers up to 256 rows, head dims up to 64).
    {
      gen::GenOptions ci;
      ci.max_tokens = 256;
      ci.max_head_dim = 64;
      std::vector<Case> cases;
      for (int i = 0; i < 100; ++i) {
        cases.push_back(gen::build_case(gen::case_spec(ci)(rc::Random(100 + i), i % 101).value()));
      }
      for (const Implementation* ip : timed) {
        const Implementation& impl = *ip;
        int ran = 0;
        const CallStats before = impl.stats ? *impl.stats : CallStats{};
        const auto t0 = Clock::now();
        for (const Case& one : cases) {
          if (skip_reason(impl, one.batch)) continue;
          run_implementation(impl, one, impl.caps.backward);
          ++ran;
        }
        const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
        std::cout << fmt::format("{:<52} {:>12.1f} {:>10}\n",
                                 fmt::format("{} ({}) {}, CI cases (T<=256, D<=64)", impl.name,
                                             impl.device, impl.caps.backward ? "fwd+bwd" : "fwd"),
                                 ran / secs, "cases/s");
        if (impl.stats && ran > 0) {
          // Case time: the whole run_implementation call (poisoned buffers,
          // the bridge, the implementation); inside: its own code only.
          const double inner = impl.stats->inner_s - before.inner_s;
          std::cout << fmt::format("{:<52} {:>12.1f} {:>10}\n",
                                   "  bridge share of case time (target <= 20)",
                                   100.0 * (secs - inner) / secs, "%");
          std::cout << fmt::format("{:<52} {:>12.1f} {:>10}\n", "  bridge time per case",
                                   1e6 * (secs - inner) / ran, "us");
        }
      }
    }
    if (!*skip_sens) print_sensitivity(builtin_registry().find(*sens_impl), *sens);
    if (!*skip_campaign) {
      props::CampaignOptions o;  // the defaults of `attncheck fuzz`
      o.jobs = props::default_jobs();
      o.worker_setup = simt_worker_share(o.jobs);
      std::ostringstream sink;
      const auto t0 = Clock::now();
      const auto r = props::run_campaign(builtin_registry(), o, sink);
      const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      // The largest of this process and its row workers.
      rusage ru{}, children{};
      getrusage(RUSAGE_SELF, &ru);
      getrusage(RUSAGE_CHILDREN, &children);
      ru.ru_maxrss = std::max(ru.ru_maxrss, children.ru_maxrss);
      std::cout << fmt::format("{:<52} {:>12.1f} {:>10}\n",
                               fmt::format("default campaign ({} cases, {} failed, {} jobs)",
                                           r.total_cases, r.total_failed, o.jobs),
                               secs, "s");
      std::cout << fmt::format("{:<52} {:>12.1f} {:>10}\n", "  peak resident memory (target < 1024)",
                               double(ru.ru_maxrss) / 1024.0, "MiB");
    }
    return k_exit_ok;
  };
}

}  // namespace attncheck::cli
