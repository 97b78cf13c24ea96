// Internal state of the simt runtime: one Block per block in flight (one per
// worker OS thread), one Thread per CUDA thread (a fiber).
#pragma once

#include <boost/context/fiber.hpp>

#include <cstdint>
#include <deque>
#include <map>
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
  int last_group = -1;    // the group and generation of its last completed collective
  unsigned last_gen = 0;
  boost::context::fiber fiber;  // the thread, while suspended
  boost::context::fiber back;   // the scheduler, while the thread runs
  // Its fiber stack, and AddressSanitizer's fake-stack handle across switches.
  const void* stack_bottom = nullptr;
  std::size_t stack_size = 0;
  void* fake_stack = nullptr;
  // cp.async: this thread's copies (indices into Block::copies) not yet
  // committed, and its committed groups still in flight, oldest first.
  std::vector<unsigned> uncommitted;
  std::deque<std::vector<unsigned>> groups_in_flight;
  unsigned cp_async_issued = 0;  // this thread's cp.async count (bank-conflict grouping)
  // Race-check builds, counting bank conflicts: this thread's executions of
  // each shared-memory access site (by instruction address) since the last barrier.
  std::unordered_map<std::uintptr_t, unsigned> site_count;
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
  // A result per lane computed once for the whole warp from the
  // contributions of generation g (warp_result), in result[g & 1];
  // result_gen[g & 1] == g + 1 once computed.
  alignas(16) unsigned char result[2][32][16];
  unsigned result_gen[2] = {0, 0};
};

// The per-lane results of the collective the calling lane just completed
// (warp_exchange), and whether the caller is the first lane to ask: that lane
// computes all 32 results, the others read theirs.
struct WarpResult {
  unsigned char* out = nullptr;  // 32 slots of 16 bytes, lane l's at 16 l
  bool compute = false;
};
// Valid right after warp_exchange returned to the calling lane.
WarpResult warp_result();

struct Warp {
  // One per distinct mask used, never reused for another; a deque, so that
  // adding a group leaves the buffers waiting lanes will read in place.
  std::deque<WarpGroup> groups;
  unsigned gen = 0;               // collectives completed by any group (race check ordering)
};

// One cp.async (kernels/simt/ptx.cpp), from issue to delivery at a wait.
struct AsyncCopy {
  unsigned char* dst = nullptr;
  const unsigned char* src = nullptr;
  unsigned bytes = 0, src_bytes = 0;
  unsigned thread = 0;  // the issuing thread (linear id)
  const char* file = "";
  unsigned line = 0;
  bool delivered = false;
};

// The k-th cp.async of the lanes of a warp, as one request (bank conflicts).
struct CopyRequest {
  unsigned bytes = 0;
  std::uint32_t lanes = 0;
  std::uintptr_t addr[32] = {};
};

// Shared-memory requests of one kind and the wavefronts they took
// (kernels/simt/simt.hpp BankCounts).
struct BankTally {
  std::uint64_t requests = 0, wavefronts = 0, ideal = 0;
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

  // The launch's dynamic shared memory size, and where it is (this OS thread's buffer).
  std::size_t shared_bytes = 0;
  std::uintptr_t dynamic_base = 0;
  // cp.async in flight: every copy issued by the block, and per 4-byte word
  // of shared memory the copy (index + 1) that will write it, 0 for none
  // (dynamic shared memory in a vector made at the first cp.async, static
  // __shared__ in a map).
  std::vector<AsyncCopy> copies;
  std::uint32_t* pending_dynamic = nullptr;
  std::unordered_map<std::uintptr_t, std::uint32_t> pending_static;
  unsigned in_flight = 0;
  // Bank conflicts: ldmatrix (exact: the warp's addresses arrive together),
  // cp.async (the k-th cp.async of each lane of a warp taken as one request).
  bool count_banks = false;  // Config::count_bank_conflicts
  BankTally ldmatrix_banks, cp_async_banks, plain_banks;
  // Plain loads and stores (race-check builds): the k-th execution of an
  // access site by each lane of a warp as one request, per warp, until the
  // next barrier.
  std::vector<std::map<std::pair<std::uintptr_t, unsigned>, CopyRequest>> plain_requests;
  // cp.async destinations per warp, by the issuing lane's count: (lane, address).
  // By warp and the issuing lane's cp.async count.
  std::vector<std::vector<CopyRequest>> cp_async_requests;
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
// The same, from the instruction at `pc` (0: an emulated instruction's access).
void record_access_at(std::uintptr_t addr, std::size_t size, bool write, std::uintptr_t pc);
// Whether race checking was compiled into this binary (set by __tsan_init).
extern bool g_race_check_compiled;
// record_access in a race-check build, null otherwise: accesses made by the
// runtime's emulated instructions on a thread's behalf (ptx.cpp).
extern void (*g_access_hook)(std::uintptr_t addr, std::size_t size, bool write);
// After b.fail(): suspends the calling thread for good (the scheduler unwinds it).
[[noreturn]] void stop_after_failure();

// The calling OS thread's TLS block of the module holding the kernels
// (static __shared__ variables and the dynamic shared buffer live in it).
struct TlsRange {
  std::uintptr_t begin = 0, end = 0;
};
const TlsRange& kernel_tls_range();
// Where a shared-memory address is, in words ("dynamic shared memory offset N").
std::string shared_location(std::uintptr_t a);
// cp.async checks (kernels/simt/ptx.cpp): an access to bytes a copy in flight
// will write fails the block, naming the copy. `what`: "reads", "writes", "ldmatrix reads".
void check_in_flight(Block& b, const Thread& t, std::uintptr_t addr, std::size_t size,
                     const char* what);
// Adds the block's cp.async bank counts and its tallies to the per-kernel totals.
void finish_block_stats(Block& b);
// A plain shared-memory access at instruction `pc` (race-check builds), and
// the requests of the accesses since the last barrier counted (at a barrier).
void count_plain_access(Block& b, Thread& t, std::uintptr_t addr, std::size_t size,
                        std::uintptr_t pc);
void flush_plain_requests(Block& b);
// Wavefronts of one shared-memory request: accesses of `bytes` each by the
// lanes in `lanes`, lane l's at addr[l] (kernels/simt/ptx.cpp).
BankTally wavefronts(const std::uintptr_t* addr, std::uint32_t lanes, unsigned bytes);
// True if [p, p + n) lies inside one device allocation (runtime.cpp).
bool device_range(const void* p, std::size_t n);

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
