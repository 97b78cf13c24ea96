// Tensor-core flash attention backward (FlashAttention-2's algorithm),
// deterministic: no atomics, every output element has one writer and its sums
// run in a fixed order.
//   Di    = rowsum(dO * O)                           (flash_common.cuh)
//   dK/dV CTA (x: 64-key tile, y: kv head, z: sequence), 16 keys per warp,
//         over the q heads of the GQA group and the 64-row query tiles that
//         see the keys, each warp in registers:
//           S^T = K Q^T, P^T = exp(scale S^T - LSE), dP^T = V dO^T,
//           dS^T = P^T (dP^T - Di), dV += P^T dO, dK += dS^T Q
//   dQ    CTA (x: 64-row query tile, y: q head, z: sequence), 16 rows per
//         warp, over the key tiles (double-buffered as in the forward):
//           S = Q K^T, P, dP = dO V^T, dS = P (dP - Di), dQ += dS K
// FlashAttention-2 accumulates dQ from the dK/dV CTAs with float32 atomics,
// in whatever order the CTAs run; here the CTA owning a query tile
// accumulates its dQ in registers over the key tiles in order, at the cost of
// computing S and dP a second time. P, P^T and dS are rounded to the storage
// type where they enter a product (the A operand), as in FlashAttention-2.
#include "kernels/flash/flash_tc.cuh"

ATTNCHECK_FLASH_BEGIN
namespace detail::tc {

// Query rows per step of the dK/dV kernel.
inline constexpr int k_dkdv_m = 64;

template <int kD>
__host__ __device__ constexpr std::size_t dkdv_shared_bytes(int keys) {
  return std::size_t(2 * keys + 2 * k_dkdv_m) * stride<kD>() * 2;  // K, V, Q, dO
}
template <int kD>
__host__ __device__ constexpr std::size_t dq_shared_bytes(int block_m) {
  return std::size_t(2 * block_m + 4 * block_n<kD>()) * stride<kD>() * 2;  // Q, dO, 2 x K, 2 x V
}

template <typename T, int kD>
__global__ void __launch_bounds__(k_threads) flash_tc_dkdv_kernel(const BwdParams p) {
  constexpr int kM = k_dkdv_m, kS = stride<kD>();
  const int block_keys = int(blockDim.x) / 2;  // 16 keys per warp
  extern __shared__ __align__(16) std::uint8_t tc_dkdv_smem[];
  T* const sk = reinterpret_cast<T*>(tc_dkdv_smem);
  T* const sv = sk + block_keys * kS;
  T* const sq = sv + block_keys * kS;
  T* const sdo = sq + kM * kS;
  const kernels::SeqlenInfo s(p.cu_seqlens_q, p.cu_seqlens_kv, p.cu_seqlens_q_padded,
                              p.cu_seqlens_kv_padded, blockIdx.z);
  const int n0 = int(blockIdx.x) * block_keys;
  if (n0 >= s.kv_len) return;  // the whole CTA
  const int kvh = int(blockIdx.y), group = p.heads_q / p.heads_kv;
  const int d = p.head_dim, dv = p.head_dim_v;
  const int k16 = (d + 15) / 16, v16 = (dv + 15) / 16;
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int g = lane / 4, tq = lane % 4;
  const int key[2] = {n0 + 16 * warp + g, n0 + 16 * warp + g + 8};  // this lane's key rows
  const int n_end = min(n0 + block_keys, s.kv_len);
  const kernels::KeyRange rows = kernels::queries_seeing(p.mask, n0, n_end, s.q_len, s.kv_len);

  const T* q = static_cast<const T*>(p.q);
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);
  const T* dout = static_cast<const T*>(p.dout);
  cp_tile<T, kS>(sk, k, s.kv_start + n0, p.heads_kv, kvh, d, block_keys, s.kv_len - n0, 2 * k16);
  cp_tile<T, kS>(sv, v, s.kv_start + n0, p.heads_kv, kvh, dv, block_keys, s.kv_len - n0, 2 * v16);
  ptx::cp_async_commit();
  ptx::cp_async_wait<0>();
  __syncthreads();
  std::uint32_t kf[kD / 16][4], vf[kD / 16][4];      // A operands: this warp's 16 keys
  const bool warp_keys = n0 + 16 * warp < s.kv_len;  // else: barriers only
  if (warp_keys) {
    for (int ks = 0; ks < k16; ++ks) load_a<T, kS>(kf[ks], sk, 16 * warp, 16 * ks);
    for (int ks = 0; ks < v16; ++ks) load_a<T, kS>(vf[ks], sv, 16 * warp, 16 * ks);
  }

