// fuzz_batch: bytes -> a packed-batch description -> Batch::validate(); for a
// valid batch, everything that trusts validation (row maps, position-id
// check, describe, validate_inputs, the CP layout and its shards) must work
// and give consistent answers. Only attncheck::Error may leave validation.
//
// Input encoding (ByteReader; make_seeds.py writes seeds in it):
//   pick Hq [-1,16], pick Hkv [-1,16], pick D [-1,253], pick Dv [-1,253]
//   flags: bit0 causal, bits1-2 dtype (0 f32, 1 bf16, 2 f16, 3 f32),
//          bit3 position ids, bit4 q padded offsets, bit5 kv padded offsets,
//          bit6 kv described as q (self-attention), bit7 inputs
//   pick window_left [-3,250], pick window_right [-3,250], pick chunk [-2,250]
//   scale: byte (0 default 1/sqrt(D), 1 zero, 2 -1, 3 NaN, 4 inf, 5 raw f64,
//          else byte/64)
//   cu_seqlens_q: size byte (% 66 entries), offsets (below)
//   cu_seqlens_kv unless bit6: the same
//   q padded (bit4): pick size delta [-2,2], padded offsets (below); kv likewise (bit5)
//   pick total_q extra [-2,250] over the last offset (raw: any int32); total_kv likewise
//   position ids (bit3): pick size delta [-2,2], mode byte (0 from the layout,
//          1 from the layout + up to 3 edits (u16 index, pick value [-2,250]),
//          2 every id pick [-2,250])
//   inputs (bit7): mode byte (0 zeros, 1 up to 16 raw float32 repeated, 2 zeros
//          without do), pick q size delta [-1,1]
// offsets: mode byte (bit0: prefix sums of picked lengths [-2,250], first 0;
//          else every entry pick [-2,250]); padded offsets in prefix-sum mode
//          are slot = actual length + picked extra [-2,250].
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "harness/batch.hpp"
#include "harness/error.hpp"
#include "harness/fuzz/fuzz_input.hpp"
#include "harness/fuzz/targets.hpp"
#include "harness/shard.hpp"

namespace attncheck::fuzz {

namespace {

constexpr std::int64_t k_max_rows = 4096;            // row-level work only up to this
constexpr std::size_t k_max_entries = 65;            // cu_seqlens entries: 64 sequences
constexpr std::size_t k_max_input_elems = 1u << 15;  // validate_inputs only up to this

std::int32_t wrap32(std::int64_t v) { return std::int32_t(std::uint32_t(std::uint64_t(v))); }

std::vector<std::int32_t> decode_offsets(ByteReader& r, std::size_t n) {
  const bool lengths = r.flag();
  std::vector<std::int32_t> v;
  v.reserve(n);
  std::int64_t acc = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (lengths) {
      if (i > 0) acc += r.pick(-2, 250);
      v.push_back(wrap32(acc));
    } else {
      v.push_back(r.pick(-2, 250));
    }
  }
  return v;
}

// Padded offsets of `n` entries; in prefix-sum mode each slot is the actual
// length (from `actual`, where it has that entry) plus a picked extra.
std::vector<std::int32_t> decode_padded(ByteReader& r, const std::vector<std::int32_t>& actual) {
  const std::int64_t n64 = std::int64_t(actual.size()) + r.pick(-2, 2);
  const std::size_t n = std::size_t(std::clamp<std::int64_t>(n64, 0, k_max_entries + 2));
  const bool lengths = r.flag();
  std::vector<std::int32_t> v;
  v.reserve(n);
  std::int64_t acc = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!lengths) {
      v.push_back(r.pick(-2, 250));
      continue;
    }
    if (i > 0) {
      const std::int64_t len =
          i < actual.size() ? std::int64_t(actual[i]) - actual[i - 1] : std::int64_t(0);
      acc += len + r.pick(-2, 250);
    }
    v.push_back(wrap32(acc));
  }
  return v;
}

