// Helpers shared by the simt test programs: a device buffer through the CUDA
// runtime API of the build, and scoped simt configurations.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/simt/runtime_api.hpp"
#include "kernels/simt/simt.hpp"

namespace simt_test {

// A device array of T, freed at scope exit.
template <typename T>
struct DeviceBuffer {
  T* ptr = nullptr;
  std::size_t n = 0;
  explicit DeviceBuffer(std::size_t count) : n(count) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, n * sizeof(T)), cudaSuccess);
    ptr = static_cast<T*>(p);
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) {
    EXPECT_EQ(cudaMemcpy(ptr, host.data(), n * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(ptr); }
  std::vector<T> host() const {
    std::vector<T> h(n);
    EXPECT_EQ(cudaMemcpy(h.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }
};

// Restores the simt configuration at scope exit.
struct ConfigScope {
  simt::Config saved = simt::config();
  explicit ConfigScope(simt::Config c) { simt::set_config(c); }
  ~ConfigScope() { simt::set_config(saved); }
};

// The current configuration with another schedule, seed and worker count.
inline simt::Config schedule(simt::Schedule s, std::uint64_t seed, int workers = 0) {
  simt::Config c = simt::config();
  c.schedule = s;
  c.seed = seed;
  c.workers = workers;
  return c;
}

// Sums of consecutive groups of `group` elements.
inline std::vector<float> group_sums(const std::vector<float>& in, std::size_t group) {
  std::vector<float> s(in.size() / group, 0.0f);
  for (std::size_t i = 0; i < in.size(); ++i) s[i / group] += in[i];
  return s;
}

}  // namespace simt_test
