// Test kernels of kernels/simt, written as ordinary CUDA C++.
#include "kernels/simt/cuda.hpp"
#include "kernels/simt/tests/test_kernels.hpp"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace simt_tests {

namespace {

// ---- Block reduction.

// Tree reduction in dynamic shared memory: each pass halves the active threads.
__global__ void block_reduce_kernel(const float* __restrict__ in, float* __restrict__ out, int n) {
  extern __shared__ float partial[];
  const int row = blockIdx.x;
  float acc = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) acc += in[row * n + i];
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (int(threadIdx.x) < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[row] = partial[0];
}

// ---- Inclusive scan.

// Hillis-Steele over one block of kScanBlock threads, double-buffered in static
// shared memory; the block's total goes to block_sums[blockIdx.x] if given.
__global__ void scan_block_kernel(const float* __restrict__ in, float* __restrict__ out,
                                  float* __restrict__ block_sums, int n) {
  __shared__ float buf[2][kScanBlock];
  const int t = threadIdx.x;
  const int i = blockIdx.x * kScanBlock + t;
  buf[0][t] = i < n ? in[i] : 0.0f;
  __syncthreads();
  int cur = 0;
  for (int offset = 1; offset < kScanBlock; offset *= 2) {
    float x = buf[cur][t];
    if (t >= offset) x += buf[cur][t - offset];
    buf[1 - cur][t] = x;
    __syncthreads();
    cur = 1 - cur;
  }
  if (i < n) out[i] = buf[cur][t];
  if (block_sums != nullptr && t == kScanBlock - 1) block_sums[blockIdx.x] = buf[cur][t];
}

// out[i] += (inclusive scan of the block totals)[block - 1] for blocks after the first.
__global__ void scan_add_kernel(float* __restrict__ out, const float* __restrict__ scanned_sums,
                                int n) {
  const int i = blockIdx.x * kScanBlock + threadIdx.x;
  if (blockIdx.x > 0 && i < n) out[i] += scanned_sums[blockIdx.x - 1];
}

// ---- Tiled matrix product.

__global__ void tiled_matmul_kernel(const float* __restrict__ a, const float* __restrict__ b,
                                    float* __restrict__ c, int m, int n, int k) {
  __shared__ float ta[kTile][kTile];
  __shared__ float tb[kTile][kTile];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int row = blockIdx.y * kTile + ty;
  const int col = blockIdx.x * kTile + tx;
  float acc = 0.0f;
  for (int k0 = 0; k0 < k; k0 += kTile) {
    ta[ty][tx] = row < m && k0 + tx < k ? a[row * k + k0 + tx] : 0.0f;
    tb[ty][tx] = k0 + ty < k && col < n ? b[(k0 + ty) * n + col] : 0.0f;
    __syncthreads();
    for (int j = 0; j < kTile; ++j) acc += ta[ty][j] * tb[j][tx];
    __syncthreads();
  }
  if (row < m && col < n) c[row * n + col] = acc;
}

// ---- Warp collectives.

// The lanes of this thread's warp that exist (a partial last warp has fewer).
__device__ int warp_lanes() {
  const int warp_start = int(threadIdx.x) / 32 * 32;
  return min(32, int(blockDim.x) - warp_start);
}

__device__ unsigned lanes_mask(int lanes) { return lanes == 32 ? 0xffffffffu : (1u << lanes) - 1u; }

__global__ void warp_shuffles_kernel(const int* __restrict__ in, int* __restrict__ out,
                                     double* __restrict__ out_double) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  const int lane = threadIdx.x % 32;
  const int lanes = warp_lanes();
  const unsigned mask = lanes_mask(lanes);
  const int v = in[t];
  int* o = out + t * kShuffleOutputs;

  o[0] = __shfl_sync(mask, v, (lane * 5 + 3) % lanes);
  o[1] = __shfl_sync(mask, v, lane * 3 + 1, 8);

  int s = v;
  for (int x = 8; x > 0; x /= 2) s += __shfl_xor_sync(mask, s, x, 16);
  o[2] = s;
  s = v;
  for (int x = lanes / 2; x > 0; x /= 2) s += __shfl_xor_sync(mask, s, x);
  o[3] = s;

