// Tensor-core flash attention forward (FlashAttention-2's structure):
// CTA (x: 64-row query tile, y: q head, z: sequence) of 4 warps, 16 query
// rows per warp. Per key tile of kN rows:
//   S = Q K^T      mma.m16n8k16, Q fragments kept in registers, K by ldmatrix
//   m, l           online softmax per row; the row's max over the 4 lanes of
//                  its quad by shuffles (each lane holds 2 columns of every
//                  8-column block), l summed per lane and over the quad at the end
//   O = alpha O + P V   P rounded to the storage type in registers (the
//                  accumulator layout is the A layout), V by ldmatrix .trans
// K/V tiles are double-buffered: the copy of tile t+1 (cp.async, its own
// commit group) is in flight while tile t is computed; wait_group 1 waits
// for tile t only.
#include "kernels/common/online_softmax.hpp"
#include "kernels/flash/flash_tc.cuh"

ATTNCHECK_FLASH_BEGIN
namespace detail::tc {

template <int kD>
__host__ __device__ constexpr std::size_t fwd_shared_bytes(int block_m) {
  return std::size_t(block_m + 4 * block_n<kD>()) * stride<kD>() * 2;  // Q, 2 x K, 2 x V
}

template <typename T, int kD>
__global__ void __launch_bounds__(k_threads) flash_tc_fwd_kernel(const FwdParams p) {
  constexpr int kN = block_n<kD>(), kS = stride<kD>();
  extern __shared__ __align__(16) std::uint8_t tc_fwd_smem[];
  const int block_m = int(blockDim.x) / 2;  // 16 rows per warp
  T* const sq = reinterpret_cast<T*>(tc_fwd_smem);
  T* const sk = sq + block_m * kS;  // [2][kN][kS]
  T* const sv = sk + 2 * kN * kS;   // [2][kN][kS]
  const kernels::SeqlenInfo s(p.cu_seqlens_q, p.cu_seqlens_kv, p.cu_seqlens_q_padded,
                              p.cu_seqlens_kv_padded, blockIdx.z);
  const int m0 = int(blockIdx.x) * block_m;
  if (m0 >= s.q_len) return;  // the whole CTA
  const int h = int(blockIdx.y), kvh = h / (p.heads_q / p.heads_kv);
  const int d = p.head_dim, dv = p.head_dim_v;
  const int k16 = (d + 15) / 16, v16 = (dv + 15) / 16;  // 16-column steps of D and Dv
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int g = lane / 4, tq = lane % 4;
  // This lane's two rows (within the sequence) and the keys they see.
  const int row[2] = {m0 + 16 * warp + g, m0 + 16 * warp + g + 8};
  kernels::KeyRange keys[2];
  for (int i = 0; i < 2; ++i) {
    keys[i] = row[i] < s.q_len ? p.mask.keys(row[i], s.q_len, s.kv_len) : kernels::KeyRange{0, 0};
  }
  const int m_last = min(m0 + block_m, s.q_len) - 1;
  const int n_begin = p.mask.keys(m0, s.q_len, s.kv_len).lo;
  const int n_end = p.mask.keys(m_last, s.q_len, s.kv_len).hi;

  const T* q = static_cast<const T*>(p.q);
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);
  cp_tile<T, kS>(sq, q, s.q_start + m0, p.heads_q, h, d, block_m, s.q_len - m0, 2 * k16);
  ptx::cp_async_commit();
  auto load_kv = [&](int n0, int buf) {
    const int valid = min(kN, n_end - n0);
    cp_tile<T, kS>(sk + buf * kN * kS, k, s.kv_start + n0, p.heads_kv, kvh, d, kN, valid, 2 * k16);
    cp_tile<T, kS>(sv + buf * kN * kS, v, s.kv_start + n0, p.heads_kv, kvh, dv, kN, valid, 2 * v16);
    ptx::cp_async_commit();
  };
  if (n_begin < n_end) load_kv(n_begin, 0);

