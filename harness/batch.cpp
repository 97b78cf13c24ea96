#include "harness/batch.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <tuple>

#include "harness/error.hpp"

namespace attncheck {

namespace {

[[noreturn]] void fail(const std::string& field, std::int64_t index, const std::string& what) {
  throw Error(ErrorKind::InvalidBatch, field, index, what);
}

// cu_seqlens of actual lengths: starts at 0, non-decreasing.
void check_prefix_sums(const std::vector<std::int32_t>& cu, const char* name) {
  if (cu.empty()) fail(name, -1, "is empty; it needs b+1 entries starting at 0");
  if (cu[0] != 0) fail(name, 0, fmt::format("is {}, must be 0 (prefix sums start at 0)", cu[0]));
  for (std::size_t i = 1; i < cu.size(); ++i) {
    if (cu[i] < cu[i - 1]) {
      fail(name, std::int64_t(i),
           fmt::format("is {} < {} at index {}; cu_seqlens must be non-decreasing", cu[i],
                       cu[i - 1], i - 1));
    }
  }
}

// Padded offsets: start at 0, each slot holds its actual length, the last
// offset fits the buffer.
void check_padded(const std::vector<std::int32_t>& actual,
                  const std::optional<std::vector<std::int32_t>>& padded, const char* name,
                  const char* actual_name, int total, const char* total_name) {
  if (!padded) {
    if (actual.back() > total) {
      fail(actual_name, std::int64_t(actual.size() - 1),
           fmt::format("is {} but {} is {}: the buffer is too small for the sequences",
                       actual.back(), total_name, total));
    }
    return;
  }
  const auto& p = *padded;
  if (p.size() != actual.size()) {
    fail(name, -1,
         fmt::format("has {} entries but {} has {}; both need b+1", p.size(), actual_name,
                     actual.size()));
  }
  if (p[0] != 0) fail(name, 0, fmt::format("is {}, must be 0", p[0]));
  for (std::size_t i = 0; i + 1 < p.size(); ++i) {
    // int64: p[i + 1] may be any int32 (e.g. INT32_MIN) before it is checked.
    const std::int64_t len = std::int64_t(actual[i + 1]) - actual[i];
    const std::int64_t slot = std::int64_t(p[i + 1]) - p[i];
    if (slot < 0) {
      fail(name, std::int64_t(i + 1),
           fmt::format("is {} < {}; padded offsets must be non-decreasing", p[i + 1], p[i]));
    }
    if (len > slot) {
      fail(name, std::int64_t(i + 1),
           fmt::format("sequence {} has actual length {} but its padded slot [{}, {}) holds only "
                       "{} rows",
                       i, len, p[i], p[i + 1], slot));
    }
  }
  if (p.back() > total) {
    fail(name, std::int64_t(p.size() - 1),
         fmt::format("is {} but {} is {}: the buffer is too small for the padded sequences",
                     p.back(), total_name, total));
  }
}

std::vector<bool> real_rows(const Batch& b, bool q) {
  std::vector<bool> real(std::size_t(q ? b.total_q : b.total_kv), false);
  for (int i = 0; i < b.num_seqs(); ++i) {
    const int start = q ? b.q_start(i) : b.kv_start(i);
    const int len = q ? b.q_len(i) : b.kv_len(i);
    for (int r = start; r < start + len; ++r) real[std::size_t(r)] = true;
  }
  return real;
}

std::vector<int> row_seq(const Batch& b, bool q) {
  std::vector<int> seq(std::size_t(q ? b.total_q : b.total_kv), -1);
  for (int i = 0; i < b.num_seqs(); ++i) {
    const int start = q ? b.q_start(i) : b.kv_start(i);
    const int len = q ? b.q_len(i) : b.kv_len(i);
    for (int r = start; r < start + len; ++r) seq[std::size_t(r)] = i;
  }
  return seq;
}

}  // namespace

std::string MaskSpec::describe() const {
  std::string s;
  if (causal) s = "causal";
  if (window_left >= 0 || (!causal && window_right >= 0)) {
    s += (s.empty() ? "" : "+") + fmt::format("window({},{})", window_left, effective_right());
  }
  if (chunk_size > 0) s += (s.empty() ? "" : "+") + fmt::format("chunk{}", chunk_size);
  return s.empty() ? "full" : s;
}

double Batch::default_scale() const { return 1.0 / std::sqrt(double(head_dim)); }

void Batch::validate() const {
  if (num_heads_q < 1) fail("num_heads_q", -1, fmt::format("is {}, must be >= 1", num_heads_q));
  if (num_heads_kv < 1) fail("num_heads_kv", -1, fmt::format("is {}, must be >= 1", num_heads_kv));
  if (num_heads_q % num_heads_kv != 0) {
    fail("num_heads_q", -1,
         fmt::format("{} is not a multiple of num_heads_kv {} (GQA needs Hq % Hkv == 0)",
                     num_heads_q, num_heads_kv));
  }
  if (head_dim < 1) fail("head_dim", -1, fmt::format("is {}, must be >= 1", head_dim));
  if (head_dim_v < 1) fail("head_dim_v", -1, fmt::format("is {}, must be >= 1", head_dim_v));
  // A row of q, k, v or do holds heads * dim values, an int everywhere it is
  // used (row_elems, kernel strides); with totals below 2^31 the element
  // counts (q_elems, ...) then fit size_t too.
  for (const auto& [heads, heads_name, dim, dim_name] :
       {std::tuple{num_heads_q, "num_heads_q", head_dim, "head_dim"},
        std::tuple{num_heads_q, "num_heads_q", head_dim_v, "head_dim_v"},
        std::tuple{num_heads_kv, "num_heads_kv", head_dim, "head_dim"},
        std::tuple{num_heads_kv, "num_heads_kv", head_dim_v, "head_dim_v"}}) {
    const std::int64_t row = std::int64_t(heads) * dim;
    if (row > std::numeric_limits<std::int32_t>::max()) {
      fail(heads_name, -1,
           fmt::format("{} * {} = {} * {} = {} values per row; a row must hold at most {}",
                       heads_name, dim_name, heads, dim, row,
                       std::numeric_limits<std::int32_t>::max()));
    }
  }
  if (!std::isfinite(softmax_scale) || softmax_scale <= 0.0) {
    fail("softmax_scale", -1,
         fmt::format("is {}, must be finite and > 0 (1/sqrt(head_dim) = {} is the default)",
                     softmax_scale, default_scale()));
  }
  if (mask.window_left < -1) {
    fail("window_left", -1, fmt::format("is {}, must be >= 0 or -1 (unbounded)", mask.window_left));
  }
  if (mask.window_right < -1) {
    fail("window_right", -1,
         fmt::format("is {}, must be >= 0 or -1 (unbounded)", mask.window_right));
  }
  if (mask.causal && mask.window_right > 0) {
    fail("window_right", -1,
         fmt::format("is {} with causal; causal means window_right = 0 (use -1 or 0)",
                     mask.window_right));
  }
  if (mask.chunk_size < 0) {
    fail("chunk_size", -1, fmt::format("is {}, must be >= 0 (0 = no chunking)", mask.chunk_size));
  }
  if (total_q < 0) fail("total_q", -1, fmt::format("is {}, must be >= 0", total_q));
  if (total_kv < 0) fail("total_kv", -1, fmt::format("is {}, must be >= 0", total_kv));
  check_prefix_sums(cu_seqlens_q, "cu_seqlens_q");
  check_prefix_sums(cu_seqlens_kv, "cu_seqlens_kv");
  if (cu_seqlens_kv.size() != cu_seqlens_q.size()) {
    fail("cu_seqlens_kv", -1,
         fmt::format("has {} entries but cu_seqlens_q has {}; both describe the same b sequences",
                     cu_seqlens_kv.size(), cu_seqlens_q.size()));
  }
  check_padded(cu_seqlens_q, cu_seqlens_q_padded, "cu_seqlens_q_padded", "cu_seqlens_q", total_q,
               "total_q");
  check_padded(cu_seqlens_kv, cu_seqlens_kv_padded, "cu_seqlens_kv_padded", "cu_seqlens_kv",
               total_kv, "total_kv");
  if (position_ids && position_ids->size() != std::size_t(total_q)) {
    fail("position_ids", -1,
         fmt::format("has {} entries, must have total_q = {}", position_ids->size(), total_q));
  }
}

void Batch::check_position_ids() const {
  if (!position_ids) {
    throw Error(ErrorKind::MissingPositionIds, "position_ids", -1,
                "are missing but this path needs them; build them for the GLOBAL sequence before "
                "sharding (0..len-1 per document) and pass them with the batch");
  }
  const auto& ids = *position_ids;
  if (ids.size() != std::size_t(total_q)) {
    throw Error(ErrorKind::InvalidPositionIds, "position_ids", -1,
                fmt::format("has {} entries, must have total_q = {} (one per row, padding "
                            "included)",
                            ids.size(), total_q));
  }
  for (int i = 0; i < num_seqs(); ++i) {
    for (int t = 0; t < q_len(i); ++t) {
      const int row = q_start(i) + t;
      if (ids[std::size_t(row)] != t) {
        throw Error(ErrorKind::InvalidPositionIds, "position_ids", row,
                    fmt::format("is {} but row {} is token {} of sequence {}; real rows must "
                                "count 0..len-1 within each document",
                                ids[std::size_t(row)], row, t, i));
      }
    }
  }
}

std::vector<bool> Batch::real_q_rows() const { return real_rows(*this, true); }
std::vector<bool> Batch::real_kv_rows() const { return real_rows(*this, false); }
std::vector<int> Batch::q_row_seq() const { return row_seq(*this, true); }
std::vector<int> Batch::kv_row_seq() const { return row_seq(*this, false); }

bool Batch::has_padding() const {
  return cu_seqlens_q_padded.has_value() || cu_seqlens_kv_padded.has_value() ||
         cu_seqlens_q.back() != total_q || cu_seqlens_kv.back() != total_kv;
}

std::string Batch::describe() const {
  std::string lens;
  for (int i = 0; i < num_seqs(); ++i) {
    if (i) lens += ",";
    lens += q_len(i) == kv_len(i) ? fmt::format("{}", q_len(i))
                                  : fmt::format("{}/{}", q_len(i), kv_len(i));
  }
  return fmt::format("{} docs [{}] rows q={} kv={} Hq={} Hkv={} D={} Dv={} {} {} scale={:.4g}{}",
                     num_seqs(), lens, total_q, total_kv, num_heads_q, num_heads_kv, head_dim,
                     head_dim_v, mask.describe(), to_string(dtype), softmax_scale,
                     position_ids ? " ids" : "");
}

void validate_inputs(const Batch& b, const Inputs& in) {
  b.validate();  // the row maps below assume a valid batch
  auto check = [&](const std::vector<float>& x, std::size_t want, const char* name,
                   const char* shape) {
    if (x.size() != want) {
      throw Error(ErrorKind::InvalidBatch, name, -1,
                  fmt::format("has {} elements, expected {} = {}", x.size(), want, shape));
    }
  };
  check(in.q, b.q_elems(), "q", "total_q * Hq * D");
  check(in.k, b.k_elems(), "k", "total_kv * Hkv * D");
  check(in.v, b.v_elems(), "v", "total_kv * Hkv * Dv");
  if (!in.dout.empty()) check(in.dout, b.o_elems(), "do", "total_q * Hq * Dv");
  auto check_values = [&](const std::vector<float>& x, const std::vector<bool>& real, int row_elems,
                          const char* name) {
    for (std::size_t r = 0; r < real.size(); ++r) {
      if (!real[r]) continue;
      for (int e = 0; e < row_elems; ++e) {
        const std::size_t idx = r * std::size_t(row_elems) + std::size_t(e);
        const float val = x[idx];
        if (!std::isfinite(val) || !representable(b.dtype, val)) {
          throw Error(ErrorKind::InvalidBatch, name, std::int64_t(idx),
                      fmt::format("value {} in real row {} is {}; real rows must hold finite values rounded to "
                                  "the batch dtype (attncheck::round_to)",
                                  val, r,
                                  std::isfinite(val) ? "not representable in " +
                                                           std::string(to_string(b.dtype))
                                                     : std::string("not finite")));
        }
      }
    }
  };
  const auto rq = b.real_q_rows();
  const auto rk = b.real_kv_rows();
  check_values(in.q, rq, b.num_heads_q * b.head_dim, "q");
  check_values(in.k, rk, b.num_heads_kv * b.head_dim, "k");
  check_values(in.v, rk, b.num_heads_kv * b.head_dim_v, "v");
  if (!in.dout.empty()) check_values(in.dout, rq, b.num_heads_q * b.head_dim_v, "do");
}

}  // namespace attncheck
