// The attncheck case file (FORMAT.md, format version 1): one packed-batch case
// per HDF5 file. The same schema serves golden cases, fuzz counterexamples,
// exported cases for external kernels and results.
//
// Reading is strict about what FORMAT.md defines and ignores everything else
// (extensions live in new groups or attributes): a missing, mistyped or
// mis-shaped object is an Error(Io) whose message names the file, the object
// (`/batch/cu_seqlens_q`, `/batch@num_heads_q`, `/@format_version`) and what
// was expected. The batch is validated with the contract's rules and real-row
// inputs must be finite and exactly representable in the batch dtype.
//
// Writing is atomic: the file is written under a temporary name in the same
// directory, flushed to disk and renamed over the destination, so a reader
// never sees a partial file and an interrupted write leaves no file behind.
// Files carry no timestamps (HDF5 object time tracking is off), so the same
// case written twice gives the same bytes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/batch.hpp"

namespace attncheck::io {

inline constexpr const char* k_format_name = "attncheck-case";
inline constexpr int k_format_version = 1;

// One /results/<implementation> group.
struct ResultGroup {
  Results<float> results;  // forward only when dq/dk/dv are absent
  std::string verdict;     // "pass", "fail" or "error"; empty when not judged
  std::map<std::string, double> metrics;      // numeric attributes (max error, ratio, ...)
  std::map<std::string, std::string> notes;   // string attributes (messages, outcomes)
};

struct CaseFile {
  Case c;                                  // batch, inputs (dout may be empty), seed
  bool has_seed = false;
  std::string description;                 // optional root attribute (empty: absent)
  std::optional<Results<double>> expected; // /expected; grads empty when forward only
  std::string expected_producer;           // /expected@producer
  std::map<std::string, ResultGroup> results;  // /results/<name>
  // Root string attributes beyond FORMAT.md's (e.g. "property", "implementation",
  // "reproduce" of a fuzz counterexample). Written as given; read back all
  // string root attributes the format does not define.
  std::map<std::string, std::string> extra;
};

// Throws Error(Io) naming file, object and expectation; never crashes on a
// malformed file.
CaseFile read_case(const std::string& path);

// Validates the case (batch, inputs, shapes of expected and results) and writes
// it atomically. Throws Error(Io) when the directory is not writable, or
// Error(InvalidBatch) for an inconsistent case.
void write_case(const std::string& path, const CaseFile& file);

// Adds or replaces /results/<name> of an existing case file, atomically (the
// file is read, updated and rewritten).
void write_result(const std::string& path, const std::string& name, const ResultGroup& group);

// Case files (*.h5) of a directory, sorted by name; a file path gives itself.
// Throws Error(Io) when `path` does not exist or a directory holds no case.
std::vector<std::string> list_cases(const std::string& path);

}  // namespace attncheck::io
