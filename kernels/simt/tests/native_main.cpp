// main of test_simt_cuda, the simt tests run natively on a GPU. Without a
// usable CUDA device every test is skipped (GTEST_SKIP in a global test
// environment, with the reason) and the exit code is k_exit_skipped, which
// CTest reports as Skipped (SKIP_RETURN_CODE in native.cmake): the default
// test run of a machine without a GPU stays green.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace {

constexpr int k_exit_skipped = 77;  // ATTNCHECK_NATIVE_SKIP_CODE of native.cmake

// Why no CUDA device is usable; empty when one is.
std::string no_device_reason() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    return std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e) + ", " + cudaGetErrorString(e);
  }
  if (count <= 0) return "cudaGetDeviceCount: 0 devices";
  return {};
}

class RequireCudaDevice : public ::testing::Environment {
 public:
  explicit RequireCudaDevice(std::string reason) : reason_(std::move(reason)) {}
  void SetUp() override {
    if (!reason_.empty()) {
      GTEST_SKIP() << "no usable CUDA device (" << reason_
                   << "): native GPU run skipped; test_simt runs the same kernels on the CPU";
    }
  }

 private:
  std::string reason_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const std::string reason = no_device_reason();
  ::testing::AddGlobalTestEnvironment(new RequireCudaDevice(reason));  // gtest owns it
  const int rc = RUN_ALL_TESTS();
  // A skipped environment runs no test (gtest still says PASSED): the exit
  // code is what tells CTest.
  if (rc == 0 && !reason.empty() && !GTEST_FLAG_GET(list_tests)) return k_exit_skipped;
  return rc;
}
