// Flash attention (FlashAttention-2 algorithm, tiled with an online softmax)
// for packed (THD) batches: forward and backward, one CUDA source that runs on
// a GPU (nvcc) and on the CPU (kernels/simt).
//
// All pointers are device pointers. Tensors are row-major:
//   q [total_q, Hq, D], k [total_kv, Hkv, D], v [total_kv, Hkv, Dv] in `dtype`,
//   o, dout [total_q, Hq, Dv] and dq [total_q, Hq, D], dk, dv like k, v,
//   lse [Hq, total_q] float32 (natural log).
// The kernels write every element of their outputs: padding rows (between
// sequences and after the last) get exactly 0 (lse -inf), and a real query
// that sees no key gets O = 0, LSE = -inf and no gradient.
#pragma once

#include "kernels/common/mask.hpp"
#include "kernels/simt/runtime_api.hpp"

// The same source is built for simt and natively; an inline namespace per
// build keeps both in one program (a CPU and a GPU registry entry).
#if defined(__CUDACC__) || defined(ATTNCHECK_NATIVE_CUDA)
#define ATTNCHECK_FLASH_BACKEND cuda
#else
#define ATTNCHECK_FLASH_BACKEND simt
#endif
#define ATTNCHECK_FLASH_BEGIN \
  namespace attncheck::flash {  \
  inline namespace ATTNCHECK_FLASH_BACKEND {
#define ATTNCHECK_FLASH_END \
  }                         \
  }

ATTNCHECK_FLASH_BEGIN

enum class Dtype { Float32, BFloat16, Float16 };

// Largest supported head dim (max of D and Dv). Head dims are computed in
// tiles of 32, 64, 128 or 256: any D up to 256 runs in the smallest tile that
// holds it.
inline constexpr int k_max_head_dim = 256;

struct FwdParams {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* o = nullptr;
  float* lse = nullptr;
  const int* cu_seqlens_q = nullptr;         // [batch + 1], actual lengths
  const int* cu_seqlens_kv = nullptr;
  const int* cu_seqlens_q_padded = nullptr;  // [batch + 1] memory offsets, or null
  const int* cu_seqlens_kv_padded = nullptr;
  int batch = 0;
  int total_q = 0, total_kv = 0;
  int heads_q = 1, heads_kv = 1;
  int head_dim = 0, head_dim_v = 0;
  int max_seqlen_q = 0, max_seqlen_kv = 0;  // bounds on the actual lengths (grid size)
  float softmax_scale = 1.0f;
  kernels::MaskParams mask;
  Dtype dtype = Dtype::Float32;
};

struct BwdParams : FwdParams {
  const void* dout = nullptr;
  void* dq = nullptr;
  void* dk = nullptr;
  void* dv = nullptr;
  float* workspace = nullptr;  // [Hq, total_q] floats: Di = rowsum(dO * O)
};

// Forward: o and lse. Returns the launch error, or cudaErrorInvalidValue for
// parameters out of range (head dim > 256, Hq % Hkv != 0, ...).
cudaError_t forward(const FwdParams& p, cudaStream_t stream);

// Backward: dq, dk, dv from q, k, v, o, lse (of forward) and dout.
// Deterministic: no atomics; GQA gradients are summed over the group in a
// fixed order inside one block, so results are bitwise reproducible.
cudaError_t backward(const BwdParams& p, cudaStream_t stream);

// The tensor-core kernels (flash_tc_*.cu, FlashAttention-2's structure on
// mma.sync.m16n8k16): the same contract and parameters, for bfloat16 and
// float16 storage and head dims that are multiples of 8 (16-byte rows);
// anything else is cudaErrorInvalidValue. Float32 inputs have no bf16/f16
// tensor-core path (tf32's 10-bit mantissa would not meet float32's
// tolerance), so they are refused, as FlashAttention-2 refuses them.
// tc_backward is deterministic: dQ is accumulated by the CTA that owns the
// query tile, over the key tiles in order (no atomics).
bool tc_supported(Dtype dtype, int head_dim, int head_dim_v);
cudaError_t tc_forward(const FwdParams& p, cudaStream_t stream);
cudaError_t tc_backward(const BwdParams& p, cudaStream_t stream);

ATTNCHECK_FLASH_END
