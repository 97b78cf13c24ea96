// Control of the simt execution of CUDA kernels (host side, not kernel code).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace simt {

enum class Schedule {
  Deterministic,  // fibers of a block run in thread order between barriers
  Random,         // a seeded random order, reshuffled at every pass
};

struct Config {
  Schedule schedule = Schedule::Deterministic;
  std::uint64_t seed = 0;              // for Schedule::Random (mixed with the block index)
  // Schedule::Random only: mix a per-process launch counter into the seed, so
  // that every launch (and every rerun of the same computation) gets its own
  // fiber order and block order; a race or an order-dependent sum then shows
  // as two runs that differ.
  bool reseed_per_launch = false;
  int workers = 0;                     // OS threads running blocks; 0 = one per core
  std::size_t stack_bytes = 256 << 10; // per fiber (CUDA thread)
  int max_race_reports = 8;            // per launch, in race-check builds
  // Count shared-memory bank conflicts of ldmatrix and cp.async
  // (shared_memory_stats); off by default: the counting costs time.
  bool count_bank_conflicts = false;
};

// The configuration launches use until set_config replaces it: the defaults
// above, or what the environment variable ATTNCHECK_SIMT_SCHEDULE says:
//   deterministic   the default
//   random          Schedule::Random, seed 0, reseed_per_launch
//   random:SEED     Schedule::Random, seed SEED, reseed_per_launch
// Any other value is a usage error: the process prints why and exits with 2.
void set_config(const Config& c);
Config config();

// Every allocation is filled with this 32-bit word: NaN as float32, and each
// half of it NaN as bfloat16 and float16, so unwritten outputs are visible.
inline constexpr std::uint32_t k_poison_word = 0x7FFF7FFFu;

// Why the calling OS thread's last launch failed (barrier divergence, a data
// race, an exception in a kernel, ...), naming kernel, block and thread;
// empty if it succeeded. Launches from several OS threads may run at once.
std::string last_failure();

// Data races found by the calling thread's last launch (race-check builds only: the kernel's
// translation unit compiled with -fsanitize=thread, see cmake/Simt.cmake).
std::vector<std::string> last_races();

// True in a binary whose kernels were built for race checking.
bool race_check_enabled();

// Shared-memory bank conflicts, counted as Nsight Compute does: a warp's
// request is served in wavefronts; accesses by the lanes of one phase (all 32
// lanes for 4-byte accesses, 16 for 8-byte, 8 for 16-byte ones and for each
// 8x8 matrix of an ldmatrix) to distinct 4-byte words of the same bank (of
// 32) take one wavefront each; `ideal` is the count without conflicts.
struct BankCounts {
  std::uint64_t requests = 0;    // warp-level instructions
  std::uint64_t wavefronts = 0;
  std::uint64_t ideal = 0;       // wavefronts - ideal: the conflicted ones
};
struct SharedMemoryStats {
  BankCounts ldmatrix;  // exact: the warp's addresses arrive at once
  BankCounts cp_async;  // shared-memory writes; the k-th cp.async of each lane
                        // of a warp counted as one request
  BankCounts plain;     // ordinary loads and stores, in race-check builds only
                        // (their instrumentation sees them): the k-th execution
                        // of an access site by each lane of a warp, between
                        // barriers, counted as one request
};
// Per kernel name, summed over launches since the last reset, for launches
// with Config::count_bank_conflicts set (every build).
std::vector<std::pair<std::string, SharedMemoryStats>> shared_memory_stats();
void reset_shared_memory_stats();

// Measured costs, for the benchmark.
double fiber_round_trip_ns(int iterations);

}  // namespace simt
