#include "harness/results.hpp"

#include <fmt/format.h>

#include "harness/error.hpp"
#include "harness/hdf5.hpp"

namespace attncheck::io {

namespace {

void write_outcomes(Writer& w, const std::string& path, const std::vector<CaseOutcome>& v,
                    std::vector<hsize_t> dims = {}) {
  std::vector<std::int8_t> raw(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) raw[i] = static_cast<std::int8_t>(v[i]);
  w.int8s(path, raw, std::move(dims));
}

[[noreturn]] void inconsistent(const std::string& object, const std::string& what) {
  throw Error(ErrorKind::Usage, object, -1, what);
}

void check_len(const std::string& object, std::size_t got, std::size_t want, const char* expected) {
  if (got != want) inconsistent(object, fmt::format("has {} entries; expected {} ({})", got, want, expected));
}

void check_strip(const std::string& g, const ErrorStrip& s) {
  const auto nq = std::size_t(s.total_q), nkv = std::size_t(s.total_kv);
  check_len(g + "/cu_seqlens_q_padded", s.cu_seqlens_q_padded.size(), s.cu_seqlens_q.size(),
            "as cu_seqlens_q");
  check_len(g + "/cu_seqlens_kv", s.cu_seqlens_kv.size(), s.cu_seqlens_q.size(), "as cu_seqlens_q");
  check_len(g + "/cu_seqlens_kv_padded", s.cu_seqlens_kv_padded.size(), s.cu_seqlens_q.size(),
            "as cu_seqlens_q");
  if (s.cu_seqlens_q.empty()) inconsistent(g + "/cu_seqlens_q", "is empty; expected b+1 entries");
  if (s.plain_run == "error") {
    if (!s.out.empty()) inconsistent(g + "/out", "is given for a run that threw");
    return;
  }
  check_len(g + "/out", s.out.size(), nq, "total_q");
  check_len(g + "/lse", s.lse.size(), nq, "total_q");
  if (!s.dq.empty() || !s.dk.empty() || !s.dv.empty()) {
    check_len(g + "/dq", s.dq.size(), nq, "total_q");
    check_len(g + "/dk", s.dk.size(), nkv, "total_kv");
    check_len(g + "/dv", s.dv.size(), nkv, "total_kv");
  }
}

void check(const ResultsFile& f) {
  if (f.campaign) {
    for (std::size_t i = 0; i < f.campaign->rows.size(); ++i) {
      const CampaignRow& r = f.campaign->rows[i];
      const std::string g = fmt::format("/campaign/rows/{:04d}", i);
      const auto n = std::size_t(r.cases);
      check_len(g + "/ratios", r.ratios.size(), n, "cases");
      check_len(g + "/outcomes", r.outcomes.size(), n, "cases");
      check_len(g + "/case_seconds", r.case_seconds.size(), n, "cases");
      if (r.strip) check_strip(g + "/failure/strip", *r.strip);
    }
  }
  if (f.golden) {
    const GoldenSection& gs = *f.golden;
    const std::size_t cells = gs.implementations.size() * gs.cases.size();
    check_len("/golden/status", gs.status.size(), cells, "implementations x cases");
    check_len("/golden/ratio", gs.ratio.size(), cells, "implementations x cases");
    check_len("/golden/seconds", gs.seconds.size(), gs.implementations.size(), "implementations");
  }
}

void write_strip(Writer& w, const std::string& g, const ErrorStrip& s) {
  w.group(g);
  w.attr(g, "metric", "max_abs_error");
  w.attr(g, "plain_run", s.plain_run);
  w.attr(g, "plain_run_message", s.plain_run_message);
  w.attr(g, "total_q", std::int32_t(s.total_q));
  w.attr(g, "total_kv", std::int32_t(s.total_kv));
  for (const auto& [k, v] : s.tensor_metrics) w.attr(g, k, v);
  w.ints(g + "/cu_seqlens_q", s.cu_seqlens_q);
  w.ints(g + "/cu_seqlens_q_padded", s.cu_seqlens_q_padded);
  w.ints(g + "/cu_seqlens_kv", s.cu_seqlens_kv);
  w.ints(g + "/cu_seqlens_kv_padded", s.cu_seqlens_kv_padded);
  if (s.plain_run == "error") return;
  w.doubles(g + "/out", s.out);
  w.doubles(g + "/lse", s.lse);
  if (!s.dq.empty()) {
    w.doubles(g + "/dq", s.dq);
    w.doubles(g + "/dk", s.dk);
    w.doubles(g + "/dv", s.dv);
  }
}

void write_campaign(Writer& w, const CampaignSection& c) {
  w.group("/campaign");
  w.attr("/campaign", "seed", c.seed);
  w.attr("/campaign", "cases_per_row", std::int32_t(c.cases_per_row));
  w.attr("/campaign", "max_tokens", std::int32_t(c.max_tokens));
  w.attr("/campaign", "max_head_dim", std::int32_t(c.max_head_dim));
  w.attr("/campaign", "dtypes", c.dtypes);
  w.attr("/campaign", "time_budget_s", c.time_budget_s);
  w.attr("/campaign", "reproduce", c.reproduce);
  w.attr("/campaign", "total_cases", std::int32_t(c.total_cases));
  w.attr("/campaign", "total_failed", std::int32_t(c.total_failed));
  w.attr("/campaign", "seconds", c.seconds);
  w.attr("/campaign", "interrupted", std::int32_t(c.interrupted ? 1 : 0));
  w.attr("/campaign", "repeat", std::int32_t(c.repeat));
  w.ints("/campaign/tile_edges", c.tile_edges);

  w.group("/campaign/rows");
  for (std::size_t i = 0; i < c.rows.size(); ++i) {
    const CampaignRow& r = c.rows[i];
    const std::string g = fmt::format("/campaign/rows/{:04d}", i);
    w.group(g);
    w.attr(g, "impl", r.impl);
    w.attr(g, "device", r.device);
    w.attr(g, "code", r.code);
    w.attr(g, "name", r.name);
    w.attr(g, "cases", std::int32_t(r.cases));
    w.attr(g, "passed", std::int32_t(r.passed));
    w.attr(g, "failed", std::int32_t(r.failed));
    w.attr(g, "skipped", std::int32_t(r.skipped));
    w.attr(g, "worst_ratio", r.worst_ratio);
    w.attr(g, "seconds", r.seconds);
    w.attr(g, "cut_by_time", std::int32_t(r.cut_by_time ? 1 : 0));
    w.doubles(g + "/ratios", r.ratios);
    write_outcomes(w, g + "/outcomes", r.outcomes);
    w.doubles(g + "/case_seconds", r.case_seconds);
    std::vector<std::string> reasons;
    std::vector<std::int32_t> counts;
    for (const auto& [why, n] : r.skip_reasons) {
      reasons.push_back(why);
      counts.push_back(n);
    }
    w.strings(g + "/skip_reasons", reasons);
    w.ints(g + "/skip_counts", counts);
    if (r.failed == 0) continue;
    const std::string fg = g + "/failure";
    w.group(fg);
    w.attr(fg, "diagnosis", r.diagnosis);
    w.attr(fg, "counterexample", r.counterexample);
    w.attr(fg, "shrunk_docs", std::int32_t(r.shrunk_docs));
    w.attr(fg, "shrunk_tokens", std::int32_t(r.shrunk_tokens));
    w.attr(fg, "cases_to_failure", std::int32_t(r.cases_to_failure));
    w.attr(fg, "reproduce", r.reproduce);
    w.attr(fg, "replay_fuzz", r.replay_fuzz);
    w.attr(fg, "case_file", r.case_file);
    w.attr(fg, "replay_file",
           r.case_file.empty() ? std::string()
                               : fmt::format("attncheck replay {} --impl {}", r.case_file, r.impl));
    if (r.strip) write_strip(w, fg + "/strip", *r.strip);
  }

  w.group("/campaign/coverage");
  std::vector<std::string> features;
  std::vector<std::int32_t> counts;
  for (const auto& [f, n] : c.coverage) {
    features.push_back(f);
    counts.push_back(n);
  }
  w.strings("/campaign/coverage/features", features);
  w.ints("/campaign/coverage/counts", counts);

  w.group("/campaign/generated");
  const auto& gen = c.generated;
  auto column = [&](const char* name, auto get) {
    std::vector<std::int32_t> v;
    for (const auto& x : gen) v.push_back(std::int32_t(get(x)));
    w.ints(std::string("/campaign/generated/") + name, v);
  };
  auto text = [&](const char* name, auto get) {
    std::vector<std::string> v;
    for (const auto& x : gen) v.push_back(get(x));
    w.strings(std::string("/campaign/generated/") + name, v);
  };
  column("docs", [](const GeneratedCase& x) { return x.lengths_q.size(); });
  column("total_q", [](const GeneratedCase& x) { return x.total_q; });
  column("total_kv", [](const GeneratedCase& x) { return x.total_kv; });
  column("heads_q", [](const GeneratedCase& x) { return x.heads_q; });
  column("heads_kv", [](const GeneratedCase& x) { return x.heads_kv; });
  column("head_dim", [](const GeneratedCase& x) { return x.head_dim; });
  column("head_dim_v", [](const GeneratedCase& x) { return x.head_dim_v; });
  column("position_ids", [](const GeneratedCase& x) { return x.position_ids ? 1 : 0; });
  text("dtype", [](const GeneratedCase& x) { return x.dtype; });
  text("mask", [](const GeneratedCase& x) { return x.mask; });
  text("values", [](const GeneratedCase& x) { return x.values; });
  std::vector<std::int32_t> lq, lkv;
  for (const auto& x : gen) {
    if (x.lengths_kv.size() != x.lengths_q.size()) {
      inconsistent("/campaign/generated/lengths_kv", "a case has different q and kv document counts");
    }
    lq.insert(lq.end(), x.lengths_q.begin(), x.lengths_q.end());
    lkv.insert(lkv.end(), x.lengths_kv.begin(), x.lengths_kv.end());
  }
  w.ints("/campaign/generated/lengths_q", lq);
  w.ints("/campaign/generated/lengths_kv", lkv);
}

void write_golden(Writer& w, const GoldenSection& gs) {
  w.group("/golden");
  w.attr("/golden", "dir", gs.dir);
  w.attr("/golden", "verdict", gs.failures.empty() ? "pass" : "fail");
  w.strings("/golden/implementations", gs.implementations);
  w.strings("/golden/cases", gs.cases);
  const std::vector<hsize_t> dims{hsize_t(gs.implementations.size()), hsize_t(gs.cases.size())};
  write_outcomes(w, "/golden/status", gs.status, dims);
  w.doubles("/golden/ratio", gs.ratio, dims);
  w.doubles("/golden/seconds", gs.seconds);
  std::vector<std::string> impl, cases, checks, details;
  for (const auto& f : gs.failures) {
    impl.push_back(f.impl);
    cases.push_back(f.case_name);
    checks.push_back(f.check);
    details.push_back(f.detail);
  }
  w.group("/golden/failures");
  w.strings("/golden/failures/impl", impl);
  w.strings("/golden/failures/case", cases);
  w.strings("/golden/failures/check", checks);
  w.strings("/golden/failures/detail", details);
}

}  // namespace

void write_results(const std::string& path, const ResultsFile& f) {
  check(f);
  write_atomically(path, [&](Writer& w) {
    w.attr("/", "format", k_results_format_name);
    w.attr("/", "format_version", std::int32_t(k_results_format_version));
    if (!f.producer.empty()) w.attr("/", "producer", f.producer);
    if (f.campaign) write_campaign(w, *f.campaign);
    if (f.golden) write_golden(w, *f.golden);
  });
}

}  // namespace attncheck::io
