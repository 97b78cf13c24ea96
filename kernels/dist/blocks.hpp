// Block bookkeeping shared by the ring and all-gather variants: batches for
// the halves of a rank's zigzag shard, row subsets of local buffers, and the
// LSE merge of a partial block result into the running one.
#pragma once

#include <vector>

#include "harness/batch.hpp"
#include "harness/shard.hpp"
#include "kernels/comm/communicator.hpp"

namespace attncheck::dist {

// The batch of one chunk per sequence, `chunk_of(s)` giving the chunk index
// (0 .. 2cp-1) of sequence s: per sequence a slot of c_s rows whose actual
// length is the real rows of that chunk (a prefix of it).
template <typename ChunkOf>
Batch chunk_batch(const shard::CpLayout& l, const Batch& like, ChunkOf chunk_of) {
  Batch b = like;
  b.cu_seqlens_q = {0};
  std::vector<std::int32_t> padded{0};
  for (int s = 0; s < l.num_seqs(); ++s) {
    const int c = l.chunk(s);
    b.cu_seqlens_q.push_back(b.cu_seqlens_q.back() + shard::real_in(l, s, chunk_of(s) * c, c));
    padded.push_back(padded.back() + c);
  }
  b.cu_seqlens_kv = b.cu_seqlens_q;
  b.cu_seqlens_q_padded = b.cu_seqlens_kv_padded = padded;
  b.total_q = b.total_kv = padded.back();
  b.position_ids.reset();
  return b;
}

// q side from `q`, kv side from `kv`, mask `mask`.
Batch pair_batch(const Batch& q, const Batch& kv, const MaskSpec& mask);

// Local row indices of the first (chunk r) or second (chunk 2cp-1-r) half of
// every sequence in a zigzag shard.
std::vector<int> half_rows(const shard::CpLayout& l, bool second);

// Rows `rows` of a head-major [H, n] tensor (LSE) as [H, rows.size()], and back.
std::vector<float> take_lse(const std::vector<float>& lse, int heads, int n, const std::vector<int>& rows);
void put_lse(std::vector<float>& lse, int heads, int n, const std::vector<int>& rows,
             const std::vector<float>& part);

// Merges a block's (out, lse) for local rows `rows` into the running (out, lse)
// of all n local rows (kernels/common/lse_merge.hpp).
void merge_block(std::vector<float>& out, std::vector<float>& lse, int heads, int dv, int n,
                 const std::vector<int>& rows, const std::vector<float>& part_out,
                 const std::vector<float>& part_lse);

// One ring step: sends `buf` to rank r+1 and replaces it with what rank r-1
// sent (`scratch` is reused as the receive buffer). After i steps rank r
// holds what rank r-i started with.
void ring_shift(comm::Communicator& comm, std::vector<float>& buf, std::vector<float>& scratch);

// acc[rows[i]] += part[i] (token-major, row_elems per row).
void add_rows(std::vector<float>& acc, const std::vector<int>& rows, const std::vector<float>& part,
              int row_elems);
// The same into rows that start at `acc` (a part of a larger buffer).
void add_rows(float* acc, const std::vector<int>& rows, const std::vector<float>& part,
              int row_elems);

}  // namespace attncheck::dist