  o[4] = __shfl_down_sync(mask, v, 3, lanes);
  o[5] = __shfl_down_sync(mask, v, 2, 8);
  o[6] = __shfl_up_sync(mask, v, 5, lanes);
  o[7] = __shfl_up_sync(mask, v, 1, 4);

  int scan = v;
  for (int d = 1; d < lanes; d *= 2) {
    const int y = __shfl_up_sync(mask, scan, d);
    if (lane >= d) scan += y;
  }
  o[8] = scan;

  int sum = v;
  for (int d = lanes / 2; d > 0; d /= 2) sum += __shfl_down_sync(mask, sum, d, lanes);
  o[9] = lane == 0 ? sum : 0;
  o[10] = __shfl_xor_sync(mask, v, 12, 8);

  out_double[t] = __shfl_xor_sync(mask, double(v) + 0.25, 1);
}

template <bool kFullMask>
__global__ void warp_votes_kernel(const int* __restrict__ pred, unsigned* __restrict__ out) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  const int lane = threadIdx.x % 32;
  const unsigned mask = kFullMask ? 0xffffffffu : lanes_mask(warp_lanes());
  const int p = pred[t];
  unsigned* o = out + t * kVoteOutputs;
  o[0] = __ballot_sync(mask, p);
  o[1] = __any_sync(mask, p) != 0;
  o[2] = __all_sync(mask, p) != 0;
  o[3] = __ballot_sync(mask, lane % 3 == 0);
  o[4] = unsigned(__all_sync(mask, 1) != 0) | unsigned(__any_sync(mask, 0) != 0) << 1 |
         unsigned(__all_sync(mask, lane != 0) != 0) << 2 |
         unsigned(__ballot_sync(mask, 1) == mask) << 3 | unsigned(__any_sync(mask, 1) != 0) << 4;
  if (lane % 2 == 0) {
    o[5] = __ballot_sync(mask & 0x55555555u, p);
  } else {
    o[5] = 0;
  }
}

__global__ void warp_divergent_ballots_kernel(const int* __restrict__ pred,
                                              unsigned* __restrict__ out, int n) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  const int lane = threadIdx.x % 32;
  const unsigned mask = lanes_mask(warp_lanes());
  const int p = pred[t];
  if (lane % 2 == 0) {
    out[t] = __ballot_sync(mask & 0x55555555u, p);
  } else {
    out[t] = __ballot_sync(mask & 0xAAAAAAAAu, p);
  }
  out[n + t] = __ballot_sync(mask, p);
}

// ---- Atomics.

// max(*addr, v) for floats through a compare-and-swap loop on the bits.
__device__ float atomic_max_float(float* addr, float v) {
  int* word = reinterpret_cast<int*>(addr);
  int old = *word;
  int assumed;
  do {
    assumed = old;
    if (__int_as_float(assumed) >= v) break;
    old = atomicCAS(word, assumed, __float_as_int(v));
  } while (old != assumed);
  return __int_as_float(old);
}

__global__ void atomics_kernel(AtomicsArgs a) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= a.n) return;
  const int v = a.ivals[i];
  for (int r = 0; r < kAtomicRounds; ++r) {
    atomicAdd(a.isum, v);
    atomicAdd(a.usum, unsigned(v) * 2654435761u);
    atomicAdd(a.fsum, a.fvals[i]);
    atomicMax(a.imax, v);
    atomicMin(a.imin, v);
    atomic_max_float(a.fmax, a.gvals[i]);
    const int j = i * kAtomicRounds + r;
    a.slots[atomicAdd(a.counter, 1u)] = j;
    a.exch_old[j] = atomicExch(a.exch, j);
  }
  a.cas_old[2 * i] = atomicCAS(&a.cas_word[i], 0, i + 1);
  a.cas_old[2 * i + 1] = atomicCAS(&a.cas_word[i], 0, -5);
}

// ---- Dynamic shared memory.

__global__ void smem_reverse_kernel(const float* __restrict__ in, float* __restrict__ out,
                                    int per_block) {
  extern __shared__ float staged[];
  const int base = blockIdx.x * per_block;
  for (int i = threadIdx.x; i < per_block; i += blockDim.x) staged[i] = in[base + i];
  __syncthreads();
  for (int i = threadIdx.x; i < per_block; i += blockDim.x) {
    out[base + i] = staged[per_block - 1 - i];
  }
}

// ---- Conversions.

