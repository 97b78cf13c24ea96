// Flash attention backward (FlashAttention-2), deterministic:
//   Di = rowsum(dO * O)                                   (one thread per query row)
//   dK, dV: one thread per key row, looping over the q heads of its GQA group
//           and the query tiles that see it:  P = exp(S - LSE),
//           dV += P^T dO,  dS = P (dO V^T - Di),  dK += scale dS^T Q
//   dQ:     one thread per query row over the key tiles: dQ = scale dS K
// No atomics: each output element has one writer, sums run in a fixed order.
#include "kernels/flash/flash_common.cuh"

ATTNCHECK_FLASH_BEGIN
namespace detail {

// Block (x: key tile, y: kv head, z: sequence).
template <typename T, int kD>
__global__ void __launch_bounds__(k_rows_per_block) flash_bwd_dkdv_kernel(const BwdParams p) {
  constexpr int kM = tile_rows<kD>();
  __shared__ float q_tile[kM][kD];
  __shared__ float do_tile[kM][kD];
  __shared__ float lse_tile[kM];
  __shared__ float di_tile[kM];
  const int kvh = blockIdx.y;
  const kernels::SeqlenInfo s(p.cu_seqlens_q, p.cu_seqlens_kv, p.cu_seqlens_q_padded,
                              p.cu_seqlens_kv_padded, blockIdx.z);
  const int n0 = int(blockIdx.x * blockDim.x);
  if (n0 >= s.kv_len) return;  // the whole block
  const int d = p.head_dim, dv = p.head_dim_v;
  const int group = p.heads_q / p.heads_kv;
  const int j = n0 + int(threadIdx.x);
  const bool active = j < s.kv_len;
  const int n_end = min(n0 + int(blockDim.x), s.kv_len);
  const kernels::KeyRange rows = kernels::queries_seeing(p.mask, n0, n_end, s.q_len, s.kv_len);

  const T* q = static_cast<const T*>(p.q);
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);
  const T* dout = static_cast<const T*>(p.dout);
  const long long kv_row = (long long)(s.kv_start + j) * p.heads_kv + kvh;
  // Only the first d (dv) entries are ever read.
  float k_row[kD], v_row[kD], dk[kD], dvv[kD];
  for (int c = 0; c < d; ++c) {
    k_row[c] = active ? to_float(k[kv_row * d + c]) : 0.0f;
    dk[c] = 0.0f;
  }
  for (int c = 0; c < dv; ++c) {
    v_row[c] = active ? to_float(v[kv_row * dv + c]) : 0.0f;
    dvv[c] = 0.0f;
  }
  for (int g = 0; g < group; ++g) {  // fixed order: deterministic GQA sums
    const int h = kvh * group + g;
    for (int m0 = rows.lo; m0 < rows.hi; m0 += kM) {
      __syncthreads();
      // Rows m0 + r < rows.hi and columns below D (Dv) are the ones read.
      const int tile_m = min(kM, rows.hi - m0), w = max(d, dv);
      for (int e = threadIdx.x; e < tile_m * w; e += blockDim.x) {
        const int r = e / w, c = e % w, i = m0 + r;
        const long long row = (long long)(s.q_start + i) * p.heads_q + h;
        if (c < d) q_tile[r][c] = to_float(q[row * d + c]);
        if (c < dv) do_tile[r][c] = to_float(dout[row * dv + c]);
      }
      for (int r = threadIdx.x; r < tile_m; r += blockDim.x) {
        const int i = m0 + r;
        lse_tile[r] = p.lse[(long long)h * p.total_q + s.q_start + i];
        di_tile[r] = p.workspace[(long long)h * p.total_q + s.q_start + i];
      }
      __syncthreads();
      if (!active) continue;
      for (int r = 0; r < kM && m0 + r < rows.hi; ++r) {
        if (!p.mask.keys(m0 + r, s.q_len, s.kv_len).contains(j)) continue;
        float dot = 0.0f;
        for (int c = 0; c < d; ++c) dot += q_tile[r][c] * k_row[c];
        const float pr = expf(dot * p.softmax_scale - lse_tile[r]);  // LSE finite: row sees j
        float dp = 0.0f;
        for (int c = 0; c < dv; ++c) {
          dvv[c] += pr * do_tile[r][c];
          dp += do_tile[r][c] * v_row[c];
        }
        const float ds = pr * (dp - di_tile[r]);
        for (int c = 0; c < d; ++c) dk[c] += ds * q_tile[r][c];
      }
    }
  }
  if (!active) return;
  T* dk_out = static_cast<T*>(p.dk);
  T* dv_out = static_cast<T*>(p.dv);
  for (int c = 0; c < d; ++c) dk_out[kv_row * d + c] = from_float<T>(dk[c] * p.softmax_scale);
  for (int c = 0; c < dv; ++c) dv_out[kv_row * dv + c] = from_float<T>(dvv[c]);
}

