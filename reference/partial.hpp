// Attention of one block of keys with the softmax statistics of the whole
// row given from outside: what a sequence-parallel variant computes at each
// ring step. Float64 arithmetic on the (float32-carried) inputs.
//
// backward_given: with O and LSE of the FULL attention of each query row
// (merged over every block), the gradients contributed by this block's keys:
//   P = exp(scale Q K^T - LSE) on visible keys (0 elsewhere and where LSE = -inf)
//   Di = rowsum(dO * O), dS = P * (dO V^T - Di)
//   dQ = scale dS K,  dK = scale dS^T Q,  dV = P^T dO   (dK, dV summed over the GQA group)
// Summed over blocks these are the gradients of the full attention. Padding
// rows get 0.
#pragma once

#include <vector>

#include "harness/batch.hpp"

namespace attncheck::reference {

Results<double> backward_given(const Batch& b, const Inputs& in, const std::vector<float>& out,
                               const std::vector<float>& lse);

}  // namespace attncheck::reference
