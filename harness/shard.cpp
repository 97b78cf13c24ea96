#include "harness/shard.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "harness/error.hpp"
#include "harness/packing.hpp"

namespace attncheck::shard {

int padded_length(int len, int cp) {
  const int m = 2 * cp;
  return (len + m - 1) / m * m;
}

CpLayout make_cp_layout(const Batch& b, int cp, bool require_position_ids) {
  if (cp < 1) throw Error(ErrorKind::Usage, "cp", -1, fmt::format("is {}; must be >= 1", cp));
  b.validate();
  for (int s = 0; s < b.num_seqs(); ++s) {
    if (b.q_len(s) != b.kv_len(s)) {
      throw Error(ErrorKind::Unsupported, "cu_seqlens_kv", s,
                  fmt::format("sequence {} has Lq = {} and Lk = {}; context parallelism shards "
                              "self-attention, where queries and keys are the same tokens",
                              s, b.q_len(s), b.kv_len(s)));
    }
  }
  if (b.position_ids) {
    b.check_position_ids();
  } else if (require_position_ids) {
    throw Error(ErrorKind::MissingPositionIds, "position_ids", -1,
                "this sequence-parallel path derives document boundaries from position ids "
                "gathered across ranks, and the batch has none; give position ids (built for the "
                "global sequence, before sharding) or use a variant that takes cu_seqlens");
  }
  CpLayout l;
  l.cp = cp;
  l.cu_seqlens = b.cu_seqlens_q;
  l.cu_seqlens_padded = {0};
  for (int s = 0; s < b.num_seqs(); ++s) {
    l.cu_seqlens_padded.push_back(l.cu_seqlens_padded.back() + padded_length(b.q_len(s), cp));
  }
  l.total = l.cu_seqlens_padded.back();
  l.position_ids.assign(std::size_t(l.total), 0);
  l.valid.assign(std::size_t(l.total), 0);
  l.q_row.assign(std::size_t(l.total), -1);
  l.kv_row.assign(std::size_t(l.total), -1);
  for (int s = 0; s < b.num_seqs(); ++s) {
    for (int t = 0; t < b.q_len(s); ++t) {
      const std::size_t row = std::size_t(l.start(s) + t);
      l.valid[row] = 1;
      l.q_row[row] = b.q_start(s) + t;
      l.kv_row[row] = b.kv_start(s) + t;
      // The case's ids of real rows equal t (checked above); built here, globally.
      l.position_ids[row] = b.position_ids ? (*b.position_ids)[std::size_t(b.q_start(s) + t)] : t;
    }
  }
  return l;
}

Batch layout_batch(const CpLayout& l, const Batch& like) {
  Batch g = like;
  g.cu_seqlens_q = g.cu_seqlens_kv = l.cu_seqlens;
  g.cu_seqlens_q_padded = g.cu_seqlens_kv_padded = l.cu_seqlens_padded;
  g.total_q = g.total_kv = l.total;
  g.position_ids = l.position_ids;
  return g;
}

std::vector<float> to_layout(const CpLayout& l, std::span<const float> case_data, int row_elems,
                             bool kv, float pad) {
  std::vector<float> out(std::size_t(l.total) * std::size_t(row_elems), pad);
  const auto& map = kv ? l.kv_row : l.q_row;
  for (int r = 0; r < l.total; ++r) {
    const int src = map[std::size_t(r)];
    if (src < 0) continue;
    std::copy_n(case_data.begin() + std::ptrdiff_t(src) * row_elems, row_elems,
                out.begin() + std::ptrdiff_t(r) * row_elems);
  }
  return out;
}

std::vector<float> from_layout(const CpLayout& l, std::span<const float> layout_data, int row_elems,
                               bool kv, int case_rows) {
  std::vector<float> out(std::size_t(case_rows) * std::size_t(row_elems), 0.0f);
  const auto& map = kv ? l.kv_row : l.q_row;
  for (int r = 0; r < l.total; ++r) {
    const int dst = map[std::size_t(r)];
    if (dst < 0) continue;
    std::copy_n(layout_data.begin() + std::ptrdiff_t(r) * row_elems, row_elems,
                out.begin() + std::ptrdiff_t(dst) * row_elems);
  }
  return out;
}

std::vector<float> lse_from_layout(const CpLayout& l, std::span<const float> layout_lse, int heads,
                                   int case_rows) {
  std::vector<float> out(std::size_t(heads) * std::size_t(case_rows),
                         -std::numeric_limits<float>::infinity());
  for (int h = 0; h < heads; ++h) {
    for (int r = 0; r < l.total; ++r) {
      const int dst = l.q_row[std::size_t(r)];
      if (dst < 0) continue;
      out[std::size_t(h) * case_rows + std::size_t(dst)] = layout_lse[std::size_t(h) * l.total + std::size_t(r)];
    }
  }
  return out;
}

std::vector<int> zigzag_rows(const CpLayout& l, int rank) {
  std::vector<int> rows;
  rows.reserve(std::size_t(l.rows_per_rank()));
  for (int s = 0; s < l.num_seqs(); ++s) {
    const int c = l.chunk(s);
    for (int chunk : {rank, 2 * l.cp - 1 - rank}) {
      for (int t = 0; t < c; ++t) rows.push_back(l.start(s) + chunk * c + t);
    }
  }
  return rows;
}

std::vector<int> contiguous_rows(const CpLayout& l, int rank) {
  std::vector<int> rows(std::size_t(l.rows_per_rank()));
  for (int i = 0; i < l.rows_per_rank(); ++i) rows[std::size_t(i)] = rank * l.rows_per_rank() + i;
  return rows;
}

std::vector<float> take_rows(std::span<const float> data, const std::vector<int>& rows,
                             int row_elems) {
  std::vector<float> out(rows.size() * std::size_t(row_elems));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::copy_n(data.begin() + std::ptrdiff_t(rows[i]) * row_elems, row_elems,
                out.begin() + std::ptrdiff_t(i) * row_elems);
  }
  return out;
}

void put_rows(std::span<float> data, const std::vector<int>& rows, std::span<const float> local,
              int row_elems) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::copy_n(local.begin() + std::ptrdiff_t(i) * row_elems, row_elems,
                data.begin() + std::ptrdiff_t(rows[i]) * row_elems);
  }
}

Batch zigzag_local_batch(const CpLayout& l, const Batch& like, int rank) {
  Batch b = like;
  b.cu_seqlens_q = {0};
  std::vector<std::int32_t> padded{0};
  for (int s = 0; s < l.num_seqs(); ++s) {
    const int c = l.chunk(s);
    const int first = real_in(l, s, rank * c, c);
    const int second = real_in(l, s, (2 * l.cp - 1 - rank) * c, c);
    // Padding is at the end of a sequence: the second chunk (later) holds real
    // rows only when the first is full.
    if (second > 0 && first != c) {
      throw std::logic_error("zigzag: real rows of a shard are not a prefix");
    }
    b.cu_seqlens_q.push_back(b.cu_seqlens_q.back() + first + second);
    padded.push_back(padded.back() + 2 * c);
  }
  b.cu_seqlens_kv = b.cu_seqlens_q;
  b.cu_seqlens_q_padded = b.cu_seqlens_kv_padded = padded;
  b.total_q = b.total_kv = l.rows_per_rank();
  b.position_ids.reset();  // local positions are not 0..len-1 of a document
  return b;
}

}  // namespace attncheck::shard
