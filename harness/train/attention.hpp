// Attention as the loss-curve model calls it, and the adapter that runs it
// through a registered Implementation (harness/registry.hpp).
//
// The model computes in float64. An Implementation takes and returns float32
// (the contract's storage dtype Float32), so the adapter rounds q, k, v and
// dO to float32 on the way in and widens O, dQ, dK, dV on the way out: the
// same two roundings for every implementation, the reference included, so
// that two curves differ only by what the implementations compute.
//
// Forward: run_implementation(impl, case, grads=false) -> O.
// Backward: run_implementation(impl, case with dO = dL/dO, grads=true): the
// implementation recomputes its forward (every registered one is
// deterministic, P10) and returns dQ, dK, dV.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "harness/batch.hpp"
#include "harness/registry.hpp"

namespace attncheck::train {

// Token-major tensors of one attention call: q [T, Hq, D], k, v [T, Hkv, D]
// (or their gradients dQ, dK, dV).
struct Qkv {
  std::vector<double> q, k, v;
};

struct AttentionOp {
  std::string name;
  // O [T, Hq, Dv] of x over the packed batch b (padding rows: anything finite).
  std::function<std::vector<double>(const Batch& b, const Qkv& x)> forward;
  // dQ, dK, dV of <O(x), dout> (padding rows of dout hold anything finite).
  std::function<Qkv(const Batch& b, const Qkv& x, const std::vector<double>& dout)> backward;
};

// `impl` behind the model's interface (float32 in and out, see above).
// `impl` must outlive the returned op.
AttentionOp implementation_attention(const Implementation& impl);

// The reference run's attention: reference::attention<double> (the float64
// oracle) on the float32 inputs, its outputs rounded once to float32. Not in
// the registry (it is not an implementation under test); named "reference".
// Why float64 and not reference-f32: the reference curve is what every other
// curve is measured against, so its own attention error should be the
// smallest possible (one float32 rounding of O, dQ, dK, dV, as the adapter
// applies to every implementation); reference-f32 would add float32
// accumulation noise of the same order as the kernels' to the yardstick.
const Implementation& reference_implementation();

}  // namespace attncheck::train