__global__ void float_to_bf16_half_kernel(const float* __restrict__ in,
                                          __nv_bfloat16* __restrict__ bf,
                                          float* __restrict__ bf_back, __half* __restrict__ h,
                                          float* __restrict__ h_back, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    const __nv_bfloat16 b = __float2bfloat16(in[i]);
    bf[i] = b;
    bf_back[i] = __bfloat162float(b);
    const __half x = __float2half(in[i]);
    h[i] = x;
    h_back[i] = __half2float(x);
  }
}

__global__ void bf16_round_trip_kernel(const __nv_bfloat16* __restrict__ bits,
                                       float* __restrict__ as_float,
                                       __nv_bfloat16* __restrict__ back, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    const float f = __bfloat162float(bits[i]);
    as_float[i] = f;
    back[i] = __float2bfloat16(f);
  }
}

__global__ void half_round_trip_kernel(const __half* __restrict__ bits,
                                       float* __restrict__ as_float, __half* __restrict__ back,
                                       int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    const float f = __half2float(bits[i]);
    as_float[i] = f;
    back[i] = __float2half(f);
  }
}

// ---- Poison, coordinates, iota.

__global__ void write_even_kernel(unsigned* __restrict__ out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n && i % 2 == 0) out[i] = unsigned(i);
}

__global__ void thread_coords_kernel(unsigned* __restrict__ out) {
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  unsigned* o = out + (block * (blockDim.x * blockDim.y * blockDim.z) + thread) * kCoordWords;
  o[0] = threadIdx.x;
  o[1] = threadIdx.y;
  o[2] = threadIdx.z;
  o[3] = blockIdx.x;
  o[4] = blockIdx.y;
  o[5] = blockIdx.z;
  o[6] = blockDim.x;
  o[7] = blockDim.y;
  o[8] = blockDim.z;
  o[9] = gridDim.x;
  o[10] = gridDim.y;
  o[11] = gridDim.z;
}

__global__ void last_writer_kernel(unsigned* __restrict__ out) { out[blockIdx.x] = threadIdx.x; }

__global__ void iota_kernel(int* __restrict__ out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = i;
}

constexpr int kGridStrideBlocks = 128;
constexpr int kGridStrideThreads = 256;

int blocks_for(int n, int threads) { return (n + threads - 1) / threads; }

}  // namespace

cudaError_t block_reduce(const float* in, float* out, int rows, int n, int threads) {
  ATTNCHECK_LAUNCH(block_reduce_kernel, dim3(rows), dim3(threads), threads * sizeof(float), 0, in,
                   out, n);
  return cudaGetLastError();
}

cudaError_t inclusive_scan(const float* in, float* out, int n) {
  if (n < 1) return cudaErrorInvalidValue;
  const int blocks = blocks_for(n, kScanBlock);
  if (blocks == 1) {
    ATTNCHECK_LAUNCH(scan_block_kernel, dim3(1), dim3(kScanBlock), 0, 0, in, out,
                     static_cast<float*>(nullptr), n);
    return cudaGetLastError();
  }
  float* sums = nullptr;
  float* scanned = nullptr;
  cudaError_t e = cudaMalloc(reinterpret_cast<void**>(&sums), blocks * sizeof(float));
  if (e == cudaSuccess) e = cudaMalloc(reinterpret_cast<void**>(&scanned), blocks * sizeof(float));
  if (e == cudaSuccess) {
    ATTNCHECK_LAUNCH(scan_block_kernel, dim3(blocks), dim3(kScanBlock), 0, 0, in, out, sums, n);
    e = cudaGetLastError();
  }
  if (e == cudaSuccess) e = inclusive_scan(sums, scanned, blocks);
  if (e == cudaSuccess) {
    ATTNCHECK_LAUNCH(scan_add_kernel, dim3(blocks), dim3(kScanBlock), 0, 0, out, scanned, n);
    e = cudaGetLastError();
  }
  cudaFree(sums);
  cudaFree(scanned);
  return e;
}

cudaError_t tiled_matmul(const float* a, const float* b, float* c, int m, int n, int k) {
  const dim3 grid(blocks_for(n, kTile), blocks_for(m, kTile));
  ATTNCHECK_LAUNCH(tiled_matmul_kernel, grid, dim3(kTile, kTile), 0, 0, a, b, c, m, n, k);
  return cudaGetLastError();
}

