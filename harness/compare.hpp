// Comparison rules (DESIGN.md "Oracles and comparison").
//
// Calibrated tolerance (flash-attention's rule), per tensor over real rows:
//   err  = max |X_impl - X_ref64|,  base = max |X_base - X_ref64|
//   pass iff err <= rtol * base + atol   (NaN never passes)
// rtol = 2 forward, 3 backward. atol = one float32 rounding step at the
// tensor's magnitude (eps_f32 * max|X_ref64|): the noise of one float32 add,
// which absorbs cases where the baseline happens to be exact (base = 0).
// Where the reference is -inf (LSE of padding rows or of rows that see no
// key) the implementation must be exactly -inf.
//
// Exact checks are bitwise: padding rows zero, outputs all written (no output
// element left holding the poison pattern), equality of selected rows.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "harness/batch.hpp"

namespace attncheck {

inline constexpr double k_rtol_forward = 2.0;
inline constexpr double k_rtol_backward = 3.0;
// eps of float32 (2^-23): one rounding step of a float32 add at magnitude 1.
inline constexpr double k_eps_f32 = 1.1920928955078125e-07;
// Multiple of eps_f32 * term magnitude allowed per element (see above).
inline constexpr double k_gamma = 2.0;

// Bits written into every output element before an implementation runs; an
// element still holding them afterwards was never written. A quiet NaN with a
// payload no arithmetic produces.
inline constexpr std::uint32_t k_output_poison_bits = 0x7FDEAD00u;
float output_poison();
bool is_output_poison(float x);

struct TensorCheck {
  std::string tensor;
  bool pass = true;
  double err = 0.0;       // max |impl - ref| over real elements
  double base_err = 0.0;  // max |base - ref|
  double bound = 0.0;     // the bound at the worst element
  double ratio = 0.0;     // max over elements of error / bound (0 when both are 0)
  std::int64_t worst = -1;  // element of the worst ratio or of the first violation
  std::string message;      // empty when passing
};

// Which elements of a tensor belong to real rows.
//   TokenMajor: [T, H, W], element e belongs to row e / (H * W).
//   HeadMajor : [H, T],    element e belongs to row e % T (LSE).
enum class Layout { TokenMajor, HeadMajor };
std::vector<bool> element_mask(const std::vector<bool>& real_rows, std::size_t elems, Layout layout);

// `mag` may be empty (no per-element floor).
TensorCheck compare_calibrated(const std::string& name, std::span<const float> impl,
                               std::span<const double> ref, std::span<const double> mag,
                               std::span<const float> base, const std::vector<bool>& elem_mask,
                               double rtol);

// Forward (out, lse) or backward (dq, dk, dv) calibrated checks.
std::vector<TensorCheck> compare_forward(const Batch& b, const Results<float>& impl,
                                         const Results<double>& ref, const Results<double>& mag,
                                         const Results<float>& base);
std::vector<TensorCheck> compare_backward(const Batch& b, const Results<float>& impl,
                                          const Results<double>& ref, const Results<double>& mag,
                                          const Results<float>& base);

struct ExactCheck {
  bool pass = true;
  std::string message;  // names tensor, element, row, value
  std::int64_t index = -1;
};

// O, dQ, dK, dV exactly 0 and LSE exactly -inf at every padding row.
ExactCheck check_padding_zero(const Batch& b, const Results<float>& r);
// No output element holds k_output_poison_bits.
ExactCheck check_all_written(const Results<float>& r);
// Bitwise equality of a and b on the elements selected by mask (all when the
// mask is empty). `what` names the tensor in the message.
ExactCheck check_bitwise_equal(const std::string& what, std::span<const float> a,
                               std::span<const float> b, const std::vector<bool>& mask = {});

}  // namespace attncheck
