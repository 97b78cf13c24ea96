// The results file of `attncheck loss` (HDF5; schema in RESULTS.md): root
// attributes format = "attncheck-results", format_version = 1; group /loss
// with the run's settings; one group per curve. Written atomically: a
// temporary file in the destination directory, flushed, fsynced and renamed
// into place (as harness/casefile.cpp writes case files); no timestamps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attncheck::train {

inline constexpr const char* k_results_format = "attncheck-results";
inline constexpr int k_results_format_version = 1;

struct LossRun {
  std::string impl;
  std::vector<double> loss;   // [steps]; NaN for steps not run (verdict "error")
  std::string verdict;        // "pass", "fail", "error"
  double max_abs_diff = 0.0;  // max over steps of |loss - reference|
  std::string message;
};

struct LossResults {
  int steps = 0;
  std::uint64_t seed = 0;
  std::string bound;                  // the P12 rule (curves.hpp bound_description)
  std::string reference;              // name of the reference run's group
  std::vector<double> reference_loss; // [steps]
  std::string model;                  // one line: the model and data settings
  std::vector<LossRun> runs;
};

// Throws Error(Io) naming the file when it cannot be written (the destination
// directory must exist) and Error(Usage) for a run name that is not a valid
// group name or repeats.
void write_loss_results(const std::string& path, const LossResults& r);

}  // namespace attncheck::train
