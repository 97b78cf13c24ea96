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

// The per-token error strip of `impl`'s plain run on the shrunk case against
// the float64 reference (io::ErrorStrip: max |impl - ref64| over heads and head
// dims per row, document boundaries, the verdict's per-tensor figures). An
// implementation that throws gives plain_run "error" and its message.
io::ErrorStrip error_strip(const Case& shrunk, const Implementation& impl);

}  // namespace attncheck::props
