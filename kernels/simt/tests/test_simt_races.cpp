// The shared-memory race detector (kernels/simt/racecheck.cpp), on the failure
// kernels built with RACE_CHECK: a missing __syncthreads or __syncwarp is
// reported as a race naming kernel, block, both threads and the shared-memory
// offset, and fails the launch; kernels ordered by their barriers (the tree
// reduction, the __syncwarp warp reduction) give no report in any fiber order.
#include <gtest/gtest.h>
#include <link.h>

#include <cstdint>
#include <numeric>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "kernels/simt/simt.hpp"
#include "kernels/simt/tests/failure_kernels.hpp"
#include "kernels/simt/tests/simt_test_util.hpp"

namespace {

namespace sf = simt_failures;

using simt_test::ConfigScope;
using simt_test::DeviceBuffer;
using simt_test::group_sums;
using simt_test::schedule;

std::vector<float> integers(std::size_t n, int salt) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = float(int((i * 5 + std::size_t(salt)) % 19) - 9);
  return v;
}

// The x coordinates of the threads a report names, in order.
std::vector<int> threads_named(const std::string& report) {
  std::vector<int> xs;
  const std::regex re(R"(thread \((\d+),0,0\))");
  for (auto it = std::sregex_iterator(report.begin(), report.end(), re);
       it != std::sregex_iterator(); ++it) {
    xs.push_back(std::stoi((*it)[1]));
  }
  return xs;
}

long long offset_in(const std::string& report, const std::string& kind) {
  std::smatch m;
  if (!std::regex_search(report, m, std::regex(kind + R"( offset (\d+))"))) return -1;
  return std::stoll(m[1]);
}

// Start of the TLS block (of this OS thread) of the module whose TLS holds
// `addr`: static __shared__ variables are thread_local, and the detector
// reports their offsets from there.
std::uintptr_t tls_block_start(std::uintptr_t addr) {
  struct Ctx {
    std::uintptr_t addr, start;
  } ctx{addr, 0};
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        auto* c = static_cast<Ctx*>(data);
        if (!info->dlpi_tls_data) return 0;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          if (info->dlpi_phdr[i].p_type != PT_TLS) continue;
          const auto b = std::uintptr_t(info->dlpi_tls_data);
          if (c->addr >= b && c->addr < b + info->dlpi_phdr[i].p_memsz) {
            c->start = b;
            return 1;
          }
        }
        return 0;
      },
      &ctx);
  return ctx.start;
}

// The report of a launch that must have failed with exactly one race per
// racing block: the first one (lowest block), after the common checks.
std::string first_race(cudaError_t err, const std::string& kernel) {
  EXPECT_EQ(err, cudaErrorLaunchFailure) << cudaGetErrorName(err);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  const auto races = simt::last_races();
  if (races.empty()) {
    ADD_FAILURE() << "no race reported";
    return "";
  }
  const std::string& r = races.front();
  EXPECT_NE(r.find("race in kernel " + kernel + " block (0,0,0)"), std::string::npos) << r;
  const auto xs = threads_named(r);
  EXPECT_EQ(xs.size(), 2u) << r;
  EXPECT_EQ(std::set<int>(xs.begin(), xs.end()).size(), 2u) << "two different threads: " << r;
  EXPECT_NE(simt::last_failure().find(r), std::string::npos)
      << "the launch failure is the race: " << simt::last_failure();
  return r;
}

TEST(SimtRaces, Enabled) { EXPECT_TRUE(simt::race_check_enabled()); }

// The last thread sums vals[0..64) without a barrier after the stores. In the
// deterministic order threads 0..62 store first, then thread 63 stores and
// reads vals[0]: the first conflict is thread 0's store and thread 63's load of
// element 0.
TEST(SimtRaces, MissingSyncthreadsStaticShared) {
  ConfigScope c(schedule(simt::Schedule::Deterministic, 0));
  const int threads = 64;
  DeviceBuffer<float> din(integers(threads, 1));
  DeviceBuffer<float> out(1);
  DeviceBuffer<unsigned long long> address(1);
  // One block: it runs on this OS thread, so the address of vals[0] lies in
  // this thread's TLS block.
  const cudaError_t err = sf::block_sum(din.ptr, out.ptr, 1, threads, false, address.ptr);
  const std::string r = first_race(err, "(block_sum_kernel<false>)");
  EXPECT_NE(r.find("thread (0,0,0) writes"), std::string::npos) << r;
  EXPECT_NE(r.find("thread (63,0,0) reads"), std::string::npos) << r;
  EXPECT_NE(r.find("since the kernel's start"), std::string::npos) << r;
  const auto vals0 = std::uintptr_t(address.host()[0]);
  const std::uintptr_t start = tls_block_start(vals0);
  ASSERT_NE(start, 0u) << "vals[0] is not in a TLS block of this thread";
  EXPECT_EQ(offset_in(r, "static __shared__ memory"), (long long)(vals0 - start)) << r;
}