  float dk[kD / 8][4], dvv[kD / 8][4];
  for (int b = 0; b < kD / 8; ++b) {
    for (int i = 0; i < 4; ++i) dk[b][i] = dvv[b][i] = 0.0f;
  }
  const float scale = p.softmax_scale;
  for (int gi = 0; gi < group; ++gi) {  // fixed order: deterministic GQA sums
    const int h = kvh * group + gi;
    for (int m0 = rows.lo; m0 < rows.hi; m0 += kM) {
      __syncthreads();  // every warp is done with the previous Q and dO tiles
      const int valid = min(kM, rows.hi - m0);
      cp_tile<T, kS>(sq, q, s.q_start + m0, p.heads_q, h, d, kM, valid, 2 * k16);
      cp_tile<T, kS>(sdo, dout, s.q_start + m0, p.heads_q, h, dv, kM, valid, 2 * v16);
      ptx::cp_async_commit();
      ptx::cp_async_wait<0>();
      __syncthreads();
      if (!warp_keys) continue;
      const int pairs = (valid + 15) / 16;
      // S^T and dP^T: 16 keys x kM queries.
      float st[kM / 8][4], dpt[kM / 8][4];
      for (int nb = 0; nb < kM / 8; ++nb) {
        for (int i = 0; i < 4; ++i) st[nb][i] = dpt[nb][i] = 0.0f;
      }
      warp_gemm<T, kS, false, kD / 16, kM / 16>(st, kf, sq, k16, pairs);
      warp_gemm<T, kS, false, kD / 16, kM / 16>(dpt, vf, sdo, v16, pairs);
      // P^T and dS^T; the columns are queries m0 + 8 nb + 2 tq + (i & 1).
      for (int nb = 0; nb < 2 * pairs; ++nb) {
        for (int c = 0; c < 2; ++c) {
          const int i_row = m0 + 8 * nb + 2 * tq + c;
          const bool real = i_row < rows.hi;
          const kernels::KeyRange seen =
              real ? p.mask.keys(i_row, s.q_len, s.kv_len) : kernels::KeyRange{0, 0};
          const long long at = (long long)h * p.total_q + s.q_start + i_row;
          const float lse = real ? p.lse[at] : 0.0f;
          const float di = real ? p.workspace[at] : 0.0f;
          for (int r = 0; r < 2; ++r) {
            const int i = 2 * r + c;
            const bool on = key[r] < s.kv_len && seen.contains(key[r]);
            const float pr =
                on ? expf(st[nb][i] * scale - lse) : 0.0f;  // LSE finite: row sees a key
            st[nb][i] = pr;
            dpt[nb][i] = on ? pr * (dpt[nb][i] - di) : 0.0f;
          }
        }
      }
      // dV += P^T dO and dK += dS^T Q over the tile's queries.
      std::uint32_t pf[kM / 16][4], sf[kM / 16][4];
      for (int kk = 0; kk < pairs; ++kk) {
        acc_to_a<T>(pf[kk], st[2 * kk], st[2 * kk + 1]);
        acc_to_a<T>(sf[kk], dpt[2 * kk], dpt[2 * kk + 1]);
      }
      warp_gemm<T, kS, true, kM / 16, kD / 16>(dvv, pf, sdo, pairs, v16);
      warp_gemm<T, kS, true, kM / 16, kD / 16>(dk, sf, sq, pairs, k16);
    }
  }
  T* dk_out = static_cast<T*>(p.dk);
  T* dv_out = static_cast<T*>(p.dv);
  for (int r = 0; r < 2; ++r) {
    if (key[r] >= s.kv_len) continue;
    const long long kv_row = (long long)(s.kv_start + key[r]) * p.heads_kv + kvh;
    for (int b = 0; b < d / 8; ++b) {
      const int c = 8 * b + 2 * tq;
      dk_out[kv_row * d + c] = from_float<T>(dk[b][2 * r] * scale);
      dk_out[kv_row * d + c + 1] = from_float<T>(dk[b][2 * r + 1] * scale);
    }
    for (int b = 0; b < dv / 8; ++b) {
      const int c = 8 * b + 2 * tq;
      dv_out[kv_row * dv + c] = from_float<T>(dvv[b][2 * r]);
      dv_out[kv_row * dv + c + 1] = from_float<T>(dvv[b][2 * r + 1]);
    }
  }
}

