#include "properties/campaign.hpp"

#include <fmt/format.h>
#include <rapidcheck.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <iostream>
#include <limits>
#include <numeric>
#include <thread>

#include "harness/error.hpp"
#include "properties/row_workers.hpp"

namespace attncheck::gen {
void showValue(const CaseSpec& spec, std::ostream& os) {
  os << build_case(spec).batch.describe() << " values=" << to_string(spec.shape.dist)
     << " seed=" << spec.value_seed;
}
}  // namespace attncheck::gen

namespace attncheck::props {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// What the property body saw last; read by the listener after each case.
struct LastCase {
  bool ran = false;
  Outcome outcome;
  std::vector<std::string> features;
  std::string description;
  int docs = 0, tokens = 0;
  double seconds = 0.0;          // evaluation time
  io::GeneratedCase shape;       // for the coverage figures
  std::optional<Case> failing;  // the case, kept only when it failed
};

io::GeneratedCase shape_of(const gen::CaseSpec& spec, const Batch& b) {
  io::GeneratedCase g;
  g.total_q = b.total_q;
  g.total_kv = b.total_kv;
  g.heads_q = b.num_heads_q;
  g.heads_kv = b.num_heads_kv;
  g.head_dim = b.head_dim;
  g.head_dim_v = b.head_dim_v;
  g.dtype = std::string(to_string(b.dtype));
  g.mask = gen::to_string(spec.shape.mask);
  g.values = gen::to_string(spec.shape.dist);
  g.position_ids = b.position_ids.has_value();
  for (int i = 0; i < b.num_seqs(); ++i) {
    g.lengths_q.push_back(b.q_len(i));
    g.lengths_kv.push_back(b.kv_len(i));
  }
  return g;
}

io::CaseOutcome to_case_outcome(Outcome::Status s) {
  switch (s) {
    case Outcome::Status::Pass: return io::CaseOutcome::Pass;
    case Outcome::Status::Fail: return io::CaseOutcome::Fail;
    case Outcome::Status::Skip: return io::CaseOutcome::Skip;
  }
  return io::CaseOutcome::Error;
}

class Listener : public rc::detail::TestListener {
 public:
  Listener(Row& row, LastCase& last, std::map<std::string, int>& coverage,
           std::vector<io::GeneratedCase>& generated, bool count_coverage,
           std::function<void()> tick)
      : row_(row), last_(last), coverage_(coverage), generated_(generated),
        count_coverage_(count_coverage), tick_(std::move(tick)) {}

  void onTestCaseFinished(const rc::detail::CaseDescription&) override {
    if (!last_.ran) return;
    ++row_.cases;
    row_.worst_ratio = std::max(row_.worst_ratio, last_.outcome.ratio);
    row_.ratios.push_back(last_.outcome.status == Outcome::Status::Skip
                              ? std::numeric_limits<double>::quiet_NaN()
                              : last_.outcome.ratio);
    row_.outcomes.push_back(last_.outcome.status);
    row_.case_seconds.push_back(last_.seconds);
    switch (last_.outcome.status) {
      case Outcome::Status::Pass: ++row_.passed; break;
      case Outcome::Status::Skip:
        ++row_.skipped;
        ++row_.skip_reasons[last_.outcome.message];
        break;
      case Outcome::Status::Fail:
        ++row_.failed;
        row_.cases_to_failure = row_.cases;
        minimal_ = last_;
        break;
    }
    if (count_coverage_) {
      for (const auto& f : last_.features) ++coverage_[f];
      generated_.push_back(last_.shape);
    }
    tick_();
  }
  void onShrinkTried(const rc::detail::CaseDescription&, bool accepted) override {
    if (accepted) minimal_ = last_;
  }
  void onTestFinished(const rc::detail::TestMetadata&, const rc::detail::TestResult&) override {}

  const LastCase& minimal() const { return minimal_; }