// Block (x: query tile, y: q head, z: sequence).
template <typename T, int kD>
__global__ void __launch_bounds__(k_rows_per_block) flash_bwd_dq_kernel(const BwdParams p) {
  constexpr int kN = tile_rows<kD>();
  __shared__ float k_tile[kN][kD];
  __shared__ float v_tile[kN][kD];
  const QueryTile t(p);
  if (t.empty()) return;  // the whole block
  const kernels::SeqlenInfo& s = t.s;
  const int d = p.head_dim, dv = p.head_dim_v;
  const int h = t.h, i = t.i;
  const bool active = t.active;
  const T* q = static_cast<const T*>(p.q);
  const T* dout = static_cast<const T*>(p.dout);
  const long long q_row_index = (long long)(s.q_start + i) * p.heads_q + h;
  // Only the first d (dv) entries are ever read.
  float q_row[kD], do_row[kD], dq[kD];
  for (int c = 0; c < d; ++c) {
    q_row[c] = active ? to_float(q[q_row_index * d + c]) : 0.0f;
    dq[c] = 0.0f;
  }
  for (int c = 0; c < dv; ++c) do_row[c] = active ? to_float(dout[q_row_index * dv + c]) : 0.0f;
  const float lse = active ? p.lse[(long long)h * p.total_q + s.q_start + i] : 0.0f;
  const float di = active ? p.workspace[(long long)h * p.total_q + s.q_start + i] : 0.0f;
  for (int n0 = t.n_begin; n0 < t.n_end; n0 += kN) {
    __syncthreads();  // the previous tile is consumed
    load_kv_tile<T>(p, s, t.kvh, n0, t.n_end, k_tile, v_tile);
    __syncthreads();
    if (!active) continue;
    for (int r = 0; r < kN; ++r) {
      const int j = n0 + r;
      if (j >= t.n_end || !t.mine.contains(j)) continue;
      float dot = 0.0f;
      for (int c = 0; c < d; ++c) dot += q_row[c] * k_tile[r][c];
      const float pr = expf(dot * p.softmax_scale - lse);
      float dp = 0.0f;
      for (int c = 0; c < dv; ++c) dp += do_row[c] * v_tile[r][c];
      const float ds = pr * (dp - di);
      for (int c = 0; c < d; ++c) dq[c] += ds * k_tile[r][c];
    }
  }
  if (!active) return;
  T* dq_out = static_cast<T*>(p.dq);
  for (int c = 0; c < d; ++c) dq_out[q_row_index * d + c] = from_float<T>(dq[c] * p.softmax_scale);
}

}  // namespace detail

cudaError_t backward(const BwdParams& p, cudaStream_t stream) {
  const bool grads_present = p.total_q == 0 || (p.dout && p.dq && p.workspace);
  if (!detail::valid(p) || !detail::buffers_present(p) || !grads_present ||
      (p.total_kv > 0 && (!p.dk || !p.dv))) {
    return cudaErrorInvalidValue;
  }
  return detail::dispatch(p, [&]<typename T, int kD>() -> cudaError_t {
    const long long q_rows = (long long)p.total_q * p.heads_q;
    if (q_rows > 0) {
      ATTNCHECK_LAUNCH((detail::dot_do_o_kernel<T>), dim3(unsigned((q_rows + 127) / 128)), dim3(128),
                       0, stream, p);
      if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    }
    if (p.batch > 0 && p.max_seqlen_kv > 0) {
      const int rows = detail::rows_per_block(p.max_seqlen_kv);
      ATTNCHECK_LAUNCH((detail::flash_bwd_dkdv_kernel<T, kD>),
                       dim3((p.max_seqlen_kv + rows - 1) / rows, p.heads_kv, p.batch), dim3(rows), 0,
                       stream, p);
      if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    }
    if (p.batch > 0 && p.max_seqlen_q > 0) {
      const int rows = detail::rows_per_block(p.max_seqlen_q);
      ATTNCHECK_LAUNCH((detail::flash_bwd_dq_kernel<T, kD>),
                       dim3((p.max_seqlen_q + rows - 1) / rows, p.heads_q, p.batch), dim3(rows), 0,
                       stream, p);
      if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    }
    for (const cudaError_t e :
         {detail::zero_padding(static_cast<T*>(p.dq), nullptr, p.total_q, p.heads_q, p.head_dim,
                               p.cu_seqlens_q, p.cu_seqlens_q_padded, p.batch, stream),
          detail::zero_padding(static_cast<T*>(p.dk), nullptr, p.total_kv, p.heads_kv, p.head_dim,
                               p.cu_seqlens_kv, p.cu_seqlens_kv_padded, p.batch, stream),
          detail::zero_padding(static_cast<T*>(p.dv), nullptr, p.total_kv, p.heads_kv,
                               p.head_dim_v, p.cu_seqlens_kv, p.cu_seqlens_kv_padded, p.batch,
                               stream)}) {
      if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
  });
}

ATTNCHECK_FLASH_END