template <typename T, int kD>
__global__ void __launch_bounds__(k_threads) flash_tc_dq_kernel(const BwdParams p) {
  constexpr int kN = block_n<kD>(), kS = stride<kD>();
  const int block_m = int(blockDim.x) / 2;  // 16 rows per warp
  extern __shared__ __align__(16) std::uint8_t tc_dq_smem[];
  T* const sq = reinterpret_cast<T*>(tc_dq_smem);
  T* const sdo = sq + block_m * kS;
  T* const sk = sdo + block_m * kS;  // [2][kN][kS]
  T* const sv = sk + 2 * kN * kS;    // [2][kN][kS]
  const kernels::SeqlenInfo s(p.cu_seqlens_q, p.cu_seqlens_kv, p.cu_seqlens_q_padded,
                              p.cu_seqlens_kv_padded, blockIdx.z);
  const int m0 = int(blockIdx.x) * block_m;
  if (m0 >= s.q_len) return;  // the whole CTA
  const int h = int(blockIdx.y), kvh = h / (p.heads_q / p.heads_kv);
  const int d = p.head_dim, dv = p.head_dim_v;
  const int k16 = (d + 15) / 16, v16 = (dv + 15) / 16;
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int g = lane / 4, tq = lane % 4;
  const int row[2] = {m0 + 16 * warp + g, m0 + 16 * warp + g + 8};
  kernels::KeyRange keys[2];
  float lse[2], di[2];
  for (int i = 0; i < 2; ++i) {
    const bool real = row[i] < s.q_len;
    keys[i] = real ? p.mask.keys(row[i], s.q_len, s.kv_len) : kernels::KeyRange{0, 0};
    const long long at = (long long)h * p.total_q + s.q_start + row[i];
    lse[i] = real ? p.lse[at] : 0.0f;
    di[i] = real ? p.workspace[at] : 0.0f;
  }
  const int m_last = min(m0 + block_m, s.q_len) - 1;
  const int n_begin = p.mask.keys(m0, s.q_len, s.kv_len).lo;
  const int n_end = p.mask.keys(m_last, s.q_len, s.kv_len).hi;

  const T* q = static_cast<const T*>(p.q);
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);
  const T* dout = static_cast<const T*>(p.dout);
  cp_tile<T, kS>(sq, q, s.q_start + m0, p.heads_q, h, d, block_m, s.q_len - m0, 2 * k16);
  cp_tile<T, kS>(sdo, dout, s.q_start + m0, p.heads_q, h, dv, block_m, s.q_len - m0, 2 * v16);
  ptx::cp_async_commit();
  auto load_kv = [&](int n0, int buf) {
    const int valid = min(kN, n_end - n0);
    cp_tile<T, kS>(sk + buf * kN * kS, k, s.kv_start + n0, p.heads_kv, kvh, d, kN, valid, 2 * k16);
    cp_tile<T, kS>(sv + buf * kN * kS, v, s.kv_start + n0, p.heads_kv, kvh, dv, kN, valid, 2 * v16);
    ptx::cp_async_commit();
  };
  if (n_begin < n_end) load_kv(n_begin, 0);

  float dq[kD / 8][4];
  for (int b = 0; b < kD / 8; ++b) {
    for (int i = 0; i < 4; ++i) dq[b][i] = 0.0f;
  }
  std::uint32_t qf[kD / 16][4], dof[kD / 16][4];
  const float scale = p.softmax_scale;
  int buf = 0;
  for (int n0 = n_begin; n0 < n_end; n0 += kN, buf ^= 1) {
    const bool more = n0 + kN < n_end;
    if (more) {
      load_kv(n0 + kN, buf ^ 1);
      ptx::cp_async_wait<1>();
    } else {
      ptx::cp_async_wait<0>();
    }
    __syncthreads();
    const bool warp_rows = m0 + 16 * warp < s.q_len;  // else: barriers only
    const int pairs = (min(kN, n_end - n0) + 15) / 16;
    if (warp_rows && n0 == n_begin) {
      for (int ks = 0; ks < k16; ++ks) load_a<T, kS>(qf[ks], sq, 16 * warp, 16 * ks);
      for (int ks = 0; ks < v16; ++ks) load_a<T, kS>(dof[ks], sdo, 16 * warp, 16 * ks);
    }
    if (warp_rows) {
      const T* kt = sk + buf * kN * kS;
      const T* vt = sv + buf * kN * kS;
      float sc[kN / 8][4], dp[kN / 8][4];
      for (int nb = 0; nb < kN / 8; ++nb) {
        for (int i = 0; i < 4; ++i) sc[nb][i] = dp[nb][i] = 0.0f;
      }
      warp_gemm<T, kS, false, kD / 16, kN / 16>(sc, qf, kt, k16, pairs);
      warp_gemm<T, kS, false, kD / 16, kN / 16>(dp, dof, vt, v16, pairs);
      for (int nb = 0; nb < 2 * pairs; ++nb) {
        for (int i = 0; i < 4; ++i) {
          const int j = n0 + 8 * nb + 2 * tq + (i & 1);
          const bool on = j < n_end && keys[i / 2].contains(j);
          const float pr = on ? expf(sc[nb][i] * scale - lse[i / 2]) : 0.0f;
          dp[nb][i] = on ? pr * (dp[nb][i] - di[i / 2]) : 0.0f;  // dS
        }
      }
      // dQ += dS K over the tile's keys.
      std::uint32_t sf[kN / 16][4];
      for (int kk = 0; kk < pairs; ++kk) acc_to_a<T>(sf[kk], dp[2 * kk], dp[2 * kk + 1]);
      warp_gemm<T, kS, true, kN / 16, kD / 16>(dq, sf, kt, pairs, k16);
    }
    __syncthreads();  // every warp is done with this buffer before it is refilled
  }
  if (n_begin >= n_end) ptx::cp_async_wait<0>();

  T* dq_out = static_cast<T*>(p.dq);
  for (int r = 0; r < 2; ++r) {
    if (row[r] >= s.q_len) continue;
    const long long base = ((long long)(s.q_start + row[r]) * p.heads_q + h) * d;
    for (int b = 0; b < d / 8; ++b) {
      const int c = 8 * b + 2 * tq;
      dq_out[base + c] = from_float<T>(dq[b][2 * r] * scale);
      dq_out[base + c + 1] = from_float<T>(dq[b][2 * r + 1] * scale);
    }
  }
}

}  // namespace detail::tc

