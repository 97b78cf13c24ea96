#include "kernels/dist/blocks.hpp"

#include "kernels/common/lse_merge.hpp"

namespace attncheck::dist {

Batch pair_batch(const Batch& q, const Batch& kv, const MaskSpec& mask) {
  Batch b = q;
  b.cu_seqlens_kv = kv.cu_seqlens_kv;
  b.cu_seqlens_kv_padded = kv.cu_seqlens_kv_padded;
  b.total_kv = kv.total_kv;
  b.mask = mask;
  b.position_ids.reset();
  return b;
}

std::vector<int> half_rows(const shard::CpLayout& l, bool second) {
  std::vector<int> rows;
  int lo = 0;
  for (int s = 0; s < l.num_seqs(); ++s) {
    const int c = l.chunk(s);
    for (int t = 0; t < c; ++t) rows.push_back(lo + (second ? c : 0) + t);
    lo += 2 * c;
  }
  return rows;
}

std::vector<float> take_lse(const std::vector<float>& lse, int heads, int n, const std::vector<int>& rows) {
  std::vector<float> out(std::size_t(heads) * rows.size());
  for (int h = 0; h < heads; ++h) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      out[std::size_t(h) * rows.size() + i] = lse[std::size_t(h) * n + std::size_t(rows[i])];
    }
  }
  return out;
}

void put_lse(std::vector<float>& lse, int heads, int n, const std::vector<int>& rows,
             const std::vector<float>& part) {
  for (int h = 0; h < heads; ++h) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      lse[std::size_t(h) * n + std::size_t(rows[i])] = part[std::size_t(h) * rows.size() + i];
    }
  }
}

void merge_block(std::vector<float>& out, std::vector<float>& lse, int heads, int dv, int n,
                 const std::vector<int>& rows, const std::vector<float>& part_out,
                 const std::vector<float>& part_lse) {
  const std::size_t m = rows.size();
  for (std::size_t i = 0; i < m; ++i) {
    const std::size_t row = std::size_t(rows[i]);
    for (int h = 0; h < heads; ++h) {
      float& l = lse[std::size_t(h) * n + row];
      const kernels::LseMerge w = kernels::merge_lse(l, part_lse[std::size_t(h) * m + i]);
      float* o = out.data() + (row * heads + std::size_t(h)) * dv;
      const float* p = part_out.data() + (i * heads + std::size_t(h)) * dv;
      for (int c = 0; c < dv; ++c) {
        // A weight of 0 contributes nothing, even where the other part is empty.
        const float a = w.weight_a == 0.0f ? 0.0f : w.weight_a * o[c];
        const float b = w.weight_b == 0.0f ? 0.0f : w.weight_b * p[c];
        o[c] = a + b;
      }
      l = w.lse;
    }
  }
}

void ring_shift(comm::Communicator& comm, std::vector<float>& buf, std::vector<float>& scratch) {
  const int p = comm.size(), r = comm.rank();
  scratch.resize(buf.size());
  comm.sendrecv<float>(buf, (r + 1) % p, scratch, (r - 1 + p) % p);
  std::swap(buf, scratch);
}

void add_rows(std::vector<float>& acc, const std::vector<int>& rows, const std::vector<float>& part,
              int row_elems) {
  add_rows(acc.data(), rows, part, row_elems);
}

void add_rows(float* acc, const std::vector<int>& rows, const std::vector<float>& part,
              int row_elems) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    float* a = acc + std::size_t(rows[i]) * row_elems;
    const float* p = part.data() + i * std::size_t(row_elems);
    for (int e = 0; e < row_elems; ++e) a[e] += p[e];
  }
}

}  // namespace attncheck::dist
