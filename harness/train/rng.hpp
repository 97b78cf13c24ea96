// A small deterministic random source for the loss-curve model and data:
// splitmix64 (Steele, Lea, Flood 2014) with Box-Muller normals. The standard
// library's distributions are implementation-defined, so curves would change
// between standard libraries; these give the same numbers everywhere.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

namespace attncheck::train {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  // A stream keyed by (seed, stream): the data of step s does not depend on
  // how many numbers other steps drew.
  Rng(std::uint64_t seed, std::uint64_t stream) : state_(mix(seed) ^ mix(stream + 0x632BE59BD9B4E019ull)) {}

  std::uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ull;
    return mix(state_);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  // Uniform integer in [lo, hi] (hi - lo small: the modulo bias is below 2^-50).
  int uniform_int(int lo, int hi) {
    return lo + int(next() % std::uint64_t(std::int64_t(hi) - lo + 1));
  }
  // Standard normal (Box-Muller; 1 - u keeps the log finite).
  double normal() {
    const double u = 1.0 - uniform(), v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * std::numbers::pi * v);
  }

 private:
  static std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint64_t state_;
};

}  // namespace attncheck::train