TEST(SimtRaces, MissingSyncthreadsDynamicShared) {
  ConfigScope c(schedule(simt::Schedule::Deterministic, 0));
  const int threads = 64, pad = 3;
  DeviceBuffer<float> din(integers(threads, 2));
  DeviceBuffer<float> out(1);
  const std::string r =
      first_race(sf::block_sum_dynamic(din.ptr, out.ptr, 1, threads, false, pad),
                 "(block_sum_dynamic_kernel<false>)");
  // Element 0 of the sum, dyn_vals[pad]: byte offset 4 * pad.
  EXPECT_EQ(offset_in(r, "dynamic shared memory"), 4 * pad) << r;
  EXPECT_NE(r.find("thread (0,0,0) writes"), std::string::npos) << r;
  EXPECT_NE(r.find("thread (63,0,0) reads"), std::string::npos) << r;
}

// In a random order the first conflict found differs, but every block reports
// one, on an element of its array.
TEST(SimtRaces, MissingSyncthreadsRandomOrders) {
  const int blocks = 4, threads = 64;
  DeviceBuffer<float> din(integers(std::size_t(blocks) * threads, 3));
  DeviceBuffer<float> out(blocks);
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    ConfigScope c(schedule(simt::Schedule::Random, seed));
    {
      const std::string r = first_race(sf::block_sum(din.ptr, out.ptr, blocks, threads, false),
                                       "(block_sum_kernel<false>)");
      EXPECT_NE(r.find("static __shared__ memory offset"), std::string::npos) << r;
      const auto races = simt::last_races();
      ASSERT_EQ(races.size(), std::size_t(blocks));
      for (int b = 0; b < blocks; ++b) {
        EXPECT_NE(races[std::size_t(b)].find("block (" + std::to_string(b) + ",0,0)"),
                  std::string::npos)
            << races[std::size_t(b)];
      }
    }
    {
      const std::string r =
          first_race(sf::block_sum_dynamic(din.ptr, out.ptr, blocks, threads, false, 0),
                     "(block_sum_dynamic_kernel<false>)");
      const long long off = offset_in(r, "dynamic shared memory");
      EXPECT_GE(off, 0) << r;
      EXPECT_LT(off, 4 * threads) << r;
      EXPECT_EQ(off % 4, 0) << r;
    }
  }
}

