// The implementation properties of DESIGN.md, written once and evaluated for
// any registered implementation on any generated case.
#pragma once

#include <string>
#include <vector>

#include "harness/compare.hpp"
#include "harness/registry.hpp"
#include "properties/generators.hpp"

namespace attncheck::props {

enum class PropertyId {
  Forward,       // P1 forward matches the reference (calibrated)
  Backward,      // P2 backward matches the reference (calibrated)
  PaddingZero,   // P3 padding rows exactly zero / -inf
  Poison,        // P4 NaN/Inf/1e30 in padding rows change no real output bit
  Isolation,     // P5 other documents' values change no bit of this one
  AllWritten,    // P6 every output element written
  Sharding,      // P8 sequence-parallel result equals the single-device one
  Determinism,   // P10 two runs give the same bits
  Permutation,   // P13 permuting documents permutes outputs
  GqaMha,        // P14 GQA equals MHA with repeated kv heads
};

struct PropertyInfo {
  PropertyId id;
  const char* code;  // "P1"
  const char* name;  // "forward"
  const char* what;  // one line
};

const std::vector<PropertyInfo>& all_properties();
// Accepts the code ("P1") or the name ("forward"); throws Error(Usage).
const PropertyInfo& find_property(const std::string& code_or_name);

struct Outcome {
  enum class Status { Pass, Fail, Skip };
  Status status = Status::Pass;
  std::string message;  // failure diagnosis or skip reason
  double ratio = 0.0;   // worst err / bound of calibrated checks (0 when none)
};

// P10 runs each case this many times (>= 2) and compares every run with the
// first, bitwise (`attncheck fuzz --repeat N`). Process-wide; default 2.
void set_determinism_runs(int n);
int determinism_runs();

// Runs `impl` on `c` as the property requires and judges the result. Never
// throws for an implementation error: that is a failure with its message.
// The Slack of the calibrated checks (P1, P2, P8) for `impl`: sequence-
// parallel implementations merge cp partial results (harness/compare.hpp).
Slack calibrated_slack(const Implementation& impl);

Outcome evaluate(PropertyId p, const Implementation& impl, const Case& c);

// Transformations the properties use, exposed for tests.
Case poison_padding(const Case& c);                    // P4
Case permute_documents(const Case& c, const std::vector<int>& order,
                       std::vector<int>* q_map = nullptr, std::vector<int>* kv_map = nullptr);  // P13
Case repeat_kv_heads(const Case& c);                   // P14: MHA equivalent of a GQA case

}  // namespace attncheck::props
