#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <algorithm>
#include <iostream>
#include <thread>

#include "harness/cli/verbs.hpp"
#include "harness/error.hpp"
#include "harness/registry.hpp"
#include "harness/results.hpp"
#include "kernels/simt/simt.hpp"
#include "properties/campaign.hpp"
#include "properties/counterexample.hpp"

namespace attncheck::cli {

namespace {
// Turns the first SIGINT/SIGTERM into a flag the campaign polls between
// cases; the second one gets the default action (the process ends). Restores
// the previous handlers on destruction.
class InterruptGuard {
 public:
  InterruptGuard() {
    s_flag.store(false);
    struct sigaction sa {};
    sa.sa_handler = &InterruptGuard::on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;  // a second signal: default action
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~InterruptGuard() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  const std::atomic<bool>& flag() const { return s_flag; }

 private:
  static void on_signal(int) {
    s_flag.store(true);
    static const char msg[] = "\nattncheck: interrupted; finishing the current case and writing the results "
                              "(signal again to quit at once)\n";
    [[maybe_unused]] const auto n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  }
  static inline std::atomic<bool> s_flag{false};
  static_assert(std::atomic<bool>::is_always_lock_free, "signal handlers need a lock-free flag");
  struct sigaction old_int_ {}, old_term_ {};
};
}  // namespace

namespace {

std::vector<std::string> split_all(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    std::size_t start = 0;
    while (start <= item.size()) {
      const std::size_t comma = item.find(',', start);
      const std::string part =
          item.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!part.empty()) out.push_back(part);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

}  // namespace

std::function<void()> simt_worker_share(int jobs) {
  return [jobs] {
    simt::Config cfg = simt::config();
    if (cfg.workers == 0) {
      const int hw = int(std::max(1u, std::thread::hardware_concurrency()));
      cfg.workers = std::max(1, hw / jobs);
      simt::set_config(cfg);
    }
  };
}

Action add_list(CLI::App& app) {
  return [] {
    const auto& reg = builtin_registry();
    std::cout << fmt::format("{:<18} {:<7} {}\n", "implementation", "device", "capabilities");
    std::cout << std::string(78, '-') << "\n";
    for (const auto& impl : reg.all()) {
      std::cout << fmt::format("{:<18} {:<7} {}\n", impl.name, impl.device, describe(impl.caps));
      std::cout << fmt::format("{:<18} {:<7} {}\n", "", "", impl.description);
    }
    for (const auto& why : unregistered()) std::cout << "not registered: " << why << "\n";
    std::cout << "\nproperties:\n";
    for (const auto& p : props::all_properties()) {
      std::cout << fmt::format("  {:<4} {:<13} {}\n", p.code, p.name, p.what);
    }
    return k_exit_ok;
  };
}

Action add_fuzz(CLI::App& app) {
  struct Opts {
    std::vector<std::string> impls, props, dtypes;
    // Defaults are the campaign's own (the default campaign of the main job).
    int cases = props::CampaignOptions{}.cases;
    std::uint64_t seed = props::CampaignOptions{}.seed;
    double time = 0.0;
    int max_tokens = gen::GenOptions{}.max_tokens;
    int max_head_dim = gen::GenOptions{}.max_head_dim;
    std::string reproduce;
    std::string save_dir;
    std::string results;
    int repeat = 0;
    int jobs = props::default_jobs();
    bool no_progress = false;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("--impl", o->impls, "implementations to test (comma-separated; default all)");
  app.add_option("--property", o->props,
                 "properties to check, by code or name (comma-separated; default all)");
  app.add_option("--cases", o->cases, "generated cases per implementation and property")
      ->check(CLI::Range(1, 100000000));
  app.add_option("--seed", o->seed, "RapidCheck seed (same seed, same cases)");
  app.add_option("--time", o->time, "time budget in seconds for the whole campaign (0 = none)")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--max-tokens", o->max_tokens, "max rows of a generated q or kv buffer")
      ->check(CLI::Range(8, 1 << 20));
  app.add_option("--max-head-dim", o->max_head_dim, "max generated head dim")
      ->check(CLI::Range(8, 1024));
  app.add_option("--dtypes", o->dtypes, "storage dtypes to generate (default all)");
  app.add_option("--reproduce", o->reproduce,
                 "replay a failure: the RapidCheck reproduce string it printed");
  app.add_option("--save-dir", o->save_dir,
                 "directory for counterexample case files (default attncheck-failures/seed-S)");
  app.add_option("--results", o->results,
                 "results file for `attncheck report` (default attncheck-results/fuzz-seed-S.h5, "
                 "fuzz-seed-S-reproduce.h5 for --reproduce; its directory is created)");
  app.add_option("--repeat", o->repeat,
                 "determinism campaign: P10 only, every case run N times and compared bitwise; "
                 "implementations on simt run it again under a random fiber schedule")
      ->check(CLI::Range(2, 1000));
  app.add_option("--jobs", o->jobs,
                 "rows run at once, each in a worker process (default: one per core; 1 runs "
                 "every row in this process)")
      ->check(CLI::Range(1, 256));
  app.add_flag("--no-progress", o->no_progress, "no progress bar even on a terminal");
  return [o] {
    props::CampaignOptions c;
    c.impls = split_all(o->impls);
    c.properties = split_all(o->props);
    c.cases = o->cases;
    c.seed = o->seed;
    c.time_budget_s = o->time;
    c.gen.max_tokens = o->max_tokens;
    c.gen.max_head_dim = o->max_head_dim;
    if (!o->dtypes.empty()) {
      c.gen.dtypes.clear();
      for (const auto& d : split_all(o->dtypes)) c.gen.dtypes.push_back(parse_dtype(d));
    }
    if (!o->reproduce.empty()) c.reproduce = o->reproduce;
    c.progress = !o->no_progress && isatty(STDERR_FILENO);
    c.jobs = o->jobs;
    c.worker_setup = simt_worker_share(o->jobs);
    const std::string save_dir =
        o->save_dir.empty() ? fmt::format("attncheck-failures/seed-{}", c.seed) : o->save_dir;
    const std::string results_path =
        !o->results.empty() ? o->results
        : c.reproduce       ? fmt::format("attncheck-results/fuzz-seed-{}-reproduce.h5", c.seed)
                            : fmt::format("attncheck-results/fuzz-seed-{}.h5", c.seed);
    // Runs where the row runs (a worker process with --jobs > 1).
    c.on_failure = [save_dir](props::Row& row, const Case& shrunk) {
      const Implementation& impl = builtin_registry().find(row.impl);
      try {
        row.saved_to = props::save_counterexample(save_dir, row, shrunk, impl);
      } catch (const Error& e) {
        // The failure itself is still reported; say why its file is missing.
        std::cerr << "attncheck: could not save the counterexample: " << e.what() << "\n";
      }
      try {
        row.strip = props::error_strip(shrunk, impl);
      } catch (const std::exception& e) {
        std::cerr << "attncheck: could not compute the error strip: " << e.what() << "\n";
      }
    };
    if (o->repeat > 0) {
      if (!c.properties.empty()) {
        throw Error(ErrorKind::Usage, "--repeat", -1,
                    "runs the determinism property P10 only; drop --property");
      }
      c.properties = {"P10"};
      props::set_determinism_runs(o->repeat);
    }
    // SIGINT/SIGTERM stop the campaign between cases: every row run so far,
    // every counterexample saved, and the results file are kept. A second
    // signal ends the process at once.
    InterruptGuard interrupt;
    c.stop = &interrupt.flag();
    std::cout << fmt::format("attncheck fuzz: seed {}, {} cases per row, max {} tokens{}{}\n", c.seed,
                             c.cases, c.gen.max_tokens,
                             c.time_budget_s > 0 ? fmt::format(", {} s budget", c.time_budget_s)
                                                 : std::string(),
                             o->repeat > 0 ? fmt::format(", P10 with {} runs per case", o->repeat)
                                           : std::string());
    auto r = props::run_campaign(builtin_registry(), c, std::cerr);
    if (o->repeat > 0 && !r.interrupted) {
      // The same determinism check with simt's fibers in a random order that
      // changes at every launch: a race or an order-dependent sum shows.
      props::CampaignOptions rc = c;
      rc.impls.clear();
      for (const auto& i : builtin_registry().all()) {
        const bool selected =
            c.impls.empty() || std::find(c.impls.begin(), c.impls.end(), i.name) != c.impls.end();
        if (selected && i.caps.simt) rc.impls.push_back(i.name);
      }
      if (!rc.impls.empty()) {
        const simt::Config before = simt::config();
        simt::Config random = before;
        random.schedule = simt::Schedule::Random;
        random.reseed_per_launch = true;
        random.seed = c.seed;
        simt::set_config(random);
        auto rr = props::run_campaign(builtin_registry(), rc, std::cerr);
        simt::set_config(before);
        for (auto& row : rr.rows) {
          row.name = "determinism (random simt schedule)";
          r.rows.push_back(std::move(row));
        }
        r.total_cases += rr.total_cases;
        r.total_failed += rr.total_failed;
        r.seconds += rr.seconds;
        r.interrupted = r.interrupted || rr.interrupted;
      }
    }
    props::print_summary(r, std::cout);
    const auto saved = std::count_if(r.rows.begin(), r.rows.end(),
                                     [](const props::Row& row) { return !row.saved_to.empty(); });
    if (saved > 0) {
      std::cout << fmt::format("counterexamples: {} case file(s) in {}\n", saved, save_dir);
    }
    const int status = r.total_failed > 0 ? k_exit_failed
                       : r.interrupted    ? k_exit_interrupted
                                          : k_exit_ok;
    try {
      const auto dir = std::filesystem::path(results_path).parent_path();
      std::error_code ec;
      if (!dir.empty()) std::filesystem::create_directories(dir, ec);
      if (ec) {
        throw Error(ErrorKind::Io, dir.string(), -1,
                    "cannot create the results directory: " + ec.message());
      }
      io::ResultsFile rf;
      rf.producer = "attncheck fuzz";
      rf.campaign = props::to_results(r, c);
      io::write_results(results_path, rf);
      std::cout << fmt::format("results: {} (attncheck report {})\n", results_path, results_path);
    } catch (const Error& e) {
      // The campaign's verdict stands; a missing results file is an i/o error.
      std::cerr << "attncheck: error: could not write the results file: " << e.what() << "\n";
      return status == k_exit_ok ? k_exit_usage : status;
    }
    return status;
  };
}

}  // namespace attncheck::cli
