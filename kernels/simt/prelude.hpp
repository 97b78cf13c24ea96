// simt prelude: what a CUDA kernel source needs from the CUDA language, for
// the host C++ compiler. Included by kernels/simt/cuda.hpp when __CUDACC__ is
// not defined. Written by hand because no packaged library runs CUDA C++ on a
// CPU; the toolkit's own headers supply the types (dim3, cudaError_t, ...) and
// the exact bf16/fp16 conversions.
//
// Model: each CUDA thread is a fiber; a block's fibers run on one OS thread,
// so `__shared__` is `thread_local` (one copy per block in flight) and dynamic
// shared memory is a thread_local buffer. Barriers and warp collectives switch
// fibers.
#pragma once

#include "kernels/simt/runtime_api.hpp"  // cudaError_t, dim3, ...; the simt_cudaXxx names
#include <cuda_bf16.h>         // __nv_bfloat16, exact round-to-nearest-even on the host
#include <cuda_fp16.h>         // __half

#include <cmath>
#include <cstdint>
#include <cstring>
#include <source_location>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- Keywords. The toolkit defines them as (unknown to g++) attributes.
#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __forceinline__
#undef __constant__
#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
// thread_local at block scope is static: one copy per OS thread, i.e. per block
// in flight. `extern __shared__ T a[];` is rewritten by the simt build into a
// pointer to dynamic_shared() (cmake/Simt.cmake).
#define __shared__ thread_local
#ifndef __restrict__
#define __restrict__ __restrict
#endif
#define __launch_bounds__(...)

// Functions the race checker must not see (the prelude's own bookkeeping).
#define SIMT_UNCHECKED __attribute__((no_sanitize_thread, noinline))

namespace simt {

// Per-fiber view of the built-in variables.
struct ThreadView {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};

namespace detail {
// The running fiber's view. The general-dynamic TLS model: with the default
// initial-exec one, GCC 12's -fsanitize=null checks &t_view with the flags of
// an `add x@gottpoff(%rip)` that the linker relaxes into a `lea` (which sets
// none), so kernels report a "load of null pointer" at random. In an
// executable the linker still relaxes the access to a %fs-relative one.
extern thread_local const ThreadView* t_view __attribute__((tls_model("global-dynamic")));

SIMT_UNCHECKED void sync_block(const char* file, unsigned line);
SIMT_UNCHECKED void sync_warp(unsigned mask, const char* file, unsigned line);
// Warp collective: every lane in `mask` contributes `bytes` (<= 48) from `in`;
// after all arrived, lane-indexed contributions are readable through the
// returned pointer: 32 slots of k_warp_slot bytes, lane l's at l * k_warp_slot
// (a lane that does not exist, in a partial last warp, has an all-zero slot).
inline constexpr std::size_t k_warp_slot = 48;
SIMT_UNCHECKED const unsigned char* warp_exchange(unsigned mask, const void* in, std::size_t bytes,
                                                  const char* file, unsigned line);
SIMT_UNCHECKED unsigned lane_id();
// This block's dynamic shared memory (the launch's shared_bytes).
void* dynamic_shared();

void launch_impl(const char* name, const void* kernel, dim3 grid, dim3 block,
                 std::size_t shared_bytes, cudaStream_t stream, void (*body)(const void*),
                 const void* closure);
}  // namespace detail

template <typename... P, typename... A>
void launch(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, std::size_t shared_bytes,
            cudaStream_t stream, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong number of arguments");
  // Arguments are converted to the parameter types once, at launch, as CUDA does.
  struct Closure {
    void (*kernel)(P...);
    std::tuple<std::decay_t<P>...> params;
  } closure{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)};
  detail::launch_impl(
      name, reinterpret_cast<const void*>(kernel), grid, block, shared_bytes, stream,
      [](const void* c) {
        const auto* cl = static_cast<const Closure*>(c);
        std::apply(cl->kernel, cl->params);
      },
      &closure);
}

}  // namespace simt

#define threadIdx (::simt::detail::t_view->thread_idx)
#define blockIdx (::simt::detail::t_view->block_idx)
#define blockDim (::simt::detail::t_view->block_dim)
#define gridDim (::simt::detail::t_view->grid_dim)
#define warpSize 32

// ---- Barriers and warp collectives.
inline void __syncthreads(std::source_location loc = std::source_location::current()) {
  ::simt::detail::sync_block(loc.file_name(), loc.line());
}
inline void __syncwarp(unsigned mask = 0xffffffffu,
                       std::source_location loc = std::source_location::current()) {
  ::simt::detail::sync_warp(mask, loc.file_name(), loc.line());
}

namespace simt::detail {
template <typename T>
T shuffle(unsigned mask, T var, int src_lane_of, int width, int mode, const char* file,
          unsigned line) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 16, "shuffle of a large type");
  const unsigned char* all = warp_exchange(mask, &var, sizeof(T), file, line);
  const int lane = int(lane_id());
  const int base = lane & ~(width - 1);  // segments of `width` lanes
  int src = lane;
  switch (mode) {
    case 0: src = base + (src_lane_of & (width - 1)); break;                      // idx
    case 1: src = (lane ^ src_lane_of) < base + width ? lane ^ src_lane_of : lane; break;  // xor
    case 2: src = lane + src_lane_of < base + width ? lane + src_lane_of : lane; break;    // down
    case 3: src = lane - src_lane_of >= base ? lane - src_lane_of : lane; break;           // up
  }
  T out;
  std::memcpy(&out, all + std::size_t(src) * k_warp_slot, sizeof(T));
  return out;
}
}  // namespace simt::detail