double decode_scale(ByteReader& r, int head_dim) {
  const std::uint8_t s = r.u8();
  switch (s) {
    case 0: return head_dim > 0 ? 1.0 / std::sqrt(double(head_dim)) : 1.0;
    case 1: return 0.0;
    case 2: return -1.0;
    case 3: return std::numeric_limits<double>::quiet_NaN();
    case 4: return std::numeric_limits<double>::infinity();
    case 5: return r.f64();
    default: return double(s) / 64.0;
  }
}

// Position ids 0..len-1 on the real rows the (maybe invalid) description
// names, 0 elsewhere; rows outside [0, size) are skipped.
std::vector<std::int32_t> ids_from_layout(const Batch& b, std::size_t size) {
  std::vector<std::int32_t> ids(size, 0);
  const auto& cu = b.cu_seqlens_q;
  for (std::size_t i = 0; i + 1 < cu.size(); ++i) {
    const std::int64_t start =
        b.cu_seqlens_q_padded && i < b.cu_seqlens_q_padded->size() ? (*b.cu_seqlens_q_padded)[i]
                                                                   : cu[i];
    const std::int64_t len = std::int64_t(cu[i + 1]) - cu[i];
    const std::int64_t first = std::max<std::int64_t>(0, -start);
    const std::int64_t end = std::min<std::int64_t>(len, std::int64_t(size) - start);
    for (std::int64_t t = first; t < end; ++t) ids[std::size_t(start + t)] = std::int32_t(t);
  }
  return ids;
}

struct Decoded {
  Batch batch;
  bool ids_from_layout = false;  // position ids built by the rules, right size
  bool inputs = false;
};

Decoded decode(ByteReader& r) {
  Decoded d;
  Batch& b = d.batch;
  b.num_heads_q = r.pick(-1, 16);
  b.num_heads_kv = r.pick(-1, 16);
  b.head_dim = r.pick(-1, 253);
  b.head_dim_v = r.pick(-1, 253);
  const std::uint8_t flags = r.u8();
  b.mask.causal = (flags & 1u) != 0;
  switch ((flags >> 1) & 3u) {
    case 1: b.dtype = DType::BFloat16; break;
    case 2: b.dtype = DType::Float16; break;
    default: b.dtype = DType::Float32; break;
  }
  const bool with_ids = (flags & 8u) != 0;
  const bool q_padded = (flags & 16u) != 0;
  const bool kv_padded = (flags & 32u) != 0;
  const bool self = (flags & 64u) != 0;
  d.inputs = (flags & 128u) != 0;
  b.mask.window_left = r.pick(-3, 250);
  b.mask.window_right = r.pick(-3, 250);
  b.mask.chunk_size = r.pick(-2, 250);
  b.softmax_scale = decode_scale(r, b.head_dim);

  b.cu_seqlens_q = decode_offsets(r, r.u8() % (k_max_entries + 1));
  b.cu_seqlens_kv = self ? b.cu_seqlens_q : decode_offsets(r, r.u8() % (k_max_entries + 1));
  if (q_padded) b.cu_seqlens_q_padded = decode_padded(r, b.cu_seqlens_q);
  if (kv_padded) {
    b.cu_seqlens_kv_padded = self && b.cu_seqlens_q_padded ? *b.cu_seqlens_q_padded
                                                           : decode_padded(r, b.cu_seqlens_kv);
  }
  auto last = [](const std::optional<std::vector<std::int32_t>>& padded,
                 const std::vector<std::int32_t>& cu) -> std::int64_t {
    if (padded && !padded->empty()) return padded->back();
    return cu.empty() ? 0 : cu.back();
  };
  b.total_q = wrap32(last(b.cu_seqlens_q_padded, b.cu_seqlens_q) + r.pick(-2, 250));
  b.total_kv = self && (kv_padded == q_padded)
                   ? b.total_q
                   : wrap32(last(b.cu_seqlens_kv_padded, b.cu_seqlens_kv) + r.pick(-2, 250));

  if (with_ids) {
    const std::int32_t delta = r.pick(-2, 2);
    const std::int64_t size = std::int64_t(b.total_q) + delta;
    const std::uint8_t mode = r.u8() % 3;
    if (size >= 0 && size <= k_max_rows) {  // larger arrays: no ids (memory)
      std::vector<std::int32_t> ids;
      if (mode == 2) {
        ids.resize(std::size_t(size));
        for (auto& id : ids) id = r.pick(-2, 250);
      } else {
        ids = ids_from_layout(b, std::size_t(size));
        if (mode == 1) {
          const int edits = r.u8() % 4;
          for (int e = 0; e < edits && !ids.empty(); ++e) {
            const std::size_t at = r.size(ids.size() - 1);
            ids[at] = r.pick(-2, 250);
          }
        }
      }
      d.ids_from_layout = mode == 0 && delta == 0;
      b.position_ids = std::move(ids);
    }
  }
  return d;
}

