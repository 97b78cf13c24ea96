// The /loss group of the results file (reports/RESULTS-FORMAT.md), written by
// `attncheck loss`: the run's settings and one group per curve. Written
// atomically with the root attributes every results file has
// (harness/hdf5.hpp: temporary file, fsync, rename; no timestamps).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attncheck::train {

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
