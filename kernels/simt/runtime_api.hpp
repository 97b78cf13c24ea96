// The CUDA runtime API as host code sees it in this build: the toolkit's
// declarations, and, unless the code is built natively against libcudart
// (ATTNCHECK_NATIVE_CUDA or nvcc), the simt runtime's names for them. simt
// exports its functions as simt_cudaXxx so that one program can link both
// the simt runtime and libcudart (a CPU and a GPU registry entry side by
// side); host code includes this header instead of <cuda_runtime_api.h>.
#pragma once

#include <cuda_runtime_api.h>

#if !defined(__CUDACC__) && !defined(ATTNCHECK_NATIVE_CUDA)

extern "C" {
cudaError_t simt_cudaMalloc(void** ptr, size_t size);
cudaError_t simt_cudaFree(void* ptr);
cudaError_t simt_cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind);
cudaError_t simt_cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind,
                                 cudaStream_t stream = 0);
cudaError_t simt_cudaMemset(void* ptr, int value, size_t count);
cudaError_t simt_cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t stream = 0);
cudaError_t simt_cudaDeviceSynchronize(void);
cudaError_t simt_cudaGetLastError(void);
cudaError_t simt_cudaPeekAtLastError(void);
const char* simt_cudaGetErrorName(cudaError_t error);
const char* simt_cudaGetErrorString(cudaError_t error);
cudaError_t simt_cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value);
cudaError_t simt_cudaStreamCreate(cudaStream_t* stream);
cudaError_t simt_cudaStreamDestroy(cudaStream_t stream);
cudaError_t simt_cudaStreamSynchronize(cudaStream_t stream);
cudaError_t simt_cudaEventCreate(cudaEvent_t* event);
cudaError_t simt_cudaEventRecord(cudaEvent_t event, cudaStream_t stream = 0);
cudaError_t simt_cudaEventSynchronize(cudaEvent_t event);
cudaError_t simt_cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);
cudaError_t simt_cudaEventDestroy(cudaEvent_t event);
}

#define cudaMalloc simt_cudaMalloc
#define cudaFree simt_cudaFree
#define cudaMemcpy simt_cudaMemcpy
#define cudaMemcpyAsync simt_cudaMemcpyAsync
#define cudaMemset simt_cudaMemset
#define cudaMemsetAsync simt_cudaMemsetAsync
#define cudaDeviceSynchronize simt_cudaDeviceSynchronize
#define cudaGetLastError simt_cudaGetLastError
#define cudaPeekAtLastError simt_cudaPeekAtLastError
#define cudaGetErrorName simt_cudaGetErrorName
#define cudaGetErrorString simt_cudaGetErrorString
#define cudaFuncSetAttribute simt_cudaFuncSetAttribute
#define cudaStreamCreate simt_cudaStreamCreate
#define cudaStreamDestroy simt_cudaStreamDestroy
#define cudaStreamSynchronize simt_cudaStreamSynchronize
#define cudaEventCreate simt_cudaEventCreate
#define cudaEventRecord simt_cudaEventRecord
#define cudaEventSynchronize simt_cudaEventSynchronize
#define cudaEventElapsedTime simt_cudaEventElapsedTime
#define cudaEventDestroy simt_cudaEventDestroy

#endif
