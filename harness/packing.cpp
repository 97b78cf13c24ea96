#include "harness/packing.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <limits>
#include <string>

#include "harness/error.hpp"

namespace attncheck {

namespace {

constexpr std::int64_t k_max_rows = std::numeric_limits<std::int32_t>::max();

[[noreturn]] void fail_layout(const std::string& field, std::int64_t index,
                              const std::string& what) {
  throw Error(ErrorKind::InvalidLayout, field, index, what);
}

[[noreturn]] void fail_ids(std::int64_t index, const std::string& what) {
  throw Error(ErrorKind::InvalidPositionIds, "position_ids", index, what);
}

// cu_seqlens are int32: a buffer of more rows cannot be described.
int checked_rows(std::int64_t rows, const char* field) {
  if (rows > k_max_rows) {
    fail_layout(field, -1,
                fmt::format("describes {} rows but cu_seqlens are int32 (at most {}); split the "
                            "batch",
                            rows, k_max_rows));
  }
  return static_cast<int>(rows);
}

// Prefix sums of document lengths: {0, l0, l0+l1, ...}.
std::vector<std::int32_t> prefix_sums(const std::vector<std::int32_t>& lengths) {
  std::vector<std::int32_t> cu{0};
  cu.reserve(lengths.size() + 1);
  for (const std::int32_t len : lengths) cu.push_back(cu.back() + len);
  return cu;
}

// Position id `id` at `index` continues the document whose previous id is
// `prev` only if id == prev + 1; id == 0 starts a new document. Anything else
// is a gap (id > prev + 1) or a repeat / step back (0 < id <= prev).
void check_next_id(std::size_t index, std::int64_t prev, std::int32_t id) {
  const std::int64_t expected = prev + 1;
  if (id == 0 || id == expected) return;
  const char* what = id > expected ? "a gap" : "a repeat or step back";
  fail_ids(std::int64_t(index),
           fmt::format("is {} after {} at index {}: {}; expected {} (next token of the same "
                       "document) or 0 (start of a new document). Build the ids as 0..len-1 per "
                       "document for the global sequence, or pass cu_seqlens instead",
                       id, prev, index - 1, what, expected));
}

// The id at `index` of a row must be >= 0, and the row must start with 0.
void check_id_value(std::size_t index, std::int32_t id) {
  if (id < 0) {
    fail_ids(std::int64_t(index),
             fmt::format("is {} (negative) at index {}; ids are 0..len-1 within each document. "
                         "Fix the id generator or pass cu_seqlens instead",
                         id, index));
  }
  if (index == 0 && id != 0) {
    fail_ids(0, fmt::format("is {} at index 0; the first id must be 0 (the row starts a "
                            "document). Rebuild the ids for the whole packed row before any "
                            "sharding or slicing",
                            id));
  }
}

// Length of the real prefix of mask row `row`: a run of 1s from column 0,
// then only 0s. Values other than 0/1 and a 1 after a 0 are rejected.
std::int32_t real_prefix_length(std::span<const std::int32_t> mask, int row, int seqlen) {
  std::int32_t len = 0;
  bool seen_padding = false;
  for (int col = 0; col < seqlen; ++col) {
    const std::int64_t flat = std::int64_t(row) * seqlen + col;
    const std::int32_t v = mask[std::size_t(flat)];
    if (v != 0 && v != 1) {
      fail_layout("attention_mask", flat,
                  fmt::format("is {} at row {} column {}; mask values must be 1 (real token) or "
                              "0 (padding). Convert the mask to 0/1 first",
                              v, row, col));
    }
    if (v == 1 && seen_padding) {
      fail_layout("attention_mask", flat,
                  fmt::format("is 1 at row {} column {} after a 0 at column {}; real tokens must "
                              "be one contiguous run from column 0 (right padding only). Left "
                              "padding or holes: repack the row to the left, or pass cu_seqlens "
                              "with padded offsets",
                              row, col, len));
    }
    if (v == 0) seen_padding = true;
    if (v == 1) ++len;
  }
  return len;
}

void check_mask_shape(std::span<const std::int32_t> mask, int batch, int seqlen) {
  if (batch < 0) fail_layout("batch", -1, fmt::format("is {}, must be >= 0", batch));
  if (seqlen < 0) fail_layout("seqlen", -1, fmt::format("is {}, must be >= 0", seqlen));
  const std::int64_t want = std::int64_t(batch) * seqlen;
  if (std::int64_t(mask.size()) != want) {
    fail_layout("attention_mask", -1,
                fmt::format("has {} entries, expected batch * seqlen = {} * {} = {} (row-major "
                            "[B, S]); pass the mask's own B and S",
                            mask.size(), batch, seqlen, want));
  }
  checked_rows(want, "attention_mask");
}

// Row where document i of `seg` starts: its padded offset when given.
std::int64_t doc_start(const Segmentation& seg, std::size_t i) {
  return seg.cu_seqlens_padded ? (*seg.cu_seqlens_padded)[i] : seg.cu_seqlens[i];
}

// Every document of `seg` lies inside the buffer [0, total), in its own slot
// when padded offsets are given.
void check_segmentation(const Segmentation& seg) {
  if (seg.total < 0) fail_layout("total", -1, fmt::format("is {}, must be >= 0", seg.total));
  if (seg.cu_seqlens.empty() || seg.cu_seqlens[0] != 0) {
    fail_layout("cu_seqlens", seg.cu_seqlens.empty() ? -1 : 0,
                "must start at 0 with b+1 entries; build the segmentation with segment_from_*");
  }
  const std::size_t docs = seg.cu_seqlens.size() - 1;
  if (seg.cu_seqlens_padded && seg.cu_seqlens_padded->size() != docs + 1) {
    fail_layout("cu_seqlens_padded", -1,
                fmt::format("has {} entries, expected {} (as many as cu_seqlens)",
                            seg.cu_seqlens_padded->size(), docs + 1));
  }
  for (std::size_t i = 0; i < docs; ++i) {
    const std::int64_t len = std::int64_t(seg.cu_seqlens[i + 1]) - seg.cu_seqlens[i];
    const std::int64_t start = doc_start(seg, i);
    if (len < 0 || start < 0 || start + len > seg.total) {
      fail_layout(seg.cu_seqlens_padded ? "cu_seqlens_padded" : "cu_seqlens", std::int64_t(i),
                  fmt::format("document {} occupies rows [{}, {}) outside the buffer [0, {}); "
                              "offsets must be non-decreasing and fit total",
                              i, start, start + len, seg.total));
    }
  }
  if (!seg.cu_seqlens_padded) return;
  // Padded offsets are slots, as in a Batch (Batch::validate): from row 0,
  // non-decreasing, each holding its document, the last ending inside the
  // buffer. Overlapping slots would give rows two ids (the later document's
  // silently win) and offsets a Batch refuses.
  const auto& p = *seg.cu_seqlens_padded;
  if (p[0] != 0) {
    fail_layout("cu_seqlens_padded", 0,
                fmt::format("is {}, must be 0 (the first slot starts at row 0)", p[0]));
  }
  for (std::size_t i = 0; i < docs; ++i) {
    const std::int64_t len = std::int64_t(seg.cu_seqlens[i + 1]) - seg.cu_seqlens[i];
    const std::int64_t slot = std::int64_t(p[i + 1]) - p[i];
    if (slot < 0 || len > slot) {
      fail_layout("cu_seqlens_padded", std::int64_t(i + 1),
                  fmt::format("document {} has length {} but its slot [{}, {}) holds {} rows; "
                              "padded offsets must be non-decreasing and each slot must hold "
                              "its document",
                              i, len, p[i], p[i + 1], slot < 0 ? 0 : slot));
    }
  }
  if (p.back() > seg.total) {
    fail_layout("cu_seqlens_padded", std::int64_t(docs),
                fmt::format("is {} but the buffer has {} rows; the last slot must end inside it",
                            p.back(), seg.total));
  }
}

}  // namespace

// A document starts at every id 0 (the first id must be 0); every other id
// is the previous id + 1. Lengths are the distances between starts.
Segmentation segment_from_position_ids(const std::optional<std::vector<std::int32_t>>& ids) {
  if (!ids) {
    throw Error(ErrorKind::MissingPositionIds, "position_ids", -1,
                "are missing, so document boundaries are unknown; build them for the GLOBAL "
                "packed row (0..len-1 per document) before sharding, or pass cu_seqlens");
  }
  const auto& v = *ids;
  Segmentation seg;
  seg.total = checked_rows(std::int64_t(v.size()), "position_ids");
  std::vector<std::int32_t> lengths;
  for (std::size_t i = 0; i < v.size(); ++i) {
    check_id_value(i, v[i]);
    if (i > 0) check_next_id(i, v[i - 1], v[i]);
    if (v[i] == 0) lengths.push_back(0);
    ++lengths.back();
  }
  seg.cu_seqlens = prefix_sums(lengths);
  return seg;
}

// Walks the rows once. `open` says whether the previous row is a valid row of
// a document (padding closes it); a valid row either starts a document (id 0)
// or continues the open one (previous id + 1). Slots run from one document
// start to the next, so padding after a document belongs to its slot.
Segmentation segment_from_position_ids_and_valid(std::span<const std::int32_t> ids,
                                                 std::span<const std::uint8_t> valid) {
  if (ids.size() != valid.size()) {
    fail_layout("valid", -1,
                fmt::format("has {} entries but position_ids has {}; give one validity flag per "
                            "row (1 = real token, 0 = padding)",
                            valid.size(), ids.size()));
  }
  Segmentation seg;
  seg.total = checked_rows(std::int64_t(ids.size()), "position_ids");
  std::vector<std::int32_t> lengths, starts;
  bool open = false, any_padding = false;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (valid[i] == 0) {
      any_padding = true;
      if (starts.empty()) {  // leading padding: a zero-length document at row 0 covers it
        starts.push_back(0);
        lengths.push_back(0);
      }
      open = false;
      continue;
    }
    const std::int32_t id = ids[i];
    if (id < 0) {
      fail_ids(std::int64_t(i),
               fmt::format("is {} (negative) at index {}; ids of real tokens are 0..len-1 within "
                           "each document. Fix the id generator or pass cu_seqlens instead",
                           id, i));
    }
    if (id == 0) {
      starts.push_back(std::int32_t(i));
      lengths.push_back(1);
      open = true;
      continue;
    }
    if (!open) {
      fail_ids(std::int64_t(i),
               fmt::format("is {} at index {}, {}; a real token after padding (or at the "
                           "start) must start a document with id 0. Build the ids for the "
                           "global packed row before any sharding or slicing",
                           id, i, i == 0 ? "the first row" : "right after a padding row"));
    }
    check_next_id(i, ids[i - 1], id);
    ++lengths.back();
  }
  seg.cu_seqlens = prefix_sums(lengths);
  if (any_padding) {
    starts.push_back(seg.total);
    seg.cu_seqlens_padded = std::move(starts);
  }
  return seg;
}

