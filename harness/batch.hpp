// The packed (THD) batch of DESIGN.md "The attention contract".
//
// Sequence i occupies q rows [q_start(i), q_start(i) + q_len(i)) where
// q_start(i) = cu_seqlens_q_padded[i] (or cu_seqlens_q[i] when no padded
// offsets are given) and q_len(i) = cu_seqlens_q[i+1] - cu_seqlens_q[i].
// Rows [q_start(i) + q_len(i), q_start(i+1)) are padding between sequences;
// rows [q_start(b), total_q) are tail padding. Likewise for kv.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness/dtype.hpp"

namespace attncheck {

// Mask of one attention call. -1 means unbounded for a window side.
// causal == window (-1, 0); chunk_size 0 means no chunking.
struct MaskSpec {
  bool causal = false;
  int window_left = -1;
  int window_right = -1;
  int chunk_size = 0;

  // Window as the mask applies it: causal forces right = 0.
  int effective_right() const { return causal ? 0 : window_right; }
  bool has_window() const { return window_left >= 0 || (!causal && window_right >= 0); }
  std::string describe() const;
};

struct Batch {
  int num_heads_q = 1;
  int num_heads_kv = 1;
  int head_dim = 8;
  int head_dim_v = 8;
  MaskSpec mask;
  double softmax_scale = 0.0;  // must be set; default_scale() gives 1/sqrt(head_dim)
  DType dtype = DType::Float32;
  int total_q = 0;
  int total_kv = 0;
  std::vector<std::int32_t> cu_seqlens_q{0};
  std::vector<std::int32_t> cu_seqlens_kv{0};
  std::optional<std::vector<std::int32_t>> cu_seqlens_q_padded;
  std::optional<std::vector<std::int32_t>> cu_seqlens_kv_padded;
  std::optional<std::vector<std::int32_t>> position_ids;  // [total_q], real rows 0..len-1

  int num_seqs() const { return static_cast<int>(cu_seqlens_q.size()) - 1; }
  int q_len(int i) const { return cu_seqlens_q[i + 1] - cu_seqlens_q[i]; }
  int kv_len(int i) const { return cu_seqlens_kv[i + 1] - cu_seqlens_kv[i]; }
  int q_start(int i) const {
    return cu_seqlens_q_padded ? (*cu_seqlens_q_padded)[i] : cu_seqlens_q[i];
  }
  int kv_start(int i) const {
    return cu_seqlens_kv_padded ? (*cu_seqlens_kv_padded)[i] : cu_seqlens_kv[i];
  }
  int group_size() const { return num_heads_q / num_heads_kv; }
  double default_scale() const;

  // Throws Error(InvalidBatch) naming the field and index of the first
  // violation. Does not inspect position ids beyond their length (use
  // check_position_ids for the DESIGN.md rules).
  void validate() const;

  // Checks position ids of real rows against cu_seqlens: 0..len-1 in each
  // sequence. Throws MissingPositionIds / InvalidPositionIds.
  void check_position_ids() const;

  // Per-row flags: true for rows that belong to a sequence.
  std::vector<bool> real_q_rows() const;
  std::vector<bool> real_kv_rows() const;
  // Sequence index of each row, -1 for padding.
  std::vector<int> q_row_seq() const;
  std::vector<int> kv_row_seq() const;

  std::size_t q_elems() const { return std::size_t(total_q) * num_heads_q * head_dim; }
  std::size_t k_elems() const { return std::size_t(total_kv) * num_heads_kv * head_dim; }
  std::size_t v_elems() const { return std::size_t(total_kv) * num_heads_kv * head_dim_v; }
  std::size_t o_elems() const { return std::size_t(total_q) * num_heads_q * head_dim_v; }
  std::size_t lse_elems() const { return std::size_t(num_heads_q) * total_q; }

  bool has_padding() const;
  std::string describe() const;  // one line: docs, lengths, heads, dims, mask, dtype
};

// Inputs of a case: float32 values exactly representable in the batch dtype.
// Padding rows may hold anything, NaN included.
struct Inputs {
  std::vector<float> q;     // [total_q, Hq, D]
  std::vector<float> k;     // [total_kv, Hkv, D]
  std::vector<float> v;     // [total_kv, Hkv, Dv]
  std::vector<float> dout;  // [total_q, Hq, Dv]
};

// Results of one attention call in precision S.
template <typename S>
struct Results {
  std::vector<S> out;  // [total_q, Hq, Dv]
  std::vector<S> lse;  // [Hq, total_q], natural log
  std::vector<S> dq;   // [total_q, Hq, D]; empty when forward only
  std::vector<S> dk;   // [total_kv, Hkv, D]
  std::vector<S> dv;   // [total_kv, Hkv, Dv]
  bool has_grads() const { return !dq.empty(); }
};

// The magnitudes of the terms each output element is summed from
// (reference::oracle); they set the per-element floors of the calibrated
// comparison (harness/compare.hpp):
//   terms  : with P widened by the softmax's sensitivity to float32 score
//            errors (the float32 floor);
//   rounded: the terms a kernel rounds to the storage dtype (P, dS, O as
//            stored in Di), unwidened, since scores are float32 and never
//            rounded to the dtype (the dtype floor).
struct Magnitudes {
  Results<double> terms;
  Results<double> rounded;
};

struct Case {
  Batch batch;
  Inputs inputs;
  std::uint64_t seed = 0;
};

// Throws Error(InvalidBatch) when an input buffer has the wrong size or a
// real-row value is not representable in the dtype / not finite.
void validate_inputs(const Batch& batch, const Inputs& inputs);

}  // namespace attncheck
