// Sharding a packed batch for context (sequence) parallelism (DESIGN.md
// "Distributed variants").
//
// The CP layout: every sequence is padded to a multiple of 2*cp rows (pad,
// never round down: no token is ever dropped) and the sequences are laid out
// back to back; total = sum of padded lengths. The cu_seqlens (actual and
// padded) and position ids of the layout describe the GLOBAL sequence and are
// built here, before any sharding; shards never regenerate them.
//
// Zigzag split (ring, all-gather): sequence s of padded length P_s is cut into
// 2*cp chunks of c_s = P_s / (2*cp) rows; rank r holds chunks r and
// 2*cp-1-r of every sequence, in sequence order:
//   [s0 chunk r | s0 chunk 2cp-1-r | s1 chunk r | s1 chunk 2cp-1-r | ...]
// Because padding sits at the end of each sequence, the real rows of a rank's
// two chunks of a sequence are a prefix of them: a rank-local batch describes
// them with local padded slots 2*c_s and actual length = real rows held.
// Contiguous split (Ulysses): rank r holds layout rows [r*T/cp, (r+1)*T/cp).
//
// Context parallelism is self-attention: a sequence's queries and keys are
// the same tokens, so every sequence needs Lq == Lk (else Error(Unsupported)).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "harness/batch.hpp"

namespace attncheck::shard {

struct CpLayout {
  int cp = 1;
  int total = 0;                                // rows of the layout
  std::vector<std::int32_t> cu_seqlens;         // actual lengths (prefix sums), as the case's
  std::vector<std::int32_t> cu_seqlens_padded;  // slots of round_up(len, 2*cp) rows
  std::vector<std::int32_t> position_ids;       // [total]: 0..len-1 on real rows, 0 on padding
  std::vector<std::uint8_t> valid;              // [total]: 1 on real rows
  std::vector<std::int32_t> q_row, kv_row;      // [total]: the case's q / kv row, -1 on padding

  int num_seqs() const { return int(cu_seqlens.size()) - 1; }
  int len(int s) const { return cu_seqlens[s + 1] - cu_seqlens[s]; }
  int padded_len(int s) const { return cu_seqlens_padded[s + 1] - cu_seqlens_padded[s]; }
  int start(int s) const { return cu_seqlens_padded[s]; }
  int chunk(int s) const { return padded_len(s) / (2 * cp); }  // c_s
  int rows_per_rank() const { return total / cp; }
};

// round_up(len, 2*cp) for len >= 0.
int padded_length(int len, int cp);

// Builds the layout of `b`. Position ids: the case's own (validated against
// cu_seqlens) when it has them; when it has none, Error(MissingPositionIds)
// if `require_position_ids` (a path that derives segmentation from ids), else
// built from cu_seqlens. Throws Error(Usage) for cp < 1 and
// Error(Unsupported) for a sequence with Lq != Lk.
CpLayout make_cp_layout(const Batch& b, int cp, bool require_position_ids = false);

// The global batch in layout order: `like`'s heads, dims, mask, scale and
// dtype; cu_seqlens (q and kv) and padded offsets of the layout; position ids.
Batch layout_batch(const CpLayout& l, const Batch& like);

// Token-major [rows, row_elems] data of the case's q buffer (kv = false) or
// kv buffer (kv = true) in layout order; layout padding rows hold `pad`.
std::vector<float> to_layout(const CpLayout& l, std::span<const float> case_data, int row_elems,
                             bool kv, float pad = 0.0f);
// The inverse: layout rows back to a case buffer of `case_rows` rows; the
// case's padding rows are 0.
std::vector<float> from_layout(const CpLayout& l, std::span<const float> layout_data,
                               int row_elems, bool kv, int case_rows);
// Head-major [H, rows] (LSE) back to the case: padding rows -inf.
std::vector<float> lse_from_layout(const CpLayout& l, std::span<const float> layout_lse, int heads,
                                   int case_rows);

// Layout rows held by `rank`, in local order.
std::vector<int> zigzag_rows(const CpLayout& l, int rank);
std::vector<int> contiguous_rows(const CpLayout& l, int rank);

// Rows `rows` of token-major data (row_elems per row).
std::vector<float> take_rows(std::span<const float> data, const std::vector<int>& rows,
                             int row_elems);
// Writes local rows back at their layout positions.
void put_rows(std::span<float> data, const std::vector<int>& rows, std::span<const float> local,
              int row_elems);

// The batch a rank's zigzag shard forms: per sequence one local slot of
// 2*c_s rows whose real rows (a prefix) are the real rows of its two chunks.
Batch zigzag_local_batch(const CpLayout& l, const Batch& like, int rank);

// Real rows of sequence s within [begin, begin + n) of its padded slot.
inline int real_in(const CpLayout& l, int s, int begin, int n) {
  const int r = l.len(s) - begin;
  return r <= 0 ? 0 : (r < n ? r : n);
}

}  // namespace attncheck::shard