 private:
  Row& row_;
  LastCase& last_;
  std::map<std::string, int>& coverage_;
  std::vector<io::GeneratedCase>& generated_;
  bool count_coverage_;
  std::function<void()> tick_;
  LastCase minimal_;
};

// The generator's options for `impl`: the campaign's, narrowed to the
// implementation's declared capabilities, so that its cases are ones it can
// run (a restriction that would leave nothing to generate is not applied, and
// those cases are skipped with the reason instead). An implementation with
// every capability gets the campaign's options unchanged.
gen::GenOptions options_for(const Implementation& impl, const gen::GenOptions& base,
                            PropertyId prop) {
  const Capabilities& c = impl.caps;
  gen::GenOptions o = base;
  std::vector<DType> dtypes;
  for (DType d : base.dtypes) {
    if (std::find(c.dtypes.begin(), c.dtypes.end(), d) != c.dtypes.end()) dtypes.push_back(d);
  }
  if (!dtypes.empty()) o.dtypes = dtypes;
  using gen::MaskKind;
  const std::vector<MaskKind> all = {MaskKind::None,         MaskKind::Causal,
                                     MaskKind::Window,       MaskKind::CausalWindow,
                                     MaskKind::Chunked,      MaskKind::CausalChunked};
  auto allowed = [&](MaskKind m) {
    const bool causal = m == MaskKind::Causal || m == MaskKind::CausalWindow ||
                        m == MaskKind::CausalChunked;
    if (causal ? !c.causal : !c.non_causal) return false;
    if ((m == MaskKind::Window || m == MaskKind::CausalWindow) && !c.windows) return false;
    if ((m == MaskKind::Chunked || m == MaskKind::CausalChunked) && !c.chunked) return false;
    if (c.windows_need_causal && (m == MaskKind::Window || m == MaskKind::Chunked)) return false;
    return true;
  };
  std::vector<MaskKind> masks;
  for (MaskKind m : base.masks.empty() ? all : base.masks) {
    if (allowed(m)) masks.push_back(m);
  }
  if (!masks.empty() && masks.size() < (base.masks.empty() ? all.size() : base.masks.size())) {
    o.masks = masks;
  }
  const bool one_row = c.packing == Packing::PositionIds || c.packing == Packing::Eos;
  o.self_attention = base.self_attention || !c.lq_ne_lk || one_row;
  o.mha_only = base.mha_only || !c.gqa;
  o.no_padding = base.no_padding || !c.padding || one_row;
  o.ids_always = base.ids_always || c.needs_position_ids;
  o.same_head_dim = base.same_head_dim || !c.dv_ne_d;
  o.max_head_dim = std::max(8, std::min(base.max_head_dim, c.max_head_dim));
  o.heads_split = c.heads_split;
  // Sequence-parallel rows: cases the property judges too (more than one
  // document, padding rows, GQA heads), so that their cases apply instead of
  // being generated for the single-device contract and skipped. Single-device
  // rows keep the shared generator, every property seeing the same cases.
  if (c.cp > 0) {
    switch (prop) {
      case PropertyId::PaddingZero:
      case PropertyId::Poison: o.padding_rows = !o.no_padding; break;
      case PropertyId::Isolation:
      case PropertyId::Permutation: o.min_docs = 2; break;
      case PropertyId::GqaMha: o.gqa_only = !o.mha_only; break;
      default: break;
    }
  }
  return o;
}

std::string replay_command(const Row& row, const CampaignOptions& o, const std::string& repro) {
  std::string dt;
  for (DType d : o.gen.dtypes) dt += (dt.empty() ? "" : ",") + std::string(to_string(d));
  return fmt::format(
      "attncheck fuzz --impl {} --property {} --max-tokens {} --max-head-dim {} --dtypes {} "
      "--reproduce '{}'",
      row.impl, row.code, o.gen.max_tokens, o.gen.max_head_dim, dt, repro);
}

}  // namespace

