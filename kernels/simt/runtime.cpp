// The CUDA runtime API subset of simt: device memory (host memory filled with
// the poison word, every allocation tracked so that unknown pointers are
// errors; under AddressSanitizer every byte past the requested size is
// unaddressable, as compute-sanitizer's memcheck holds a GPU run to the
// allocation's size and not to CUDA's 256-byte rounding), copies, streams and
// events (work runs at launch, so every stream is always synchronized), error
// state and function attributes.
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>

#include "kernels/simt/state.hpp"

// ASAN_(UN)POISON_MEMORY_REGION: no-ops unless built with AddressSanitizer.
#include <sanitizer/asan_interface.h>


// The runtime's opaque handle types, defined here for the CPU.
struct CUstream_st {
  int id = 0;
};
struct CUevent_st {
  std::chrono::steady_clock::time_point at{};
  bool recorded = false;
};

namespace simt::detail {
namespace {

std::mutex g_mutex;
std::map<std::uintptr_t, std::size_t> g_allocations;  // base -> bytes
std::map<const void*, std::size_t> g_max_dynamic_shared;
thread_local cudaError_t t_last_error = cudaSuccess;
// The per-OS-thread (so per block in flight) dynamic shared memory.
alignas(128) thread_local unsigned char t_dynamic_shared[k_dynamic_shared_capacity];

cudaError_t fail(cudaError_t e) {
  set_error(e);
  return e;
}

std::atomic<std::uint64_t> g_frees{0};  // cudaFree calls: invalidates device_range's cache

std::size_t rounded_size(std::size_t size) {
  return (size + 255) / 256 * 256;  // CUDA aligns allocations to 256 bytes
}

// Checks the device side(s) of a copy of `n` bytes.
cudaError_t check_copy(void* dst, const void* src, std::size_t n, cudaMemcpyKind kind) {
  if (n == 0) return cudaSuccess;
  if (!dst || !src) return cudaErrorInvalidValue;
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind == cudaMemcpyDefault) return cudaSuccess;  // unified addressing: either side
  if (kind != cudaMemcpyHostToHost && !dst_dev && !src_dev) return cudaErrorInvalidMemcpyDirection;
  if (dst_dev && !device_range(dst, n)) return cudaErrorInvalidValue;
  if (src_dev && !device_range(src, n)) return cudaErrorInvalidValue;
  return cudaSuccess;
}

}  // namespace

// The last allocation found by this OS thread, valid while no cudaFree ran
// since (cp.async checks its source on every call).
bool device_range(const void* p, std::size_t n) {
  struct Cache {
    std::uintptr_t base = 0, end = 0;
    std::uint64_t frees = ~0ull;
  };
  thread_local Cache cache;
  const auto a = std::uintptr_t(p);
  const std::uint64_t frees = g_frees.load(std::memory_order_acquire);
  if (cache.frees == frees && a >= cache.base && a + n <= cache.end) return true;
  std::lock_guard<std::mutex> l(g_mutex);
  auto it = g_allocations.upper_bound(a);
  if (it == g_allocations.begin()) return false;
  --it;
  if (!(a >= it->first && a + n <= it->first + it->second)) return false;
  cache = Cache{it->first, it->first + it->second, frees};
  return true;
}

void set_error(cudaError_t e) {
  if (e != cudaSuccess) t_last_error = e;
}

std::size_t max_dynamic_shared(const void* kernel) {
  std::lock_guard<std::mutex> l(g_mutex);
  auto it = g_max_dynamic_shared.find(kernel);
  return it == g_max_dynamic_shared.end() ? k_default_dynamic_shared : it->second;
}

unsigned char* dynamic_shared_base() { return t_dynamic_shared; }

void* dynamic_shared() { return t_dynamic_shared; }

}  // namespace simt::detail

using simt::detail::fail;

extern "C" {

cudaError_t cudaMalloc(void** ptr, size_t size) {
  if (!ptr) return fail(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (size == 0) return cudaSuccess;
  const std::size_t rounded = simt::detail::rounded_size(size);
  void* p = std::aligned_alloc(256, rounded);
  if (!p) return fail(cudaErrorMemoryAllocation);
  auto* words = static_cast<std::uint32_t*>(p);
  for (std::size_t i = 0; i < rounded / 4; ++i) words[i] = simt::k_poison_word;
  // A kernel reading or writing past `size` gets an AddressSanitizer report
  // (use-after-poison up to the rounding, heap-buffer-overflow beyond it).
  ASAN_POISON_MEMORY_REGION(static_cast<char*>(p) + size, rounded - size);
  {
    std::lock_guard<std::mutex> l(simt::detail::g_mutex);
    simt::detail::g_allocations[std::uintptr_t(p)] = size;
  }
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  std::size_t size = 0;
  {
    std::lock_guard<std::mutex> l(simt::detail::g_mutex);
    auto it = simt::detail::g_allocations.find(std::uintptr_t(ptr));
    if (it == simt::detail::g_allocations.end()) return fail(cudaErrorInvalidValue);
    size = it->second;
    simt::detail::g_allocations.erase(it);
    simt::detail::g_frees.fetch_add(1, std::memory_order_release);
  }
  ASAN_UNPOISON_MEMORY_REGION(ptr, simt::detail::rounded_size(size));
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
  if (const auto e = simt::detail::check_copy(dst, src, count, kind); e != cudaSuccess) {
    return fail(e);
  }
  if (count) std::memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind,
                            cudaStream_t) {
  return cudaMemcpy(dst, src, count, kind);
}

cudaError_t cudaMemset(void* ptr, int value, size_t count) {
  if (count == 0) return cudaSuccess;
  if (!simt::detail::device_range(ptr, count)) return fail(cudaErrorInvalidValue);
  std::memset(ptr, value, count);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t) {
  return cudaMemset(ptr, value, count);
}

cudaError_t cudaDeviceSynchronize(void) { return simt::detail::t_last_error; }

cudaError_t cudaGetLastError(void) {
  const cudaError_t e = simt::detail::t_last_error;
  simt::detail::t_last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError(void) { return simt::detail::t_last_error; }

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
  }
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    default: return "unknown error";
  }
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (!func) return fail(cudaErrorInvalidValue);
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || std::size_t(value) > simt::detail::k_dynamic_shared_capacity) {
      return fail(cudaErrorInvalidValue);
    }
    std::lock_guard<std::mutex> l(simt::detail::g_mutex);
    simt::detail::g_max_dynamic_shared[func] = std::size_t(value);
  }
  return cudaSuccess;  // other attributes are hints without effect on the CPU
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  if (!stream) return fail(cudaErrorInvalidValue);
  *stream = new CUstream_st{};
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (!stream) return fail(cudaErrorInvalidResourceHandle);
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t) { return simt::detail::t_last_error; }

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  if (!event) return fail(cudaErrorInvalidValue);
  *event = new CUevent_st{};
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  event->at = std::chrono::steady_clock::now();
  event->recorded = true;
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  return event ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms || !start || !end) return fail(cudaErrorInvalidValue);
  if (!start->recorded || !end->recorded) return fail(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->at - start->at).count();
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  delete event;
  return cudaSuccess;
}

}  // extern "C"
