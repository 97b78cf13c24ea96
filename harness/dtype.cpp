#include "harness/dtype.hpp"

#include <Eigen/Core>
#include <cmath>

#include "harness/error.hpp"

namespace attncheck {

std::string_view to_string(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "float32";
    case DType::BFloat16: return "bfloat16";
    case DType::Float16: return "float16";
  }
  return "?";
}

DType parse_dtype(std::string_view name) {
  if (name == "float32" || name == "fp32" || name == "f32") return DType::Float32;
  if (name == "bfloat16" || name == "bf16") return DType::BFloat16;
  if (name == "float16" || name == "fp16" || name == "f16" || name == "half") return DType::Float16;
  throw Error(ErrorKind::Usage, "dtype", -1,
              "unknown dtype '" + std::string(name) + "'; use float32, bfloat16 or float16");
}

float round_to(DType dtype, float x) {
  switch (dtype) {
    case DType::Float32: return x;
    case DType::BFloat16: return static_cast<float>(Eigen::bfloat16(x));
    case DType::Float16: return static_cast<float>(Eigen::half(x));
  }
  return x;
}

void round_to(DType dtype, std::span<float> values) {
  if (dtype == DType::Float32) return;
  for (float& x : values) x = round_to(dtype, x);
}

bool representable(DType dtype, float x) {
  const float r = round_to(dtype, x);
  if (std::isnan(x)) return std::isnan(r);
  return r == x;
}

double unit_roundoff(DType dtype) {
  switch (dtype) {
    case DType::Float32: return std::ldexp(1.0, -24);
    case DType::BFloat16: return std::ldexp(1.0, -8);
    case DType::Float16: return std::ldexp(1.0, -11);
  }
  return 0.0;
}

}  // namespace attncheck
