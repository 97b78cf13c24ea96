// The threads backend: the correctness suite for worlds of 1, 2, 3, 4 and 8
// ranks, and its failure behaviour: a rank that throws releases every other
// rank (run_threads rethrows the original exception, never hangs),
// disagreeing sizes and collectives are std::invalid_argument naming the
// operation, ranks and sizes, and communication no rank will complete is a
// comm::Deadlock. Built twice: normally and under ThreadSanitizer
// (test_comm_threads_tsan).
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/comm/tests/suite.hpp"
#include "kernels/comm/threads.hpp"

namespace attncheck::comm::test {
namespace {

const Backend& threads_backend() {
  static const Backend backend{
      .name = "threads",
      .worlds = {1, 2, 3, 4, 8},
      .run =
          [](int world, const RankBody& body) {
            run_threads(world, [&](Communicator& comm) {
              HostMemory memory;
              body(comm, memory);
            });
          },
      .unavailable = [](int) { return std::string(); },
  };
  return backend;
}

INSTANTIATE_TEST_SUITE_P(threads, CommSuite, ::testing::ValuesIn(suite_cases(threads_backend())),
                         suite_case_name);

// A failure of rank code that is not the communicator's.
struct RankError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs run_threads(world, body), which must throw E with every string of
// `mentions` in its message, within the hang limit.
template <class E>
void expect_throws(int world, const std::function<void(Communicator&)>& body,
                   const std::vector<std::string>& mentions) {
  within(k_hang_limit, [&] {
    try {
      run_threads(world, body);
    } catch (const E& e) {
      for (const std::string& m : mentions) {
        EXPECT_NE(std::string(e.what()).find(m), std::string::npos)
            << "message lacks '" << m << "': " << e.what();
      }
      return;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "run_threads threw another exception type: " << e.what();
      return;
    }
    ADD_FAILURE() << "run_threads returned; expected an exception";
  });
}

std::vector<std::byte> bytes(std::size_t n) { return std::vector<std::byte>(n); }

// ---- a rank that throws releases the others ---------------------------------

// The operations a rank can be waiting in when another rank fails.
enum class Waiting { SendRecv, AllToAll, AllGather, AllReduceFloat, AllReduceDouble, Barrier };

void wait_in(Communicator& c, Waiting op) {
  const auto p = static_cast<std::size_t>(c.size());
  auto send = bytes(8 * p), recv = bytes(8 * p);
  std::vector<float> floats(4);
  std::vector<double> doubles(4);
  switch (op) {
    case Waiting::SendRecv:
      c.sendrecv(std::span(send).first(8), (c.rank() + 1) % c.size(), std::span(recv).first(8),
                 (c.rank() - 1 + c.size()) % c.size());
      break;
    case Waiting::AllToAll: c.all_to_all(send, recv); break;
    case Waiting::AllGather: c.all_gather(std::span(send).first(8), recv); break;
    case Waiting::AllReduceFloat: c.all_reduce_sum(floats); break;
    case Waiting::AllReduceDouble: c.all_reduce_sum(doubles); break;
    case Waiting::Barrier: c.barrier(); break;
  }
}

void PrintTo(Waiting w, std::ostream* os) { *os << "operation " << static_cast<int>(w); }

std::string waiting_name(const ::testing::TestParamInfo<Waiting>& param) {
  constexpr const char* k_names[] = {"sendrecv",         "all_to_all",        "all_gather",
                                     "all_reduce_float", "all_reduce_double", "barrier"};
  return k_names[static_cast<int>(param.param)];
}

class RankThrows : public ::testing::TestWithParam<Waiting> {};

// Rank 2 of 4 throws after the others are waiting in an operation (sendrecv:
// rank 0 may complete its exchange with ranks 1 and 3 and waits in the
// barrier after it). run_threads rethrows rank 2's RankError; every other
// rank got Aborted naming rank 2 and its message.
TEST_P(RankThrows, WhileOthersWaitInAnOperation) {
  constexpr int k_world = 4;
  std::array<std::string, k_world> seen;
  expect_throws<RankError>(k_world,
                           [&](Communicator& c) {
                             if (c.rank() == 2) {
                               std::this_thread::sleep_for(std::chrono::milliseconds(50));
                               throw RankError("rank 2 gives up");
                             }
                             try {
                               wait_in(c, GetParam());
                               c.barrier();
                             } catch (const Aborted& e) {
                               seen[static_cast<std::size_t>(c.rank())] = e.what();
                               throw;
                             }
                           },
                           {"rank 2 gives up"});
  for (const int r : {0, 1, 3}) {
    EXPECT_NE(seen[r].find("rank 2 failed: rank 2 gives up"), std::string::npos)
        << "rank " << r << " was not released with Aborted naming rank 2: '" << seen[r] << "'";
  }
}

INSTANTIATE_TEST_SUITE_P(ThreadsErrors, RankThrows,
                         ::testing::Values(Waiting::SendRecv, Waiting::AllToAll, Waiting::AllGather,
                                           Waiting::AllReduceFloat, Waiting::AllReduceDouble,
                                           Waiting::Barrier),
                         waiting_name);

// Ranks that enter an operation after another rank failed are refused.
TEST(ThreadsErrors, RanksEnteringAfterAFailureAreRefused) {
  std::array<std::string, 3> seen;
  expect_throws<RankError>(3,
                           [&](Communicator& c) {
                             if (c.rank() == 0) throw RankError("rank 0 fails first");
                             std::this_thread::sleep_for(std::chrono::milliseconds(50));
                             try {
                               auto buf = bytes(3 * 4);
                               c.all_gather(std::span(buf).first(4), buf);
                             } catch (const Aborted& e) {
                               seen[static_cast<std::size_t>(c.rank())] = e.what();
                               throw;
                             }
                           },
                           {"rank 0 fails first"});
  for (const int r : {1, 2}) {
    EXPECT_NE(seen[r].find("all_gather: rank " + std::to_string(r) + " released: rank 0 failed"),
              std::string::npos)
        << seen[r];
  }
}

// Whatever a rank throws comes back as it was thrown.
TEST(ThreadsErrors, NonStandardExceptionsAreRethrownAsThrown) {
  within(k_hang_limit, [] {
    try {
      run_threads(2, [](Communicator& c) {
        if (c.rank() == 1) throw 42;
        c.barrier();
      });
      ADD_FAILURE() << "run_threads returned";
    } catch (int value) {
      EXPECT_EQ(value, 42);
    }
  });
}

// ---- disagreeing sizes and collectives ------------------------------------

TEST(ThreadsErrors, SendrecvSizeMismatchNamesRanksAndSizes) {
  expect_throws<std::invalid_argument>(
      2,
      [](Communicator& c) {
        auto send = bytes(8), recv = bytes(c.rank() == 0 ? 16 : 8);
        c.sendrecv(send, 1 - c.rank(), recv, 1 - c.rank());
      },
      {"sendrecv", "rank 0 receives 16 bytes from rank 1, which sends 8 bytes to rank 0"});
}

TEST(ThreadsErrors, AllToAllBlockMismatch) {
  expect_throws<std::invalid_argument>(
      3,
      [](Communicator& c) {
        const std::size_t block = c.rank() == 1 ? 4 : 2;
        auto send = bytes(3 * block), recv = bytes(3 * block);
        c.all_to_all(send, recv);
      },
      {"all_to_all: ranks disagree on the size", "rank 0 blocks of 2 bytes",
       "rank 1 blocks of 4 bytes", "rank 2 blocks of 2 bytes"});
}

TEST(ThreadsErrors, AllGatherSizeMismatch) {
  expect_throws<std::invalid_argument>(
      2,
      [](Communicator& c) {
        const std::size_t n = static_cast<std::size_t>(c.rank()) + 1;
        auto send = bytes(n), recv = bytes(2 * n);
        c.all_gather(send, recv);
      },
      {"all_gather: ranks disagree on the size", "rank 0 1 bytes", "rank 1 2 bytes"});
}

TEST(ThreadsErrors, AllReduceLengthMismatch) {
  expect_throws<std::invalid_argument>(
      3,
      [](Communicator& c) {
        std::vector<double> data(c.rank() == 0 ? 3 : 4);
        c.all_reduce_sum(data);
      },
      {"all_reduce_sum<double>: ranks disagree", "rank 0 3 elements", "rank 1 4 elements"});
}

TEST(ThreadsErrors, DifferentCollectivesAtOneStep) {
  expect_throws<std::invalid_argument>(
      2,
      [](Communicator& c) {
        if (c.rank() == 0) {
          std::vector<float> data(2);
          c.all_reduce_sum(data);
        } else {
          std::vector<double> data(2);
          c.all_reduce_sum(data);
        }
      },
      {"ranks called different collectives", "rank 0 called all_reduce_sum<float>",
       "rank 1 called all_reduce_sum<double>"});
  expect_throws<std::invalid_argument>(
      2,
      [](Communicator& c) {
        if (c.rank() == 0) {
          auto buf = bytes(2);
          c.all_gather(std::span(buf).first(1), buf);
        } else {
          c.barrier();
        }
      },
      {"rank 0 called all_gather (1 bytes)", "rank 1 called barrier"});
}

// Arguments wrong on one rank alone: that rank's error, the others released.
TEST(ThreadsErrors, LocalArgumentErrors) {
  expect_throws<std::invalid_argument>(
      2,
      [](Communicator& c) {
        auto send = bytes(5), recv = bytes(5);
        c.all_to_all(send, recv);
      },
      {"all_to_all: rank", "send is 5 bytes and recv 5 bytes", "2 equal blocks"});
  expect_throws<std::invalid_argument>(
      3,
      [](Communicator& c) {
        auto send = bytes(4), recv = bytes(c.rank() == 2 ? 8 : 12);
        c.all_gather(send, recv);
      },
      {"all_gather: rank 2: recv is 8 bytes, must be 3 ranks x 4 send bytes = 12"});
  expect_throws<std::invalid_argument>(
      2,
      [](Communicator& c) {
        auto buf = bytes(1);
        c.sendrecv(buf, 2, buf, 0);
      },
      {"sendrecv: rank", "dst 2 / src 0 outside the world of 2 ranks"});
  expect_throws<std::invalid_argument>(
      2,
      [](Communicator& c) {
        auto send = bytes(1), recv = bytes(1);
        c.sendrecv(send, c.rank(), recv, 1 - c.rank());
      },
      {"sends to rank", "but receives from rank", "a message to oneself is received by oneself"});
}

// ---- deadlocks are errors, not hangs --------------------------------------

TEST(ThreadsErrors, RankReturningBeforeACollectiveIsADeadlock) {
  expect_throws<Deadlock>(
      2,
      [](Communicator& c) {
        if (c.rank() == 1) c.barrier();
      },
      {"deadlock", "rank 0 has returned from its body", "rank 1 waits in barrier"});
}

TEST(ThreadsErrors, MispairedSendrecvIsADeadlock) {
  // Every rank receives from the rank it sends to: in a ring of 3 nobody
  // sends to the rank it waits for.
  expect_throws<Deadlock>(3,
                          [](Communicator& c) {
                            auto send = bytes(4), recv = bytes(4);
                            const int next = (c.rank() + 1) % 3;
                            c.sendrecv(send, next, recv, next);
                          },
                          {"deadlock", "rank 0 waits in sendrecv for 4 bytes from rank 1",
                           "rank 2 waits in sendrecv for 4 bytes from rank 0"});
}

TEST(ThreadsErrors, SendrecvAgainstACollectiveIsADeadlock) {
  expect_throws<Deadlock>(2,
                          [](Communicator& c) {
                            if (c.rank() == 0) {
                              auto send = bytes(4), recv = bytes(4);
                              c.sendrecv(send, 1, recv, 1);
                            } else {
                              c.barrier();
                            }
                          },
                          {"deadlock", "rank 0 waits in sendrecv", "rank 1 waits in barrier"});
}

// ---- run_threads itself -----------------------------------------------------

TEST(Threads, WorldMustHaveARank) {
  EXPECT_THROW(run_threads(0, [](Communicator&) {}), std::invalid_argument);
}

TEST(Threads, EveryRankRunsOnceWithItsRank) {
  for (const int world : {1, 2, 5}) {
    std::mutex m;
    std::multiset<int> ranks;
    run_threads(world, [&](Communicator& c) {
      EXPECT_EQ(c.size(), world);
      EXPECT_STREQ(c.backend(), "threads");
      std::lock_guard<std::mutex> l(m);
      ranks.insert(c.rank());
    });
    std::multiset<int> want;
    for (int r = 0; r < world; ++r) want.insert(r);
    EXPECT_EQ(ranks, want) << "world " << world;
  }
}

// Rank threads are kept between worlds; worlds started from several threads
// at once, and from inside a rank, each get ranks of their own.
TEST(Threads, ConcurrentAndNestedWorldsEachGetTheirRanks) {
  auto ring_sum = [](int world) {
    int total = -1;
    run_threads(world, [&](Communicator& c) {
      std::vector<int> send{c.rank()}, recv(1);
      int sum = c.rank();
      for (int i = 1; i < c.size(); ++i) {
        c.sendrecv<int>(send, (c.rank() + 1) % c.size(), recv, (c.rank() - 1 + c.size()) % c.size());
        sum += recv[0];
        send = recv;
      }
      if (c.rank() == 0) total = sum;
    });
    return total;
  };
  within(std::chrono::seconds(60), [&] {
    std::vector<std::thread> callers;
    std::array<int, 4> got{};
    for (int t = 0; t < 4; ++t) {
      callers.emplace_back([&, t] { got[std::size_t(t)] = ring_sum(t + 2); });
    }
    for (std::thread& t : callers) t.join();
    for (int t = 0; t < 4; ++t) EXPECT_EQ(got[std::size_t(t)], (t + 2) * (t + 1) / 2);
    int nested = -1;
    run_threads(2, [&](Communicator& c) {
      if (c.rank() == 1) nested = ring_sum(5);
      c.barrier();
    });
    EXPECT_EQ(nested, 10);
  });
}

// A forked child (the campaign's row workers) has none of its parent's
// threads; worlds in it still run.
TEST(Threads, WorldsRunInAForkedChildAfterTheParentRanWorlds) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer cannot start threads in the child of a multi-threaded fork";
#endif
  auto world_of_four = [] {
    std::atomic<int> ran{0};
    run_threads(4, [&](Communicator& c) {
      c.barrier();
      ++ran;
    });
    return ran.load();
  };
  ASSERT_EQ(world_of_four(), 4);
  const pid_t child = fork();
  ASSERT_GE(child, 0) << "fork failed";
  if (child == 0) {
    alarm(30);  // a hang in the child ends it with SIGALRM
    _exit(world_of_four() == 4 && world_of_four() == 4 ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the child hung or crashed (signal "
                                 << (WIFSIGNALED(status) ? WTERMSIG(status) : 0) << ")";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace attncheck::comm::test