template <typename T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32,
              std::source_location loc = std::source_location::current()) {
  return ::simt::detail::shuffle(mask, var, src_lane, width, 0, loc.file_name(), loc.line());
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32,
                  std::source_location loc = std::source_location::current()) {
  return ::simt::detail::shuffle(mask, var, lane_mask, width, 1, loc.file_name(), loc.line());
}
template <typename T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32,
                   std::source_location loc = std::source_location::current()) {
  return ::simt::detail::shuffle(mask, var, int(delta), width, 2, loc.file_name(), loc.line());
}
template <typename T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32,
                 std::source_location loc = std::source_location::current()) {
  return ::simt::detail::shuffle(mask, var, int(delta), width, 3, loc.file_name(), loc.line());
}

inline unsigned __ballot_sync(unsigned mask, int predicate,
                              std::source_location loc = std::source_location::current()) {
  const int p = predicate != 0;
  const unsigned char* all = ::simt::detail::warp_exchange(mask, &p, sizeof p, loc.file_name(), loc.line());
  unsigned bits = 0;
  for (unsigned l = 0; l < 32; ++l) {
    int v;
    std::memcpy(&v, all + l * ::simt::detail::k_warp_slot, sizeof v);
    if ((mask >> l & 1u) && v) bits |= 1u << l;
  }
  return bits;
}
inline int __any_sync(unsigned mask, int predicate,
                      std::source_location loc = std::source_location::current()) {
  return __ballot_sync(mask, predicate, loc) != 0;
}
// No participating lane false (not `ballot == mask`: a full mask in a partial
// last warp names lanes that do not exist, and they vote nothing).
inline int __all_sync(unsigned mask, int predicate,
                      std::source_location loc = std::source_location::current()) {
  return __ballot_sync(mask, predicate == 0, loc) == 0;
}

// ---- Atomics. Blocks run concurrently on several OS threads: real atomics.
SIMT_UNCHECKED inline int atomicAdd(int* a, int v) { return __atomic_fetch_add(a, v, __ATOMIC_RELAXED); }
SIMT_UNCHECKED inline unsigned atomicAdd(unsigned* a, unsigned v) {
  return __atomic_fetch_add(a, v, __ATOMIC_RELAXED);
}
SIMT_UNCHECKED inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) {
  return __atomic_fetch_add(a, v, __ATOMIC_RELAXED);
}
template <typename T>
SIMT_UNCHECKED inline T atomic_add_float(T* a, T v) {
  T old;
  __atomic_load(a, &old, __ATOMIC_RELAXED);
  T sum = old + v;
  while (!__atomic_compare_exchange(a, &old, &sum, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    sum = old + v;
  }
  return old;
}
inline float atomicAdd(float* a, float v) { return atomic_add_float(a, v); }
inline double atomicAdd(double* a, double v) { return atomic_add_float(a, v); }
// Replace *a by v while `better(v, *a)`; returns the old value.
template <typename T, typename Better>
SIMT_UNCHECKED inline T atomic_update_if(T* a, T v, Better better) {
  T old;
  __atomic_load(a, &old, __ATOMIC_RELAXED);
  while (better(v, old) &&
         !__atomic_compare_exchange(a, &old, &v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
inline int atomicMax(int* a, int v) { return atomic_update_if(a, v, [](int x, int y) { return x > y; }); }
inline unsigned atomicMax(unsigned* a, unsigned v) {
  return atomic_update_if(a, v, [](unsigned x, unsigned y) { return x > y; });
}
inline int atomicMin(int* a, int v) { return atomic_update_if(a, v, [](int x, int y) { return x < y; }); }
inline unsigned atomicMin(unsigned* a, unsigned v) {
  return atomic_update_if(a, v, [](unsigned x, unsigned y) { return x < y; });
}

template <typename T>
SIMT_UNCHECKED inline T atomic_cas_impl(T* a, T compare, T val) {
  __atomic_compare_exchange(a, &compare, &val, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return compare;  // the old value either way
}
inline int atomicCAS(int* a, int c, int v) { return atomic_cas_impl(a, c, v); }
inline unsigned atomicCAS(unsigned* a, unsigned c, unsigned v) { return atomic_cas_impl(a, c, v); }
inline unsigned long long atomicCAS(unsigned long long* a, unsigned long long c,
                                    unsigned long long v) {
  return atomic_cas_impl(a, c, v);
}
SIMT_UNCHECKED inline int atomicExch(int* a, int v) { return __atomic_exchange_n(a, v, __ATOMIC_RELAXED); }
SIMT_UNCHECKED inline unsigned atomicExch(unsigned* a, unsigned v) {
  return __atomic_exchange_n(a, v, __ATOMIC_RELAXED);
}
SIMT_UNCHECKED inline float atomicExch(float* a, float v) {
  float old;
  __atomic_exchange(a, &v, &old, __ATOMIC_RELAXED);
  return old;
}

// ---- Math intrinsics: the CUDA names over the host's float functions.
inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float exp10f(float x) { return std::pow(10.0f, x); }
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline unsigned __float_as_uint(float x) { unsigned i; std::memcpy(&i, &x, 4); return i; }
inline float __int_as_float(int i) { float x; std::memcpy(&x, &i, 4); return x; }
inline float __uint_as_float(unsigned i) { float x; std::memcpy(&x, &i, 4); return x; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(unsigned(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0F0F0F0Fu) | ((x & 0x0F0F0F0Fu) << 4);
  x = ((x >> 8) & 0x00FF00FFu) | ((x & 0x00FF00FFu) << 8);
  return (x >> 16) | (x << 16);
}
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
// expf, exp2f, logf, log1pf, fmaxf, fminf, sqrtf, fmaf, ... are the C library's
// (global namespace, from <cmath>), as in CUDA.
