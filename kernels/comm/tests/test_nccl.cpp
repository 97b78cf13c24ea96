// The nccl backend on the GPUs of this machine (run_nccl_devices): the
// correctness suite for 2, 3, 4 and 8 ranks (one GPU each), and its failure
// behaviour: size disagreements throw on both sides, a rank that throws
// releases the others. Every test that needs GPUs skips with "needs 2 or more
// CUDA devices (found N)" on a machine with fewer than 2 (CI has none: there
// it is a compile-and-link check); one test checks that asking for more ranks
// than devices is an error, which runs anywhere.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/comm/nccl.hpp"
#include "kernels/comm/tests/cuda_memory.hpp"
#include "kernels/comm/tests/suite.hpp"

namespace attncheck::comm::test {
namespace {

const Backend& nccl_backend() {
  static const Backend backend{
      .name = "nccl",
      .worlds = {2, 3, 4, 8},
      .run =
          [](int world, const RankBody& body) {
            run_nccl_devices(world, [&](Communicator& comm) {
              CudaMemory memory;
              body(comm, memory);
            });
          },
      .unavailable = cuda_devices_unavailable,
  };
  return backend;
}

INSTANTIATE_TEST_SUITE_P(nccl, CommSuite, ::testing::ValuesIn(suite_cases(nccl_backend())),
                         suite_case_name);

// Runs run_nccl_devices(world, body), which must throw E with every string
// of `mentions` in its message.
template <class E>
void expect_throws(int world, const std::function<void(Communicator&, RankMemory&)>& body,
                   const std::vector<std::string>& mentions) {
  within(k_hang_limit, [&] {
    try {
      run_nccl_devices(world, [&](Communicator& comm) {
        CudaMemory memory;
        body(comm, memory);
      });
    } catch (const E& e) {
      for (const std::string& m : mentions) {
        EXPECT_NE(std::string(e.what()).find(m), std::string::npos)
            << "message lacks '" << m << "': " << e.what();
      }
      return;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "run_nccl_devices threw another exception type: " << e.what();
      return;
    }
    ADD_FAILURE() << "run_nccl_devices returned; expected an exception";
  });
}

std::span<std::byte> device_bytes(RankMemory& memory, std::size_t n) {
  return {memory.allocate(n), n};
}

TEST(NcclErrors, SendrecvSizeMismatchThrowsOnBothSides) {
  if (const std::string why = cuda_devices_unavailable(2); !why.empty()) GTEST_SKIP() << why;
  std::array<std::string, 2> seen;
  expect_throws<std::invalid_argument>(2,
                                       [&](Communicator& c, RankMemory& m) {
                                         const auto send = device_bytes(m, 8);
                                         const auto recv = device_bytes(m, c.rank() == 0 ? 16 : 8);
                                         try {
                                           c.sendrecv(send, 1 - c.rank(), recv, 1 - c.rank());
                                         } catch (const std::invalid_argument& e) {
                                           seen[static_cast<std::size_t>(c.rank())] = e.what();
                                           throw;
                                         }
                                       },
                                       {"nccl sendrecv"});
  EXPECT_NE(seen[0].find("rank 0 receives 16 bytes from rank 1, which sends 8 bytes"),
            std::string::npos)
      << seen[0];
  EXPECT_NE(seen[1].find("rank 1 sends 8 bytes to rank 0, which receives 16 bytes"),
            std::string::npos)
      << seen[1];
}

TEST(NcclErrors, DisagreeingCollectiveSizes) {
  if (const std::string why = cuda_devices_unavailable(2); !why.empty()) GTEST_SKIP() << why;
  expect_throws<std::invalid_argument>(
      2,
      [](Communicator& c, RankMemory& m) {
        const std::size_t n = static_cast<std::size_t>(c.rank()) + 1;
        c.all_gather(device_bytes(m, n), device_bytes(m, 2 * n));
      },
      {"nccl all_gather: ranks disagree on the size", "rank 0 1 bytes", "rank 1 2 bytes"});
}

TEST(NcclErrors, RankThrowingReleasesRanksWaitingInACollective) {
  if (const std::string why = cuda_devices_unavailable(2); !why.empty()) GTEST_SKIP() << why;
  std::array<std::string, 2> seen;
  expect_throws<std::runtime_error>(2,
                                    [&](Communicator& c, RankMemory& m) {
                                      if (c.rank() == 1) {
                                        std::this_thread::sleep_for(std::chrono::milliseconds(200));
                                        throw std::runtime_error("rank 1 gives up");
                                      }
                                      try {
                                        c.all_gather(device_bytes(m, 4), device_bytes(m, 8));
                                      } catch (const Aborted& e) {
                                        seen[0] = e.what();
                                        throw;
                                      }
                                    },
                                    {"rank 1 gives up"});
  EXPECT_NE(seen[0].find("rank 1 failed: rank 1 gives up"), std::string::npos) << seen[0];
}

// Runs on any machine: one rank more than there are devices.
TEST(Nccl, MoreRanksThanDevicesIsAnError) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
  const int world = count + 1;
  try {
    run_nccl_devices(world, [](Communicator&) {});
    ADD_FAILURE() << "run_nccl_devices(" << world << ") returned with " << count << " devices";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(
        std::string(e.what()).find(std::to_string(world) + " ranks need " + std::to_string(world) +
                                   " CUDA devices, " + std::to_string(count) + " found"),
        std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace attncheck::comm::test
