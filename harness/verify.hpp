// Verdicts against a case file's /expected (FORMAT.md), by the contract's
// rules: the calibrated tolerance of harness/compare.hpp with /expected as the
// float64 reference (the same-precision baseline and the term magnitudes are
// recomputed from the case's inputs, deterministically; the baseline's error
// is measured against our own float64 oracle), and the exact
// padding checks. Used by `replay`, `golden check` and `check`.
#pragma once

#include <string>
#include <vector>

#include "harness/batch.hpp"
#include "harness/compare.hpp"

namespace attncheck {

struct Verdict {
  enum class Status { Pass, Fail, Error };
  Status status = Status::Pass;
  bool grads_checked = false;        // dq, dk, dv compared (both sides had them)
  std::vector<TensorCheck> tensors;  // out, lse[, dq, dk, dv]
  ExactCheck padding;                // padding rows 0 / -inf
  double worst_ratio = 0.0;          // max error / bound over the tensors
  std::string message;               // first failure, or the error

  const char* status_name() const;   // "pass", "fail", "error"
};

// The reference-side data of a case that every verdict needs; computing it
// once serves every implementation checked against the same case.
struct VerifyContext {
  Results<double> oracle;     // the float64 reference: the baseline's error is measured
                              // against it, so a wrong /expected cannot widen its bound
  Magnitudes magnitude;  // reference::oracle's term magnitudes
  Results<float> baseline;    // same-precision baseline
  bool grads = false;
};
VerifyContext make_verify_context(const Case& c, bool grads);

// Judges `got` against `expected`. When expected has gradients and got does
// not (or the reverse), only the forward is judged and grads_checked is false.
// `slack`: sequence_parallel_slack(cp) for a sequence-parallel implementation.
Verdict verify(const Case& c, const VerifyContext& ctx, const Results<double>& expected,
               const Results<float>& got, Slack slack = {});

}  // namespace attncheck
