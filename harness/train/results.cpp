#include "harness/train/results.hpp"

#include <fmt/format.h>

#include <set>

#include "harness/error.hpp"
#include "harness/hdf5.hpp"
#include "harness/results.hpp"

namespace attncheck::train {

namespace {

void check_name(const std::string& name, std::set<std::string>& seen) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    throw Error(ErrorKind::Usage, "--impl", -1,
                fmt::format("'{}' is not a valid results group name", name));
  }
  if (!seen.insert(name).second) {
    throw Error(ErrorKind::Usage, "--impl", -1, fmt::format("'{}' is given twice", name));
  }
}

}  // namespace

void write_loss_results(const std::string& path, const LossResults& r) {
  std::set<std::string> seen;
  check_name(r.reference, seen);
  for (const auto& run : r.runs) check_name(run.impl, seen);

  io::write_atomically(path, [&](io::Writer& w) {
    w.attr("/", "format", io::k_results_format_name);
    w.attr("/", "format_version", std::int32_t(io::k_results_format_version));
    w.group("/loss");
    w.attr("/loss", "steps", r.steps);
    w.attr("/loss", "seed", r.seed);
    w.attr("/loss", "bound", r.bound);
    w.attr("/loss", "reference", r.reference);
    w.attr("/loss", "model", r.model);
    const std::string ref = "/loss/" + r.reference;
    w.group(ref);
    w.doubles(ref + "/loss", r.reference_loss);
    w.attr(ref, "verdict", "reference");
    w.attr(ref, "max_abs_diff", 0.0);
    w.attr(ref, "message", "the reference run (float64 attention)");
    for (const auto& run : r.runs) {
      const std::string g = "/loss/" + run.impl;
      w.group(g);
      w.doubles(g + "/loss", run.loss);
      w.attr(g, "verdict", run.verdict);
      w.attr(g, "max_abs_diff", run.max_abs_diff);
      w.attr(g, "message", run.message);
    }
  });
}

}  // namespace attncheck::train
