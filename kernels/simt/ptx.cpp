// simt's emulation of the tensor-core and asynchronous-copy instructions of
// kernels/simt/ptx.hpp (mma.sync m16n8k16, ldmatrix, cp.async with its commit
// and wait groups), and the shared-memory bank-conflict counts. Written by
// hand from the PTX ISA's definitions: no packaged library executes PTX on a
// CPU. The definitions each function follows are in ptx.hpp.
#include "kernels/simt/ptx.hpp"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <fmt/format.h>
#include <link.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "kernels/simt/state.hpp"

namespace simt::detail {

void (*g_access_hook)(std::uintptr_t, std::size_t, bool) = nullptr;

namespace {

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

std::mutex g_stats_mutex;
std::map<std::string, SharedMemoryStats> g_stats;

void add(BankCounts& to, const BankTally& t) {
  to.requests += t.requests;
  to.wavefronts += t.wavefronts;
  to.ideal += t.ideal;
}
void add(BankTally& to, const BankTally& t) {
  to.requests += t.requests;
  to.wavefronts += t.wavefronts;
  to.ideal += t.ideal;
}

std::string site(const char* file, unsigned line) { return fmt::format("{}:{}", file, line); }

// Fails the block at an instruction of the calling thread and leaves it.
[[noreturn]] void fail_here(Block& b, const Thread& t, const char* instr, const char* file,
                            unsigned line, const std::string& why) {
  b.fail(fmt::format("{}: {} at {} ({}): {}", describe(b), describe(b, t), site(file, line), instr,
                     why));
  stop_after_failure();
}

bool in_dynamic(const Block& b, std::uintptr_t a, std::size_t n) {
  const auto base = b.dynamic_base;
  return a >= base && a + n <= base + b.shared_bytes;
}

// Inside the launch's dynamic shared memory, or a static __shared__ variable
// (the kernels' module TLS outside the dynamic buffer).
bool in_shared(const Block& b, std::uintptr_t a, std::size_t n) {
  if (in_dynamic(b, a, n)) return true;
  const auto base = b.dynamic_base;
  const TlsRange& tls = kernel_tls_range();
  const bool in_tls = a >= tls.begin && a + n <= tls.end;
  const bool touches_dynamic = a < base + k_dynamic_shared_capacity && a + n > base;
  return in_tls && !touches_dynamic;
}

// The in-flight copy slot of the 4-byte word at `a` (0: none).
std::uint32_t* pending_slot(Block& b, std::uintptr_t a, bool create) {
  const auto base = b.dynamic_base;
  if (a >= base && a < base + k_dynamic_shared_capacity) {
    if (!b.pending_dynamic) {
      if (!create) return nullptr;
      // One per OS thread, all zero between blocks (finish_block_stats).
      thread_local std::vector<std::uint32_t> words(k_dynamic_shared_capacity / 4, 0);
      b.pending_dynamic = words.data();
    }
    return &b.pending_dynamic[(a - base) / 4];
  }
  if (!create) {
    auto it = b.pending_static.find(a / 4);
    return it == b.pending_static.end() ? nullptr : &it->second;
  }
  return &b.pending_static[a / 4];
}

void deliver(Block& b, unsigned id) {
  AsyncCopy& c = b.copies[id];
  if (c.src_bytes) std::memcpy(c.dst, c.src, c.src_bytes);
  if (c.bytes > c.src_bytes) std::memset(c.dst + c.src_bytes, 0, c.bytes - c.src_bytes);
  const auto a = std::uintptr_t(c.dst);
  for (std::uintptr_t w = a / 4; w <= (a + c.bytes - 1) / 4; ++w) {
    if (std::uint32_t* s = pending_slot(b, w * 4, false); s && *s == id + 1) *s = 0;
  }
  c.delivered = true;
  // Nothing in flight: no thread or shared word names a copy any more.
  if (--b.in_flight == 0) b.copies.clear();
  // The copy lands now: a write by the issuing thread (the caller) for the race check.
  if (b.race_check && g_access_hook) g_access_hook(a, c.bytes, true);
}

float float_bits(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// A 16-bit element as float (exact). float16: exponent and mantissa moved
// into float32's fields and rescaled by 2^112, which is exact for normal and
// subnormal values; infinities and NaNs get float32's all-ones exponent.
float element(std::uint16_t bits, bool bf16) {
  if (bf16) return float_bits(std::uint32_t(bits) << 16);
  float f = float_bits(std::uint32_t(bits & 0x7fffu) << 13) * 0x1p112f;
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((bits & 0x7c00u) == 0x7c00u) u |= 0x7f800000u;  // inf, NaN
  return float_bits(u | std::uint32_t(bits & 0x8000u) << 16);
}

}  // namespace

const TlsRange& kernel_tls_range() {
  if (t_tls.begin == 0) t_tls = find_tls_range();
  return t_tls;
}

std::string shared_location(std::uintptr_t a) {
  const auto dyn = std::uintptr_t(dynamic_shared_base());
  if (a >= dyn && a < dyn + k_dynamic_shared_capacity) {
    return fmt::format("dynamic shared memory offset {}", a - dyn);
  }
  return fmt::format("static __shared__ memory offset {}", a - kernel_tls_range().begin);
}

void check_in_flight(Block& b, const Thread& t, std::uintptr_t addr, std::size_t size,
                     const char* what) {
  for (std::uintptr_t w = addr / 4; w <= (addr + size - 1) / 4; ++w) {
    const std::uint32_t* s = pending_slot(b, w * 4, false);
    if (!s || *s == 0) continue;
    const AsyncCopy& c = b.copies[*s - 1];
    if (c.delivered) continue;
    std::string why = fmt::format(
        "race in {}: {} {} {} before the cp.async.wait_group that covers the cp.async at {} by "
        "{}: the copy has not landed (a GPU may return the old bytes)",
        describe(b), describe(b, t), what, shared_location(std::max<std::uintptr_t>(addr, w * 4)),
        site(c.file, c.line), describe(b, b.threads[c.thread]));
    if (b.races && int(b.races->size()) < b.max_races) b.races->push_back(why);
    b.fail(std::move(why));
    return;
  }
}

// The checks of one lane's ldmatrix row address (ptx.hpp), and the race
// check's record of the 16-byte read.
static void check_row(Block& b, const Thread& t, const char* instr, const char* file, unsigned line,
                      unsigned lane, std::uintptr_t a) {
  if (a % 16 != 0) {
    fail_here(b, t, instr, file, line,
              fmt::format("lane {} gives row address {:#x}, not 16-byte aligned", lane, a));
  }
  if (!in_shared(b, a, 16)) {
    fail_here(b, t, instr, file, line,
              fmt::format("lane {} gives row address {:#x}, outside the block's shared memory "
                          "(dynamic: {} bytes at {:#x})",
                          lane, a, b.shared_bytes, std::uintptr_t(dynamic_shared_base())));
  }
  if (b.in_flight > 0) {
    check_in_flight(b, t, a, 16, "ldmatrix reads");
    if (!b.failure.empty()) stop_after_failure();
  }
  if (b.race_check && g_access_hook) g_access_hook(a, 16, false);
}

BankTally wavefronts(const std::uintptr_t* addr, std::uint32_t lanes, unsigned bytes) {
  BankTally t;
  if (lanes == 0) return t;
  t.requests = 1;
  const unsigned phase_lanes = bytes >= 16 ? 8 : (bytes == 8 ? 16 : 32);
  const unsigned words = std::max(1u, bytes / 4);
  for (unsigned first = 0; first < 32; first += phase_lanes) {
    // The distinct words of the phase, then the most of them in one bank.
    std::uintptr_t w[128];
    unsigned n = 0;
    for (unsigned l = first; l < first + phase_lanes; ++l) {
      if (!(lanes >> l & 1u)) continue;
      for (unsigned k = 0; k < words; ++k) {
        const std::uintptr_t x = addr[l] / 4 + k;
        if (std::find(w, w + n, x) == w + n) w[n++] = x;
      }
    }
    if (n == 0) continue;
    unsigned per_bank[32] = {};
    unsigned most = 0;
    for (unsigned i = 0; i < n; ++i) most = std::max(most, ++per_bank[w[i] % 32]);
    t.wavefronts += most;
    t.ideal += 1;
  }
  return t;
}

void count_plain_access(Block& b, Thread& t, std::uintptr_t addr, std::size_t size,
                        std::uintptr_t pc) {
  const std::size_t warp = t.linear / 32;
  if (b.plain_requests.size() <= warp) b.plain_requests.resize(b.warps.size());
  CopyRequest& r = b.plain_requests[warp][{pc, t.site_count[pc]++}];
  r.bytes = unsigned(size);
  r.lanes |= 1u << (t.linear % 32);
  r.addr[t.linear % 32] = addr;
}

void flush_plain_requests(Block& b) {
  for (auto& per_warp : b.plain_requests) {
    for (const auto& [key, r] : per_warp) add(b.plain_banks, wavefronts(r.addr, r.lanes, r.bytes));
    per_warp.clear();
  }
  for (Thread& t : b.threads) t.site_count.clear();
}

void finish_block_stats(Block& b) {
  flush_plain_requests(b);
  for (const auto& per_warp : b.cp_async_requests) {
    for (const CopyRequest& r : per_warp)
      add(b.cp_async_banks, wavefronts(r.addr, r.lanes, r.bytes));
  }
  // Copies never waited for: their words no longer name them (the buffer of
  // in-flight words is kept, all zero, for the next block on this OS thread).
  for (std::size_t id = 0; id < b.copies.size(); ++id) {
    const AsyncCopy& c = b.copies[id];
    if (c.delivered) continue;
    const auto a = std::uintptr_t(c.dst);
    for (std::uintptr_t w = a / 4; w <= (a + c.bytes - 1) / 4; ++w) {
      if (std::uint32_t* s = pending_slot(b, w * 4, false); s && *s == id + 1) *s = 0;
    }
  }
  if (b.ldmatrix_banks.requests == 0 && b.cp_async_banks.requests == 0 &&
      b.plain_banks.requests == 0) {
    return;
  }
  std::lock_guard<std::mutex> l(g_stats_mutex);
  SharedMemoryStats& s = g_stats[b.kernel];
  add(s.ldmatrix, b.ldmatrix_banks);
  add(s.cp_async, b.cp_async_banks);
  add(s.plain, b.plain_banks);
}

void mma_m16n8k16(bool bf16, float* d, const std::uint32_t* a, const std::uint32_t* b,
                  const float* c, const char* file, unsigned line) {
  struct Slot {
    std::uint32_t a[4];
    std::uint32_t b[2];
    float c[4];
  } mine;
  std::memcpy(mine.a, a, sizeof mine.a);
  std::memcpy(mine.b, b, sizeof mine.b);
  std::memcpy(mine.c, c, sizeof mine.c);
  static_assert(sizeof(Slot) <= k_warp_slot);
  const unsigned char* all = warp_exchange(0xffffffffu, &mine, sizeof mine, file, line);
  const WarpResult res = warp_result();
  const unsigned lane = lane_id();
  if (res.compute) {
    // The first lane back computes D for the warp. Fragments (ptx.hpp):
    //   A[r][k]: lane 4 (r % 8) + (k % 8) / 2, register (r >= 8) + 2 (k >= 8), half k % 2
    //   B[k][n]: lane 4 n + (k % 8) / 2, register k >= 8, half k % 2
    //   C[r][n]: lane 4 (r % 8) + n / 2, register 2 (r >= 8) + n % 2
    float A[16][16], B[16][8], D[16][8];
    for (unsigned l = 0; l < 32; ++l) {
      Slot s;
      std::memcpy(&s, all + std::size_t(l) * k_warp_slot, sizeof s);
      const unsigned g = l / 4, t = l % 4;
      for (unsigned reg = 0; reg < 4; ++reg) {
        const unsigned r = g + 8 * (reg & 1), k = 2 * t + 8 * (reg >> 1);
        A[r][k] = element(std::uint16_t(s.a[reg]), bf16);
        A[r][k + 1] = element(std::uint16_t(s.a[reg] >> 16), bf16);
        D[g + 8 * (reg >> 1)][2 * t + (reg & 1)] = s.c[reg];
      }
      for (unsigned reg = 0; reg < 2; ++reg) {
        const unsigned k = 2 * t + 8 * reg;
        B[k][g] = element(std::uint16_t(s.b[reg]), bf16);
        B[k + 1][g] = element(std::uint16_t(s.b[reg] >> 16), bf16);
      }
    }
    // C plus the products in k order, each addition rounded in float32 (the
    // products of bf16/f16 values are exact).
    for (unsigned k = 0; k < 16; ++k) {
      for (unsigned r = 0; r < 16; ++r) {
        for (unsigned n = 0; n < 8; ++n) {
          const float p = A[r][k] * B[k][n];
          D[r][n] = D[r][n] + p;
        }
      }
    }
    for (unsigned l = 0; l < 32; ++l) {
      const unsigned g = l / 4, t = l % 4;
      const float out[4] = {D[g][2 * t], D[g][2 * t + 1], D[g + 8][2 * t], D[g + 8][2 * t + 1]};
      std::memcpy(res.out + 16 * l, out, 16);
    }
  }
  std::memcpy(d, res.out + 16 * lane, 16);
}

// Register m of lane l after an ldmatrix (ptx.hpp), from half_of(provider,
// e): element e of the row that lane `provider` addressed.
template <typename HalfOf>
static std::uint32_t ldmatrix_register(const HalfOf& half_of, unsigned l, unsigned m, bool trans) {
  if (!trans)
    return half_of(8 * m + l / 4, 2 * (l % 4)) | half_of(8 * m + l / 4, 2 * (l % 4) + 1) << 16;
  return half_of(8 * m + 2 * (l % 4), l / 4) | half_of(8 * m + 2 * (l % 4) + 1, l / 4) << 16;
}

void ldmatrix(int n, bool trans, std::uint32_t* r, const void* smem_row, const char* file,
              unsigned line) {
  Block& b = *t_block;
  const Thread& t = *t_thread;
  const unsigned lane = lane_id();
  struct Slot {
    unsigned char row[16];
    std::uintptr_t addr;
  } mine{};
  static_assert(sizeof(Slot) <= k_warp_slot);
  const char* instr = trans ? "ldmatrix .trans" : "ldmatrix";
  if (lane < 8u * unsigned(n)) {
    const auto a = std::uintptr_t(smem_row);
    check_row(b, t, instr, file, line, lane, a);
    std::memcpy(mine.row, smem_row, 16);
    mine.addr = a;
  }
  const unsigned char* all = warp_exchange(0xffffffffu, &mine, sizeof mine, file, line);
  auto half_of = [&](unsigned provider, unsigned e) {
    std::uint16_t h;
    std::memcpy(&h, all + std::size_t(provider) * k_warp_slot + 2 * e, 2);
    return std::uint32_t(h);
  };
  for (unsigned m = 0; m < unsigned(n); ++m) r[m] = ldmatrix_register(half_of, lane, m, trans);
  if (lane == 0 && b.count_banks) {
    std::uintptr_t rows[32];
    for (unsigned l = 0; l < 8u * unsigned(n); ++l) {
      std::memcpy(&rows[l], all + std::size_t(l) * k_warp_slot + offsetof(Slot, addr),
                  sizeof rows[l]);
    }
    const std::uint32_t lanes = n == 4 ? 0xffffffffu : (1u << (8 * n)) - 1;
    add(b.ldmatrix_banks, wavefronts(rows, lanes, 16));
  }
}

// D (16 x N) += A (16 x K) B (K x N), each element of D taking its products
// in k order, each addition rounded in float32 (the products of bf16 and f16
// values are exact, so a fused multiply-add gives the same bits). Compiled
// for AVX2 too, picked at load time where the CPU has it.
__attribute__((target_clones("avx2", "default"))) static void gemm_in_k_order(
    const float* __restrict A, const float* __restrict B, float* __restrict D, unsigned K,
    unsigned N) {
  for (unsigned k = 0; k < K; ++k) {
    const float* bk = B + std::size_t(k) * N;
    for (unsigned r = 0; r < 16; ++r) {
      const float ar = A[r * K + k];
      float* dr = D + std::size_t(r) * N;
      for (unsigned n = 0; n < N; ++n) dr[n] = dr[n] + ar * bk[n];
    }
  }
}

// The lanes of a grid collective must agree on its shape (on a GPU a lane
// that skips an instruction of the unrolled loop leaves the others waiting
// at a .sync.aligned instruction: undefined behaviour).
template <typename Slot>
static void check_same_shape(Block& b, const unsigned char* all, const char* instr,
                             const char* file, unsigned line) {
  const unsigned warp = t_thread->linear / 32;
  if (32 * (warp + 1) > b.threads.size()) {
    b.fail(
        fmt::format("{}: warp {} at {} ({}): the warp has {} threads; the instruction needs "
                    "all 32",
                    describe(b), warp, site(file, line), instr, b.threads.size() - 32 * warp));
    stop_after_failure();
  }
  Slot first;
  std::memcpy(&first, all, sizeof first);
  for (unsigned l = 1; l < 32; ++l) {
    Slot s;
    std::memcpy(&s, all + std::size_t(l) * k_warp_slot, sizeof s);
    if (s.nk != first.nk || s.nn != first.nn) {
      b.fail(fmt::format(
          "{}: warp {} at {} ({}): lane {} runs a {} x {} grid, lane 0 a {} x {}: "
          "every lane must issue the same instructions",
          describe(b), warp, site(file, line), instr, l, s.nk, s.nn, first.nk, first.nn));
      stop_after_failure();
    }
  }
}

void ldmatrix_x4_grid(bool trans, std::uint32_t* r, int n_max, const void* row, long step_k,
                      long step_n, int nk, int nn, const char* file, unsigned line) {
  Block& b = *t_block;
  const Thread& t = *t_thread;
  const unsigned lane = lane_id();
  const char* instr = trans ? "ldmatrix .trans (grid)" : "ldmatrix (grid)";
  // Each lane reads its rows now, into its own result registers (16 bytes,
  // one row, per instruction); the last lane to arrive, the first to go on,
  // redistributes every lane's registers in place before the others resume.
  for (int i = 0; i < nk; ++i) {
    for (int j = 0; j < nn; ++j) {
      const auto a = std::uintptr_t(row) + std::uintptr_t(i * step_k + j * step_n);
      check_row(b, t, instr, file, line, lane, a);
      std::memcpy(r + 4 * (std::size_t(i) * unsigned(n_max) + unsigned(j)),
                  reinterpret_cast<const void*>(a), 16);
    }
  }
  struct Slot {
    std::uint32_t* r;
    std::uintptr_t row;
    long step_k, step_n;
    int nk, nn, n_max;
  } mine{r, std::uintptr_t(row), step_k, step_n, nk, nn, n_max};
  static_assert(sizeof(Slot) <= k_warp_slot);
  const unsigned char* all = warp_exchange(0xffffffffu, &mine, sizeof mine, file, line);
  if (!warp_result().compute) return;
  check_same_shape<Slot>(b, all, instr, file, line);
  Slot lanes[32];
  for (unsigned l = 0; l < 32; ++l)
    std::memcpy(&lanes[l], all + std::size_t(l) * k_warp_slot, sizeof(Slot));
  // The row lane p read for instruction (i, j), as 16-bit elements.
  thread_local std::vector<std::uint16_t> rows;
  const std::size_t per = std::size_t(nk) * unsigned(nn);
  rows.resize(32 * per * 8);
  for (unsigned p = 0; p < 32; ++p) {
    for (int i = 0; i < nk; ++i) {
      for (int j = 0; j < nn; ++j) {
        std::memcpy(&rows[(p * per + std::size_t(i) * unsigned(nn) + unsigned(j)) * 8],
                    lanes[p].r + 4 * (std::size_t(i) * unsigned(n_max) + unsigned(j)), 16);
      }
    }
  }
  for (std::size_t q = 0; q < per; ++q) {
    const int i = int(q / unsigned(nn)), j = int(q % unsigned(nn));
    auto half_of = [&](unsigned provider, unsigned e) {
      return std::uint32_t(rows[(provider * per + q) * 8 + e]);
    };
    for (unsigned l = 0; l < 32; ++l) {
      std::uint32_t* out = lanes[l].r + 4 * (std::size_t(i) * unsigned(n_max) + unsigned(j));
      for (unsigned m = 0; m < 4; ++m) out[m] = ldmatrix_register(half_of, l, m, trans);
    }
    if (b.count_banks) {
      std::uintptr_t addr[32];
      for (unsigned l = 0; l < 32; ++l) {
        addr[l] = lanes[l].row + std::uintptr_t(i * lanes[l].step_k + j * lanes[l].step_n);
      }
      add(b.ldmatrix_banks, wavefronts(addr, 0xffffffffu, 16));
    }
  }
}

void mma_m16n8k16_grid(bool bf16, float* acc, const std::uint32_t* a, const std::uint32_t* b_regs,
                       int n_max, int nk, int nn, const char* file, unsigned line) {
  Block& blk = *t_block;
  struct Slot {
    float* acc;
    const std::uint32_t* a;
    const std::uint32_t* b;
    int nk, nn, n_max;
  } mine{acc, a, b_regs, nk, nn, n_max};
  static_assert(sizeof(Slot) <= k_warp_slot);
  const unsigned char* all = warp_exchange(0xffffffffu, &mine, sizeof mine, file, line);
  if (!warp_result().compute) return;
  check_same_shape<Slot>(blk, all, "mma.m16n8k16 (grid)", file, line);
  Slot lanes[32];
  for (unsigned l = 0; l < 32; ++l)
    std::memcpy(&lanes[l], all + std::size_t(l) * k_warp_slot, sizeof(Slot));
  // The operands as float matrices (fragment maps of mma_m16n8k16 above):
  // A is 16 x 16 nk, B is 16 nk x 16 nn (block 2j + e in columns 16 j + 8 e ..),
  // D is 16 x 16 nn.
  const unsigned K = 16u * unsigned(nk), N = 16u * unsigned(nn);
  thread_local std::vector<float> A, B, D;
  A.resize(16 * K);
  B.resize(std::size_t(K) * N);
  D.resize(16 * N);
  for (unsigned l = 0; l < 32; ++l) {
    const Slot& s = lanes[l];
    const unsigned g = l / 4, t = l % 4;
    for (unsigned i = 0; i < unsigned(nk); ++i) {
      for (unsigned reg = 0; reg < 4; ++reg) {
        const std::uint32_t x = s.a[4 * i + reg];
        const unsigned r = g + 8 * (reg & 1), k = 16 * i + 2 * t + 8 * (reg >> 1);
        A[r * K + k] = element(std::uint16_t(x), bf16);
        A[r * K + k + 1] = element(std::uint16_t(x >> 16), bf16);
      }
      for (unsigned j = 0; j < unsigned(nn); ++j) {
        const std::uint32_t* bj = s.b + 4 * (std::size_t(i) * unsigned(s.n_max) + j);
        for (unsigned reg = 0; reg < 4; ++reg) {  // block 2j + reg / 2, register reg % 2
          const unsigned k = 16 * i + 2 * t + 8 * (reg & 1), n = 16 * j + 8 * (reg >> 1) + g;
          B[std::size_t(k) * N + n] = element(std::uint16_t(bj[reg]), bf16);
          B[std::size_t(k + 1) * N + n] = element(std::uint16_t(bj[reg] >> 16), bf16);
        }
      }
    }
    for (unsigned blk8 = 0; blk8 < 2u * unsigned(nn); ++blk8) {
      for (unsigned reg = 0; reg < 4; ++reg) {
        D[(g + 8 * (reg >> 1)) * N + 8 * blk8 + 2 * t + (reg & 1)] = s.acc[4 * blk8 + reg];
      }
    }
  }
  // Each accumulator takes its products in k order, each addition rounded
  // in float32: what mma_m16n8k16 does for one instruction, applied for
  // k-step 0, 1, ... as the unrolled loop issues them.
  gemm_in_k_order(A.data(), B.data(), D.data(), K, N);
  for (unsigned l = 0; l < 32; ++l) {
    const unsigned g = l / 4, t = l % 4;
    for (unsigned blk8 = 0; blk8 < 2u * unsigned(nn); ++blk8) {
      for (unsigned reg = 0; reg < 4; ++reg) {
        lanes[l].acc[4 * blk8 + reg] = D[(g + 8 * (reg >> 1)) * N + 8 * blk8 + 2 * t + (reg & 1)];
      }
    }
  }
}

void cp_async(void* smem, const void* gmem, int bytes, int src_bytes, const char* file,
              unsigned line) {
  Block& b = *t_block;
  Thread& t = *t_thread;
  const auto dst = std::uintptr_t(smem), src = std::uintptr_t(gmem);
  const char* instr = bytes == 16 ? "cp.async.cg" : "cp.async.ca";
  if (src_bytes < 0 || src_bytes > bytes) {
    fail_here(b, t, instr, file, line,
              fmt::format("src-size {} outside 0..{} (the copy size)", src_bytes, bytes));
  }
  if (dst % unsigned(bytes) != 0 || src % unsigned(bytes) != 0) {
    fail_here(b, t, instr, file, line,
              fmt::format("addresses must be aligned to the copy size {}: shared {:#x}, global "
                          "{:#x}",
                          bytes, dst, src));
  }
  if (!in_shared(b, dst, std::size_t(bytes))) {
    fail_here(b, t, instr, file, line,
              fmt::format("destination {:#x} + {} bytes is outside the block's shared memory "
                          "(dynamic: {} bytes at {:#x})",
                          dst, bytes, b.shared_bytes, std::uintptr_t(dynamic_shared_base())));
  }
  if (src_bytes > 0 && !device_range(gmem, std::size_t(src_bytes))) {
    fail_here(
        b, t, instr, file, line,
        fmt::format("source {:#x} + {} bytes is not inside one device allocation", src, src_bytes));
  }
  if (b.in_flight > 0) {
    for (std::uintptr_t w = dst / 4; w <= (dst + unsigned(bytes) - 1) / 4; ++w) {
      const std::uint32_t* s = pending_slot(b, w * 4, false);
      if (!s || *s == 0 || b.copies[*s - 1].delivered) continue;
      const AsyncCopy& o = b.copies[*s - 1];
      fail_here(b, t, instr, file, line,
                fmt::format("its destination {} is also the destination of the cp.async at {} "
                            "by {}, still in flight (the order they land in is undefined)",
                            shared_location(w * 4), site(o.file, o.line),
                            describe(b, b.threads[o.thread])));
    }
  }
  const unsigned id = unsigned(b.copies.size());
  b.copies.push_back(AsyncCopy{static_cast<unsigned char*>(smem),
                               static_cast<const unsigned char*>(gmem), unsigned(bytes),
                               unsigned(src_bytes), t.linear, file, line, false});
  for (std::uintptr_t w = dst / 4; w <= (dst + unsigned(bytes) - 1) / 4; ++w) {
    *pending_slot(b, w * 4, true) = id + 1;
  }
  ++b.in_flight;
  t.uncommitted.push_back(id);
  // Bank conflicts of the shared-memory write, the k-th cp.async of each lane
  // of the warp as one request.
  if (!b.count_banks) return;
  const std::size_t warp = t.linear / 32;
  if (b.cp_async_requests.size() <= warp) b.cp_async_requests.resize(b.warps.size());
  auto& per_warp = b.cp_async_requests[warp];
  if (per_warp.size() <= t.cp_async_issued) per_warp.resize(t.cp_async_issued + 1);
  CopyRequest& req = per_warp[t.cp_async_issued++];
  req.bytes = unsigned(bytes);
  req.lanes |= 1u << (t.linear % 32);
  req.addr[t.linear % 32] = dst;
}

void cp_async_commit(const char*, unsigned) {
  Thread& t = *t_thread;
  t.groups_in_flight.push_back(std::move(t.uncommitted));  // an empty group is allowed
  t.uncommitted.clear();
}

void cp_async_wait(int n, const char*, unsigned) {
  Block& b = *t_block;
  Thread& t = *t_thread;
  while (t.groups_in_flight.size() > std::size_t(n)) {
    for (unsigned id : t.groups_in_flight.front()) deliver(b, id);
    t.groups_in_flight.pop_front();
  }
}

}  // namespace simt::detail

namespace simt {

std::vector<std::pair<std::string, SharedMemoryStats>> shared_memory_stats() {
  std::lock_guard<std::mutex> l(detail::g_stats_mutex);
  return {detail::g_stats.begin(), detail::g_stats.end()};
}

void reset_shared_memory_stats() {
  std::lock_guard<std::mutex> l(detail::g_stats_mutex);
  detail::g_stats.clear();
}

}  // namespace simt
