#include "properties/counterexample.hpp"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <tuple>

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
// Distance of an implementation's value from the reference's: 0 when equal
// (both -inf included), +inf when either is non-finite and they differ.
double distance(double got, double ref) {
  if (got == ref) return 0.0;
  if (!std::isfinite(got) || !std::isfinite(ref)) return std::numeric_limits<double>::infinity();
  return std::abs(got - ref);
}

// Largest distance per row of a [rows, H, W] tensor.
std::vector<double> per_row(const std::vector<float>& got, const std::vector<double>& ref, int rows) {
  std::vector<double> out(std::size_t(rows), 0.0);
  if (rows == 0) return out;
  const std::size_t width = got.size() / std::size_t(rows);
  for (std::size_t e = 0; e < got.size(); ++e) {
    double& m = out[e / width];
    m = std::max(m, distance(got[e], ref[e]));
  }
  return out;
}

// Largest distance per row of the [H, rows] LSE.
std::vector<double> per_row_lse(const std::vector<float>& got, const std::vector<double>& ref,
                                int rows) {
  std::vector<double> out(std::size_t(rows), 0.0);
  for (std::size_t e = 0; e < got.size(); ++e) {
    double& m = out[e % std::size_t(rows)];
    m = std::max(m, distance(got[e], ref[e]));
  }
  return out;
}

}  // namespace

io::ErrorStrip error_strip(const Case& shrunk, const Implementation& impl) {
  const Batch& b = shrunk.batch;
  io::ErrorStrip s;
  s.total_q = b.total_q;
  s.total_kv = b.total_kv;
  s.cu_seqlens_q = b.cu_seqlens_q;
  s.cu_seqlens_kv = b.cu_seqlens_kv;
  s.cu_seqlens_q_padded = b.cu_seqlens_q_padded.value_or(b.cu_seqlens_q);
  s.cu_seqlens_kv_padded = b.cu_seqlens_kv_padded.value_or(b.cu_seqlens_kv);
  const bool grads = impl.caps.backward;
  Results<float> got;
  try {
    got = run_implementation(impl, shrunk, grads);
  } catch (const std::exception& e) {
    s.plain_run = "error";
    s.plain_run_message = e.what();
    return s;
  }
  const Results<double> ref = reference::oracle(b, shrunk.inputs, grads).value;
  for (const auto& [name, n, want] :
       {std::tuple{"out", got.out.size(), ref.out.size()}, std::tuple{"lse", got.lse.size(), impl.caps.lse ? ref.lse.size() : 0},
        std::tuple{"dq", got.dq.size(), grads ? ref.dq.size() : 0},
        std::tuple{"dk", got.dk.size(), grads ? ref.dk.size() : 0},
        std::tuple{"dv", got.dv.size(), grads ? ref.dv.size() : 0}}) {
    if (n != want) {
      s.plain_run = "error";
      s.plain_run_message = fmt::format("the implementation returned {} {} elements; expected {}",
                                        n, name, want);
      return s;
    }
  }
  const auto ctx = make_verify_context(shrunk, grads);
  const Verdict v = verify(shrunk, ctx, ref, got,
                           impl.caps.cp > 0 ? sequence_parallel_slack(impl.caps.cp) : Slack{});
  s.plain_run = v.status_name();
  s.plain_run_message = v.message;
  for (const auto& t : v.tensors) {
    s.tensor_metrics[t.tensor + "_err"] = t.err;
    s.tensor_metrics[t.tensor + "_base_err"] = t.base_err;
    s.tensor_metrics[t.tensor + "_bound"] = t.bound;
    s.tensor_metrics[t.tensor + "_ratio"] = t.ratio;
  }
  s.out = per_row(got.out, ref.out, b.total_q);
  s.lse = per_row_lse(got.lse, ref.lse, b.total_q);
  if (got.has_grads() && ref.has_grads()) {
    s.dq = per_row(got.dq, ref.dq, b.total_q);
    s.dk = per_row(got.dk, ref.dk, b.total_kv);
    s.dv = per_row(got.dv, ref.dv, b.total_kv);
  }
  return s;
}

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
    if (rg.results.lse.empty()) {
      // FORMAT.md's /results groups carry an LSE: an implementation that
      // declares none leaves its outputs out of the file, saying so.
      f.extra["implementation_error"] =
          "the implementation declares no LSE; its outputs are not stored (rerun it with replay)";
    } else {
      f.results[row.impl] = std::move(rg);
    }
  } catch (const std::exception& e) {
    // The implementation could not produce outputs: record why, keep the case.
    f.extra["implementation_error"] = e.what();
  }
  io::write_case(path, f);
  return path;
}

}  // namespace attncheck::props
