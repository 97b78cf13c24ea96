// A fuzz campaign: every selected property checked with RapidCheck over every
// selected implementation. One RapidCheck run per (implementation, property)
// with the same seed, so every property sees the same generated cases; a
// failure is shrunk by RapidCheck and reported with its reproduce string and
// the `attncheck` command that replays it.
#pragma once

#include <cstdint>
#include <atomic>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/registry.hpp"
#include "harness/results.hpp"
#include "properties/generators.hpp"
#include "properties/properties.hpp"

namespace attncheck::props {

struct Row;

struct CampaignOptions {
  std::vector<std::string> impls;       // empty: every registered implementation
  std::vector<std::string> properties;  // codes or names; empty: all
  int cases = 200;                      // generated cases per (implementation, property)
  std::uint64_t seed = 1;
  double time_budget_s = 0.0;           // 0: no limit; else split evenly over the rows
  gen::GenOptions gen;
  bool progress = false;                // progress bar on stderr
  std::optional<std::string> reproduce; // RapidCheck reproduce string (one impl, one property)
  // Called once per failed row, as soon as its failure is shrunk, with the
  // shrunk case (fuzz saves it as a case file; see counterexample.hpp). The
  // row's reproduce and replay fields are filled. May set row.saved_to.
  std::function<void(Row& row, const Case& shrunk)> on_failure;
  // Set (e.g. by a signal handler) to stop: no new case is evaluated, a
  // failure being shrunk still finishes, later rows are not started, and the
  // result says `interrupted`.
  const std::atomic<bool>* stop = nullptr;
  // Rows run at once, each in a forked worker process (properties/
  // row_workers.hpp); 1: every row in this process, one after another. Rows
  // are independent and each is generated from `seed`, so the verdicts do
  // not depend on it. Forced to 1 when an implementation is not fork_safe.
  int jobs = 1;
  // Called first in each worker process (e.g. to give each one its share of
  // the cores for simt's block workers).
  std::function<void()> worker_setup;
};

struct Row {
  std::string impl, device, code, name;
  int cases = 0, passed = 0, failed = 0, skipped = 0;
  double worst_ratio = 0.0;
  double seconds = 0.0;
  bool cut_by_time = false;
  std::map<std::string, int> skip_reasons;
  // One entry per generated case, in generation order (empty for a
  // --reproduce run): its worst error / bound (NaN when skipped), its
  // outcome and the seconds its evaluation took.
  std::vector<double> ratios;
  std::vector<Outcome::Status> outcomes;
  std::vector<double> case_seconds;
  // Filled on failure:
  std::string failure;         // diagnosis of the shrunk counterexample
  std::string counterexample;  // shrunk case description
  int shrunk_docs = 0, shrunk_tokens = 0;
  int cases_to_failure = 0;    // generated cases until the first failure
  std::string reproduce;       // RapidCheck reproduce string
  std::string replay;          // attncheck command that replays it
  std::string saved_to;        // case file of the shrunk counterexample (when saved)
  std::optional<io::ErrorStrip> strip;  // per-token errors of the shrunk case (set by on_failure)
};

struct CampaignResult {
  std::vector<Row> rows;
  std::map<std::string, int> coverage;  // feature -> generated cases carrying it
  std::vector<io::GeneratedCase> generated;  // shapes of the first row's cases
  int total_cases = 0;
  int total_failed = 0;
  double seconds = 0.0;
  bool interrupted = false;  // CampaignOptions::stop was set
};

// The number of rows `attncheck fuzz` runs at once by default: one per core.
int default_jobs();

// Throws Error(Usage) for unknown implementations/properties or a malformed
// reproduce string.
CampaignResult run_campaign(const Registry& registry, const CampaignOptions& opts,
                            std::ostream& progress);

// Fixed-width table, failure details, coverage and the last line
// "attncheck: N cases, M failed".
void print_summary(const CampaignResult& r, std::ostream& os);

// The campaign as the results file's /campaign group (reports/RESULTS-FORMAT.md).
io::CampaignSection to_results(const CampaignResult& r, const CampaignOptions& opts);

}  // namespace attncheck::props

namespace attncheck::gen {
// How RapidCheck prints a generated case in a counterexample.
void showValue(const CaseSpec& spec, std::ostream& os);
}  // namespace attncheck::gen