// Invariants of one CP layout of the valid batch `b`.
void check_layout(const Batch& b, const shard::CpLayout& l, int cp,
                  const std::vector<bool>* real_q) {
  FUZZ_CHECK(l.cp == cp);
  FUZZ_CHECK(l.num_seqs() == b.num_seqs());
  FUZZ_CHECK(l.cu_seqlens == b.cu_seqlens_q);
  FUZZ_CHECK(l.cu_seqlens_padded.size() == l.cu_seqlens.size());
  FUZZ_CHECK(l.cu_seqlens_padded.front() == 0);
  for (int s = 0; s < l.num_seqs(); ++s) {
    const int len = l.len(s), padded = l.padded_len(s);
    FUZZ_CHECK(padded % (2 * cp) == 0);
    FUZZ_CHECK(padded >= len);
    FUZZ_CHECK(padded - len < 2 * cp);
    FUZZ_CHECK(padded == shard::padded_length(len, cp));
  }
  FUZZ_CHECK(l.total == l.cu_seqlens_padded.back());
  FUZZ_CHECK(l.total % (2 * cp) == 0);
  const auto total = std::size_t(l.total);
  FUZZ_CHECK(l.position_ids.size() == total && l.valid.size() == total);
  FUZZ_CHECK(l.q_row.size() == total && l.kv_row.size() == total);
  std::int64_t valid_rows = 0;
  for (int s = 0; s < l.num_seqs(); ++s) {
    for (int t = 0; t < l.padded_len(s); ++t) {
      const auto row = std::size_t(l.start(s) + t);
      if (t < l.len(s)) {
        ++valid_rows;
        FUZZ_CHECK(l.valid[row] == 1);
        FUZZ_CHECK(l.position_ids[row] == t);
        FUZZ_CHECK(l.q_row[row] == b.q_start(s) + t);
        FUZZ_CHECK(l.kv_row[row] == b.kv_start(s) + t);
        FUZZ_CHECK(l.q_row[row] >= 0 && l.q_row[row] < b.total_q);
        FUZZ_CHECK(l.kv_row[row] >= 0 && l.kv_row[row] < b.total_kv);
        if (real_q) FUZZ_CHECK((*real_q)[std::size_t(l.q_row[row])]);
      } else {
        FUZZ_CHECK(l.valid[row] == 0 && l.position_ids[row] == 0);
        FUZZ_CHECK(l.q_row[row] == -1 && l.kv_row[row] == -1);
      }
    }
  }
  FUZZ_CHECK(valid_rows == b.cu_seqlens_q.back());

  // The layout as a batch of its own is valid, ids included.
  const Batch g = shard::layout_batch(l, b);
  try {
    g.validate();
    g.check_position_ids();
  } catch (const Error&) {
    FUZZ_CHECK(!"layout_batch of a valid layout is invalid");
  }

  // Zigzag and contiguous shards cover every layout row exactly once.
  std::vector<int> zig(total, 0), cont(total, 0);
  std::int64_t shard_real = 0;
  for (int rank = 0; rank < cp; ++rank) {
    const auto rows = shard::zigzag_rows(l, rank);
    FUZZ_CHECK(rows.size() == std::size_t(l.rows_per_rank()));
    for (const int row : rows) {
      FUZZ_CHECK(row >= 0 && std::size_t(row) < total);
      ++zig[std::size_t(row)];
    }
    for (const int row : shard::contiguous_rows(l, rank)) {
      FUZZ_CHECK(row >= 0 && std::size_t(row) < total);
      ++cont[std::size_t(row)];
    }
    const Batch local = shard::zigzag_local_batch(l, b, rank);
    try {
      local.validate();
    } catch (const Error&) {
      FUZZ_CHECK(!"zigzag_local_batch of a valid layout is invalid");
    }
    FUZZ_CHECK(local.total_q == l.rows_per_rank());
    shard_real += local.cu_seqlens_q.back();
    // The real rows of each local slot are the valid rows the rank holds.
    std::int64_t held = 0;
    for (const int row : rows) held += l.valid[std::size_t(row)];
    FUZZ_CHECK(held == local.cu_seqlens_q.back());
  }
  FUZZ_CHECK(shard_real == b.cu_seqlens_q.back());
  for (std::size_t r = 0; r < total; ++r) FUZZ_CHECK(zig[r] == 1 && cont[r] == 1);

  // to_layout / from_layout restore the case's real rows (padding: 0).
  if (real_q) {
    std::vector<float> data(std::size_t(b.total_q));
    for (std::size_t r = 0; r < data.size(); ++r) data[r] = float(r + 1);
    const auto there = shard::to_layout(l, data, 1, false, -1.0f);
    FUZZ_CHECK(there.size() == total);
    const auto back = shard::from_layout(l, there, 1, false, b.total_q);
    FUZZ_CHECK(back.size() == data.size());
    for (std::size_t r = 0; r < data.size(); ++r) {
      FUZZ_CHECK(back[r] == ((*real_q)[r] ? data[r] : 0.0f));
    }
  }
}

