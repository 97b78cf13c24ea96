#include "properties/counterexample.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "harness/casefile.hpp"
#include "harness/error.hpp"
#include "harness/verify.hpp"
#include "reference/attention.hpp"

namespace attncheck::props {

namespace {
std::string file_safe(const std::string& s) {
  std::string out;
  for (char ch : s) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    ch == '-' || ch == '_' || ch == '.';
    out += ok ? ch : '_';
  }
  return out;
}
}  // namespace

std::string save_counterexample(const std::string& dir, const Row& row, const Case& shrunk,
                                const Implementation& impl) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    throw Error(ErrorKind::Io, dir, -1,
                fmt::format("cannot create the counterexample directory: {}", ec.message()));
  }
  const std::string path =
      (std::filesystem::path(dir) / (file_safe(row.impl) + "-" + file_safe(row.code) + ".h5")).string();
  io::CaseFile f;
  f.c = shrunk;
  f.has_seed = true;
  f.description = fmt::format("fuzz counterexample: {} fails {} ({}): {}", row.impl, row.code,
                              row.name, shrunk.batch.describe());
  const bool grads = impl.caps.backward;
  f.expected = reference::oracle(shrunk.batch, shrunk.inputs, true).value;
  f.expected_producer = "attncheck reference (float64)";
  f.extra["property"] = row.code;
  f.extra["property_name"] = row.name;
  f.extra["implementation"] = row.impl;
  f.extra["diagnosis"] = row.failure;
  if (!row.reproduce.empty()) f.extra["reproduce"] = row.reproduce;
  if (!row.replay.empty()) f.extra["replay_fuzz"] = row.replay;
  try {
    io::ResultGroup rg;
    rg.results = run_implementation(impl, shrunk, grads);
    const auto ctx = make_verify_context(shrunk, grads);
    const Verdict v = verify(shrunk, ctx, *f.expected, rg.results);
    rg.verdict = "fail";  // the case fails row.code, whatever this plain run shows
    rg.metrics["worst_ratio"] = v.worst_ratio;
    rg.notes["plain_run"] = v.status_name();
    if (!v.message.empty()) rg.notes["plain_run_message"] = v.message;
    rg.notes["failed_property"] = row.code;
    rg.notes["message"] = row.failure;
    f.results[row.impl] = std::move(rg);
  } catch (const std::exception& e) {
    // The implementation could not produce outputs: record why, keep the case.
    f.extra["implementation_error"] = e.what();
  }
  io::write_case(path, f);
  return path;
}

}  // namespace attncheck::props
