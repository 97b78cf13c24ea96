// Storage dtypes of a packed batch. Values are carried as float32 that are
// exactly representable in the storage dtype; rounding goes through Eigen's
// bfloat16 / half types (round-to-nearest-even), never hand-rolled.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace attncheck {

enum class DType { Float32, BFloat16, Float16 };

inline constexpr DType k_all_dtypes[] = {DType::Float32, DType::BFloat16, DType::Float16};

std::string_view to_string(DType dtype);
// Throws Error(Usage) naming the accepted spellings.
DType parse_dtype(std::string_view name);

// Round a float32 value to the nearest value of `dtype` (ties to even).
float round_to(DType dtype, float x);
void round_to(DType dtype, std::span<float> values);
bool representable(DType dtype, float x);

// Unit roundoff of the dtype: half the distance from 1 to the next value.
double unit_roundoff(DType dtype);

}  // namespace attncheck
