// Block execution: one fiber per CUDA thread, barriers and warp collectives
// as fiber switches, blocks spread over a pool of worker OS threads.
//
// Fibers are Boost.Context's (fcontext): a measured round trip of ~8 ns on
// this machine kind against ~320 ns for ucontext (which saves the signal mask
// with a system call), see `attncheck simt-bench`.
#include <sys/mman.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <numeric>
#include <thread>

#include "kernels/simt/state.hpp"

namespace simt {
namespace detail {

thread_local const ThreadView* t_view = nullptr;
thread_local Block* t_block = nullptr;
thread_local Thread* t_thread = nullptr;
bool g_race_check_compiled = false;

namespace {

// The default configuration, from ATTNCHECK_SIMT_SCHEDULE (simt.hpp).
Config config_from_environment() {
  Config c;
  const char* env = std::getenv("ATTNCHECK_SIMT_SCHEDULE");
  if (!env || !*env) return c;
  const std::string s = env;
  if (s == "deterministic") return c;
  if (s == "random" || s.rfind("random:", 0) == 0) {
    c.schedule = Schedule::Random;
    c.reseed_per_launch = true;
    if (s != "random") {
      const std::string digits = s.substr(7);
      char* end = nullptr;
      errno = 0;
      const unsigned long long seed = std::strtoull(digits.c_str(), &end, 10);
      if (digits.empty() || !std::isdigit(static_cast<unsigned char>(digits[0])) || *end != '\0' ||
          errno == ERANGE) {
        std::fprintf(stderr,
                     "simt: ATTNCHECK_SIMT_SCHEDULE=%s: the seed after 'random:' must be a "
                     "non-negative integer\n",
                     env);
        std::exit(2);
      }
      c.seed = seed;
    }
    return c;
  }
  std::fprintf(stderr,
               "simt: ATTNCHECK_SIMT_SCHEDULE=%s: expected 'deterministic', 'random' or "
               "'random:SEED'\n",
               env);
  std::exit(2);
}

std::mutex g_config_mutex;
Config g_config = config_from_environment();
// Launches so far (Config::reseed_per_launch).
std::atomic<std::uint64_t> g_launches{0};
// Of the last launch made by this OS thread (launches from several threads
// run at once).
thread_local std::string t_last_failure;
thread_local std::vector<std::string> t_last_races;

// ---- Fiber stacks: mmap'ed with a guard page, kept in one process-wide
// pool and reused by every thread that runs blocks. The sequence-parallel
// variants launch from short-lived rank threads: a per-thread pool mapped
// and unmapped 64 stacks per rank per case (mmap, first-touch page faults
// and munmap were a fifth of a ring-cp8-flash case).
struct StackPool {
  std::mutex m;
  std::size_t size = 0;
  std::vector<void*> free;  // bases (guard page first)
  ~StackPool() {
    for (void* p : free) {
#if defined(__SANITIZE_ADDRESS__)
      // Fibers left stack redzones in the shadow of this memory; unmapping
      // does not clear them, and a later mapping at the same address (a new
      // thread's stack and static TLS, where simt's __shared__ lives) would
      // inherit them as false stack-buffer-overflows.
      ASAN_UNPOISON_MEMORY_REGION(p, size + page());
#endif
      munmap(p, size + page());
    }
  }
  static std::size_t page() {
    static const std::size_t p = std::size_t(sysconf(_SC_PAGESIZE));
    return p;
  }
  // A stack of `bytes` (guard page below it): a pooled one or a new mapping.
  void* take(std::size_t bytes) {
    {
      std::lock_guard<std::mutex> l(m);
      if (size != bytes) {
        // Another stack size was configured: stacks of the old size still in
        // use are unmapped when they come back (give()).
        for (void* p : free) release(p, size);
        free.clear();
        size = bytes;
      }
      if (!free.empty()) {
        void* base = free.back();
        free.pop_back();
        return base;
      }
    }
    void* base = mmap(nullptr, bytes + page(), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    mprotect(base, page(), PROT_NONE);  // overflow faults instead of corrupting
    return base;
  }
  void give(void* base, std::size_t bytes) {
    std::lock_guard<std::mutex> l(m);
    if (bytes != size) {
      release(base, bytes);
      return;
    }
    free.push_back(base);
  }
  static void release(void* base, std::size_t bytes) {
#if defined(__SANITIZE_ADDRESS__)
    ASAN_UNPOISON_MEMORY_REGION(base, bytes + page());
#endif
    munmap(base, bytes + page());
  }
};
StackPool g_stacks;

// Each thread keeps the stacks its blocks released, so that making a block's
// fibers takes no lock; they go back to the pool when the thread ends.
struct LocalStacks {
  std::size_t size = 0;
  std::vector<void*> free;
  ~LocalStacks() {
    for (void* p : free) g_stacks.give(p, size);
  }
};
thread_local LocalStacks t_stacks;

struct PooledStack {
  std::size_t size;
  Thread* owner = nullptr;  // told its stack bounds (AddressSanitizer annotations)
  boost::context::stack_context allocate() {
    void* base;
    if (t_stacks.size == size && !t_stacks.free.empty()) {
      base = t_stacks.free.back();
      t_stacks.free.pop_back();
    } else {
      base = g_stacks.take(size);
    }
    boost::context::stack_context sc;
    sc.size = size;
    sc.sp = static_cast<char*>(base) + StackPool::page() + size;
    if (owner) {
      owner->stack_bottom = static_cast<char*>(base) + StackPool::page();
      owner->stack_size = size;
    }
    return sc;
  }
  void deallocate(boost::context::stack_context& sc) noexcept {
    void* base = static_cast<char*>(sc.sp) - sc.size - StackPool::page();
    if (t_stacks.size != sc.size) {
      for (void* p : t_stacks.free) g_stacks.give(p, t_stacks.size);
      t_stacks.free.clear();
      t_stacks.size = sc.size;
    }
    t_stacks.free.push_back(base);
  }
};

// ---- Worker pool: persistent OS threads that run the blocks of a launch.
class Pool {
 public:
  explicit Pool(int n) {
    for (int i = 0; i < n; ++i) workers_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int size() const { return int(workers_.size()) + 1; }
  // Runs job(worker) on every pool thread and the caller; returns when all did.
  void run(const std::function<void()>& job) {
    {
      std::lock_guard<std::mutex> l(m_);
      job_ = &job;
      pending_ = int(workers_.size());
      ++epoch_;
    }
    cv_.notify_all();
    job();
    std::unique_lock<std::mutex> l(m_);
    done_cv_.wait(l, [this] { return pending_ == 0; });
    job_ = nullptr;
  }

 private:
  void loop() {
    unsigned long seen = 0;
    for (;;) {
      const std::function<void()>* job;
      {
        std::unique_lock<std::mutex> l(m_);
        cv_.wait(l, [&] { return stop_ || epoch_ != seen; });
        if (stop_) return;
        seen = epoch_;
        job = job_;
      }
      (*job)();
      std::lock_guard<std::mutex> l(m_);
      if (--pending_ == 0) done_cv_.notify_all();
    }
  }
  std::vector<std::thread> workers_;
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  const std::function<void()>* job_ = nullptr;
  int pending_ = 0;
  unsigned long epoch_ = 0;
  bool stop_ = false;
};

Pool& pool_for(int workers) {
  static std::mutex m;
  static std::unique_ptr<Pool> pool;
  std::lock_guard<std::mutex> l(m);
  if (!pool || pool->size() != workers) {
    pool.reset();
    pool = std::make_unique<Pool>(workers - 1);
  }
  return *pool;
}

// Thrown at a suspended thread's switch point to unwind it after its block
// failed (instead of Boost's forced unwind, so every switch stays annotated).
struct Abandon {};

// AddressSanitizer must be told about every switch between stacks; no-ops
// in other builds.
thread_local const void* t_os_stack_bottom = nullptr;
thread_local std::size_t t_os_stack_size = 0;

void asan_start(void** fake, const void* bottom, std::size_t size) {
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_start_switch_fiber(fake, bottom, size);
#else
  (void)fake, (void)bottom, (void)size;
#endif
}

void asan_finish(void* fake, const void** bottom, std::size_t* size) {
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(fake, bottom, size);
#else
  (void)fake, (void)bottom, (void)size;
#endif
}

// Scheduler -> thread t, until it yields or ends.
void resume(Thread& t) {
  void* fake = nullptr;
  asan_start(&fake, t.stack_bottom, t.stack_size);
  t.fiber = std::move(t.fiber).resume();
  asan_finish(fake, nullptr, nullptr);
}

// Thread -> scheduler; returns when the scheduler resumes it.
void yield_to_scheduler() {
  Thread* t = t_thread;
  asan_start(&t->fake_stack, t_os_stack_bottom, t_os_stack_size);
  t->back = std::move(t->back).resume();
  asan_finish(t->fake_stack, &t_os_stack_bottom, &t_os_stack_size);
  if (t_block->abandoning) throw Abandon{};
}

std::string site(const char* file, unsigned line) { return fmt::format("{}:{}", file, line); }

uint3 unflatten(unsigned i, dim3 d) {
  return uint3{i % d.x, (i / d.x) % d.y, i / (d.x * d.y)};
}

// Runs one block to completion (or failure) on the calling OS thread.
void run_block(const char* kernel, dim3 grid, dim3 block, unsigned linear_block,
               std::size_t shared_bytes, void (*body)(const void*), const void* closure,
               const Config& cfg, std::vector<std::string>* races, bool race_check) {
  Block b;
  b.kernel = kernel;
  b.shared_bytes = shared_bytes;
  b.dynamic_base = std::uintptr_t(dynamic_shared_base());
  b.count_banks = cfg.count_bank_conflicts;
  b.idx = unflatten(linear_block, grid);
  const unsigned n = block.x * block.y * block.z;
  b.threads.resize(n);
  b.warps.resize((n + 31) / 32);
  b.race_check = race_check;
  b.races = races;
  b.max_races = cfg.max_race_reports;
  t_block = &b;
  for (unsigned i = 0; i < n; ++i) {
    Thread& t = b.threads[i];
    t.linear = i;
    t.view = ThreadView{unflatten(i, block), b.idx, block, grid};
  }
  // A thread's fiber is made when it first runs: a thread that ends without
  // waiting (every thread of a block with nothing to do, or a kernel without
  // barriers) hands its stack, still in cache, to the next one.
  auto start = [&](Thread& t) {
    t.fiber = boost::context::fiber(
        std::allocator_arg, PooledStack{cfg.stack_bytes, &t},
        [&t, &b, body, closure](boost::context::fiber&& sched) {
          asan_finish(nullptr, &t_os_stack_bottom, &t_os_stack_size);
          t.back = std::move(sched);
          try {
            if (!b.abandoning) body(closure);
          } catch (const Abandon&) {
            // unwound after the block failed
          } catch (const std::exception& e) {
            b.fail(fmt::format("{}: exception: {}", describe(b, t), e.what()));
          } catch (...) {
            b.fail(fmt::format("{}: unknown exception", describe(b, t)));
          }
          t.state = State::Done;
          asan_start(nullptr, t_os_stack_bottom, t_os_stack_size);  // this stack ends
          return std::move(t.back);
        });
  };
  std::vector<unsigned> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::mt19937_64 rng(cfg.seed * 0x9E3779B97F4A7C15ull + linear_block);
  const bool random = cfg.schedule == Schedule::Random;

  for (;;) {
    if (random) std::shuffle(order.begin(), order.end(), rng);
    bool ran = false;
    for (unsigned i : order) {
      Thread& t = b.threads[i];
      if (t.state != State::Runnable) continue;
      ran = true;
      if (!t.fiber) start(t);  // Runnable with no fiber: never run (an ended thread is Done)
      t_thread = &t;
      t_view = &t.view;
      resume(t);
      t_thread = nullptr;
      t_view = nullptr;
      if (!b.failure.empty()) break;
    }
    if (!b.failure.empty()) break;
    unsigned done = 0, at_warp = 0;
    const Thread* first_done = nullptr;
    const Thread* first_warp = nullptr;
    for (const Thread& t : b.threads) {
      if (t.state == State::Done && !first_done) first_done = &t;
      if (t.state == State::AtWarp && !first_warp) first_warp = &t;
      done += t.state == State::Done;
      at_warp += t.state == State::AtWarp;
    }
    if (done == n) break;
    if (ran) continue;  // a barrier may have been released by the last pass
    // Nothing can run: either the block barrier completes, or the block is stuck.
    if (b.at_barrier > 0 && at_warp == 0) {
      const Thread* first = nullptr;
      for (const Thread& t : b.threads) {
        if (t.state != State::AtBarrier) continue;
        if (!first) first = &t;
        if (t.file != first->file || t.line != first->line) {
          b.fail(fmt::format("{}: divergent __syncthreads: {} waits at {} while {} waits at {}",
                             describe(b), describe(b, *first), site(first->file, first->line),
                             describe(b, t), site(t.file, t.line)));
          break;
        }
      }
      if (!b.failure.empty()) break;
      if (done > 0) {
        b.fail(fmt::format(
            "{}: barrier divergence: {} exited while {} thread(s) wait at __syncthreads at {}",
            describe(b), describe(b, *first_done), b.at_barrier, site(first->file, first->line)));
        break;
      }
      for (Thread& t : b.threads) t.state = State::Runnable;
      b.at_barrier = 0;
      b.barrier_file = first->file;
      b.barrier_line = first->line;
      b.shadow.clear();  // accesses before the barrier are ordered before those after
      if (b.count_banks) flush_plain_requests(b);
      continue;
    }
    if (!first_warp) {  // cannot happen: nothing runnable, no barrier, not all done
      b.fail(fmt::format("{}: no thread can run and none waits (simt internal error)", describe(b)));
      break;
    }
    const Thread& w = *first_warp;
    const WarpGroup& warp = b.warps[w.linear / 32].groups[std::size_t(w.warp_group)];
    b.fail(fmt::format(
        "{}: deadlock: {} waits at a warp collective at {} (mask {:#010x}, arrived {:#010x}) "
        "that the other lanes never reach{}",
        describe(b), describe(b, w), site(w.file, w.line), warp.mask, warp.arrived,
        b.at_barrier ? " (some wait at __syncthreads instead)" : " (they exited)"));
    break;
  }
  // Unwind the threads still suspended (after a failure): each throws Abandon
  // at its switch point and ends.
  b.abandoning = true;
  for (Thread& t : b.threads) {
    if (!t.fiber) continue;
    t_thread = &t;
    t_view = &t.view;
    resume(t);
  }
  t_thread = nullptr;
  t_view = nullptr;
  t_block = nullptr;
  finish_block_stats(b);
  if (!b.failure.empty()) throw std::runtime_error(b.failure);
}

}  // namespace

std::string describe(const Block& b) {
  return fmt::format("kernel {} block ({},{},{})", b.kernel, b.idx.x, b.idx.y, b.idx.z);
}

std::string describe(const Block&, const Thread& t) {
  return fmt::format("thread ({},{},{})", t.view.thread_idx.x, t.view.thread_idx.y,
                     t.view.thread_idx.z);
}

unsigned lane_id() { return t_thread->linear % 32; }

void stop_after_failure() {
  yield_to_scheduler();  // resumed only to unwind: throws Abandon
  throw Abandon{};
}

void sync_block(const char* file, unsigned line) {
  Thread* t = t_thread;
  t->state = State::AtBarrier;
  t->file = file;
  t->line = line;
  ++t_block->at_barrier;
  yield_to_scheduler();
}

const unsigned char* warp_exchange(unsigned mask, const void* in, std::size_t bytes,
                                   const char* file, unsigned line) {
  Thread* t = t_thread;
  Block* b = t_block;
  Warp& w = b->warps[t->linear / 32];
  const unsigned lane = t->linear % 32;
  if (!(mask >> lane & 1u)) {
    b->fail(fmt::format("{}: {} calls a warp collective at {} with mask {:#010x} that excludes "
                        "its own lane {}",
                        describe(*b), describe(*b, *t), site(file, line), mask, lane));
    yield_to_scheduler();  // never resumed: the block has failed
  }
  // The group of this mask. Lanes may wait in collectives of different masks
  // at once (divergent branches, or a lane that finished its group's
  // collective and reached the next one); lanes that never meet show up as a
  // deadlock in the scheduler.
  int gi = -1;
  for (std::size_t k = 0; k < w.groups.size(); ++k) {
    if (w.groups[k].mask == mask) gi = int(k);
  }
  if (gi < 0) {
    w.groups.emplace_back();
    w.groups.back().mask = mask;
    gi = int(w.groups.size()) - 1;
  }
  WarpGroup& g = w.groups[std::size_t(gi)];
  // Lanes of a partial last warp do not exist: a full mask means "every lane".
  const unsigned n = unsigned(b->threads.size());
  const unsigned first = (t->linear / 32) * 32;
  const unsigned existing = n - first >= 32 ? 0xffffffffu : (1u << (n - first)) - 1;
  const unsigned need = mask & existing;
  const unsigned gen = g.gen;
  if (bytes) std::memcpy(g.buf[gen & 1][lane], in, bytes);
  g.file = file;
  g.line = line;
  g.arrived |= 1u << lane;
  if ((g.arrived & need) == need) {
    // Last lane in: release the others and go on.
    g.arrived = 0;
    ++g.gen;
    ++w.gen;
    for (unsigned l = 0; l < 32; ++l) {
      const unsigned i = first + l;
      if ((need >> l & 1u) && i != t->linear && b->threads[i].state == State::AtWarp) {
        b->threads[i].state = State::Runnable;
      }
    }
  } else {
    t->state = State::AtWarp;
    t->file = file;
    t->line = line;
    t->warp_gen = gen;
    t->warp_group = gi;
    yield_to_scheduler();
  }
  t->last_group = gi;
  t->last_gen = gen;
  return g.buf[gen & 1][0];
}

WarpResult warp_result() {
  const Thread* t = t_thread;
  WarpGroup& g = t_block->warps[t->linear / 32].groups[std::size_t(t->last_group)];
  const unsigned gen = t->last_gen;
  WarpResult r;
  r.out = g.result[gen & 1][0];
  r.compute = g.result_gen[gen & 1] != gen + 1;
  g.result_gen[gen & 1] = gen + 1;
  return r;
}

void sync_warp(unsigned mask, const char* file, unsigned line) {
  warp_exchange(mask, nullptr, 0, file, line);
}

void launch_impl(const char* name, const void* kernel, dim3 grid, dim3 block,
                 std::size_t shared_bytes, cudaStream_t, void (*body)(const void*),
                 const void* closure) {
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 ||
      grid.z == 0 || grid.y > 65535 || grid.z > 65535) {
    set_error(cudaErrorInvalidConfiguration);
    return;
  }
  if (shared_bytes > max_dynamic_shared(kernel)) {
    set_error(cudaErrorInvalidValue);
    return;
  }
  Config cfg = config();
  const bool random = cfg.schedule == Schedule::Random;
  if (random && cfg.reseed_per_launch) {
    cfg.seed = cfg.seed * 0xD1B54A32D192ED03ull + g_launches.fetch_add(1) + 1;
  }
  const unsigned blocks = grid.x * grid.y * grid.z;
  // The order blocks are taken in: index order, or a seeded permutation under
  // Schedule::Random (a GPU runs blocks in any order).
  std::vector<unsigned> block_order(blocks);
  std::iota(block_order.begin(), block_order.end(), 0u);
  if (random) {
    std::mt19937_64 rng(cfg.seed ^ 0x6A09E667F3BCC909ull);
    std::shuffle(block_order.begin(), block_order.end(), rng);
  }
  const int hw = int(std::max(1u, std::thread::hardware_concurrency()));
  const int workers = int(std::min<unsigned>(blocks, unsigned(cfg.workers > 0 ? cfg.workers : hw)));
  std::atomic<unsigned> next{0};
  std::mutex m;
  std::vector<std::pair<unsigned, std::string>> failures;
  std::vector<std::string> races;
  const bool race_check = g_race_check_compiled;
  std::function<void()> job = [&] {
    std::vector<std::string> local_races;
    for (unsigned k; (k = next.fetch_add(1)) < blocks;) {
      const unsigned i = block_order[k];
      try {
        run_block(name, grid, block, i, shared_bytes, body, closure, cfg, &local_races, race_check);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> l(m);
        failures.emplace_back(i, e.what());
      }
    }
    std::lock_guard<std::mutex> l(m);
    races.insert(races.end(), local_races.begin(), local_races.end());
  };
  if (workers <= 1) {
    job();  // on the launching thread: launches from several threads run at once
  } else {
    // One launch at a time uses the worker pool; others wait their turn.
    static std::mutex pool_launch;
    std::lock_guard<std::mutex> turn(pool_launch);
    pool_for(workers).run(job);
  }
  std::sort(failures.begin(), failures.end());  // the lowest block's failure, deterministically
  std::sort(races.begin(), races.end());
  // Each worker kept up to the bound: the bound is per launch.
  if (races.size() > std::size_t(std::max(cfg.max_race_reports, 0))) {
    races.resize(std::size_t(std::max(cfg.max_race_reports, 0)));
  }
  t_last_failure = failures.empty() ? std::string() : failures.front().second;
  t_last_races = races;
  if (!failures.empty()) set_error(cudaErrorLaunchFailure);
}

}  // namespace detail

void set_config(const Config& c) {
  std::lock_guard<std::mutex> l(detail::g_config_mutex);
  detail::g_config = c;
}

Config config() {
  std::lock_guard<std::mutex> l(detail::g_config_mutex);
  return detail::g_config;
}

std::string last_failure() { return detail::t_last_failure; }

std::vector<std::string> last_races() { return detail::t_last_races; }

bool race_check_enabled() { return detail::g_race_check_compiled; }

double fiber_round_trip_ns(int iterations) {
  namespace ctx = boost::context;
  ctx::fiber f(std::allocator_arg, detail::PooledStack{64 << 10, nullptr}, [](ctx::fiber&& back) {
    for (;;) back = std::move(back).resume();
    return std::move(back);
  });
  for (int i = 0; i < 1000; ++i) f = std::move(f).resume();  // warm up
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) f = std::move(f).resume();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / iterations;
}

}  // namespace simt
