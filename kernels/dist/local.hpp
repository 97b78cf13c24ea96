// The local attention a sequence-parallel variant runs on each rank, passed
// as a parameter so that a failure says whether the distribution logic or the
// kernel is wrong: the float64 reference, or flash or flash-tc (simt on the CPU).
//
// forward : O [Tq, Hq, Dv] and LSE [Hq, Tq] of one block (queries of `b`
//           against the keys of `b`), padding rows O = 0, LSE = -inf.
// backward: dQ, dK, dV contributed by the block's keys, given O and LSE of the
//           FULL attention of each query row (reference/partial.hpp).
// `rounds_to_dtype`: the implementation stores O and gradients in the batch's
// storage dtype (flash does, like any kernel); the variant then rounds its
// merged results the same way.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "harness/batch.hpp"

namespace attncheck::dist {

struct LocalAttention {
  std::string name;  // "ref", "flash", "flash-tc"
  bool rounds_to_dtype = false;
  std::function<void(const Batch& b, const Inputs& in, std::vector<float>& out,
                     std::vector<float>& lse)>
      forward;
  std::function<void(const Batch& b, const Inputs& in, const std::vector<float>& out,
                     const std::vector<float>& lse, std::vector<float>& dq,
                     std::vector<float>& dk, std::vector<float>& dv)>
      backward;
};

// reference::attention<double> / reference::backward_given, results as float32.
LocalAttention reference_local();
// kernels/flash on simt (launches from several rank threads run at once).
LocalAttention flash_simt_local();
// kernels/flash's tensor-core kernels on simt (bfloat16/float16 only).
LocalAttention flash_tc_simt_local();

}  // namespace attncheck::dist
