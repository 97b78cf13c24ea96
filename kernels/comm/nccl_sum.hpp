// The device half of the nccl backend's all_reduce_sum: the rank-order sum
// of an all-gathered buffer, on the GPU.
//
//   out[i] = ((gathered[0n + i] + gathered[1n + i]) + ...) + gathered[(parts-1)n + i]
//
// with every addition rounded to nearest (__fadd_rn/__dadd_rn, never
// contracted), so the result is bit for bit the host's ordered sum
// (detail::ordered_sum) and the same on every rank. out must not overlap
// gathered. Enqueued on `stream`; returns the launch error.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

namespace attncheck::comm::detail {

cudaError_t ordered_sum_on_device(const float* gathered, float* out, std::size_t n, int parts,
                                  cudaStream_t stream);
cudaError_t ordered_sum_on_device(const double* gathered, double* out, std::size_t n, int parts,
                                  cudaStream_t stream);

}  // namespace attncheck::comm::detail
