// Verbs on case files (FORMAT.md): replay, export, check and golden.
//   attncheck replay CASE.h5 [--impl NAME...]   run implementations on a case
//   attncheck export --cases N --seed S -o DIR  write generated cases for external code
//   attncheck check PATH --results NAME         judge /results/NAME written elsewhere
//   attncheck golden check|update [DIR]         the committed regression set
// Exit codes: 0 pass, 1 a check failed, 2 unusable input.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "harness/casefile.hpp"
#include "harness/cli/verbs.hpp"
#include "harness/error.hpp"
#include "harness/registry.hpp"
#include "harness/results.hpp"
#include "harness/verify.hpp"
#include "properties/generators.hpp"
#include "properties/golden.hpp"
#include "properties/properties.hpp"
#include "reference/attention.hpp"

#ifndef ATTNCHECK_GOLDEN_DIR
#error "ATTNCHECK_GOLDEN_DIR must name the committed golden/ directory"
#endif

namespace attncheck::cli {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> split_commas(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = item.find(',', start);
      const std::string part = item.substr(start, comma == std::string::npos ? comma : comma - start);
      if (!part.empty()) out.push_back(part);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

struct CheckRow {
  std::string subject;  // case or implementation
  std::string check;
  std::string status;   // pass, fail, skip, error
  double ratio = 0.0;
  std::string detail;
};

void print_rows(const std::vector<CheckRow>& rows, const char* subject_header, std::ostream& os) {
  std::size_t w = std::string(subject_header).size();
  for (const auto& r : rows) w = std::max(w, r.subject.size());
  os << fmt::format("{:<{}}  {:<16} {:<6} {:>8}  {}\n", subject_header, w, "check", "result",
                    "ratio", "detail");
  os << std::string(w + 50, '-') << "\n";
  for (const auto& r : rows) {
    os << fmt::format("{:<{}}  {:<16} {:<6} {:>8}  {}\n", r.subject, w, r.check, r.status,
                      r.ratio > 0 ? fmt::format("{:.3g}", r.ratio) : std::string("-"), r.detail);
  }
}

// Runs `impl` on the case and judges it against `expected`: the calibrated
// comparison (P1/P2 with /expected as reference), padding rows (P3) and
// all-written (P6).
std::vector<CheckRow> judge_implementation(const Implementation& impl, const Case& c,
                                           const VerifyContext& ctx,
                                           const Results<double>& expected,
                                           const std::string& subject) {
  std::vector<CheckRow> rows;
  const bool grads = impl.caps.backward && expected.has_grads();
  Results<float> got;
  try {
    got = run_implementation(impl, c, grads);
  } catch (const std::exception& e) {
    rows.push_back({subject, "run", "error", 0.0, e.what()});
    return rows;
  }
  const Verdict v = verify(c, ctx, expected, got,
                           impl.caps.cp > 0 ? sequence_parallel_slack(impl.caps.cp) : Slack{});
  double fwd_ratio = 0, bwd_ratio = 0;
  std::string fwd_msg, bwd_msg;
  for (const auto& t : v.tensors) {
    const bool fwd = t.tensor == "out" || t.tensor == "lse";
    (fwd ? fwd_ratio : bwd_ratio) = std::max(fwd ? fwd_ratio : bwd_ratio, t.ratio);
    if (!t.pass && (fwd ? fwd_msg : bwd_msg).empty()) (fwd ? fwd_msg : bwd_msg) = t.message;
  }
  rows.push_back({subject, "P1 forward", fwd_msg.empty() ? "pass" : "fail", fwd_ratio, fwd_msg});
  if (v.grads_checked) {
    rows.push_back({subject, "P2 backward", bwd_msg.empty() ? "pass" : "fail", bwd_ratio, bwd_msg});
  } else {
    rows.push_back({subject, "P2 backward", "skip", 0.0,
                    impl.caps.backward ? "case has no expected gradients" : "no backward"});
  }
  rows.push_back({subject, "P3 padding-zero", v.padding.pass ? "pass" : "fail", 0.0,
                  v.padding.message});
  const ExactCheck written = check_all_written(got);
  rows.push_back({subject, "P6 all-written", written.pass ? "pass" : "fail", 0.0, written.message});
  return rows;
}

int exit_code(const std::vector<CheckRow>& rows) {
  bool fail = false;
  for (const auto& r : rows) fail = fail || r.status == "fail" || r.status == "error";
  return fail ? k_exit_failed : k_exit_ok;
}

}  // namespace

Action add_replay(CLI::App& app) {
  struct Opts {
    std::string path;
    std::vector<std::string> impls;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("case", o->path, "case file (.h5)")->required();
  app.add_option("--impl", o->impls,
                 "implementations to run (comma-separated; default: the file's implementation "
                 "attribute when registered, else all)");
  return [o] {
    const io::CaseFile f = io::read_case(o->path);
    const Case& c = f.c;
    const Registry& reg = builtin_registry();
    std::vector<const Implementation*> impls;
    for (const auto& n : split_commas(o->impls)) impls.push_back(&reg.find(n));
    if (impls.empty()) {
      const auto it = f.extra.find("implementation");
      bool found = false;
      if (it != f.extra.end()) {
        for (const auto& i : reg.all()) {
          if (i.name == it->second) {
            impls.push_back(&i);
            found = true;
          }
        }
      }
      if (!found) {
        for (const auto& i : reg.all()) impls.push_back(&i);
      }
    }
    std::cout << fmt::format("case       : {}\n", o->path);
    std::cout << fmt::format("batch      : {}\n", c.batch.describe());
    if (!f.description.empty()) std::cout << fmt::format("description: {}\n", f.description);
    if (auto it = f.extra.find("property"); it != f.extra.end()) {
      std::cout << fmt::format("recorded   : {} failed {}\n",
                               f.extra.count("implementation") ? f.extra.at("implementation") : "?",
                               it->second);
    }
    Results<double> expected;
    if (f.expected) {
      expected = *f.expected;
      std::cout << fmt::format("expected   : /expected ({}{})\n",
                               f.expected_producer.empty() ? "producer not recorded" : f.expected_producer,
                               expected.has_grads() ? "" : ", forward only");
    } else {
      expected = reference::oracle(c.batch, c.inputs, true).value;
      std::cout << "expected   : none in the file; computed by the float64 reference\n";
    }
    const VerifyContext ctx = make_verify_context(c, expected.has_grads());
    std::vector<CheckRow> rows;
    for (const Implementation* impl : impls) {
      if (auto why = skip_reason(*impl, c.batch)) {
        rows.push_back({impl->name, "all", "skip", 0.0, *why});
        continue;
      }
      auto r = judge_implementation(*impl, c, ctx, expected, impl->name);
      rows.insert(rows.end(), r.begin(), r.end());
      // The case-level properties that need no reference.
      for (props::PropertyId p : {props::PropertyId::Poison, props::PropertyId::Isolation,
                                  props::PropertyId::Determinism, props::PropertyId::Permutation,
                                  props::PropertyId::GqaMha}) {
        const props::PropertyInfo* info = nullptr;
        for (const auto& i : props::all_properties()) {
          if (i.id == p) info = &i;
        }
        const auto out = props::evaluate(p, *impl, c);
        const char* st = out.status == props::Outcome::Status::Pass   ? "pass"
                         : out.status == props::Outcome::Status::Fail ? "fail"
                                                                      : "skip";
        rows.push_back({impl->name, fmt::format("{} {}", info->code, info->name), st, out.ratio,
                        out.message});
      }
    }
    std::cout << "\n";
    print_rows(rows, "implementation", std::cout);
    const int rc = exit_code(rows);
    std::cout << (rc == k_exit_ok ? "\nattncheck replay: pass\n" : "\nattncheck replay: FAIL\n");
    return rc;
  };
}

Action add_export(CLI::App& app) {
  struct Opts {
    int cases = 20;
    std::uint64_t seed = 1;
    std::string dir;
    bool no_expected = false;
    int max_tokens = 256;
    int max_head_dim = gen::GenOptions{}.max_head_dim;
    std::vector<std::string> dtypes;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("--cases", o->cases, "number of cases")->check(CLI::Range(1, 1000000));
  app.add_option("--seed", o->seed, "generator seed (same seed, same cases)");
  app.add_option("-o,--output", o->dir, "directory to write case-NNNN.h5 files into")->required();
  app.add_flag("--no-expected", o->no_expected, "write /inputs only (no /expected)");
  app.add_option("--max-tokens", o->max_tokens, "max rows of a q or kv buffer")
      ->check(CLI::Range(8, 1 << 20));
  app.add_option("--max-head-dim", o->max_head_dim, "max head dim")->check(CLI::Range(8, 1024));
  app.add_option("--dtypes", o->dtypes, "storage dtypes (comma-separated; default all)");
  return [o] {
    gen::GenOptions g;
    g.max_tokens = o->max_tokens;
    g.max_head_dim = o->max_head_dim;
    if (!o->dtypes.empty()) {
      g.dtypes.clear();
      for (const auto& d : split_commas(o->dtypes)) g.dtypes.push_back(parse_dtype(d));
    }
    std::error_code ec;
    fs::create_directories(o->dir, ec);
    if (ec) {
      throw Error(ErrorKind::Io, o->dir, -1, "cannot create the output directory: " + ec.message());
    }
    const auto spec_gen = gen::case_spec(g);
    for (int i = 0; i < o->cases; ++i) {
      // Sizes sweep RapidCheck's range so small and large cases both appear;
      // case i draws from its own key, so case i is the same for any --cases.
      const int size = o->cases == 1 ? 50 : int(std::int64_t(i) * 100 / (o->cases - 1));
      const rc::Random key(o->seed * 1000003u + std::uint64_t(i));
      const gen::CaseSpec spec = spec_gen(key, size).value();
      io::CaseFile f;
      f.c = gen::build_case(spec);
      f.has_seed = true;
      f.description = fmt::format("attncheck export --seed {} case {}: {}", o->seed, i,
                                  f.c.batch.describe());
      if (!o->no_expected) {
        f.expected = reference::oracle(f.c.batch, f.c.inputs, true).value;
        f.expected_producer = "attncheck reference (float64)";
      }
      const std::string path = (fs::path(o->dir) / fmt::format("case-{:04d}.h5", i)).string();
      io::write_case(path, f);
      std::cout << fmt::format("{}  {}\n", path, f.c.batch.describe());
    }
    std::cout << fmt::format("attncheck export: {} cases in {}\n", o->cases, o->dir);
    return k_exit_ok;
  };
}

Action add_check(CLI::App& app) {
  struct Opts {
    std::string path;
    std::string results;
    std::vector<std::string> impls;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("path", o->path, "case file or directory of case files")->required();
  auto* results_opt =
      app.add_option("--results", o->results, "name of the /results/<NAME> group to judge");
  auto* impl_opt = app.add_option(
      "--impl", o->impls,
      "instead of --results: run these implementations (comma-separated; py:MODULE:ATTR for a "
      "Python one) on every case and judge them against /expected");
  results_opt->excludes(impl_opt);
  return [o] {
    const auto impls = split_commas(o->impls);
    if (o->results.empty() && impls.empty()) {
      throw Error(ErrorKind::Usage, "check", -1,
                  "give --results NAME (outputs your code wrote) or --impl NAME (run it now)");
    }
    const auto files = io::list_cases(o->path);
    std::vector<CheckRow> rows;
    int pass = 0, fail = 0;
    for (const auto& path : files) {
      const io::CaseFile f = io::read_case(path);
      const std::string subject = fs::path(path).filename().string();
      if (!f.expected) {
        throw Error(ErrorKind::Io, path, -1,
                    "has no /expected group; export cases without --no-expected, or write the "
                    "reference with `attncheck replay`");
      }
      if (!impls.empty()) {
        for (const auto& name : impls) {
          const Implementation& impl = builtin_registry().find(name);
          const std::string who = subject + " " + impl.name;
          if (auto why = skip_reason(impl, f.c.batch)) {
            rows.push_back({who, "all", "skip", 0.0, *why});
            continue;
          }
          const VerifyContext ctx =
              make_verify_context(f.c, impl.caps.backward && f.expected->has_grads());
          const auto judged = judge_implementation(impl, f.c, ctx, *f.expected, who);
          const bool ok = exit_code(judged) == k_exit_ok;
          (ok ? pass : fail) += 1;
          rows.insert(rows.end(), judged.begin(), judged.end());
        }
        continue;
      }
      const auto it = f.results.find(o->results);
      if (it == f.results.end()) {
        std::string have;
        for (const auto& [n, g] : f.results) have += (have.empty() ? "" : ", ") + n;
        throw Error(ErrorKind::Io, fmt::format("{}: /results/{}", path, o->results), -1,
                    fmt::format("group is missing (present: {})", have.empty() ? "none" : have));
      }
      const Results<float>& got = it->second.results;
      const VerifyContext ctx = make_verify_context(f.c, f.expected->has_grads() && got.has_grads());
      const Verdict v = verify(f.c, ctx, *f.expected, got);
      (v.status == Verdict::Status::Pass ? pass : fail) += 1;
      rows.push_back({subject, v.grads_checked ? "fwd+bwd" : "forward", v.status_name(),
                      v.worst_ratio, v.message.empty() ? f.c.batch.describe() : v.message});
    }
    print_rows(rows, "case", std::cout);
    std::cout << fmt::format("\nattncheck check: {}: {} {}, {} passed, {} failed\n",
                             impls.empty() ? "/results/" + o->results : "--impl " + fmt::format("{}", fmt::join(impls, ",")),
                             pass + fail, impls.empty() ? "cases" : "runs", pass, fail);
    return fail == 0 ? k_exit_ok : k_exit_failed;
  };
}

namespace {

// Float64 reference regression: the reference must still reproduce /expected
// to far better than any float32 implementation could (1e-10 of the terms'
// magnitude; summation order may differ between machines and Eigen versions).
CheckRow reference_regression(const Case& c, const Results<double>& expected,
                              const std::string& subject) {
  const auto now = reference::oracle(c.batch, c.inputs, expected.has_grads());
  const std::pair<const char*, std::pair<const std::vector<double>*, const std::vector<double>*>> t[] = {
      {"out", {&now.value.out, &expected.out}}, {"lse", {&now.value.lse, &expected.lse}},
      {"dq", {&now.value.dq, &expected.dq}},    {"dk", {&now.value.dk, &expected.dk}},
      {"dv", {&now.value.dv, &expected.dv}}};
  const std::vector<double>* mags[] = {&now.magnitude.terms.out, &now.magnitude.terms.lse, &now.magnitude.terms.dq,
                                       &now.magnitude.terms.dk, &now.magnitude.terms.dv};
  double worst = 0.0;
  for (std::size_t k = 0; k < 5; ++k) {
    const auto& [a, b] = t[k].second;
    if (b->empty()) continue;
    for (std::size_t e = 0; e < b->size(); ++e) {
      const double x = (*a)[e], y = (*b)[e];
      if (std::isinf(x) || std::isinf(y)) {
        if (x != y) {
          return {subject, "reference", "fail", 0.0,
                  fmt::format("{}[{}] is {} now, {} in /expected", t[k].first, e, x, y)};
        }
        continue;
      }
      const double bound = 1e-10 * (*mags[k])[e] + 1e-300;
      const double ratio = std::abs(x - y) / bound;
      worst = std::max(worst, ratio);
      if (!(ratio <= 1.0)) {
        return {subject, "reference", "fail", ratio,
                fmt::format("{}[{}] is {:.17g} now, {:.17g} in /expected", t[k].first, e, x, y)};
      }
    }
  }
  return {subject, "reference", "pass", worst, ""};
}

// `results`: when given, filled with the per (implementation, case) verdicts.
int golden_check(const std::string& dir, std::ostream& os, io::GoldenSection* results) {
  const auto files = io::list_cases(dir);
  const Registry& reg = builtin_registry();
  std::vector<CheckRow> failures;
  struct Tally {
    int pass = 0, fail = 0, skip = 0;
    double worst = 0;
  };
  std::map<std::string, Tally> tally;
  std::vector<std::string> order{"reference-f64"};
  for (const auto& i : reg.all()) order.push_back(i.name);
  const std::size_t n_cases = files.size();
  if (results) {
    results->dir = dir;
    results->implementations = order;
    for (const auto& path : files) results->cases.push_back(fs::path(path).stem().string());
    results->status.assign(order.size() * n_cases, io::CaseOutcome::Skip);
    results->ratio.assign(order.size() * n_cases, std::nan(""));
    results->seconds.assign(order.size(), 0.0);
  }
  // Records cell (implementation k, case i) of the results matrices.
  auto record = [&](std::size_t k, std::size_t i, io::CaseOutcome st, double ratio, double secs) {
    if (!results) return;
    results->status[k * n_cases + i] = st;
    results->ratio[k * n_cases + i] = ratio;
    results->seconds[k] += secs;
  };
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  for (std::size_t ci = 0; ci < n_cases; ++ci) {
    const std::string& path = files[ci];
    const io::CaseFile f = io::read_case(path);
    const std::string name = fs::path(path).stem().string();
    if (!f.expected) {
      throw Error(ErrorKind::Io, path, -1, "golden case without /expected; run `attncheck golden update`");
    }
    const auto t_ref = Clock::now();
    const auto ref = reference_regression(f.c, *f.expected, name);
    record(0, ci, ref.status == "pass" ? io::CaseOutcome::Pass : io::CaseOutcome::Fail, ref.ratio,
           since(t_ref));
    auto& rt = tally["reference-f64"];
    (ref.status == "pass" ? rt.pass : rt.fail) += 1;
    rt.worst = std::max(rt.worst, ref.ratio);
    if (ref.status != "pass") {
      failures.push_back(ref);
      if (results) results->failures.push_back({"reference-f64", name, ref.check, ref.detail});
    }
    const VerifyContext ctx = make_verify_context(f.c, f.expected->has_grads());
    for (std::size_t k = 1; k < order.size(); ++k) {
      const Implementation& impl = reg.find(order[k]);
      auto& t = tally[impl.name];
      if (skip_reason(impl, f.c.batch)) {
        ++t.skip;
        continue;
      }
      const auto t_impl = Clock::now();
      const auto rows = judge_implementation(impl, f.c, ctx, *f.expected, name + " " + impl.name);
      bool ok = true, error = false;
      double worst = 0.0;
      for (const auto& r : rows) {
        t.worst = std::max(t.worst, r.ratio);
        worst = std::max(worst, r.ratio);
        if (r.status == "fail" || r.status == "error") {
          ok = false;
          error = error || r.status == "error";
          failures.push_back(r);
          if (results) results->failures.push_back({impl.name, name, r.check, r.detail});
        }
      }
      (ok ? t.pass : t.fail) += 1;
      record(k, ci,
             ok ? io::CaseOutcome::Pass : error ? io::CaseOutcome::Error : io::CaseOutcome::Fail,
             worst, since(t_impl));
    }
  }
  os << fmt::format("golden cases: {} in {}\n\n", files.size(), dir);
  os << fmt::format("{:<18} {:>6} {:>6} {:>6} {:>11}\n", "implementation", "pass", "fail", "skip",
                    "worst ratio");
  os << std::string(52, '-') << "\n";
  for (const auto& n : order) {
    const auto& t = tally[n];
    os << fmt::format("{:<18} {:>6} {:>6} {:>6} {:>11.3g}\n", n, t.pass, t.fail, t.skip, t.worst);
  }
  if (!failures.empty()) {
    os << "\nregressions:\n";
    print_rows(failures, "case / implementation", os);
  }
  os << fmt::format("\nattncheck golden check: {}\n", failures.empty() ? "pass" : "FAIL");
  return failures.empty() ? k_exit_ok : k_exit_failed;
}

int golden_update(const std::string& dir, std::ostream& os) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(ErrorKind::Io, dir, -1, "cannot create the golden directory: " + ec.message());
  std::set<std::string> written;
  std::uintmax_t bytes = 0;
  for (const auto& g : golden::golden_cases()) {
    io::CaseFile f;
    f.c = g.c;
    f.has_seed = true;
    f.description = g.description;
    f.expected = reference::oracle(g.c.batch, g.c.inputs, true).value;
    f.expected_producer = "attncheck reference (float64)";
    const std::string path = (fs::path(dir) / (g.name + ".h5")).string();
    io::write_case(path, f);
    written.insert(fs::path(path).filename().string());
    bytes += fs::file_size(path);
    os << fmt::format("{:<40} {}\n", path, g.c.batch.describe());
  }
  // Cases no longer in the set are removed, so the directory is the set.
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (e.path().extension() == ".h5" && !written.count(name)) {
      fs::remove(e.path());
      os << "removed " << e.path().string() << "\n";
    }
  }
  os << fmt::format("attncheck golden update: {} cases, {:.2f} MB in {}\n", written.size(),
                    double(bytes) / 1e6, dir);
  return k_exit_ok;
}

}  // namespace

Action add_golden(CLI::App& app) {
  auto dir = std::make_shared<std::string>(ATTNCHECK_GOLDEN_DIR);
  auto results = std::make_shared<std::string>();
  auto* check = app.add_subcommand("check", "run every registered implementation on the golden cases");
  auto* update = app.add_subcommand("update", "regenerate the golden cases (reproducible)");
  check->add_option("dir", *dir, "golden directory")->capture_default_str();
  check->add_option("--results", *results,
                    "also write the verdicts to this results file (for `attncheck report`; its "
                    "directory is created)");
  update->add_option("dir", *dir, "golden directory")->capture_default_str();
  app.require_subcommand(1);
  return [dir, results, check, update] {
    if (check->parsed() && !results->empty()) {
      io::ResultsFile rf;
      rf.producer = "attncheck golden check";
      rf.golden.emplace();
      const int rc = golden_check(*dir, std::cout, &*rf.golden);
      const auto parent = fs::path(*results).parent_path();
      std::error_code ec;
      if (!parent.empty()) fs::create_directories(parent, ec);
      if (ec) {
        throw Error(ErrorKind::Io, parent.string(), -1,
                    "cannot create the results directory: " + ec.message());
      }
      io::write_results(*results, rf);
      std::cout << fmt::format("results: {} (attncheck report {})\n", *results, *results);
      return rc;
    }
    if (check->parsed()) return golden_check(*dir, std::cout, nullptr);
    if (update->parsed()) return golden_update(*dir, std::cout);
    return k_exit_usage;
  };
}

}  // namespace attncheck::cli
