// ATTNCHECK_HD: __host__ __device__ under nvcc, nothing for the host compiler
// (the simt prelude defines the CUDA keywords as empty too). Headers of
// kernels/common are compiled by both.
#pragma once

#if defined(__CUDACC__)
#define ATTNCHECK_HD __host__ __device__ __forceinline__
#else
#define ATTNCHECK_HD inline
#endif
