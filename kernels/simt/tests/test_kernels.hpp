// Host entry points of the simt test kernels (test_kernels.cu). The same
// kernels compile with nvcc (run natively on a GPU) and with the host compiler
// (run on the CPU by simt). Pointers are device pointers.
#pragma once

#include <cuda_runtime_api.h>

namespace simt_tests {

// out[b] = sum of in[b * n .. b * n + n) by a shared-memory tree reduction,
// one block of `threads` (a power of two) per row.
cudaError_t block_reduce(const float* in, float* out, int rows, int n, int threads);

}  // namespace simt_tests
