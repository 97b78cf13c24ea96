// Comparison rules (DESIGN.md "Oracles and comparison").
//
// Calibrated tolerance (flash-attention's rule), per tensor over real rows:
//   base = max_e |X_base - X_ref64|
//   floors_e = eps_f32 * (max|X_ref64| + k_gamma * mag_e)
//              + k_dtype * u_dtype * rnd_e + steps * ulp_dtype(X_ref64_e) + FLT_MIN
//   pass iff for every element e:
//     |X_impl - X_ref64|_e <= max(rtol * base, floors_e)   stored in bfloat16/float16
//     |X_impl - X_ref64|_e <= rtol * base + floors_e        float32 (LSE always)
// (NaN never passes). rtol = 2 forward, 3 backward (flash-attention's values).
// In 16-bit dtypes the larger of the two, not their sum: there the
// baseline's error is its rounding to the dtype, above the floors, and the
// rule is FA2's (an element may be off by at most rtol x the baseline's
// error); the floors stand in only where the baseline is too accurate to say
// what a correct kernel may do. With the sum, the floors were added on top
// of FA2's bound: a single bfloat16 element of O could be off by 2.4x the
// baseline's max error and pass (median over 400 cases, `attncheck bench
// --sensitivity-only`), 2.0x now. In float32 the baseline's error is
// accumulation noise of the same size as the floors, and two float32
// summation orders are not within 2x of each other (FA2's rule alone fails
// flash's correct float32 dV in 106 of 348 cases), so the floors add; the
// larger of the two failed reference-f32's correct LSE (297.967712 vs
// 297.967827, 2.1x the baseline's error; test_properties). Backward keeps
// rtol 3: at 2 a correct kernel fails (flash, bfloat16 dQ -67.5 vs -65.16
// where the baseline's largest error was 0.93, `attncheck fuzz --property
// P1,P2,P8,P14 --seed 2`), as flash-attention's own varlen tests use 3.
// eps_f32 * max|X_ref64| is the noise of one float32 add at the tensor's
// magnitude. mag_e (reference::Oracle::magnitude) is the magnitude of the terms
// element e is summed from, widened by the softmax's sensitivity to score
// errors (Magnitudes::terms); rnd_e (Magnitudes::rounded) is the same
// without that widening: the terms a kernel rounds to the storage dtype.
// The floors say what no correct implementation can beat:
//  * eps_f32 * k_gamma * mag_e: float32 accumulation. Without it the rule
//    fails correct float32 code wherever the baseline's error is pure
//    accumulation noise: float32 storage, or terms that cancel exactly (a row
//    that sees one key has dS = 0 while dP and Di are large), where the
//    baseline's summation order is sometimes exact by luck. Evidence:
//    reference-f32 over 3000 generated cases (all dtypes, max 512 tokens): 19
//    tensor failures with this floor off, 0 with k_gamma = 1. The largest
//    share of this floor a correct implementation used, 400 cases per dtype
//    (`attncheck bench --sensitivity-only --sensitivity-cases 400
//    --sensitivity-seed 7`, column "e used"): 0.45 of k_gamma = 1 (flash,
//    float32 dV), so k_gamma = 1 leaves about 2x.
//  * k_dtype * u_dtype * rnd_e (O, dQ, dK, dV; not LSE, whose scores are never
//    rounded to the dtype): one rounding of the terms to the storage dtype
//    (u_dtype = 2^-8 bfloat16, 2^-11 float16, 2^-24 float32). Kernels round
//    intermediates to the dtype (O as stored in Di = rowsum(dO * O), P and dS
//    before tensor-core products); the baseline shows one rounding outcome,
//    and on small tensors its largest error is a noisy estimate of what
//    rounding does. Evidence: without this floor kernels/flash (simt) failed
//    in 2 of 4 campaigns of 200 cases (`attncheck fuzz --impl flash --seed
//    1..4`), on float16 tensors of a few hundred elements (e.g. dK 8.3672 vs
//    8.3593 where the baseline's largest error was 1.7e-3). The magnitude is
//    rnd_e, not mag_e: widening by the score sensitivity belongs to float32
//    scores, which are never rounded to the dtype, and with it this floor
//    let a single bfloat16 element off by 7% of max|O| pass (median over
//    generated cases; 0.7% now). The largest share used by a correct
//    implementation, same 400 cases per dtype (column "u used"): 0.32 of
//    k_dtype = 0.25 (flash, float16 dQ), measured with the floors added to
//    the baseline term; with the larger of the two (above) the floors carry
//    less of the budget, so their measured use is higher (column "u used").
//  * steps * ulp_dtype(X_ref64_e) (tensors stored in the dtype; not LSE):
//    ulp_dtype is the spacing of the dtype's values at the element,
//    2 u_dtype 2^floor(log2|x|). Forward, steps = 1/2: a stored O may be the
//    correctly rounded exact value even where the baseline's rounding was
//    luckier everywhere. Backward, steps = 1: a stored gradient may be either
//    dtype neighbour of the exact value (faithful rounding). Evidence: flash,
//    float16 dK -19792 where the exact value is -19776.07 (one step of 16
//    below the nearest float16, -19776) and the baseline's largest error
//    was 1.93 (`attncheck fuzz --property P1,P2,P8,P14 --seed 5`, before
//    this floor).
//  * FLT_MIN: float32 cannot resolve magnitudes below its smallest normal
//    (seen: a dQ of 1e-309 computed as a 2.6e-39 denormal).
// A bug changes an element by a sizeable fraction of its terms, far above
// these floors.
#pragma once

#include <bit>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "harness/batch.hpp"

