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
// votes) completed between their accesses.
#include <link.h>

#include <fmt/format.h>

#include "kernels/simt/state.hpp"

namespace simt::detail {
namespace {

// This OS thread's TLS block of the module holding the kernels: static
// __shared__ variables (static thread_local) and the dynamic shared buffer.
struct TlsRange {
  std::uintptr_t begin = 0, end = 0;
};

TlsRange find_tls_range() {
  TlsRange r;
  const auto probe = std::uintptr_t(dynamic_shared_base());
  struct Ctx {
    std::uintptr_t probe;
    TlsRange* r;
  } ctx{probe, &r};
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        auto* c = static_cast<Ctx*>(data);
        if (!info->dlpi_tls_data) return 0;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          if (info->dlpi_phdr[i].p_type != PT_TLS) continue;
          const auto b = std::uintptr_t(info->dlpi_tls_data);
          const auto e = b + info->dlpi_phdr[i].p_memsz;
          if (c->probe >= b && c->probe < e) {
            c->r->begin = b;
            c->r->end = e;
            return 1;
          }
        }
        return 0;
      },
      &ctx);
  return r;
}

thread_local TlsRange t_tls;

std::string where(std::uintptr_t a) {
  const auto dyn = std::uintptr_t(dynamic_shared_base());
  if (a >= dyn && a < dyn + k_dynamic_shared_capacity) {
    return fmt::format("dynamic shared memory offset {}", a - dyn);
  }
  return fmt::format("static __shared__ memory offset {}", a - t_tls.begin);
}

void report(Block& b, const Thread& me, int other, bool me_writes, bool other_wrote,
            std::uintptr_t addr) {
  if (!b.races || int(b.races->size()) >= b.max_races) return;
  const Thread& o = b.threads[std::size_t(other)];
  b.races->push_back(fmt::format(
      "race in {}: {} {} and {} {} {} between the barrier at {}:{} and the next one",
      describe(b), describe(b, o), other_wrote ? "writes" : "reads", describe(b, me),
      me_writes ? "writes" : "reads", where(addr), b.barrier_file, b.barrier_line));
  b.fail(b.races->back());
}

}  // namespace

void record_access(std::uintptr_t addr, std::size_t size, bool write) {
  Block* b = t_block;
  const Thread* t = t_thread;
  if (!b || !t || !b->race_check) return;
  if (t_tls.begin == 0) t_tls = find_tls_range();
  if (addr < t_tls.begin || addr >= t_tls.end) return;  // not shared memory
  const int me = int(t->linear);
  const unsigned gen = b->warps[std::size_t(me / 32)].gen;
  // Another thread's access is ordered before mine if it is mine, or if it
  // came from my warp before a warp collective completed since.
  auto ordered = [&](int other, unsigned epoch) {
    return other == me || (other / 32 == me / 32 && gen != epoch);
  };
  for (std::size_t i = 0; i < size; ++i) {
    Cell& c = b->shadow[addr + i];
    if (c.writer >= 0 && !ordered(c.writer, c.writer_epoch)) {
      report(*b, *t, c.writer, write, true, addr + i);
      return;
    }
    if (write && c.reader >= 0 && !ordered(c.reader, c.reader_epoch)) {
      report(*b, *t, c.reader, true, false, addr + i);
      return;
    }
    if (write) {
      c.writer = me;
      c.writer_epoch = gen;
    } else if (c.reader < 0 || ordered(c.reader, c.reader_epoch)) {
      c.reader = me;
      c.reader_epoch = gen;
    }
  }
}

}  // namespace simt::detail

// ---- The instrumentation's entry points.
using simt::detail::record_access;

extern "C" {
void __tsan_init() { simt::detail::g_race_check_compiled = true; }
void __tsan_func_entry(void*) {}
void __tsan_func_exit() {}
void __tsan_vptr_update(void**, void*) {}
void __tsan_vptr_read(void**) {}
#define SIMT_TSAN_ACCESS(n)                                                              \
  void __tsan_read##n(void* p) { record_access(std::uintptr_t(p), n, false); }           \
  void __tsan_write##n(void* p) { record_access(std::uintptr_t(p), n, true); }           \
  void __tsan_unaligned_read##n(void* p) { record_access(std::uintptr_t(p), n, false); } \
  void __tsan_unaligned_write##n(void* p) { record_access(std::uintptr_t(p), n, true); } \
  void __tsan_volatile_read##n(void* p) { record_access(std::uintptr_t(p), n, false); }  \
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