// Row r of the [B, S] mask is sequence r at rows [r * S, r * S + len_r) of
// the flattened buffer. Padded offsets {0, S, 2S, ...} are given only when
// some row is shorter than S.
Segmentation segment_from_padded_mask(std::span<const std::int32_t> mask, int batch, int seqlen) {
  check_mask_shape(mask, batch, seqlen);
  std::vector<std::int32_t> lengths;
  lengths.reserve(std::size_t(batch));
  bool padded = false;
  for (int row = 0; row < batch; ++row) {
    lengths.push_back(real_prefix_length(mask, row, seqlen));
    padded = padded || lengths.back() < seqlen;
  }
  Segmentation seg;
  seg.cu_seqlens = prefix_sums(lengths);
  seg.total = batch * seqlen;
  if (padded) {
    seg.cu_seqlens_padded = prefix_sums(std::vector<std::int32_t>(std::size_t(batch), seqlen));
  }
  return seg;
}

// Each EOS token closes the document it belongs to; a non-empty run of
// tokens after the last EOS is a final document. No tokens, no documents.
Segmentation segment_from_eos(std::span<const std::int32_t> tokens, std::int32_t eos_id) {
  if (eos_id < 0) {
    fail_layout("eos_id", -1,
                fmt::format("is {}; token ids are >= 0, so no token could end a document. Pass "
                            "the tokenizer's EOS id",
                            eos_id));
  }
  Segmentation seg;
  seg.total = checked_rows(std::int64_t(tokens.size()), "tokens");
  std::vector<std::int32_t> lengths;
  std::int32_t open = 0;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0) {
      fail_layout("tokens", std::int64_t(i),
                  fmt::format("is {} at index {}; token ids must be >= 0. Pass the raw token "
                              "ids, not a mask or shifted labels",
                              tokens[i], i));
    }
    ++open;
    if (tokens[i] == eos_id) {
      lengths.push_back(open);
      open = 0;
    }
  }
  if (open > 0) lengths.push_back(open);
  seg.cu_seqlens = prefix_sums(lengths);
  return seg;
}

// Real rows of document i count 0..len_i-1 from its start offset; every
// other row (padding) is 0.
std::vector<std::int32_t> position_ids_for(const Segmentation& seg) {
  check_segmentation(seg);
  std::vector<std::int32_t> ids(std::size_t(seg.total), 0);
  for (std::size_t i = 0; i + 1 < seg.cu_seqlens.size(); ++i) {
    const std::int32_t len = seg.cu_seqlens[i + 1] - seg.cu_seqlens[i];
    const std::int64_t start = doc_start(seg, i);
    for (std::int32_t t = 0; t < len; ++t) ids[std::size_t(start + t)] = t;
  }
  return ids;
}

void apply_segmentation(Batch& b, const Segmentation& q, const Segmentation& kv) {
  b.cu_seqlens_q = q.cu_seqlens;
  b.cu_seqlens_q_padded = q.cu_seqlens_padded;
  b.total_q = q.total;
  b.cu_seqlens_kv = kv.cu_seqlens;
  b.cu_seqlens_kv_padded = kv.cu_seqlens_padded;
  b.total_kv = kv.total;
}

}  // namespace attncheck
