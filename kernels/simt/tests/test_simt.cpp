// The simt test kernels through the CUDA runtime API: the same file runs on the
// CPU (simt) and, in the native build, on a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/simt/tests/test_kernels.hpp"

namespace {

template <typename T>
T* to_device(const std::vector<T>& host) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, host.size() * sizeof(T)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(p, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
            cudaSuccess);
  return static_cast<T*>(p);
}

template <typename T>
std::vector<T> to_host(const T* dev, std::size_t n) {
  std::vector<T> host(n);
  EXPECT_EQ(cudaMemcpy(host.data(), dev, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
  return host;
}

TEST(SimtKernels, BlockReduction) {
  const int rows = 7, n = 1000, threads = 128;
  std::vector<float> in(std::size_t(rows) * n);
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> d(-8, 8);
  for (float& x : in) x = float(d(rng));  // integers: every summation order is exact
  float* din = to_device(in);
  float* dout = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&dout), rows * sizeof(float)), cudaSuccess);
  ASSERT_EQ(simt_tests::block_reduce(din, dout, rows, n, threads), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto out = to_host(dout, rows);
  for (int r = 0; r < rows; ++r) {
    float want = 0;
    for (int i = 0; i < n; ++i) want += in[std::size_t(r) * n + i];
    EXPECT_EQ(out[r], want) << "row " << r;
  }
  cudaFree(din);
  cudaFree(dout);
}

}  // namespace