TEST(SimtRaces, TreeReductionWithoutLoopBarrier) {
  for (std::uint64_t seed : {0u, 1u, 2u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    ConfigScope c(schedule(seed ? simt::Schedule::Random : simt::Schedule::Deterministic, seed));
    DeviceBuffer<float> din(integers(2 * 128, 4));
    DeviceBuffer<float> out(2);
    const std::string r = first_race(sf::tree_reduce(din.ptr, out.ptr, 2, 128, false),
                                     "(tree_reduce_kernel<false>)");
    EXPECT_NE(r.find("static __shared__ memory offset"), std::string::npos) << r;
  }
}

// Without __syncwarp the lanes of one warp race with each other.
TEST(SimtRaces, WarpReductionWithoutSyncwarp) {
  for (std::uint64_t seed : {0u, 1u, 2u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    ConfigScope c(schedule(seed ? simt::Schedule::Random : simt::Schedule::Deterministic, seed));
    DeviceBuffer<float> din(integers(64, 5));
    DeviceBuffer<float> out(2);
    const std::string r = first_race(sf::warp_reduce(din.ptr, out.ptr, 1, 64, false),
                                     "(warp_reduce_kernel<false>)");
    const auto xs = threads_named(r);
    ASSERT_EQ(xs.size(), 2u) << r;
    EXPECT_EQ(xs[0] / 32, xs[1] / 32) << "two lanes of one warp: " << r;
  }
}

// Every thread reads `value`, a __syncwarp, then thread 0 overwrites it: warp
// 0's reads are ordered before the store, the other warps' are not. Thread 0
// itself read the value first, so a detector remembering one reader per byte
// misses this.
TEST(SimtRaces, OverwriteOrderedOnlyForOneWarp) {
  for (std::uint64_t seed : {0u, 1u, 2u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    ConfigScope c(schedule(seed ? simt::Schedule::Random : simt::Schedule::Deterministic, seed));
    DeviceBuffer<float> din(std::vector<float>{1.0f, 2.0f});
    DeviceBuffer<float> out(64);
    const std::string r = first_race(sf::overwrite_after_syncwarp(din.ptr, out.ptr, 64),
                                     "overwrite_after_syncwarp_kernel");
    const auto xs = threads_named(r);
    ASSERT_EQ(xs.size(), 2u) << r;
    // One side is the store of thread 0, the other a load of warp 1 (in a random
    // order, the load may come after the store).
    EXPECT_TRUE((xs[0] == 0 && xs[1] >= 32) || (xs[1] == 0 && xs[0] >= 32)) << r;
    EXPECT_NE(r.find("thread (0,0,0) writes"), std::string::npos) << r;
    EXPECT_NE(r.find("static __shared__ memory offset"), std::string::npos) << r;
  }
}

// Kernels ordered by their barriers: no report, exact results, in every order.
TEST(SimtRaces, CorrectKernelsGiveNoReport) {
  std::vector<std::pair<std::string, simt::Config>> configs = {
      {"deterministic", schedule(simt::Schedule::Deterministic, 0)},
      {"random seed 9, one worker", schedule(simt::Schedule::Random, 9, 1)}};
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    configs.emplace_back("random seed " + std::to_string(seed),
                         schedule(simt::Schedule::Random, seed));
  }
  const int blocks = 3, threads = 128;
  const auto in = integers(std::size_t(blocks) * threads, 6);
  const auto want = group_sums(in, threads);
  const auto want_warps = group_sums(in, 32);
  DeviceBuffer<float> din(in);
  for (const auto& [name, cfg] : configs) {
    SCOPED_TRACE(name);
    ConfigScope c(cfg);
    auto expect_clean = [&](const char* what, cudaError_t err) {
      EXPECT_EQ(err, cudaSuccess) << what << ": " << simt::last_failure();
      EXPECT_TRUE(simt::last_races().empty())
          << what << ": " << (simt::last_races().empty() ? "" : simt::last_races().front());
    };
    {
      DeviceBuffer<float> out(blocks);
      expect_clean("block_sum", sf::block_sum(din.ptr, out.ptr, blocks, threads, true));
      EXPECT_EQ(out.host(), want);
    }
    {
      DeviceBuffer<float> out(blocks);
      expect_clean("block_sum_dynamic",
                   sf::block_sum_dynamic(din.ptr, out.ptr, blocks, threads, true, 5));
      EXPECT_EQ(out.host(), want);
    }
    {
      DeviceBuffer<float> out(blocks);
      expect_clean("tree_reduce", sf::tree_reduce(din.ptr, out.ptr, blocks, threads, true));
      EXPECT_EQ(out.host(), want);
    }
    {
      DeviceBuffer<float> out(want_warps.size());
      expect_clean("warp_reduce", sf::warp_reduce(din.ptr, out.ptr, blocks, threads, true));
      EXPECT_EQ(out.host(), want_warps);
    }
  }
}

// Config::max_race_reports bounds the reports of one launch (not of each
// worker thread), and a race fails the launch even past that bound.
TEST(SimtRaces, ReportsPerLaunchAreBounded) {
  const int blocks = 16, threads = 32;
  DeviceBuffer<float> din(integers(std::size_t(blocks) * threads, 7));
  DeviceBuffer<float> out(blocks);
  {
    simt::Config cfg = schedule(simt::Schedule::Deterministic, 0, 4);
    cfg.max_race_reports = 3;
    ConfigScope c(cfg);
    EXPECT_EQ(sf::block_sum(din.ptr, out.ptr, blocks, threads, false), cudaErrorLaunchFailure);
    EXPECT_EQ(simt::last_races().size(), 3u);
  }
  {
    simt::Config cfg = schedule(simt::Schedule::Deterministic, 0, 4);
    cfg.max_race_reports = 0;
    ConfigScope c(cfg);
    EXPECT_EQ(sf::block_sum(din.ptr, out.ptr, blocks, threads, false), cudaErrorLaunchFailure);
    EXPECT_TRUE(simt::last_races().empty());
    EXPECT_NE(simt::last_failure().find("race in kernel (block_sum_kernel<false>) block (0,0,0)"),
              std::string::npos)
        << simt::last_failure();
  }
}

// After a race, the next launch runs normally and reports nothing.
TEST(SimtRaces, RuntimeRecoversAfterRace) {
  const int threads = 64;
  const auto in = integers(threads, 8);
  DeviceBuffer<float> din(in);
  DeviceBuffer<float> out(1);
  EXPECT_EQ(sf::block_sum(din.ptr, out.ptr, 1, threads, false), cudaErrorLaunchFailure);
  EXPECT_FALSE(simt::last_races().empty());
  EXPECT_EQ(sf::block_sum(din.ptr, out.ptr, 1, threads, true), cudaSuccess);
  EXPECT_TRUE(simt::last_races().empty());
  EXPECT_EQ(simt::last_failure(), "");
  EXPECT_EQ(out.host()[0], std::accumulate(in.begin(), in.end(), 0.0f));
}

}  // namespace
