// CPU reference attention over a packed batch, written with Eigen products.
// Instantiated in float64 (the oracle: float64 arithmetic on the
// dtype-rounded inputs) and in float32 (registered as the implementation
// "reference-f32").
//
// Contract (DESIGN.md): O[total_q, Hq, Dv], LSE[Hq, total_q], dQ, dK, dV.
// Padding rows: O, dQ, dK, dV = 0, LSE = -inf. A query that sees no key:
// O = 0, LSE = -inf, no gradient. Only real rows of the inputs are read.
#pragma once

#include "harness/batch.hpp"

namespace attncheck::reference {

// Forward only (grads empty) or forward + backward (needs inputs.dout).
// Throws Error(InvalidBatch) for an invalid batch or inputs.
template <typename S>
Results<S> attention(const Batch& batch, const Inputs& inputs, bool with_grads);

// Magnitudes of the terms each output element is summed from, in float64
// (`magnitude.terms`):
// the same products taken on absolute values, with P widened to
// W = P (1 + |s|_abs), |s|_abs = scale |Q| |K|^T, because a float32 score
// carries an error of order eps * |s|_abs that P inherits relatively:
//   out: W |V| + rowsum(W - P) |O|     lse: |LSE| + max_j |s|_abs (0 where -inf)
//   dq : scale |dS| |K|   dk: scale |dS|^T |Q|   dv: W^T |dO|
//   with |dS| = W (|dO| |V|^T + |Di|).
// A float32 computation of an element cannot be trusted below
// eps_f32 * magnitude, whatever its summation order: where terms cancel
// (a row that sees one key has dS = 0 exactly) this is the noise floor.
// `magnitude.rounded` is the same with P (not W) everywhere: the terms a
// kernel rounds to the storage dtype.
struct Oracle {
  Results<double> value;  // the float64 reference
  Magnitudes magnitude;   // term magnitudes of each element (above)
};
Oracle oracle(const Batch& batch, const Inputs& inputs, bool with_grads);

extern template Results<double> attention<double>(const Batch&, const Inputs&, bool);
extern template Results<float> attention<float>(const Batch&, const Inputs&, bool);

}  // namespace attncheck::reference
