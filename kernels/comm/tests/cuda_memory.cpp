// GPU rank memory for the nccl tests (cuda_memory.hpp).
#include "kernels/comm/tests/cuda_memory.hpp"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <stdexcept>

namespace attncheck::comm::test {
namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    throw std::runtime_error(fmt::format("{}: {}", what, cudaGetErrorString(e)));
  }
}

}  // namespace

CudaMemory::~CudaMemory() {
  for (void* p : blocks_) cudaFree(p);
}

std::byte* CudaMemory::allocate(std::size_t bytes) {
  void* p = nullptr;
  check(cudaMalloc(&p, bytes), "cudaMalloc");
  blocks_.push_back(p);
  return static_cast<std::byte*>(p);
}

void CudaMemory::upload(std::byte* dst, const std::byte* src, std::size_t bytes) {
  if (bytes > 0) check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy (upload)");
}

void CudaMemory::download(std::byte* dst, const std::byte* src, std::size_t bytes) {
  if (bytes > 0)
    check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy (download)");
}

std::string cuda_devices_unavailable(int world) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    count = 0;
    cudaGetLastError();
  }
  if (count < 2) return fmt::format("needs 2 or more CUDA devices (found {})", count);
  if (count < world) return fmt::format("needs {} CUDA devices (found {})", world, count);
  return {};
}

}  // namespace attncheck::comm::test
