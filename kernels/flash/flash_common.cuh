// Pieces shared by the flash forward and backward kernels: storage-dtype
// conversion, tile shapes, the padding-row zeroing kernel and the dispatch
// over dtype and head-dim tile.
#pragma once

#include <type_traits>

#include "kernels/common/mask.hpp"
#include "kernels/common/seqlen.hpp"
#include "kernels/flash/flash.hpp"
#include "kernels/simt/cuda.hpp"

ATTNCHECK_FLASH_BEGIN
namespace detail {

// Storage <-> float32 (accumulation). Stores round to nearest even.
template <typename T> __device__ __forceinline__ float to_float(T x);
template <> __device__ __forceinline__ float to_float<float>(float x) { return x; }
template <> __device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 x) {
  return __bfloat162float(x);
}
template <> __device__ __forceinline__ float to_float<__half>(__half x) { return __half2float(x); }

template <typename T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}
template <> __device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }

// Threads per block: one query row (forward, dQ) or one key row (dK, dV) each.
inline constexpr int k_rows_per_block = 64;

// Threads (rows) per block of a launch over sequences of at most `max_len`
// rows: k_rows_per_block, or fewer when every sequence is shorter, so that a
// launch over short shards (sequence parallelism at cp 8) does not run 64
// threads per block to fill a few rows. The kernels take their row tile
// from blockDim.x.
__host__ __device__ inline int rows_per_block(int max_len) {
  return max_len < k_rows_per_block ? (max_len > 0 ? max_len : 1) : k_rows_per_block;
}

// Rows of the other operand staged in shared memory per step: two
// [rows][kD] float tiles stay at 32 KiB, under the 48 KiB static limit.
template <int kD>
__host__ __device__ constexpr int tile_rows() {
  return kD <= 64 ? 64 : 4096 / kD;
}

// The query tile of a block (x: query tile, y: q head, z: sequence) and the
// calling thread's row in it (forward and dQ kernels).
struct QueryTile {
  kernels::SeqlenInfo s;
  int h;         // q head
  int kvh;       // the kv head it reads (GQA: h / group)
  int m0;        // first row of the tile, within the sequence
  int i;         // this thread's row
  bool active;   // i is a real row
  int n_begin = 0, n_end = 0;       // keys any row of the tile sees
  kernels::KeyRange mine{0, 0};     // keys row i sees

  __device__ explicit QueryTile(const FwdParams& p)
      : s(p.cu_seqlens_q, p.cu_seqlens_kv, p.cu_seqlens_q_padded, p.cu_seqlens_kv_padded,
          blockIdx.z),
        h(blockIdx.y),
        kvh(h / (p.heads_q / p.heads_kv)),
        m0(int(blockIdx.x * blockDim.x)),
        i(m0 + int(threadIdx.x)),
        active(i < s.q_len) {
    if (empty()) return;
    // The interval ends are monotone in the row: the tile's first and last
    // rows bound the keys of all of them.
    const int m_last = min(m0 + int(blockDim.x), s.q_len) - 1;
    n_begin = p.mask.keys(m0, s.q_len, s.kv_len).lo;
    n_end = p.mask.keys(m_last, s.q_len, s.kv_len).hi;
    if (active) mine = p.mask.keys(i, s.q_len, s.kv_len);
  }
  // A tile past the sequence's end: the whole block returns before any barrier.
  __device__ bool empty() const { return m0 >= s.q_len; }
};

// Stages keys [n0, min(n0 + kN, n_end)) of kv head `kvh`, columns below D
// (K) and Dv (V), into shared-memory tiles, all threads of the block
// cooperating. The rest of the tiles is left as it was: the kernels read
// only keys below n_end and columns below D (Dv).
template <typename T, int kN, int kD>
__device__ void load_kv_tile(const FwdParams& p, const kernels::SeqlenInfo& s, int kvh, int n0,
                             int n_end, float (&k_tile)[kN][kD], float (&v_tile)[kN][kD]) {
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);
  const int d = p.head_dim, dv = p.head_dim_v, w = max(d, dv);
  const int rows = min(kN, n_end - n0);
  for (int e = threadIdx.x; e < rows * w; e += blockDim.x) {
    const int r = e / w, c = e % w;
    const long long row = (long long)(s.kv_start + n0 + r) * p.heads_kv + kvh;
    if (c < d) k_tile[r][c] = to_float(k[row * d + c]);
    if (c < dv) v_tile[r][c] = to_float(v[row * dv + c]);
  }
}

