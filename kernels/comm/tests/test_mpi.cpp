// The correctness suite over MPI processes (run by ctest under mpiexec with
// 2 and 4 processes), and the mpi backend's error behaviour: disagreeing
// collectives throw on every rank (no hang), a wrong sendrecv receive size
// throws on the receiving rank, MPI errors become exceptions with MPI's
// error string.
//
// Every process runs the same tests in the same order. A check that fails
// on one rank prints the failure and calls MPI_Abort, so the other ranks do
// not wait forever in the next collective; only rank 0 prints gtest's report.
// Built a second time with ATTNCHECK_COMM_TEST_NCCL: the same suite over the
// nccl backend bootstrapped through MPI (one GPU per process), where every
// test skips when the processes do not each have a GPU, and the exit code is
// 77 (ctest's Skipped).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/comm/mpi.hpp"
#include "kernels/comm/tests/suite.hpp"
#ifdef ATTNCHECK_COMM_TEST_NCCL
#include "kernels/comm/nccl_mpi.hpp"
#include "kernels/comm/tests/cuda_memory.hpp"
#endif

namespace attncheck::comm::test {
namespace {

constexpr int k_exit_skipped = 77;  // SKIP_RETURN_CODE of the ctest registration

int world_size() {
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

// The communicator of this process, made on first use and destroyed by main
// before MPI_Finalize.
std::unique_ptr<Communicator> g_comm;

#ifdef ATTNCHECK_COMM_TEST_NCCL
#define ATTNCHECK_COMM_SUITE nccl_mpi  // the suite's instance name
const char* const k_name = "nccl_mpi";
std::string unavailable(int world) { return cuda_devices_unavailable(world); }
Communicator& communicator() {
  if (!g_comm) g_comm = make_nccl_from_mpi(MPI_COMM_WORLD);
  return *g_comm;
}
std::unique_ptr<RankMemory> rank_memory() { return std::make_unique<CudaMemory>(); }
#else
#define ATTNCHECK_COMM_SUITE mpi
const char* const k_name = "mpi";
std::string unavailable(int) { return {}; }
Communicator& communicator() {
  if (!g_comm) g_comm = std::make_unique<MpiCommunicator>();
  return *g_comm;
}
std::unique_ptr<RankMemory> rank_memory() { return std::make_unique<HostMemory>(); }
#endif

const Backend& process_backend() {
  static const Backend backend{
      .name = k_name,
      .worlds = {world_size()},
      .run =
          [](int, const RankBody& body) {
            const auto memory = rank_memory();
            try {
              body(communicator(), *memory);
            } catch (const std::exception& e) {
              std::fprintf(stderr, "[rank %d] %s\n", world_rank(), e.what());
              std::fflush(stderr);
              MPI_Abort(MPI_COMM_WORLD, 1);
            }
          },
      .unavailable = unavailable,
  };
  return backend;
}

INSTANTIATE_TEST_SUITE_P(ATTNCHECK_COMM_SUITE, CommSuite,
                         ::testing::ValuesIn(suite_cases(process_backend())), suite_case_name);

#ifndef ATTNCHECK_COMM_TEST_NCCL

// Runs fn, which must throw E whose message has every string of `mentions`.
template <class E, class Fn>
void expect_throws(Fn fn, const std::vector<std::string>& mentions) {
  try {
    fn();
  } catch (const E& e) {
    for (const std::string& m : mentions) {
      EXPECT_NE(std::string(e.what()).find(m), std::string::npos)
          << "message lacks '" << m << "': " << e.what();
    }
    return;
  }
  ADD_FAILURE() << "nothing was thrown";
}

TEST(Mpi, RankAndSizeAreTheCommunicators) {
  Communicator& c = communicator();
  EXPECT_EQ(c.rank(), world_rank());
  EXPECT_EQ(c.size(), world_size());
  EXPECT_STREQ(c.backend(), "mpi");
}

// Every rank learns about the disagreement (the size exchange), so all of
// them throw and the communicator stays usable.
TEST(Mpi, DisagreeingCollectiveSizesThrowOnEveryRank) {
  Communicator& c = communicator();
  if (c.size() < 2) GTEST_SKIP() << "needs 2 or more processes";
  const auto p = static_cast<std::size_t>(c.size());
  const std::size_t n = static_cast<std::size_t>(c.rank()) + 1;
  std::vector<std::byte> send(n), recv(p * n);
  expect_throws<std::invalid_argument>(
      [&] { c.all_gather(send, recv); },
      {"mpi all_gather: ranks disagree on the size", "rank 0 1 bytes", "rank 1 2 bytes"});
  std::vector<float> data(c.rank() == 0 ? 2 : 3);
  expect_throws<std::invalid_argument>(
      [&] { c.all_reduce_sum(data); },
      {"all_reduce_sum<float>: ranks disagree", "rank 0 2 elements", "rank 1 3 elements"});
  c.barrier();
}

TEST(Mpi, DifferentCollectivesThrowOnEveryRank) {
  Communicator& c = communicator();
  if (c.size() < 2) GTEST_SKIP() << "needs 2 or more processes";
  std::vector<std::byte> send(static_cast<std::size_t>(c.size())), recv(send.size());
  expect_throws<std::invalid_argument>(
      [&] {
        if (c.rank() == 0) {
          c.all_gather(std::span(send).first(1), recv);
        } else {
          c.all_to_all(send, recv);
        }
      },
      {"ranks called different collectives", "rank 0 called all_gather",
       "rank 1 called all_to_all"});
  c.barrier();
}

// A local argument error on one rank: that rank throws it, the others throw
// the disagreement instead of waiting.
TEST(Mpi, OneRanksBadArgumentsThrowOnEveryRank) {
  Communicator& c = communicator();
  if (c.size() < 2) GTEST_SKIP() << "needs 2 or more processes";
  const auto p = static_cast<std::size_t>(c.size());
  std::vector<std::byte> send(2 * p), recv(c.rank() == 1 ? p : 2 * p);
  if (c.rank() == 1) {
    expect_throws<std::invalid_argument>([&] { c.all_to_all(send, recv); },
                                         {"all_to_all: rank 1: send is"});
  } else {
    expect_throws<std::invalid_argument>([&] { c.all_to_all(send, recv); },
                                         {"rank 1 invalid arguments"});
  }
  c.barrier();
}

// Rank 0 expects the wrong size from rank 1: too many bytes (MPI_Get_count
// tells), then too few (MPI's truncation error, with its error string).
TEST(Mpi, SendrecvSizeMismatchThrowsOnTheReceiver) {
  Communicator& c = communicator();
  if (c.size() < 2) GTEST_SKIP() << "needs 2 or more processes";
  if (c.rank() <= 1) {
    std::vector<std::byte> send(8), recv(c.rank() == 0 ? 16 : 8);
    const auto exchange = [&] { c.sendrecv(send, 1 - c.rank(), recv, 1 - c.rank()); };
    if (c.rank() == 0) {
      expect_throws<std::invalid_argument>(
          exchange, {"mpi sendrecv: rank 0 receives 16 bytes from rank 1, which sends 8 bytes"});
      recv.resize(4);
      expect_throws<std::invalid_argument>(
          exchange, {"rank 0 receives 4 bytes from rank 1, which sends more", "truncated"});
    } else {
      exchange();
      exchange();
    }
  }
  c.barrier();
}

#endif  // ATTNCHECK_COMM_TEST_NCCL

}  // namespace
}  // namespace attncheck::comm::test

int main(int argc, char** argv) {
  namespace test = attncheck::comm::test;
  const attncheck::comm::MpiSession mpi(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (test::world_rank() != 0) {  // one report, from rank 0; failures elsewhere print themselves
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int failed = RUN_ALL_TESTS();
  test::g_comm.reset();
  int any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (any_failed) return 1;
  const bool skipped = !test::unavailable(test::world_size()).empty();
  return skipped && !GTEST_FLAG_GET(list_tests) ? test::k_exit_skipped : 0;
}
