// The same-precision baseline of the calibrated tolerance (DESIGN.md
// "Oracles"): naive loops with float32 accumulation, rounded to the storage
// dtype at the points a flash kernel rounds:
//   forward : inputs (already dtype values), P before P.V, O on output;
//   backward: O as stored (rounded) in Di = rowsum(dO * O), P before dV = P^T dO,
//             dS before dQ = dS K and dK = dS^T Q, dQ/dK/dV on output.
// Its error against the float64 oracle is what "as good as a same-precision
// implementation can be" means for this case.
#pragma once

#include "harness/batch.hpp"

namespace attncheck::reference {

Results<float> baseline(const Batch& batch, const Inputs& inputs, bool with_grads);

}  // namespace attncheck::reference