  float o[kD / 8][4];
  for (int b = 0; b < 2 * v16; ++b) {
    for (int i = 0; i < 4; ++i) o[b][i] = 0.0f;
  }
  kernels::OnlineSoftmax sm[2];
  std::uint32_t qf[kD / 16][4];
  const float scale = p.softmax_scale;
  int buf = 0;
  for (int n0 = n_begin; n0 < n_end; n0 += kN, buf ^= 1) {
    const bool more = n0 + kN < n_end;
    if (more) {
      load_kv(n0 + kN, buf ^ 1);  // in flight while this tile is computed
      ptx::cp_async_wait<1>();    // Q and this tile have landed
    } else {
      ptx::cp_async_wait<0>();
    }
    __syncthreads();
    // A warp whose 16 rows are all past the sequence's end only keeps the
    // barriers; 16-key steps past the tile's last key are skipped.
    const bool warp_rows = m0 + 16 * warp < s.q_len;
    const int pairs = (min(kN, n_end - n0) + 15) / 16;
    if (warp_rows && n0 == n_begin) {
      for (int ks = 0; ks < k16; ++ks) load_a<T, kS>(qf[ks], sq, 16 * warp, 16 * ks);
    }
    if (warp_rows) {
      const T* kt = sk + buf * kN * kS;
      const T* vt = sv + buf * kN * kS;
      // S = Q K^T for this warp's 16 rows and the tile's kN keys.
      float sc[kN / 8][4];
      for (int nb = 0; nb < kN / 8; ++nb) {
        for (int i = 0; i < 4; ++i) sc[nb][i] = 0.0f;
      }
      warp_gemm<T, kS, false, kD / 16, kN / 16>(sc, qf, kt, k16, pairs);
      // Scale and mask; the tile's max per row over the quad.
      float tile_max[2] = {-INFINITY, -INFINITY};
      for (int nb = 0; nb < 2 * pairs; ++nb) {
        for (int i = 0; i < 4; ++i) {
          const int j = n0 + 8 * nb + 2 * tq + (i & 1);
          const bool seen = j < n_end && keys[i / 2].contains(j);
          sc[nb][i] = seen ? sc[nb][i] * scale : -INFINITY;
          tile_max[i / 2] = fmaxf(tile_max[i / 2], sc[nb][i]);
        }
      }
      float alpha[2];
      for (int r = 0; r < 2; ++r) alpha[r] = sm[r].rescale(quad_max(tile_max[r]));
      // P = exp(S - m) (float32 for l, the storage type for P V).
      for (int nb = 0; nb < 2 * pairs; ++nb) {
        for (int i = 0; i < 4; ++i) {
          const float pr = sm[i / 2].prob(sc[nb][i]);
          sm[i / 2].l += pr;
          sc[nb][i] = pr;
        }
      }
      for (int b = 0; b < 2 * v16; ++b) {
        for (int i = 0; i < 4; ++i) o[b][i] *= alpha[i / 2];
      }
      // O += P V over the tile's keys.
      std::uint32_t pf[kN / 16][4];
      for (int kk = 0; kk < pairs; ++kk) acc_to_a<T>(pf[kk], sc[2 * kk], sc[2 * kk + 1]);
      warp_gemm<T, kS, true, kN / 16, kD / 16>(o, pf, vt, pairs, v16);
    }
    __syncthreads();  // every warp is done with this buffer before it is refilled
  }
  if (n_begin >= n_end) ptx::cp_async_wait<0>();  // Q's group (never read)

  T* out = static_cast<T*>(p.o);
  for (int r = 0; r < 2; ++r) {
    sm[r].l = quad_sum(sm[r].l);
    if (row[r] >= s.q_len) continue;
    const float inv = sm[r].inv_sum();  // 0 for a row that saw no key: O = 0
    const long long base = ((long long)(s.q_start + row[r]) * p.heads_q + h) * dv;
    for (int b = 0; b < dv / 8; ++b) {
      const int c = 8 * b + 2 * tq;
      out[base + c] = from_float<T>(o[b][2 * r] * inv);
      out[base + c + 1] = from_float<T>(o[b][2 * r + 1] * inv);
    }
    if (tq == 0) p.lse[(long long)h * p.total_q + s.q_start + row[r]] = sm[r].lse();
  }
}

}  // namespace detail::tc

bool tc_supported(Dtype dtype, int head_dim, int head_dim_v) {
  FwdParams p;
  p.dtype = dtype;
  p.head_dim = head_dim;
  p.head_dim_v = head_dim_v;
  return detail::tc::supported(p);
}

cudaError_t tc_forward(const FwdParams& p, cudaStream_t stream) {
  if (!detail::valid(p) || !detail::buffers_present(p) || !detail::tc::supported(p)) {
    return cudaErrorInvalidValue;
  }
  return detail::dispatch<true>(p, [&]<typename T, int kD>() -> cudaError_t {
    if (p.batch > 0 && p.max_seqlen_q > 0) {
      using namespace detail::tc;
      const int warps = warps_for(p.max_seqlen_q);
      const std::size_t bytes = fwd_shared_bytes<kD>(16 * warps);
      if (const cudaError_t e =
              allow_shared(flash_tc_fwd_kernel<T, kD>, fwd_shared_bytes<kD>(k_block_m));
          e != cudaSuccess) {
        return e;
      }
      const dim3 grid((p.max_seqlen_q + 16 * warps - 1) / (16 * warps), p.heads_q, p.batch);
      ATTNCHECK_LAUNCH((flash_tc_fwd_kernel<T, kD>), grid, dim3(32 * warps), bytes, stream, p);
      if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    }
    return detail::zero_padding(static_cast<T*>(p.o), p.lse, p.total_q, p.heads_q, p.head_dim_v,
                                p.cu_seqlens_q, p.cu_seqlens_q_padded, p.batch, stream);
  });
}

ATTNCHECK_FLASH_END
