// The libFuzzer targets' bodies (harness/fuzz/README.md) in the ordinary
// builds: every input a fuzzer ever crashed on (harness/fuzz/regressions/
// <target>/, kept after its fix) and every committed seed (harness/fuzz/
// corpus/<target>/) must run through its target body and return normally.
// A regression that comes back traps or is reported by the sanitizers of the
// asan preset; an exception other than attncheck::Error escaping a body fails
// the test here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "harness/fuzz/targets.hpp"

namespace attncheck::fuzz {
namespace {

namespace fs = std::filesystem;

// harness/fuzz, found from this file's own path (or $ATTNCHECK_FUZZ_DIR).
fs::path fuzz_dir() {
  if (const char* env = std::getenv("ATTNCHECK_FUZZ_DIR"); env && *env) return env;
  return fs::path(__FILE__).parent_path().parent_path() / "fuzz";
}

std::vector<fs::path> inputs_in(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().filename().string().front() != '.') {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::uint8_t> bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

using Body = int (*)(const std::uint8_t*, std::size_t);

// Runs every regression input and seed of `target`; returns how many.
std::size_t run_all(Body body, const std::string& target) {
  std::size_t count = 0;
  for (const char* kind : {"regressions", "corpus"}) {
    for (const auto& path : inputs_in(fuzz_dir() / kind / target)) {
      SCOPED_TRACE(path.string());
      const auto data = bytes_of(path);
      try {
        EXPECT_EQ(body(data.data(), data.size()), 0);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "an exception escaped " << target << ": " << e.what();
      } catch (...) {
        ADD_FAILURE() << "a non-standard exception escaped " << target;
      }
      ++count;
    }
  }
  return count;
}

TEST(FuzzRegressions, SeedCorporaExist) {
  for (const char* target : {"fuzz_batch", "fuzz_packing", "fuzz_casefile"}) {
    EXPECT_FALSE(inputs_in(fuzz_dir() / "corpus" / target).empty())
        << "no seed corpus in " << (fuzz_dir() / "corpus" / target);
  }
}

TEST(FuzzRegressions, BatchInputs) { EXPECT_GT(run_all(run_fuzz_batch, "fuzz_batch"), 0u); }

TEST(FuzzRegressions, PackingInputs) {
  EXPECT_GT(run_all(run_fuzz_packing, "fuzz_packing"), 0u);
}

TEST(FuzzRegressions, CasefileInputs) {
  EXPECT_GT(run_all(run_fuzz_casefile, "fuzz_casefile"), 0u);
}

}  // namespace
}  // namespace attncheck::fuzz