cudaError_t warp_shuffles(const int* in, int* out, double* out_double, int blocks, int threads) {
  ATTNCHECK_LAUNCH(warp_shuffles_kernel, dim3(blocks), dim3(threads), 0, 0, in, out, out_double);
  return cudaGetLastError();
}

cudaError_t warp_votes(const int* pred, unsigned* out, int blocks, int threads) {
  ATTNCHECK_LAUNCH((warp_votes_kernel<false>), dim3(blocks), dim3(threads), 0, 0, pred, out);
  return cudaGetLastError();
}

cudaError_t warp_votes_full_mask(const int* pred, unsigned* out, int blocks, int threads) {
  ATTNCHECK_LAUNCH((warp_votes_kernel<true>), dim3(blocks), dim3(threads), 0, 0, pred, out);
  return cudaGetLastError();
}

cudaError_t warp_divergent_ballots(const int* pred, unsigned* out, int blocks, int threads) {
  ATTNCHECK_LAUNCH(warp_divergent_ballots_kernel, dim3(blocks), dim3(threads), 0, 0, pred, out,
                   blocks * threads);
  return cudaGetLastError();
}

cudaError_t atomics(const AtomicsArgs& args) {
  ATTNCHECK_LAUNCH(atomics_kernel, dim3(blocks_for(args.n, 256)), dim3(256), 0, 0, args);
  return cudaGetLastError();
}

cudaError_t smem_reverse(const float* in, float* out, int per_block, int blocks) {
  ATTNCHECK_LAUNCH(smem_reverse_kernel, dim3(blocks), dim3(256), per_block * sizeof(float), 0, in,
                   out, per_block);
  return cudaGetLastError();
}

cudaError_t smem_reverse_set_limit(int bytes) {
  return cudaFuncSetAttribute(reinterpret_cast<const void*>(&smem_reverse_kernel),
                              cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

cudaError_t float_to_bf16_half(const float* in, std::uint16_t* bf, float* bf_back,
                               std::uint16_t* h, float* h_back, int n) {
  ATTNCHECK_LAUNCH(float_to_bf16_half_kernel, dim3(kGridStrideBlocks), dim3(kGridStrideThreads), 0,
                   0, in, reinterpret_cast<__nv_bfloat16*>(bf), bf_back,
                   reinterpret_cast<__half*>(h), h_back, n);
  return cudaGetLastError();
}

cudaError_t bf16_round_trip(const std::uint16_t* bits, float* as_float, std::uint16_t* back,
                            int n) {
  ATTNCHECK_LAUNCH(bf16_round_trip_kernel, dim3(kGridStrideBlocks), dim3(kGridStrideThreads), 0, 0,
                   reinterpret_cast<const __nv_bfloat16*>(bits), as_float,
                   reinterpret_cast<__nv_bfloat16*>(back), n);
  return cudaGetLastError();
}

cudaError_t half_round_trip(const std::uint16_t* bits, float* as_float, std::uint16_t* back,
                            int n) {
  ATTNCHECK_LAUNCH(half_round_trip_kernel, dim3(kGridStrideBlocks), dim3(kGridStrideThreads), 0, 0,
                   reinterpret_cast<const __half*>(bits), as_float,
                   reinterpret_cast<__half*>(back), n);
  return cudaGetLastError();
}

cudaError_t write_even(std::uint32_t* out, int n) {
  ATTNCHECK_LAUNCH(write_even_kernel, dim3(blocks_for(n, 128)), dim3(128), 0, 0, out, n);
  return cudaGetLastError();
}

cudaError_t thread_coords(unsigned* out, dim3 grid, dim3 block) {
  ATTNCHECK_LAUNCH(thread_coords_kernel, grid, block, 0, 0, out);
  return cudaGetLastError();
}

cudaError_t last_writer(unsigned* out, int blocks, int threads) {
  ATTNCHECK_LAUNCH(last_writer_kernel, dim3(blocks), dim3(threads), 0, 0, out);
  return cudaGetLastError();
}

cudaError_t iota(int* out, int n, int threads, cudaStream_t stream) {
  ATTNCHECK_LAUNCH(iota_kernel, dim3(blocks_for(n, threads)), dim3(threads), 0, stream, out, n);
  return cudaPeekAtLastError();
}

}  // namespace simt_tests
