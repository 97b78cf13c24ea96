// Internal state of the simt runtime: one Block per block in flight (one per
// worker OS thread), one Thread per CUDA thread (a fiber).
#pragma once

#include <boost/context/fiber.hpp>

#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/simt/prelude.hpp"
#include "kernels/simt/simt.hpp"

namespace simt::detail {

enum class State { Runnable, AtBarrier, AtWarp, Done };

struct Thread {
  ThreadView view{};
  unsigned linear = 0;  // threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)
  State state = State::Runnable;
  const char* file = "";
  unsigned line = 0;
  unsigned warp_gen = 0;  // generation of the warp collective it waits in
  int warp_group = -1;    // index of that collective's group in its warp
  boost::context::fiber fiber;  // the thread, while suspended
  boost::context::fiber back;   // the scheduler, while the thread runs
  // Its fiber stack, and AddressSanitizer's fake-stack handle across switches.
  const void* stack_bottom = nullptr;
  std::size_t stack_size = 0;
  void* fake_stack = nullptr;
};

// One warp collective in progress for a given lane mask. Disjoint lane groups
// of a warp (divergent branches) may each have one pending at a time.
struct WarpGroup {
  unsigned mask = 0;     // the lanes taking part
  unsigned arrived = 0;  // lanes arrived at the pending collective
  unsigned gen = 0;      // completed collectives of this group
  const char* file = "";
  unsigned line = 0;
  // Contributions by generation parity and lane. A lane reads generation g
  // after it completed; the buffer of g is rewritten only by g + 2, which
  // needs every lane of the mask (that lane included) to have passed g + 1.
  alignas(16) unsigned char buf[2][32][k_warp_slot];
};

struct Warp {
  // One per distinct mask used, never reused for another; a deque, so that
  // adding a group leaves the buffers waiting lanes will read in place.
  std::deque<WarpGroup> groups;
  unsigned gen = 0;               // collectives completed by any group (race check ordering)
};

// Shadow of one byte of shared memory since the last barrier (race check).
struct Cell {
  int writer = -1, reader = -1;  // thread linear ids; -1 none
  unsigned writer_epoch = 0, reader_epoch = 0;  // warp generation at the access
  bool many_readers = false;
};

struct Block {
  const char* kernel = "";
  uint3 idx{};
  std::vector<Thread> threads;
  std::vector<Warp> warps;
  unsigned at_barrier = 0;
  std::string failure;  // first failure of this block
  bool abandoning = false;  // after a failure: suspended threads unwind
  // Race check.
  bool race_check = false;
  std::unordered_map<std::uintptr_t, Cell> shadow;
  std::vector<std::string>* races = nullptr;
  int max_races = 0;
  const char* barrier_file = "kernel start";
  unsigned barrier_line = 0;

  void fail(std::string why) {
    if (failure.empty()) failure = std::move(why);
  }
};

extern thread_local Block* t_block;
extern thread_local Thread* t_thread;

std::string describe(const Block& b);
std::string describe(const Block& b, const Thread& t);

// Race-check hook: an access by the running fiber (called from the
// instrumentation of a race-check build).
void record_access(std::uintptr_t addr, std::size_t size, bool write);
// Whether race checking was compiled into this binary (set by __tsan_init).
extern bool g_race_check_compiled;

}  // namespace simt::detail

namespace simt::detail {
// The runtime's error state (cudaGetLastError / cudaPeekAtLastError).
void set_error(cudaError_t e);
// Dynamic shared memory limit set by cudaFuncSetAttribute for `kernel`.
std::size_t max_dynamic_shared(const void* kernel);
// Per-OS-thread dynamic shared memory buffer (the link step aliases every
// `extern __shared__` array to it) and its capacity.
unsigned char* dynamic_shared_base();
inline constexpr std::size_t k_dynamic_shared_capacity = 232448;  // 227 KiB, as on sm_90
inline constexpr std::size_t k_default_dynamic_shared = 48 << 10;  // without an opt-in
}  // namespace simt::detail
