// The golden set: a fixed list of small packed-batch cases chosen to cover the
// generator's feature space (every packing description, padding between and
// after sequences, zero-length and length-1 documents, tile-edge lengths,
// Lq != Lk, GQA ratios 1..8 and MQA, every mask kind, every dtype, head dims
// 8..256 including non-powers of two and D != Dv, the value distributions).
// Every case is built from an explicit gen::CaseSpec (and, for the packing
// descriptions, converted by harness/packing), so regenerating the set gives
// the same inputs on every machine; /expected is the float64 reference.
#pragma once

#include <string>
#include <vector>

#include "harness/batch.hpp"

namespace attncheck::golden {

struct GoldenCase {
  std::string name;         // file stem: golden/<name>.h5
  std::string description;  // what the case covers
  Case c;
};

std::vector<GoldenCase> golden_cases();

}  // namespace attncheck::golden
