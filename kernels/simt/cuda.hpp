// The one include of a kernel source (.cu). Under nvcc it is the CUDA
// runtime; under the host compiler it is the simt prelude, which runs the same
// kernels on the CPU (DESIGN.md "kernels/simt").
//
// Launch kernels with ATTNCHECK_LAUNCH(kernel, grid, block, shared_bytes,
// stream, args...) instead of kernel<<<grid, block, shared_bytes, stream>>>(args...).
// A template kernel goes in parentheses: ATTNCHECK_LAUNCH((k<64, true>), ...).
#pragma once

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#define ATTNCHECK_LAUNCH(kernel, grid, block, shared_bytes, stream, ...) \
  kernel<<<(grid), (block), (shared_bytes), (stream)>>>(__VA_ARGS__)
#else
#include "kernels/simt/prelude.hpp"
#define ATTNCHECK_LAUNCH(kernel, grid, block, shared_bytes, stream, ...)                    \
  ::simt::launch(#kernel, kernel, (grid), (block), (shared_bytes), (stream) __VA_OPT__(, ) \
                     __VA_ARGS__)
#endif
