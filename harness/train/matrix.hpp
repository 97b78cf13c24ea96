// The dense matrix type of the loss-curve model: float64, row-major, so that a
// [T, H * D] activation is exactly the contract's token-major [T, H, D] buffer.
#pragma once

#include <Eigen/Dense>

namespace attncheck::train {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::Matrix<double, Eigen::Dynamic, 1>;

}  // namespace attncheck::train
