// The attncheck results file (reports/RESULTS-FORMAT.md, version 1): one HDF5
// file per run of `fuzz` or `golden check`, holding everything the HTML report
// (reports/report.py) draws. Root attributes format = "attncheck-results" and
// format_version = 1 are shared by every results file (`loss` and the bug zoo
// write their own groups under the same root attributes).
//
// Written like case files: under a temporary name in the destination's
// directory, flushed, fsynced and renamed into place; HDF5 object time
// tracking is off, so the same results give the same bytes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace attncheck::io {

inline constexpr const char* k_results_format_name = "attncheck-results";
inline constexpr int k_results_format_version = 1;

// Per-row error of one implementation's plain run (no property transformation)
// on a shrunk counterexample against the float64 reference: for each q row the
// largest |impl - ref64| over heads and head dims (out, lse, dq), for each kv
// row the same for dk and dv. Padding rows compare with the contract's exact
// 0 (and -inf for lse), so a value left in padding shows as an error there.
// Equal values (including both -inf) give 0; a non-finite value that differs
// from the reference gives +inf.
struct ErrorStrip {
  std::string plain_run;          // "pass", "fail" or "error" (the run threw)
  std::string plain_run_message;  // verdict's first failure or the error; may be empty
  int total_q = 0, total_kv = 0;
  // Document boundaries: actual prefix sums and memory offsets (the padded
  // offsets equal the actual ones when the case has none).
  std::vector<std::int32_t> cu_seqlens_q, cu_seqlens_q_padded;
  std::vector<std::int32_t> cu_seqlens_kv, cu_seqlens_kv_padded;
  // Empty when plain_run == "error"; dq, dk, dv empty when forward only.
  std::vector<double> out, lse, dq;  // [total_q]
  std::vector<double> dk, dv;        // [total_kv]
  // The verdict's per-tensor figures: "<tensor>_err", "<tensor>_base_err",
  // "<tensor>_bound", "<tensor>_ratio" for tensor in out, lse, dq, dk, dv.
  std::map<std::string, double> tensor_metrics;
};

// Outcome codes of generated cases and golden cells.
enum class CaseOutcome : std::int8_t { Pass = 0, Fail = 1, Skip = 2, Error = 3 };

// One (implementation, property) row of a fuzz campaign.
struct CampaignRow {
  std::string impl, device, code, name;
  int cases = 0, passed = 0, failed = 0, skipped = 0;
  double worst_ratio = 0.0;
  double seconds = 0.0;
  bool cut_by_time = false;
  // One entry per generated case, in generation order.
  std::vector<double> ratios;  // worst error / bound; NaN for a skipped case
  std::vector<CaseOutcome> outcomes;
  std::vector<double> case_seconds;
  std::map<std::string, int> skip_reasons;  // reason -> cases
  // Failure (written when failed > 0).
  std::string diagnosis, counterexample, reproduce, replay_fuzz, case_file;
  int shrunk_docs = 0, shrunk_tokens = 0, cases_to_failure = 0;
  std::optional<ErrorStrip> strip;
};

// Shape of one generated case (coverage figures).
struct GeneratedCase {
  int total_q = 0, total_kv = 0;
  int heads_q = 0, heads_kv = 0, head_dim = 0, head_dim_v = 0;
  std::string dtype, mask, values;
  bool position_ids = false;
  std::vector<std::int32_t> lengths_q, lengths_kv;  // per document
};

struct CampaignSection {
  std::uint64_t seed = 0;
  int cases_per_row = 0;
  int max_tokens = 0, max_head_dim = 0;
  std::string dtypes;          // comma-separated
  double time_budget_s = 0.0;  // 0: none
  std::string reproduce;       // non-empty for a --reproduce run
  int total_cases = 0, total_failed = 0;
  double seconds = 0.0;
  bool interrupted = false;    // stopped by SIGINT/SIGTERM: rows hold the cases run before
  int repeat = 2;              // runs per case of P10 (--repeat)
  std::vector<CampaignRow> rows;
  std::map<std::string, int> coverage;  // feature -> generated cases
  std::vector<GeneratedCase> generated;  // the cases of the first row
  std::vector<std::int32_t> tile_edges;  // lengths the generator aims at +-1
};

struct GoldenFailure {
  std::string impl, case_name, check, detail;
};

struct GoldenSection {
  std::string dir;
  std::vector<std::string> implementations;  // "reference-f64" first
  std::vector<std::string> cases;            // file stems
  std::vector<CaseOutcome> status;           // [implementations, cases], row-major
  std::vector<double> ratio;                 // [implementations, cases]; NaN when skipped
  std::vector<double> seconds;               // [implementations]
  std::vector<GoldenFailure> failures;
};

struct ResultsFile {
  std::string producer;  // the verb that wrote it, e.g. "attncheck fuzz"
  std::optional<CampaignSection> campaign;
  std::optional<GoldenSection> golden;
};

// Checks sizes (every per-case vector of a row has `cases` entries, the
// golden matrices have implementations x cases entries, strip vectors have
// total_q / total_kv entries) and writes the file atomically; creates no
// directories. Throws Error(Io) naming the path when the directory is missing
// or not writable, Error(Usage) for inconsistent data.
void write_results(const std::string& path, const ResultsFile& file);

}  // namespace attncheck::io
