// Campaign rows in forked worker processes, so that independent rows use
// every core. RapidCheck keeps its generation state in process-wide statics
// (not per thread), so rows cannot share a process; a fork gives each worker
// the registry and options as they are, and a worker sends each finished row
// back over a pipe. A worker that dies (a crash inside an implementation)
// costs only its row, which is reported failed with the way to rerun it; the
// rows already finished are kept.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/results.hpp"
#include "properties/campaign.hpp"

namespace attncheck::props {

// A finished row as a worker reports it.
struct WorkerRow {
  Row row;
  bool interrupted = false;                  // the stop flag cut it short
  std::map<std::string, int> coverage;       // the first row only
  std::vector<io::GeneratedCase> generated;  // the first row only
};

// Runs run(i) for every i of `order` (row indices, handed out in that order)
// on `jobs` worker processes. `lost(i, why)` makes the report of a row whose
// worker died. `stop`: once set, no row is handed out and the workers are
// told to stop (SIGTERM, which a campaign's signal handler turns into its
// stop flag: the worker finishes its case and reports the row). `on_done(i)`
// runs in this process as each row arrives; `setup` first in each worker. Returns the reports indexed by
// row; rows never started are empty.
std::vector<std::optional<WorkerRow>> run_rows_forked(
    const std::vector<int>& order, int jobs, const std::function<WorkerRow(int)>& run,
    const std::function<WorkerRow(int, const std::string&)>& lost, const std::atomic<bool>* stop,
    const std::function<void(int)>& on_done, const std::function<void()>& setup);

// The wire format of a WorkerRow (exposed for its round-trip test).
std::string encode_row(const WorkerRow& w);
WorkerRow decode_row(const std::string& bytes);  // throws std::runtime_error when malformed

}  // namespace attncheck::props
