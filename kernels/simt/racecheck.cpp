// Race check: a shared-memory data race detector for kernels run by simt.
//
// A race-check build compiles the kernel's translation unit with GCC's
// -fsanitize=thread instrumentation but links this file instead of the
// ThreadSanitizer runtime: every load and store of kernel code calls the
// __tsan_* entry points below. Written by hand because ThreadSanitizer's own
// reports cannot name CUDA threads, blocks and shared-memory offsets.
//
// Rule: between two __syncthreads of a block, two different threads touching
// the same shared-memory byte, at least one of them writing, is a race.
// Threads of one warp are ordered by a warp collective (__syncwarp, shuffles,
// votes) completed between their accesses. The first race of a block is
// reported and fails the launch.
#include <fmt/format.h>

#include "kernels/simt/state.hpp"

namespace simt::detail {
namespace {

void report(Block& b, const Thread& me, int other, bool me_writes, bool other_wrote,
            std::uintptr_t addr) {
  const Thread& o = b.threads[std::size_t(other)];
  std::string why = fmt::format(
      "race in {}: {} {} and {} {} {} {}", describe(b), describe(b, o),
      other_wrote ? "writes" : "reads", describe(b, me), me_writes ? "writes" : "reads",
      shared_location(addr),
      b.barrier_line == 0
          ? std::string("since the kernel's start, before any __syncthreads")
          : fmt::format("between the __syncthreads at {}:{} and the next one", b.barrier_file,
                        b.barrier_line));
  // The launch fails even when no more reports are kept (Config::max_race_reports).
  if (b.races && int(b.races->size()) < b.max_races) b.races->push_back(why);
  b.fail(std::move(why));
}

// An access to a byte: the thread (linear id) and its warp's count of
// completed collectives at the time.
struct Access {
  int thread = -1;
  unsigned epoch = 0;
};

// A second reader of each byte, beside Cell::reader (both since the block's
// last barrier). A write races with a read unless both are by one thread or
// by one warp with a warp collective completed between them; keeping two
// readers chosen as below finds such a read whenever one exists, so
// that a write is checked against every read, not just the first (thread 0
// reads, warp 1 reads, __syncwarp, thread 0 writes: a race with warp 1).
// Entries are reset when the byte's Cell is created after a barrier.
thread_local std::unordered_map<std::uintptr_t, Access> t_second_reader;

}  // namespace

void record_access_at(std::uintptr_t addr, std::size_t size, bool write, std::uintptr_t pc) {
  Block* b = t_block;
  Thread* t = t_thread;
  if (!b || !t || !b->race_check || !b->failure.empty()) return;
  const TlsRange& tls = kernel_tls_range();
  if (addr < tls.begin || addr >= tls.end) return;  // not shared memory
  // The runtime's view pointer, read by every use of threadIdx and the like
  // (read only: it never races), is the most frequent access by far.
  if (addr == std::uintptr_t(&t_view)) return;
  if (b->in_flight > 0) {
    check_in_flight(*b, *t, addr, size, write ? "writes" : "reads");
    if (!b->failure.empty()) return;
  }
  if (pc != 0 && b->count_banks) count_plain_access(*b, *t, addr, size, pc);
  const int me = int(t->linear);
  const unsigned gen = b->warps[std::size_t(me / 32)].gen;
  // An access is ordered before mine if it is mine, or if it came from my
  // warp before a warp collective completed since.
  auto ordered = [&](const Access& a) {
    return a.thread == me || (a.thread / 32 == me / 32 && gen != a.epoch);
  };
  for (std::size_t i = 0; i < size; ++i) {
    auto [it, fresh] = b->shadow.try_emplace(addr + i);
    Cell& c = it->second;
    Access& second = t_second_reader[addr + i];
    if (fresh) second = Access{};
    const Access writer{c.writer, c.writer_epoch};
    const Access first{c.reader, c.reader_epoch};
    if (writer.thread >= 0 && !ordered(writer)) {
      report(*b, *t, writer.thread, write, true, addr + i);
      return;
    }
    if (write) {
      for (const Access& r : {first, second}) {
        if (r.thread >= 0 && !ordered(r)) {
          report(*b, *t, r.thread, true, false, addr + i);
          return;
        }
      }
      // The previous writer is ordered before this one, so is everything
      // ordered before it.
      c.writer = me;
      c.writer_epoch = gen;
      continue;
    }
    // Add this read to the two kept. A later write races with some read iff it
    // races with one of the two kept if they are (1) from two warps (a write
    // races with every read of another warp), or else (2) the two latest
    // threads of the one warp (reads older than the warp's last collective are
    // ordered before every later access of that warp).
    const Access now{me, gen};
    if (first.thread < 0 || first.thread == me) {
      c.reader = me;
      c.reader_epoch = gen;
    } else if (second.thread < 0 || second.thread == me) {
      second = now;
    } else if (first.thread / 32 != second.thread / 32) {
      // (1) already: keep both.
    } else if (first.thread / 32 != me / 32) {
      second = now;  // (1) with the first
    } else if (first.epoch != gen) {
      c.reader = me;  // (2), all three in one warp: drop a read older than the last collective
      c.reader_epoch = gen;
    } else {
      second = now;  // (2): the first is current; keep it and this one
    }
  }
}

void record_access(std::uintptr_t addr, std::size_t size, bool write) {
  record_access_at(addr, size, write, 0);
}

}  // namespace simt::detail

// ---- The instrumentation's entry points (the return address names the
// access site, for the bank-conflict counts of plain accesses).
using simt::detail::record_access;
using simt::detail::record_access_at;
#define SIMT_PC std::uintptr_t(__builtin_return_address(0))

extern "C" {
void __tsan_init() {
  simt::detail::g_race_check_compiled = true;
  simt::detail::g_access_hook = record_access;
}
void __tsan_func_entry(void*) {}
void __tsan_func_exit() {}
void __tsan_vptr_update(void**, void*) {}
void __tsan_vptr_read(void**) {}
#define SIMT_TSAN_ACCESS(n)                                                              \
  void __tsan_read##n(void* p) { record_access_at(std::uintptr_t(p), n, false, SIMT_PC); }     \
  void __tsan_write##n(void* p) { record_access_at(std::uintptr_t(p), n, true, SIMT_PC); }     \
  void __tsan_unaligned_read##n(void* p) {                                                     \
    record_access_at(std::uintptr_t(p), n, false, SIMT_PC);                                    \
  }                                                                                            \
  void __tsan_unaligned_write##n(void* p) {                                                    \
    record_access_at(std::uintptr_t(p), n, true, SIMT_PC);                                     \
  }                                                                                            \
  void __tsan_volatile_read##n(void* p) { record_access(std::uintptr_t(p), n, false); }        \
  void __tsan_volatile_write##n(void* p) { record_access(std::uintptr_t(p), n, true); }
SIMT_TSAN_ACCESS(1)
SIMT_TSAN_ACCESS(2)
SIMT_TSAN_ACCESS(4)
SIMT_TSAN_ACCESS(8)
SIMT_TSAN_ACCESS(16)
#undef SIMT_TSAN_ACCESS
void __tsan_read_range(void* p, unsigned long n) { record_access(std::uintptr_t(p), n, false); }
void __tsan_write_range(void* p, unsigned long n) { record_access(std::uintptr_t(p), n, true); }
}