void check_rows(const Batch& b, bool q) {
  const auto real = q ? b.real_q_rows() : b.real_kv_rows();
  const auto seq = q ? b.q_row_seq() : b.kv_row_seq();
  const int total = q ? b.total_q : b.total_kv;
  FUZZ_CHECK(real.size() == std::size_t(total) && seq.size() == std::size_t(total));
  std::vector<std::int64_t> per_seq(std::size_t(b.num_seqs()), 0);
  std::int64_t count = 0;
  for (std::size_t r = 0; r < real.size(); ++r) {
    FUZZ_CHECK(real[r] == (seq[r] >= 0));
    if (!real[r]) continue;
    ++count;
    FUZZ_CHECK(seq[r] < b.num_seqs());
    ++per_seq[std::size_t(seq[r])];
  }
  const auto& cu = q ? b.cu_seqlens_q : b.cu_seqlens_kv;
  FUZZ_CHECK(count == cu.back());
  for (int i = 0; i < b.num_seqs(); ++i) {
    FUZZ_CHECK(per_seq[std::size_t(i)] == (q ? b.q_len(i) : b.kv_len(i)));
  }
  if (!b.has_padding()) FUZZ_CHECK(count == total);
}

// Sequences lie in their buffers, in order, without overlapping.
void check_offsets(const Batch& b) {
  FUZZ_CHECK(b.num_seqs() >= 0);
  FUZZ_CHECK(b.cu_seqlens_kv.size() == b.cu_seqlens_q.size());
  std::int64_t end_q = 0, end_kv = 0;
  for (int i = 0; i < b.num_seqs(); ++i) {
    const std::int64_t qs = b.q_start(i), ql = b.q_len(i);
    const std::int64_t ks = b.kv_start(i), kl = b.kv_len(i);
    FUZZ_CHECK(ql >= 0 && kl >= 0);
    FUZZ_CHECK(qs >= end_q && ks >= end_kv);
    end_q = qs + ql;
    end_kv = ks + kl;
    FUZZ_CHECK(end_q <= b.total_q && end_kv <= b.total_kv);
  }
  FUZZ_CHECK(b.cu_seqlens_q.back() <= b.total_q && b.cu_seqlens_kv.back() <= b.total_kv);
}