// Zeroes the padding rows of a [total, heads, width] tensor (and sets the
// padding entries of an optional [heads, total] LSE to -inf). Real rows are
// those of [start(b), start(b) + len(b)) for some sequence b.
template <typename T>
__global__ void zero_padding_rows(T* x, float* lse, int total, int heads, int width,
                                  const int* cu, const int* cu_padded, int batch) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= total) return;
  // The last sequence starting at or before r (starts are non-decreasing).
  int lo = 0, hi = batch;  // search in [lo, hi)
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    const int start = cu_padded ? cu_padded[mid] : cu[mid];
    if (start <= r) lo = mid + 1; else hi = mid;
  }
  const int b = lo - 1;
  if (b >= 0) {
    const int start = cu_padded ? cu_padded[b] : cu[b];
    if (r < start + (cu[b + 1] - cu[b])) return;  // a real row
  }
  if (x) {
    for (int e = 0; e < heads * width; ++e) x[(long long)r * heads * width + e] = from_float<T>(0.0f);
  }
  if (lse) {
    for (int h = 0; h < heads; ++h) lse[(long long)h * total + r] = -INFINITY;
  }
}

template <typename T>
cudaError_t zero_padding(T* x, float* lse, int total, int heads, int width, const int* cu,
                         const int* cu_padded, int batch, cudaStream_t stream) {
  if (total == 0) return cudaSuccess;
  const int threads = 128;
  ATTNCHECK_LAUNCH((zero_padding_rows<T>), dim3((total + threads - 1) / threads), dim3(threads), 0,
                   stream, x, lse, total, heads, width, cu, cu_padded, batch);
  return cudaGetLastError();
}

// Backward: Di = rowsum(dO * O) for every row of every q head into
// p.workspace (padding rows too: never read).
template <typename T>
__global__ void dot_do_o_kernel(const BwdParams p) {
  const long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= (long long)p.total_q * p.heads_q) return;
  const T* o = static_cast<const T*>(p.o);
  const T* dout = static_cast<const T*>(p.dout);
  float acc = 0.0f;
  for (int c = 0; c < p.head_dim_v; ++c) {
    acc += to_float(dout[r * p.head_dim_v + c]) * to_float(o[r * p.head_dim_v + c]);
  }
  const long long row = r / p.heads_q, h = r % p.heads_q;
  p.workspace[h * p.total_q + row] = acc;
}

// Calls f.template operator()<T, kD>() for the storage type and the smallest
// head-dim tile holding max(D, Dv). kSixteenBit: bfloat16/float16 only
// (float32 is cudaErrorInvalidValue, never instantiated).
template <bool kSixteenBit = false, typename F>
cudaError_t dispatch(const FwdParams& p, F&& f) {
  const int d = p.head_dim > p.head_dim_v ? p.head_dim : p.head_dim_v;
  auto by_dim = [&](auto tag) -> cudaError_t {
    using T = typename decltype(tag)::type;
    if (d <= 32) return f.template operator()<T, 32>();
    if (d <= 64) return f.template operator()<T, 64>();
    if (d <= 128) return f.template operator()<T, 128>();
    return f.template operator()<T, 256>();
  };
  switch (p.dtype) {
    case Dtype::Float32:
      if constexpr (kSixteenBit) return cudaErrorInvalidValue;
      else return by_dim(std::type_identity<float>{});
    case Dtype::BFloat16: return by_dim(std::type_identity<__nv_bfloat16>{});
    case Dtype::Float16: return by_dim(std::type_identity<__half>{});
  }
  return cudaErrorInvalidValue;
}

inline bool valid(const FwdParams& p) {
  return p.batch >= 0 && p.heads_q >= 1 && p.heads_kv >= 1 && p.heads_q % p.heads_kv == 0 &&
         p.head_dim >= 1 && p.head_dim_v >= 1 && p.head_dim <= k_max_head_dim &&
         p.head_dim_v <= k_max_head_dim && p.total_q >= 0 && p.total_kv >= 0 &&
         p.max_seqlen_q >= 0 && p.max_seqlen_kv >= 0 && p.cu_seqlens_q && p.cu_seqlens_kv;
}

// Buffers of empty tensors may be null (a zero-byte allocation).
inline bool buffers_present(const FwdParams& p) {
  return (p.total_q == 0 || (p.q && p.o && p.lse)) && (p.total_kv == 0 || (p.k && p.v));
}

}  // namespace detail
ATTNCHECK_FLASH_END