namespace {

// One (implementation, property) row of the campaign.
struct RowPlan {
  const Implementation* impl;
  const PropertyInfo* prop;
  int cases;  // generated cases of the row (CampaignOptions::cases, or its share)
};

// What running one row gives besides the row: the coverage and shapes of its
// cases (kept for the first row only) and whether a stop cut it short.
struct RowRun {
  Row row;
  bool interrupted = false;
  std::map<std::string, int> coverage;
  std::vector<io::GeneratedCase> generated;
};

RowRun run_row(const RowPlan& plan, const CampaignOptions& o, double row_budget, bool first_row,
               const std::unordered_map<std::string, rc::detail::Reproduce>& reproduce_map,
               const std::function<void(const Row&)>& tick) {
  const Implementation* impl = plan.impl;
  const PropertyInfo* prop = plan.prop;
  RowRun run;
  Row& row = run.row;
  row.impl = impl->name;
  row.device = impl->device;
  row.code = prop->code;
  row.name = prop->name;
  const std::string id = impl->name + "/" + prop->code;
  LastCase last;
  bool failed_once = false;
  const gen::GenOptions impl_gen = options_for(*impl, o.gen, prop->id);
  const auto t0 = Clock::now();
  auto body = [&] {
    last.ran = false;
    // Past the time budget, stop evaluating new cases (a failure still shrinks).
    if (row_budget > 0 && !failed_once && seconds_since(t0) > row_budget) {
      row.cut_by_time = true;
      return;
    }
    if (o.stop && o.stop->load() && !failed_once) {
      run.interrupted = true;
      return;
    }
    const gen::CaseSpec spec = *gen::case_spec(impl_gen).as("case");
    const Case c = gen::build_case(spec);
    const auto t_case = Clock::now();
    last.outcome = evaluate(prop->id, *impl, c);
    last.seconds = seconds_since(t_case);
    last.shape = shape_of(spec, c.batch);
    last.features = gen::features(spec, c);
    last.description = c.batch.describe();
    last.docs = c.batch.num_seqs();
    last.tokens = c.batch.cu_seqlens_q.back() + c.batch.cu_seqlens_kv.back();
    last.ran = true;
    last.failing.reset();
    for (const auto& f : last.features) RC_TAG(f);
    if (last.outcome.status == Outcome::Status::Fail) {
      failed_once = true;
      last.failing = c;
      RC_LOG() << last.outcome.message << "\n";
      RC_FAIL(last.outcome.message);
    }
  };
  Listener listener(row, last, run.coverage, run.generated, first_row, [&] { tick(row); });
  rc::detail::TestParams params;
  params.seed = o.seed;
  params.maxSuccess = plan.cases;
  params.maxSize = 100;
  params.disableShrinking = false;
  rc::detail::TestMetadata meta;
  meta.id = id;
  meta.description = id;
  const auto res = rc::detail::checkProperty(rc::detail::toProperty(body), meta, params, listener,
                                             reproduce_map);
  row.seconds = seconds_since(t0);
  rc::detail::FailureResult failure;
  rc::detail::Error error;
  if (res.match(failure)) {
    if (row.failed == 0) row.failed = 1;  // a replayed failure is not counted by the listener
    const LastCase& m = listener.minimal().ran ? listener.minimal() : last;
    row.failure = m.outcome.message.empty() ? failure.description : m.outcome.message;
    row.counterexample = m.description;
    row.shrunk_docs = m.docs;
    row.shrunk_tokens = m.tokens;
    rc::detail::Configuration cfg;
    cfg.reproduce[id] = failure.reproduce;
    row.reproduce = rc::detail::configToMinimalString(cfg);
    const auto eq = row.reproduce.find("reproduce=");
    const std::string bare =
        eq == std::string::npos ? row.reproduce : row.reproduce.substr(eq + 10);
    row.replay = replay_command(row, o, bare);
    if (o.on_failure && m.failing) o.on_failure(row, *m.failing);
  } else if (res.match(error)) {
    row.failed += 1;
    row.failure = "RapidCheck error: " + error.description;
  }
  return run;
}

// Rough cost of a row, for handing out the long rows first: ranks, and simt.
double row_cost(const RowPlan& p) {
  return double(std::max(1, p.impl->caps.cp)) * (p.impl->caps.simt ? 4.0 : 1.0) * p.cases;
}

}  // namespace

