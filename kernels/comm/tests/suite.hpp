// The correctness suite of kernels/comm as a GoogleTest parameterised test:
// every check of checks.hpp on every world size a backend lists. Each test
// executable describes its backend (how to run a world, where buffers live,
// when it cannot run here) and instantiates the suite with it:
//
//   INSTANTIATE_TEST_SUITE_P(threads, CommSuite, ::testing::ValuesIn(suite_cases(backend)),
//                            suite_case_name);
//
// Test names read "<backend>/CommSuite.Holds/<check>_world<P>". A backend that
// cannot run a world here (no GPUs) skips with its reason.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/comm/tests/checks.hpp"

namespace attncheck::comm::test {

using RankBody = std::function<void(Communicator&, RankMemory&)>;

struct Backend {
  std::string name;
  std::vector<int> worlds;
  // Runs body on every rank of a world of `world` ranks; throws the first
  // rank's failure.
  std::function<void(int world, const RankBody& body)> run;
  // Why `world` ranks cannot run here; empty when they can.
  std::function<std::string(int world)> unavailable;
};

struct SuiteCase {
  const Backend* backend;
  std::size_t check;  // index into checks()
  int world;
};

void PrintTo(const SuiteCase& c, std::ostream* os);

std::vector<SuiteCase> suite_cases(const Backend& backend);
std::string suite_case_name(const ::testing::TestParamInfo<SuiteCase>& info);

class CommSuite : public ::testing::TestWithParam<SuiteCase> {};

// Runs fn in another thread and returns (or rethrows) its result; if fn has
// not returned after `limit`, prints that it hangs and ends the process with
// exit code 1: a hang fails the test instead of stalling CI.
void within(std::chrono::seconds limit, const std::function<void()>& fn);

inline constexpr std::chrono::seconds k_hang_limit{60};

}  // namespace attncheck::comm::test