void check_inputs(ByteReader& r, const Batch& b) {
  const std::size_t cap = k_max_input_elems;
  if (b.q_elems() > cap || b.k_elems() > cap || b.v_elems() > cap || b.o_elems() > cap) return;
  const std::uint8_t mode = r.u8() % 3;
  const std::int32_t q_delta = std::clamp(r.pick(-1, 1), -1, 1);  // a raw pick: still +-1
  std::vector<float> pattern{0.0f};
  if (mode == 1) {
    pattern.resize(1 + r.u8() % 16);
    for (float& x : pattern) x = r.f32();
  }
  auto fill = [&](std::size_t n) {
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = pattern[i % pattern.size()];
    return x;
  };
  Inputs in;
  in.q = fill(std::size_t(std::max<std::int64_t>(0, std::int64_t(b.q_elems()) + q_delta)));
  in.k = fill(b.k_elems());
  in.v = fill(b.v_elems());
  if (mode != 2) in.dout = fill(b.o_elems());
  try {
    validate_inputs(b, in);
  } catch (const Error& e) {
    FUZZ_CHECK(e.kind() == ErrorKind::InvalidBatch);
    FUZZ_CHECK(mode == 1 || q_delta != 0);  // zeros of the right sizes are valid
  }
}

}  // namespace

int run_fuzz_batch(const std::uint8_t* data, std::size_t size) {
  ByteReader r(data, size);
  const Decoded d = decode(r);
  const Batch& b = d.batch;
  try {
    b.validate();
  } catch (const Error& e) {
    if (verbose()) std::fprintf(stderr, "fuzz_batch: invalid: %s\n", e.what());
    FUZZ_CHECK(e.kind() == ErrorKind::InvalidBatch);
    return 0;
  }
  if (verbose()) std::fprintf(stderr, "fuzz_batch: valid: %s\n", b.describe().c_str());

  check_offsets(b);
  FUZZ_CHECK(!b.describe().empty());
  FUZZ_CHECK(!b.mask.describe().empty());

  bool ids_ok = false;
  try {
    b.check_position_ids();
    ids_ok = true;
  } catch (const Error& e) {
    FUZZ_CHECK(e.kind() == (b.position_ids ? ErrorKind::InvalidPositionIds
                                           : ErrorKind::MissingPositionIds));
  }
  if (d.ids_from_layout) FUZZ_CHECK(ids_ok);
  if (ids_ok) {
    for (int i = 0; i < b.num_seqs(); ++i) {
      for (int t = 0; t < b.q_len(i); ++t) {
        FUZZ_CHECK((*b.position_ids)[std::size_t(b.q_start(i) + t)] == t);
      }
    }
  }

  const bool small = b.total_q <= k_max_rows && b.total_kv <= k_max_rows;
  std::vector<bool> real_q;
  if (small) {
    check_rows(b, true);
    check_rows(b, false);
    real_q = b.real_q_rows();
  }
  if (d.inputs) check_inputs(r, b);

  // The CP layout: built when every sequence has Lq == Lk and the ids (if
  // any) are valid; refused with a typed error otherwise.
  if (b.cu_seqlens_q.back() > k_max_rows || b.cu_seqlens_kv.back() > k_max_rows) return 0;
  bool self = true;
  for (int i = 0; i < b.num_seqs(); ++i) self = self && b.q_len(i) == b.kv_len(i);
  try {
    (void)shard::make_cp_layout(b, 0);
    FUZZ_CHECK(!"make_cp_layout accepted cp = 0");
  } catch (const Error& e) {
    FUZZ_CHECK(e.kind() == ErrorKind::Usage);
  }
  for (int cp = 1; cp <= 4; ++cp) {
    for (const bool require_ids : {false, true}) {
      const bool expect_ok = self && (b.position_ids ? ids_ok : !require_ids);
      try {
        const shard::CpLayout l = shard::make_cp_layout(b, cp, require_ids);
        FUZZ_CHECK(expect_ok);
        // require_ids changes only whether the layout is refused.
        if (!require_ids) check_layout(b, l, cp, small ? &real_q : nullptr);
      } catch (const Error& e) {
        FUZZ_CHECK(!expect_ok);
        FUZZ_CHECK(e.kind() == ErrorKind::Unsupported || e.kind() == ErrorKind::InvalidPositionIds ||
                   e.kind() == ErrorKind::MissingPositionIds);
      }
    }
  }
  return 0;
}

}  // namespace attncheck::fuzz