int default_jobs() { return int(std::max(1u, std::thread::hardware_concurrency())); }

CampaignResult run_campaign(const Registry& registry, const CampaignOptions& o,
                            std::ostream& progress) {
  std::vector<const Implementation*> impls;
  if (o.impls.empty()) {
    for (const auto& i : registry.all()) impls.push_back(&i);
  } else {
    for (const auto& n : o.impls) impls.push_back(&registry.find(n));
  }
  std::vector<const PropertyInfo*> props;
  if (o.properties.empty()) {
    for (const auto& p : all_properties()) props.push_back(&p);
  } else {
    for (const auto& n : o.properties) props.push_back(&find_property(n));
  }
  if (o.cases < 1) throw Error(ErrorKind::Usage, "--cases", -1, "must be >= 1");
  if (o.jobs < 1) throw Error(ErrorKind::Usage, "--jobs", -1, fmt::format("is {}; must be >= 1", o.jobs));
  std::unordered_map<std::string, rc::detail::Reproduce> reproduce_map;
  if (o.reproduce) {
    if (impls.size() != 1 || props.size() != 1) {
      throw Error(ErrorKind::Usage, "--reproduce", -1,
                  "replays one implementation and one property: give --impl and --property");
    }
    std::string s = *o.reproduce;
    if (s.rfind("reproduce=", 0) != 0) s = "reproduce=" + s;
    try {
      reproduce_map = rc::detail::configFromString(s).reproduce;
    } catch (const std::exception& e) {
      throw Error(ErrorKind::Usage, "--reproduce", -1,
                  fmt::format("is not a RapidCheck reproduce string ({}); copy it from the "
                              "failure report",
                              e.what()));
    }
  }

  // P8 compares a sequence-parallel result with the single-device one: a
  // single-device implementation has no such row.
  std::vector<RowPlan> plans;
  for (const Implementation* impl : impls) {
    // Implementation::default_share: only when no implementation was named.
    const double share = o.impls.empty() ? impl->default_share : 1.0;
    if (share <= 0.0) continue;
    const int cases = std::max(1, int(std::lround(o.cases * std::min(1.0, share))));
    for (const PropertyInfo* prop : props) {
      if (prop->id == PropertyId::Sharding && impl->caps.cp == 0) continue;
      plans.push_back({impl, prop, cases});
    }
  }
  const int total_rows = int(plans.size());
  // Rows run in forked worker processes when asked for and every
  // implementation of this process survives a fork (registry.hpp fork_safe).
  bool fork_safe = true;
  for (const auto& i : registry.all()) fork_safe = fork_safe && i.fork_safe;
  const int jobs = fork_safe ? std::min(o.jobs, total_rows) : 1;
  // The budget is wall time: rows running side by side each get their share.
  const double row_budget =
      o.time_budget_s > 0 ? o.time_budget_s * jobs / double(std::max(1, total_rows)) : 0.0;

  CampaignResult result;
  const auto t_all = Clock::now();
  auto keep = [&](RowRun& run) {
    result.interrupted = result.interrupted || run.interrupted;
    if (!run.coverage.empty()) result.coverage = std::move(run.coverage);
    if (!run.generated.empty()) result.generated = std::move(run.generated);
    result.total_cases += run.row.cases;
    result.total_failed += run.row.failed;
  };
  if (jobs <= 1) {
    for (int i = 0; i < total_rows; ++i) {
      if (o.stop && o.stop->load()) {
        result.interrupted = true;
        break;
      }
      const RowPlan& plan = plans[std::size_t(i)];
      auto tick = [&](const Row& row) {
        if (!o.progress) return;
        const int width = 30;
        const int filled = std::min(width, row.cases * width / std::max(1, plan.cases));
        progress << fmt::format("\r[{:<{}}] {:>3}/{} {:<16} {:<4} {:>5}/{} cases",
                                std::string(std::size_t(filled), '#'), width, i + 1, total_rows,
                                plan.impl->name, plan.prop->code, row.cases, plan.cases)
                 << std::flush;
      };
      RowRun run = run_row(plan, o, row_budget, i == 0, reproduce_map, tick);
      keep(run);
      result.rows.push_back(std::move(run.row));
    }
  } else {
    std::vector<int> order(static_cast<std::size_t>(total_rows));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return row_cost(plans[std::size_t(a)]) > row_cost(plans[std::size_t(b)]);
    });
    int done = 0;
    auto on_done = [&](int) {
      ++done;
      if (!o.progress) return;
      const int width = 30;
      const int filled = std::min(width, done * width / std::max(1, total_rows));
      progress << fmt::format("\r[{:<{}}] {:>3}/{} rows ({} worker processes)",
                              std::string(std::size_t(filled), '#'), width, done, total_rows, jobs)
               << std::flush;
    };
    auto run_in_worker = [&](int i) {
      WorkerRow w;
      RowRun run = run_row(plans[std::size_t(i)], o, row_budget, i == 0, reproduce_map,
                           [](const Row&) {});
      w.row = std::move(run.row);
      w.interrupted = run.interrupted;
      w.coverage = std::move(run.coverage);
      w.generated = std::move(run.generated);
      return w;
    };
    auto lost = [&](int i, const std::string& why) {
      WorkerRow w;
      Row& row = w.row;
      const RowPlan& plan = plans[std::size_t(i)];
      row.impl = plan.impl->name;
      row.device = plan.impl->device;
      row.code = plan.prop->code;
      row.name = plan.prop->name;
      row.failed = 1;
      row.failure = fmt::format("{}; rerun the row alone: attncheck fuzz --impl {} --property {} "
                                "--seed {} --cases {} --jobs 1",
                                why, row.impl, row.code, o.seed, plan.cases);
      return w;
    };
    auto runs = run_rows_forked(order, jobs, run_in_worker, lost, o.stop, on_done, o.worker_setup);
    for (int i = 0; i < total_rows; ++i) {
      auto& w = runs[std::size_t(i)];
      if (!w) {  // never started: the campaign was stopped
        result.interrupted = true;
        continue;
      }
      RowRun run{std::move(w->row), w->interrupted, std::move(w->coverage), std::move(w->generated)};
      keep(run);
      result.rows.push_back(std::move(run.row));
    }
  }
  if (o.progress) progress << "\r" << std::string(80, ' ') << "\r" << std::flush;
  result.seconds = seconds_since(t_all);
  return result;
}

