// Fuzz counterexamples as case files (FORMAT.md): the shrunk case's inputs, the
// float64 reference as /expected, what the failing implementation produced as
// /results/<implementation>, and root attributes naming the property, the
// diagnosis, the RapidCheck reproduce string and the replay commands.
#pragma once

#include <string>

#include "harness/registry.hpp"
#include "properties/campaign.hpp"

namespace attncheck::props {

// Writes <dir>/<impl>-<property>.h5 (atomically; creates dir) and returns its
// path. Throws Error(Io) when it cannot be written.
std::string save_counterexample(const std::string& dir, const Row& row, const Case& shrunk,
                                const Implementation& impl);

}  // namespace attncheck::props
