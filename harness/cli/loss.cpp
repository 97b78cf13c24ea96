// attncheck loss: the loss-curve check (P12). Trains the small transformer of
// harness/train with the float64 reference attention and with each chosen
// implementation on the same packed batches, prints the curves side by side,
// judges each against the reference's (harness/train/curves.hpp) and writes
// them to a results file (reports/RESULTS-FORMAT.md, group /loss).
// Exit codes: 0 every curve matches, 1 a curve does not (or its run failed),
// 2 bad usage (an unknown implementation, one that cannot run the batches).
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <limits>
#include <set>

#include "harness/cli/verbs.hpp"
#include "harness/error.hpp"
#include "harness/registry.hpp"
#include "harness/train/curves.hpp"
#include "harness/train/results.hpp"
#include "harness/train/train.hpp"

namespace attncheck::cli {

namespace {

// The default: the single-device kernel, the zigzag ring (LSE merges, K/V on
// the ring) and Ulysses (all-to-all, ids gathered), each at cp 2 over flash:
// one curve per distribution scheme, about a second each.
const char* const k_default_impls = "flash,ring-cp2-flash,ulysses-cp2-flash";

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t comma = s.find(',', start);
    const std::string part = s.substr(start, comma == std::string::npos ? comma : comma - start);
    if (!part.empty()) out.push_back(part);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string describe(const train::TrainOptions& t) {
  const auto& m = t.model;
  const auto& d = t.data;
  return fmt::format(
      "decoder-only transformer: vocab {}, d_model {}, {} layers, heads {}/{} x {}, mlp {}, RoPE, "
      "RMSNorm, float64; Adam lr {:g}; packed batches of {} rows, documents {}..{} tokens "
      "repeating a pattern of 2..{}, gaps 0..{}",
      m.vocab, m.d_model, m.layers, m.heads_q, m.heads_kv, m.head_dim, m.mlp_hidden, t.adam.lr,
      d.total_rows, d.min_doc_len, d.max_doc_len, d.max_period, d.max_gap);
}

}  // namespace

Action add_loss(CLI::App& app) {
  struct Opts {
    std::vector<std::string> impls;
    int steps = train::TrainOptions{}.steps;
    std::uint64_t seed = train::TrainOptions{}.seed;
    std::string output = "attncheck-loss.h5";
  };
  auto o = std::make_shared<Opts>();
  app.add_option("--impl", o->impls,
                 fmt::format("implementations to train with (comma-separated; default {})",
                             k_default_impls));
  app.add_option("--steps", o->steps,
                 fmt::format("training steps (at most {}, the range the P12 bound was measured over)",
                             train::k_loss_max_steps))
      ->check(CLI::Range(1, train::k_loss_max_steps))
      ->capture_default_str();
  app.add_option("--seed", o->seed, "model initialization and data seed")->capture_default_str();
  app.add_option("-o,--output", o->output, "results file (HDF5)")->capture_default_str();
  return [o] {
    std::vector<std::string> names;
    for (const auto& item : o->impls) {
      for (auto& n : split_list(item)) names.push_back(std::move(n));
    }
    if (names.empty()) names = split_list(k_default_impls);
    train::TrainOptions t;
    t.steps = o->steps;
    t.seed = o->seed;
    // Every name must be known, given once, and able to run the model's batches.
    const Registry& reg = builtin_registry();
    const train::Model model(t.model);
    const Batch first = model.attention_batch(train::make_batch(t.data, t.seed, 0));
    std::vector<const Implementation*> impls;
    std::set<std::string> seen{train::reference_implementation().name};
    for (const auto& n : names) {
      if (!seen.insert(n).second) {
        throw Error(ErrorKind::Usage, "--impl", -1,
                    fmt::format("'{}' is given twice or is the reference run's name", n));
      }
      const Implementation& impl = reg.find(n);
      if (auto why = skip_reason(impl, first)) {
        throw Error(ErrorKind::Usage, "--impl", -1,
                    fmt::format("'{}' cannot run the loss-curve batches: {}", n, *why));
      }
      impls.push_back(&impl);
    }

    // Refuse an unwritable destination before minutes of training.
    const std::filesystem::path dest(o->output);
    const auto dir = dest.has_parent_path() ? dest.parent_path() : std::filesystem::path(".");
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      throw Error(ErrorKind::Io, o->output, -1,
                  fmt::format("directory {} does not exist; create it first", dir.string()));
    }

    std::cout << fmt::format("attncheck loss: {} steps, seed {}\nmodel: {}\nbound: {}\n\n",
                             t.steps, t.seed, describe(t), train::bound_description());
    const train::Curve ref = train::train_curve(train::reference_implementation(), t);
    std::vector<train::Curve> curves;
    std::vector<train::LossRun> runs;
    for (const Implementation* impl : impls) {
      train::LossRun run;
      run.impl = impl->name;
      train::Curve c;
      try {
        c = train::train_curve(*impl, t);
        const train::CurveVerdict v = train::compare_curve(ref.loss, c.loss);
        run.loss = c.loss;
        run.verdict = v.pass ? "pass" : "fail";
        run.max_abs_diff = v.max_abs_diff;
        run.message = v.pass ? fmt::format("worst |diff| / bound {:.3g} at step {}", v.worst_ratio,
                                           v.worst_step)
                             : v.message;
      } catch (const std::exception& e) {
        c.name = impl->name;
        c.loss.assign(std::size_t(t.steps), std::numeric_limits<double>::quiet_NaN());
        run.loss = c.loss;
        run.verdict = "error";
        run.max_abs_diff = std::numeric_limits<double>::quiet_NaN();
        run.message = e.what();
      }
      curves.push_back(std::move(c));
      runs.push_back(std::move(run));
    }

    // The curves side by side.
    std::size_t w = 12;
    for (const auto& c : curves) w = std::max(w, c.name.size());
    std::cout << fmt::format("{:>5}  {:>{}}", "step", ref.name, w);
    for (const auto& c : curves) std::cout << fmt::format("  {:>{}}", c.name, w);
    std::cout << "\n" << std::string(7 + (w + 2) * (curves.size() + 1), '-') << "\n";
    for (int s = 0; s < t.steps; ++s) {
      std::cout << fmt::format("{:>5}  {:>{}.6f}", s, ref.loss[std::size_t(s)], w);
      for (const auto& c : curves) std::cout << fmt::format("  {:>{}.6f}", c.loss[std::size_t(s)], w);
      std::cout << "\n";
    }
    std::cout << fmt::format("\n{:<{}}  {:<7} {:>12} {:>8}  {}\n", "implementation", w, "verdict",
                             "max|diff|", "time", "detail");
    std::cout << std::string(w + 50, '-') << "\n";
    std::cout << fmt::format("{:<{}}  {:<7} {:>12} {:>7.2f}s  {}\n", ref.name, w, "-", "-",
                             ref.seconds, "float64 attention: the curve the others must match");
    int failed = 0;
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const auto& r = runs[i];
      if (r.verdict != "pass") ++failed;
      std::cout << fmt::format("{:<{}}  {:<7} {:>12.3g} {:>7.2f}s  {}\n", r.impl, w, r.verdict,
                               r.max_abs_diff, curves[i].seconds, r.message);
    }

    train::LossResults res;
    res.steps = t.steps;
    res.seed = t.seed;
    res.bound = train::bound_description();
    res.reference = ref.name;
    res.reference_loss = ref.loss;
    res.model = describe(t);
    res.runs = runs;
    train::write_loss_results(o->output, res);
    std::cout << fmt::format("\nresults: {}\nattncheck loss: {} curves, {} failed\n", o->output,
                             runs.size(), failed);
    return failed == 0 ? k_exit_ok : k_exit_failed;
  };
}

}  // namespace attncheck::cli