void print_summary(const CampaignResult& r, std::ostream& os) {
  std::size_t w = 18;  // the implementation column fits the longest name (py:MODULE:ATTR)
  for (const auto& row : r.rows) w = std::max(w, row.impl.size());
  os << fmt::format("{:<{}} {:<6} {:<5} {:<13} {:>6} {:>6} {:>6} {:>7} {:>11} {:>8}\n",
                    "implementation", w, "device", "prop", "name", "cases", "passed", "failed",
                    "skipped", "worst ratio", "time s");
  os << std::string(77 + w, '-') << "\n";
  for (const auto& row : r.rows) {
    os << fmt::format("{:<{}} {:<6} {:<5} {:<13} {:>6} {:>6} {:>6} {:>7} {:>11.3g} {:>8.2f}{}\n",
                      row.impl, w, row.device, row.code, row.name, row.cases, row.passed, row.failed,
                      row.skipped, row.worst_ratio, row.seconds, row.cut_by_time ? " (time)" : "");
  }
  bool any_skip = false;
  for (const auto& row : r.rows) {
    for (const auto& [why, n] : row.skip_reasons) {
      if (!any_skip) os << "\nskips:\n";
      any_skip = true;
      os << fmt::format("  {} {}: {} x {}\n", row.impl, row.code, n, why);
    }
  }
  if (!r.coverage.empty()) {
    os << "\ncoverage (generated cases per feature, first row):\n";
    int col = 0;
    for (const auto& [feature, n] : r.coverage) {
      os << fmt::format("  {:<26}{:>5}", feature, n) << (++col % 3 == 0 ? "\n" : "");
    }
    if (col % 3 != 0) os << "\n";
  }
  for (const auto& row : r.rows) {
    if (row.failed == 0) continue;
    os << fmt::format("\nFAILED {} {} ({}) after {} generated cases\n", row.impl, row.code,
                      row.name, row.cases_to_failure);
    os << "  diagnosis      : " << row.failure << "\n";
    if (!row.counterexample.empty()) {
      os << fmt::format("  shrunk case    : {} ({} docs, {} tokens q+kv)\n", row.counterexample,
                        row.shrunk_docs, row.shrunk_tokens);
    }
    if (!row.reproduce.empty()) {
      os << "  RapidCheck     : RC_PARAMS=\"" << row.reproduce << "\"\n";
      os << "  replay with    : " << row.replay << "\n";
    }
    if (!row.saved_to.empty()) {
      os << "  case file      : " << row.saved_to << "\n";
      os << "  replay file    : attncheck replay " << row.saved_to << " --impl " << row.impl << "\n";
    }
  }
  if (r.interrupted) os << "\ninterrupted: the rows above hold every case run before the stop\n";
  os << fmt::format("\nattncheck: {} cases, {} failed{}\n", r.total_cases, r.total_failed,
                    r.interrupted ? " (interrupted)" : "");
}

