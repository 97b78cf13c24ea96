// The parameterised correctness suite (suite.hpp). Compiled into every
// backend's test executable, which instantiates it.
#include "kernels/comm/tests/suite.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <future>

namespace attncheck::comm::test {

void PrintTo(const SuiteCase& c, std::ostream* os) {
  *os << c.backend->name << " " << checks()[c.check].name << " world " << c.world;
}

std::vector<SuiteCase> suite_cases(const Backend& backend) {
  std::vector<SuiteCase> cases;
  for (std::size_t check = 0; check < checks().size(); ++check) {
    for (const int world : backend.worlds) cases.push_back({&backend, check, world});
  }
  return cases;
}

std::string suite_case_name(const ::testing::TestParamInfo<SuiteCase>& info) {
  return std::string(checks()[info.param.check].name) + "_world" + std::to_string(info.param.world);
}

void within(std::chrono::seconds limit, const std::function<void()>& fn) {
  auto done = std::async(std::launch::async, fn);
  if (done.wait_for(limit) == std::future_status::timeout) {
    std::fprintf(stderr, "attncheck comm test: no return after %lld s: the communicator hangs\n",
                 static_cast<long long>(limit.count()));
    std::fflush(stderr);
    std::_Exit(1);  // the hung threads cannot be joined
  }
  done.get();
}

TEST_P(CommSuite, Holds) {
  const SuiteCase& c = GetParam();
  if (const std::string why = c.backend->unavailable(c.world); !why.empty()) GTEST_SKIP() << why;
  const Check& check = checks()[c.check];
  try {
    within(k_hang_limit, [&] {
      c.backend->run(c.world,
                     [&](Communicator& comm, RankMemory& memory) { check.run(comm, memory); });
    });
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
}

}  // namespace attncheck::comm::test
