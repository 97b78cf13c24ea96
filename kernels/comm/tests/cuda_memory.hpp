// GPU rank memory for the nccl tests: buffers cudaMalloc'd on the calling
// thread's current device (the rank's), copies with cudaMemcpy. And the
// reason a world of GPU ranks cannot run here, for GTEST_SKIP.
#pragma once

#include <string>
#include <vector>

#include "kernels/comm/tests/checks.hpp"

namespace attncheck::comm::test {

class CudaMemory final : public RankMemory {
 public:
  CudaMemory() = default;
  ~CudaMemory() override;
  CudaMemory(const CudaMemory&) = delete;
  CudaMemory& operator=(const CudaMemory&) = delete;

  std::byte* allocate(std::size_t bytes) override;
  void upload(std::byte* dst, const std::byte* src, std::size_t bytes) override;
  void download(std::byte* dst, const std::byte* src, std::size_t bytes) override;

 private:
  std::vector<void*> blocks_;
};

// Empty when `world` ranks, one per CUDA device, can run here; else
// "needs 2 or more CUDA devices (found N)" (fewer than 2 devices) or
// "needs W CUDA devices (found N)".
std::string cuda_devices_unavailable(int world);

}  // namespace attncheck::comm::test