cudaError_t tc_backward(const BwdParams& p, cudaStream_t stream) {
  const bool grads_present = p.total_q == 0 || (p.dout && p.dq && p.workspace);
  if (!detail::valid(p) || !detail::buffers_present(p) || !grads_present ||
      (p.total_kv > 0 && (!p.dk || !p.dv)) || !detail::tc::supported(p)) {
    return cudaErrorInvalidValue;
  }
  return detail::dispatch<true>(p, [&]<typename T, int kD>() -> cudaError_t {
    using namespace detail::tc;
    const long long q_rows = (long long)p.total_q * p.heads_q;
    if (q_rows > 0) {
      ATTNCHECK_LAUNCH((detail::dot_do_o_kernel<T>), dim3(unsigned((q_rows + 127) / 128)),
                       dim3(128), 0, stream, p);
      if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    }
    if (p.batch > 0 && p.max_seqlen_kv > 0) {
      const int warps = warps_for(p.max_seqlen_kv);
      if (const cudaError_t e =
              allow_shared(flash_tc_dkdv_kernel<T, kD>, dkdv_shared_bytes<kD>(k_block_m));
          e != cudaSuccess) {
        return e;
      }
      ATTNCHECK_LAUNCH((flash_tc_dkdv_kernel<T, kD>),
                       dim3((p.max_seqlen_kv + 16 * warps - 1) / (16 * warps), p.heads_kv, p.batch),
                       dim3(32 * warps), dkdv_shared_bytes<kD>(16 * warps), stream, p);
      if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    }
    if (p.batch > 0 && p.max_seqlen_q > 0) {
      const int warps = warps_for(p.max_seqlen_q);
      if (const cudaError_t e =
              allow_shared(flash_tc_dq_kernel<T, kD>, dq_shared_bytes<kD>(k_block_m));
          e != cudaSuccess) {
        return e;
      }
      ATTNCHECK_LAUNCH((flash_tc_dq_kernel<T, kD>),
                       dim3((p.max_seqlen_q + 16 * warps - 1) / (16 * warps), p.heads_q, p.batch),
                       dim3(32 * warps), dq_shared_bytes<kD>(16 * warps), stream, p);
      if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    }
    for (const cudaError_t e :
         {detail::zero_padding(static_cast<T*>(p.dq), nullptr, p.total_q, p.heads_q, p.head_dim,
                               p.cu_seqlens_q, p.cu_seqlens_q_padded, p.batch, stream),
          detail::zero_padding(static_cast<T*>(p.dk), nullptr, p.total_kv, p.heads_kv, p.head_dim,
                               p.cu_seqlens_kv, p.cu_seqlens_kv_padded, p.batch, stream),
          detail::zero_padding(static_cast<T*>(p.dv), nullptr, p.total_kv, p.heads_kv, p.head_dim_v,
                               p.cu_seqlens_kv, p.cu_seqlens_kv_padded, p.batch, stream)}) {
      if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
  });
}

ATTNCHECK_FLASH_END