namespace attncheck {

inline constexpr double k_rtol_forward = 2.0;
// Steps of the dtype's value spacing at the exact value that a stored
// element may be off (the floor ulp_dtype above): forward half a step (O is
// one rounding of a float32 value, so correctly rounded), backward one step
// (faithful: dQ, dK, dV pass through dtype-rounded P and dS).
inline constexpr double k_steps_forward = 0.5;
inline constexpr double k_steps_backward = 1.0;
// The spacing of the dtype's values at |ref| (2 u 2^floor(log2|ref|); 0 for
// dtype_roundoff 0 or ref 0). Below the dtype's normal range it is smaller
// than the true spacing, so stricter.
double faithful_step(double ref, double dtype_roundoff);
inline constexpr double k_rtol_backward = 3.0;
// eps of float32 (2^-23): one rounding step of a float32 add at magnitude 1.
inline constexpr double k_eps_f32 = 1.1920928955078125e-07;
// Multiple of eps_f32 * term magnitude allowed per element (see above).
inline constexpr double k_gamma = 1.0;
// Multiple of u_dtype * term magnitude allowed per element (see above).
inline constexpr double k_dtype = 0.25;
// Smallest normal float32 (2^-126): the absolute floor of float32 results.
inline constexpr double k_flt_min = 1.1754943508222875e-38;

// Sequence-parallel results (kernels/dist) are merged from cp partial results,
// which widens two floors; Slack says by how much (cp = 1: the plain rule).
//  * dtype: a kernel rounds each partial O (and each partial dQ, dK, dV) to
//    the storage dtype before the merge, and the merged result once more. The
//    partial roundings add up to at most u_dtype * sum_i w_i |X_i| <= u_dtype *
//    mag_e (the merge weights w_i sum to 1 and |X_i| is bounded by the terms
//    of block i), whatever cp is; with the final rounding: 2 u_dtype * rnd_e.
//    So the dtype floor becomes 2 (not 2 k_dtype: each partial result is one
//    full rounding, which the single-device baseline does not have, so its
//    error cannot stand in for it). Seen: ring-cp2-flash bfloat16, O = -494
//    against -496.075 (1 ulp of bfloat16 at 496 beyond the rounded value),
//    1.07 u_dtype rnd_e, where the baseline's error was 0.21.
//  * gamma: the merge adds cp partial results in float32 (ring: cp LSE merges
//    in sequence, each rescaling by exp(lse_i - lse); dK/dV accumulate cp
//    float32 partials as they travel): each add contributes eps_f32 times
//    the magnitude of the running sum, at most cp more eps_f32 * mag_e in all
//    (and the rescaling one more): k_gamma + cp + 1.
// The rest of the rule (rtol * baseline error) is unchanged: the baseline is
// single-device, and its error is what a same-precision computation incurs.
struct Slack {
  double gamma = k_gamma;  // multiple of eps_f32 * mag_e
  double dtype = k_dtype;  // multiple of u_dtype * mag_e
};
inline Slack sequence_parallel_slack(int cp) { return {k_gamma + cp + 1.0, 2.0}; }

// P14 sums the MHA run's dK/dV over each GQA group: every head's gradient is
// stored, rounded to the dtype, before the sum, and those roundings add up
// to at most u_dtype * sum_i rnd_i = u_dtype * rnd_e (the summed element's
// terms are the heads' terms together): one more u_dtype * rnd_e. The float32
// sum of `group` values adds at most group eps_f32 * mag_e. Seen without
// it: flash float16, group 8, dV 526.3379 against 526.4936 (1.03 x the
// plain bound).
inline Slack group_sum_slack(Slack s, int group) { return {s.gamma + group, s.dtype + 1.0}; }

// Exact checks are bitwise: padding rows zero, outputs all written (no output
// element left holding the poison pattern), equality of selected rows.

// Bits written into every output element before an implementation runs; an
// element still holding them afterwards was never written. A quiet NaN with a
// payload no arithmetic produces.
inline constexpr std::uint32_t k_output_poison_bits = 0x7FDEAD00u;
inline float output_poison() { return std::bit_cast<float>(k_output_poison_bits); }
inline bool is_output_poison(float x) { return std::bit_cast<std::uint32_t>(x) == k_output_poison_bits; }

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

// `mag` may be empty (no per-element floors); `rounded` empty: `mag` stands
// for it; `dtype_roundoff` is u_dtype.
// `base_ref` is what the baseline's error is measured against (empty: `ref`).
// When `ref` comes from a file, pass the float64 oracle here: a wrong
// reference must not widen its own tolerance through the baseline's error.
TensorCheck compare_calibrated(const std::string& name, std::span<const float> impl,
                               std::span<const double> ref, std::span<const double> mag,
                               std::span<const double> rounded,
                               std::span<const float> base, const std::vector<bool>& elem_mask,
                               double rtol, double dtype_roundoff,
                               std::span<const double> base_ref = {}, Slack slack = {},
                               double dtype_steps = 0.0);

// Forward (out, lse) or backward (dq, dk, dv) calibrated checks.
// `base_ref` as in compare_calibrated (nullptr: `ref`).
std::vector<TensorCheck> compare_forward(const Batch& b, const Results<float>& impl,
                                         const Results<double>& ref, const Magnitudes& mag,
                                         const Results<float>& base,
                                         const Results<double>* base_ref = nullptr,
                                         Slack slack = {});
std::vector<TensorCheck> compare_backward(const Batch& b, const Results<float>& impl,
                                          const Results<double>& ref, const Magnitudes& mag,
                                          const Results<float>& base,
                                          const Results<double>* base_ref = nullptr,
                                          Slack slack = {});

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