io::CampaignSection to_results(const CampaignResult& r, const CampaignOptions& o) {
  io::CampaignSection c;
  c.seed = o.seed;
  c.cases_per_row = o.cases;
  c.max_tokens = o.gen.max_tokens;
  c.max_head_dim = o.gen.max_head_dim;
  for (DType d : o.gen.dtypes) c.dtypes += (c.dtypes.empty() ? "" : ",") + std::string(to_string(d));
  c.time_budget_s = o.time_budget_s;
  c.reproduce = o.reproduce.value_or("");
  c.total_cases = r.total_cases;
  c.total_failed = r.total_failed;
  c.seconds = r.seconds;
  c.interrupted = r.interrupted;
  c.repeat = determinism_runs();
  c.coverage = r.coverage;
  c.generated = r.generated;
  c.tile_edges.assign(std::begin(gen::k_tiles), std::end(gen::k_tiles));
  for (const Row& row : r.rows) {
    io::CampaignRow x;
    x.impl = row.impl;
    x.device = row.device;
    x.code = row.code;
    x.name = row.name;
    x.cases = row.cases;
    x.passed = row.passed;
    x.failed = row.failed;
    x.skipped = row.skipped;
    x.worst_ratio = row.worst_ratio;
    x.seconds = row.seconds;
    x.cut_by_time = row.cut_by_time;
    x.ratios = row.ratios;
    for (auto s : row.outcomes) x.outcomes.push_back(to_case_outcome(s));
    x.case_seconds = row.case_seconds;
    x.skip_reasons = row.skip_reasons;
    x.diagnosis = row.failure;
    x.counterexample = row.counterexample;
    x.reproduce = row.reproduce;
    x.replay_fuzz = row.replay;
    x.case_file = row.saved_to;
    x.shrunk_docs = row.shrunk_docs;
    x.shrunk_tokens = row.shrunk_tokens;
    x.cases_to_failure = row.cases_to_failure;
    x.strip = row.strip;
    c.rows.push_back(std::move(x));
  }
  return c;
}

}  // namespace attncheck::props
