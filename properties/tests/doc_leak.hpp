// The doc-leak mutant of shared BUGZOO.md as a test implementation: the whole
// pack treated as one sequence (DeepSpeed PR #7887: attention ignoring
// position-id resets), computed by the float32 reference on the
// dtype-rounded inputs. The property and report tests use it to check that a
// campaign catches it, saves its counterexample and reports the failure.
#pragma once

#include <cmath>

#include "harness/dtype.hpp"
#include "harness/registry.hpp"
#include "reference/attention.hpp"

namespace attncheck::test {

// The outputs of `r` into an implementation's `out` (gradients only when asked
// for: `out` keeps its own buffers otherwise).
inline void put_results(const Results<float>& r, bool grads, Results<float>& out) {
  out.out = r.out;
  out.lse = r.lse;
  if (grads) {
    out.dq = r.dq;
    out.dk = r.dk;
    out.dv = r.dv;
  }
}

inline void run_doc_leak(const Case& c, bool grads, Results<float>& out) {
  Case whole = c;
  Batch& b = whole.batch;
  b.cu_seqlens_q = {0, b.total_q};
  b.cu_seqlens_kv = {0, b.total_kv};
  b.cu_seqlens_q_padded.reset();
  b.cu_seqlens_kv_padded.reset();
  for (auto* x : {&whole.inputs.q, &whole.inputs.k, &whole.inputs.v, &whole.inputs.dout}) {
    for (float& v : *x) v = std::isfinite(v) ? round_to(b.dtype, v) : 0.0f;
  }
  put_results(reference::attention<float>(b, whole.inputs, grads), grads, out);
}

// A registry holding the mutant only. One sequence of total_q x total_kv
// needs total_q == total_kv.
inline Registry doc_leak_registry() {
  Registry reg;
  Capabilities caps;
  caps.lq_ne_lk = false;
  reg.add({.name = "doc-leak", .device = "cpu", .description = "mutant", .caps = caps,
           .run = run_doc_leak,
           .stats = {}});
  return reg;
}

}  // namespace attncheck::test
