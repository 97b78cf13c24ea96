// Flash attention forward: one thread per query row, key/value tiles staged
// in shared memory, an online softmax per row (kernels/common/online_softmax.hpp).
#include "kernels/common/online_softmax.hpp"
#include "kernels/flash/flash_common.cuh"

ATTNCHECK_FLASH_BEGIN
namespace detail {

// Block (x: query tile, y: q head, z: sequence).
template <typename T, int kD>
__global__ void __launch_bounds__(k_rows_per_block) flash_fwd_kernel(const FwdParams p) {
  constexpr int kN = tile_rows<kD>();
  __shared__ float k_tile[kN][kD];
  __shared__ float v_tile[kN][kD];
  const QueryTile t(p);
  if (t.empty()) return;  // the whole block: no barrier is skipped by part of it
  const kernels::SeqlenInfo& s = t.s;
  const int d = p.head_dim, dv = p.head_dim_v;
  const int h = t.h, i = t.i;
  const bool active = t.active;
  const T* q = static_cast<const T*>(p.q);
  // Only the first d (dv) entries are ever read.
  float q_row[kD];
  float acc[kD];
  for (int c = 0; c < d; ++c) {
    q_row[c] = active ? to_float(q[((long long)(s.q_start + i) * p.heads_q + h) * d + c]) : 0.0f;
  }
  for (int c = 0; c < dv; ++c) acc[c] = 0.0f;
  kernels::OnlineSoftmax sm;
  for (int n0 = t.n_begin; n0 < t.n_end; n0 += kN) {
    __syncthreads();  // the previous tile is consumed
    load_kv_tile<T>(p, s, t.kvh, n0, t.n_end, k_tile, v_tile);
    __syncthreads();
    if (!active) continue;
    // S = scale * q k^T over the tile's keys this row sees; the rest -inf.
    float scores[kN];
    float tile_max = -INFINITY;
    for (int r = 0; r < kN; ++r) {
      const int j = n0 + r;
      if (j >= t.n_end || !t.mine.contains(j)) {
        scores[r] = -INFINITY;
        continue;
      }
      float dot = 0.0f;
      for (int c = 0; c < d; ++c) dot += q_row[c] * k_tile[r][c];
      scores[r] = dot * p.softmax_scale;
      tile_max = fmaxf(tile_max, scores[r]);
    }
    // O = alpha * O + sum_j exp(s_j - m) v_j
    const float alpha = sm.rescale(tile_max);
    for (int c = 0; c < dv; ++c) acc[c] *= alpha;
    for (int r = 0; r < kN; ++r) {
      const float pr = sm.prob(scores[r]);
      if (pr == 0.0f) continue;
      sm.l += pr;
      for (int c = 0; c < dv; ++c) acc[c] += pr * v_tile[r][c];
    }
  }
  if (!active) return;
  T* o = static_cast<T*>(p.o);
  const float inv = sm.inv_sum();  // 0 for a row that saw no key: O = 0
  for (int c = 0; c < dv; ++c) {
    o[((long long)(s.q_start + i) * p.heads_q + h) * dv + c] = from_float<T>(acc[c] * inv);
  }
  p.lse[(long long)h * p.total_q + s.q_start + i] = sm.lse();
}

}  // namespace detail

cudaError_t forward(const FwdParams& p, cudaStream_t stream) {
  if (!detail::valid(p) || !detail::buffers_present(p)) return cudaErrorInvalidValue;
  return detail::dispatch(p, [&]<typename T, int kD>() -> cudaError_t {
    if (p.batch > 0 && p.max_seqlen_q > 0) {
      const int rows = detail::rows_per_block(p.max_seqlen_q);
      const dim3 grid((p.max_seqlen_q + rows - 1) / rows, p.heads_q, p.batch);
      ATTNCHECK_LAUNCH((detail::flash_fwd_kernel<T, kD>), grid, dim3(rows), 0,
                       stream, p);
      if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    }
    return detail::zero_padding(static_cast<T*>(p.o), p.lse, p.total_q, p.heads_q, p.head_dim_v,
                                p.cu_seqlens_q, p.cu_seqlens_q_padded, p.batch, stream);
  });
}

ATTNCHECK_FLASH_END
