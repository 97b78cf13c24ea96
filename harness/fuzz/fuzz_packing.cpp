// fuzz_packing: the packing conversions (harness/packing.hpp) on fuzzed
// arrays. Each conversion is checked against an independent statement of its
// rule (accepts exactly the inputs the rule allows, else a typed Error), and
// an accepted input must give a well-formed segmentation that round-trips:
// position_ids_for(seg) re-segments to the same cu_seqlens, the segmentation
// makes a valid Batch whose position ids pass check_position_ids, and the
// mask / flags / EOS positions rebuilt from it equal the input.
//
// Input encoding (ByteReader; make_seeds.py writes seeds in it): a selector
// byte (% 5), then
//   0 ids:        mode byte (% 4: 0 documents, 1 documents + edits, 2 raw ids,
//                 3 missing), u16 rows (<= 4096), then per mode: documents are
//                 picked lengths [0,250] (0 counts as 1) until the rows are
//                 filled; edits: byte count (% 4), each u16 index + pick id
//                 [-3,250]; raw: every id pick [-3,250]
//   1 ids+valid:  mode byte (% 3: 0 documents, 1 + edits, 2 raw), u16 rows,
//                 pick valid size delta [-1,1]; documents: pairs (pick length
//                 [0,250], pick padding [0,250]); edits: byte count, each u16
//                 index + flag (id or flag) + pick value; raw: per row a byte
//                 flag (bit0 valid) and a pick id [-3,250]
//   2 mask:       pick B [-1,64] (at most 4096 when S = 0), pick S [-1,64], pick size delta [-2,2],
//                 mode byte (% 3: 0 row lengths, 1 + edits, 2 raw values); row
//                 lengths: pick per row (% (S + 1)); values: pick [-1,2]
//   3 eos:        pick eos id [-2,8], u16 tokens, every token pick [-2,8]
//   4 arbitrary segmentation -> position_ids_for: byte entries (% 18), every
//                 cu entry pick [-2,250]; flag padded: pick size delta [-2,2],
//                 every entry pick [-2,250]; total: flag ? pick [-2,250] : u16,
//                 at most 65535
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "harness/batch.hpp"
#include "harness/error.hpp"
#include "harness/fuzz/fuzz_input.hpp"
#include "harness/fuzz/targets.hpp"
#include "harness/packing.hpp"

namespace attncheck::fuzz {

namespace {

using Ids = std::vector<std::int32_t>;

constexpr std::size_t k_max_rows = 4096;

std::string join(const std::vector<std::int32_t>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < 64; ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + (v.size() > 64 ? ",..." : "");
}

void refused(const char* conversion, const Error& e) {
  if (verbose()) std::fprintf(stderr, "fuzz_packing: %s: refused: %s\n", conversion, e.what());
}

void accepted(const char* conversion, const Segmentation& seg) {
  if (!verbose()) return;
  std::fprintf(stderr, "fuzz_packing: %s: accepted: cu_seqlens [%s] padded [%s] total %d\n",
               conversion, join(seg.cu_seqlens).c_str(),
               seg.cu_seqlens_padded ? join(*seg.cu_seqlens_padded).c_str() : "none", seg.total);
}

// Common shape of every segmentation a conversion returns.
void check_shape(const Segmentation& seg) {
  FUZZ_CHECK(seg.total >= 0);
  const auto& cu = seg.cu_seqlens;
  FUZZ_CHECK(!cu.empty() && cu[0] == 0);
  for (std::size_t i = 1; i < cu.size(); ++i) FUZZ_CHECK(cu[i] >= cu[i - 1]);
  FUZZ_CHECK(cu.back() <= seg.total);
  if (!seg.cu_seqlens_padded) {
    FUZZ_CHECK(cu.back() == seg.total);
    return;
  }
  const auto& p = *seg.cu_seqlens_padded;
  FUZZ_CHECK(p.size() == cu.size() && p[0] == 0 && p.back() == seg.total);
  for (std::size_t i = 1; i < p.size(); ++i) {
    FUZZ_CHECK(p[i] >= p[i - 1]);
    FUZZ_CHECK(cu[i] - cu[i - 1] <= p[i] - p[i - 1]);
  }
}

std::int64_t start_of(const Segmentation& seg, std::size_t i) {
  return seg.cu_seqlens_padded ? (*seg.cu_seqlens_padded)[i] : seg.cu_seqlens[i];
}

// Real-row flags of a segmentation (1 on the rows of a document).
std::vector<std::uint8_t> valid_of(const Segmentation& seg) {
  std::vector<std::uint8_t> v(std::size_t(seg.total), 0);
  for (std::size_t i = 0; i + 1 < seg.cu_seqlens.size(); ++i) {
    const std::int64_t s = start_of(seg, i);
    for (std::int64_t t = 0; t < seg.cu_seqlens[i + 1] - seg.cu_seqlens[i]; ++t) {
      v[std::size_t(s + t)] = 1;
    }
  }
  return v;
}

// A segmentation describes a valid batch (self-attention), and the ids
// position_ids_for gives it pass the batch's own position-id check.
Ids check_batch_and_ids(const Segmentation& seg) {
  Batch b;
  b.softmax_scale = 1.0;
  apply_segmentation(b, seg, seg);
  Ids ids;
  try {
    b.validate();
    ids = position_ids_for(seg);
    FUZZ_CHECK(ids.size() == std::size_t(seg.total));
    b.position_ids = ids;
    b.check_position_ids();
  } catch (const Error&) {
    FUZZ_CHECK(!"a converted segmentation does not make a valid batch with valid ids");
  }
  if (seg.total <= std::int32_t(k_max_rows)) {
    const auto real = b.real_q_rows();
    const auto valid = valid_of(seg);
    for (std::size_t r = 0; r < real.size(); ++r) FUZZ_CHECK(real[r] == (valid[r] != 0));
  }
  return ids;
}

bool same(const Segmentation& a, const Segmentation& b) {
  return a.cu_seqlens == b.cu_seqlens && a.cu_seqlens_padded == b.cu_seqlens_padded &&
         a.total == b.total;
}

// ---- (b) position ids -------------------------------------------------------

// The rule: first id 0, then each id is 0 or the previous + 1.
bool ids_follow_rule(const Ids& v) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == 0) continue;
    if (i == 0 || v[i] < 0 || std::int64_t(v[i]) != std::int64_t(v[i - 1]) + 1) return false;
  }
  return true;
}

Ids decode_documents(ByteReader& r, std::size_t rows) {
  Ids v;
  v.reserve(rows);
  while (v.size() < rows) {
    const std::int64_t len = std::max<std::int64_t>(1, r.pick(0, 250));
    for (std::int64_t t = 0; t < len && v.size() < rows; ++t) v.push_back(std::int32_t(t));
  }
  return v;
}

void edit_ids(ByteReader& r, Ids& v) {
  const int edits = r.u8() % 4;
  for (int e = 0; e < edits && !v.empty(); ++e) {
    const std::size_t at = r.size(v.size() - 1);
    v[at] = r.pick(-3, 250);
  }
}

void fuzz_position_ids(ByteReader& r) {
  const int mode = r.u8() % 4;
  const std::size_t rows = r.size(k_max_rows);
  std::optional<Ids> ids;
  if (mode == 2) {
    ids.emplace(rows);
    for (auto& id : *ids) id = r.pick(-3, 250);
  } else if (mode != 3) {
    ids = decode_documents(r, rows);
    if (mode == 1) edit_ids(r, *ids);
  }
  Segmentation seg;
  try {
    seg = segment_from_position_ids(ids);
  } catch (const Error& e) {
    refused("position ids", e);
    if (!ids) {
      FUZZ_CHECK(e.kind() == ErrorKind::MissingPositionIds);
    } else {
      FUZZ_CHECK(e.kind() == ErrorKind::InvalidPositionIds);
      FUZZ_CHECK(!ids_follow_rule(*ids));
      FUZZ_CHECK(e.index() >= 0 && std::size_t(e.index()) < ids->size());
    }
    return;
  }
  accepted("position ids", seg);
  FUZZ_CHECK(ids && ids_follow_rule(*ids));
  check_shape(seg);
  FUZZ_CHECK(!seg.cu_seqlens_padded && seg.total == std::int32_t(ids->size()));
  // Every document starts at an id 0, so none is empty.
  for (std::size_t i = 1; i < seg.cu_seqlens.size(); ++i) {
    FUZZ_CHECK(seg.cu_seqlens[i] > seg.cu_seqlens[i - 1]);
    FUZZ_CHECK((*ids)[std::size_t(seg.cu_seqlens[i - 1])] == 0);
  }
  FUZZ_CHECK(check_batch_and_ids(seg) == *ids);
}

// ---- (b') position ids + validity flags ---------------------------------------

// The rule: a valid row has id 0 (starts a document) or the previous row is
// valid and its id + 1; ids of padding rows are ignored.
bool ids_valid_follow_rule(std::span<const std::int32_t> ids, std::span<const std::uint8_t> valid) {
  bool open = false;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (valid[i] == 0) {
      open = false;
      continue;
    }
    if (ids[i] == 0) {
      open = true;
      continue;
    }
    if (!open || ids[i] < 0 || std::int64_t(ids[i]) != std::int64_t(ids[i - 1]) + 1) return false;
  }
  return true;
}

void fuzz_ids_and_valid(ByteReader& r) {
  const int mode = r.u8() % 3;
  const std::size_t rows = r.size(k_max_rows);
  const std::int32_t delta = r.pick(-1, 1);
  Ids ids;
  std::vector<std::uint8_t> valid;
  ids.reserve(rows);
  valid.reserve(rows);
  if (mode == 2) {
    for (std::size_t i = 0; i < rows; ++i) {
      valid.push_back(r.u8() & 1u);
      ids.push_back(r.pick(-3, 250));
    }
  } else {
    while (ids.size() < rows) {
      const std::int64_t len = r.pick(0, 250), pad = r.pick(0, 250);
      if (len <= 0 && pad <= 0) {  // an empty pair: one padding row, so the loop ends
        ids.push_back(-1);
        valid.push_back(0);
        continue;
      }
      for (std::int64_t t = 0; t < len && ids.size() < rows; ++t) {
        ids.push_back(std::int32_t(t));
        valid.push_back(1);
      }
      for (std::int64_t t = 0; t < pad && ids.size() < rows; ++t) {
        ids.push_back(-1);
        valid.push_back(0);
      }
    }
    if (mode == 1) {
      const int edits = r.u8() % 4;
      for (int e = 0; e < edits && !ids.empty(); ++e) {
        const std::size_t at = r.size(ids.size() - 1);
        if (r.flag()) {
          ids[at] = r.pick(-3, 250);
        } else {
          valid[at] = r.u8();
        }
      }
    }
  }
  if (delta < 0 && !valid.empty()) valid.pop_back();
  if (delta > 0) valid.push_back(1);

  Segmentation seg;
  try {
    seg = segment_from_position_ids_and_valid(ids, valid);
  } catch (const Error& e) {
    refused("ids+valid", e);
    if (ids.size() != valid.size()) {
      FUZZ_CHECK(e.kind() == ErrorKind::InvalidLayout);
    } else {
      FUZZ_CHECK(e.kind() == ErrorKind::InvalidPositionIds);
      FUZZ_CHECK(!ids_valid_follow_rule(ids, valid));
      FUZZ_CHECK(e.index() >= 0 && std::size_t(e.index()) < ids.size());
    }
    return;
  }
  accepted("ids+valid", seg);
  FUZZ_CHECK(ids.size() == valid.size() && ids_valid_follow_rule(ids, valid));
  check_shape(seg);
  FUZZ_CHECK(seg.total == std::int32_t(ids.size()));
  const bool any_padding = std::count(valid.begin(), valid.end(), 0) > 0;
  FUZZ_CHECK(seg.cu_seqlens_padded.has_value() == any_padding);
  // Real rows are exactly the valid rows, counting 0..len-1 per document.
  const auto flags = valid_of(seg);
  for (std::size_t i = 0; i < valid.size(); ++i) FUZZ_CHECK((flags[i] != 0) == (valid[i] != 0));
  for (std::size_t i = 0; i + 1 < seg.cu_seqlens.size(); ++i) {
    const std::int64_t s = start_of(seg, i);
    for (std::int64_t t = 0; t < seg.cu_seqlens[i + 1] - seg.cu_seqlens[i]; ++t) {
      FUZZ_CHECK(ids[std::size_t(s + t)] == t);
    }
  }
  const Ids rebuilt = check_batch_and_ids(seg);
  // Round trip: the ids and flags the segmentation implies give it back.
  try {
    FUZZ_CHECK(same(segment_from_position_ids_and_valid(rebuilt, flags), seg));
    if (!any_padding) FUZZ_CHECK(same(segment_from_position_ids(ids), seg));
  } catch (const Error&) {
    FUZZ_CHECK(!"the ids and flags of a segmentation are refused");
  }
}

// ---- (c) padded [B, S] mask -------------------------------------------------

void fuzz_padded_mask(ByteReader& r) {
  std::int32_t batch = r.pick(-1, 64);
  const std::int32_t seqlen = r.pick(-1, 64);
  // B rows of zero columns are B empty sequences: cu_seqlens of B + 1 entries
  // for an empty mask, by the contract. Bound B there, as the mask bounds it
  // elsewhere (B * S entries), so the output stays small.
  if (seqlen == 0 && batch > std::int32_t(k_max_rows)) batch = std::int32_t(k_max_rows);
  const std::int32_t delta = r.pick(-2, 2);
  const int mode = r.u8() % 3;
  const std::int64_t want = std::int64_t(batch) * seqlen;
  const auto size = std::size_t(std::clamp<std::int64_t>(want + delta, 0, k_max_rows));
  Ids mask(size, 0);
  if (mode == 2) {
    for (auto& m : mask) m = r.pick(-1, 2);
  } else if (seqlen > 0) {
    for (std::size_t row = 0; row * std::size_t(seqlen) < size; ++row) {
      const std::int64_t len = std::int64_t(std::uint32_t(r.pick(0, 250))) % (std::int64_t(seqlen) + 1);
      for (std::int64_t c = 0; c < len && row * seqlen + c < size; ++c) {
        mask[std::size_t(row * seqlen + c)] = 1;
      }
    }
    if (mode == 1) {
      const int edits = r.u8() % 4;
      for (int e = 0; e < edits && !mask.empty(); ++e) {
        const std::size_t at = r.size(mask.size() - 1);
        mask[at] = r.pick(-1, 2);
      }
    }
  }

  // The rule: B, S >= 0, B * S entries, each 0/1, every row a run of 1s from
  // column 0 followed by 0s.
  bool rule = batch >= 0 && seqlen >= 0 && std::int64_t(mask.size()) == want;
  for (std::size_t i = 0; rule && i < mask.size(); ++i) {
    const std::int32_t m = mask[i];
    rule = (m == 0 || m == 1) && !(m == 1 && i % std::size_t(seqlen) > 0 && mask[i - 1] == 0);
  }
  Segmentation seg;
  try {
    seg = segment_from_padded_mask(mask, batch, seqlen);
  } catch (const Error& e) {
    refused("padded mask", e);
    FUZZ_CHECK(e.kind() == ErrorKind::InvalidLayout);
    FUZZ_CHECK(!rule);
    return;
  }
  accepted("padded mask", seg);
  FUZZ_CHECK(rule);
  check_shape(seg);
  FUZZ_CHECK(seg.total == want);
  FUZZ_CHECK(seg.cu_seqlens.size() == std::size_t(batch) + 1);
  bool short_row = false;
  for (int i = 0; i < batch; ++i) {
    const std::int32_t len = seg.cu_seqlens[std::size_t(i) + 1] - seg.cu_seqlens[std::size_t(i)];
    FUZZ_CHECK(len >= 0 && len <= seqlen);
    short_row = short_row || len < seqlen;
    if (seg.cu_seqlens_padded) {
      FUZZ_CHECK((*seg.cu_seqlens_padded)[std::size_t(i)] == std::int64_t(i) * seqlen);
    }
  }
  FUZZ_CHECK(seg.cu_seqlens_padded.has_value() == short_row);
  // The mask rebuilt from the segmentation is the input.
  const auto flags = valid_of(seg);
  FUZZ_CHECK(flags.size() == mask.size());
  for (std::size_t i = 0; i < mask.size(); ++i) FUZZ_CHECK(std::int32_t(flags[i]) == mask[i]);
  (void)check_batch_and_ids(seg);
}

// ---- (d) EOS token ids --------------------------------------------------------

void fuzz_eos(ByteReader& r) {
  const std::int32_t eos = r.pick(-2, 8);
  Ids tokens(r.size(k_max_rows));
  for (auto& t : tokens) t = r.pick(-2, 8);
  const bool rule = eos >= 0 && std::all_of(tokens.begin(), tokens.end(), [](std::int32_t t) {
                      return t >= 0;
                    });
  Segmentation seg;
  try {
    seg = segment_from_eos(tokens, eos);
  } catch (const Error& e) {
    refused("eos", e);
    FUZZ_CHECK(e.kind() == ErrorKind::InvalidLayout);
    FUZZ_CHECK(!rule);
    return;
  }
  accepted("eos", seg);
  FUZZ_CHECK(rule);
  check_shape(seg);
  FUZZ_CHECK(!seg.cu_seqlens_padded && seg.total == std::int32_t(tokens.size()));
  // Each document is non-empty and ends at its only EOS; only the last one
  // may end without an EOS.
  const std::size_t docs = seg.cu_seqlens.size() - 1;
  for (std::size_t i = 0; i < docs; ++i) {
    const auto b = std::size_t(seg.cu_seqlens[i]), e = std::size_t(seg.cu_seqlens[i + 1]);
    FUZZ_CHECK(e > b);
    for (std::size_t t = b; t + 1 < e; ++t) FUZZ_CHECK(tokens[t] != eos);
    FUZZ_CHECK(tokens[e - 1] == eos || i + 1 == docs);
  }
  const Ids ids = check_batch_and_ids(seg);
  try {
    FUZZ_CHECK(same(segment_from_position_ids(ids), seg));
  } catch (const Error&) {
    FUZZ_CHECK(!"position_ids_for of an EOS segmentation is refused");
  }
}

// ---- position_ids_for on an arbitrary segmentation ------------------------------

void fuzz_position_ids_for(ByteReader& r) {
  Segmentation seg;
  seg.cu_seqlens.resize(r.u8() % 18);
  for (auto& c : seg.cu_seqlens) c = r.pick(-2, 250);
  if (r.flag()) {
    const std::int64_t n = std::int64_t(seg.cu_seqlens.size()) + r.pick(-2, 2);
    Ids p(std::size_t(std::clamp<std::int64_t>(n, 0, 20)));
    for (auto& x : p) x = r.pick(-2, 250);
    seg.cu_seqlens_padded = std::move(p);
  }
  seg.total = r.flag() ? r.pick(-2, 250) : std::int32_t(r.u16());
  // The ids are `total` entries by the contract: bound it (a negative total
  // stays, to be refused).
  seg.total = std::min(seg.total, std::int32_t(0xFFFF));
  Ids ids;
  try {
    ids = position_ids_for(seg);
  } catch (const Error& e) {
    refused("position_ids_for", e);
    FUZZ_CHECK(e.kind() == ErrorKind::InvalidLayout);
    return;
  }
  accepted("position_ids_for", seg);
  // Accepted: the segmentation is one a Batch accepts (check_batch_and_ids)
  // and the ids describe every document of it.
  FUZZ_CHECK(ids.size() == std::size_t(seg.total));
  const auto flags = valid_of(seg);
  std::int64_t real = 0;
  for (const auto f : flags) real += f;
  FUZZ_CHECK(real == seg.cu_seqlens.back());  // documents do not overlap
  for (std::size_t i = 0; i + 1 < seg.cu_seqlens.size(); ++i) {
    const std::int64_t s = start_of(seg, i);
    for (std::int64_t t = 0; t < seg.cu_seqlens[i + 1] - seg.cu_seqlens[i]; ++t) {
      FUZZ_CHECK(ids[std::size_t(s + t)] == t);
    }
  }
  (void)check_batch_and_ids(seg);
}

}  // namespace

int run_fuzz_packing(const std::uint8_t* data, std::size_t size) {
  ByteReader r(data, size);
  switch (r.u8() % 5) {
    case 0: fuzz_position_ids(r); break;
    case 1: fuzz_ids_and_valid(r); break;
    case 2: fuzz_padded_mask(r); break;
    case 3: fuzz_eos(r); break;
    default: fuzz_position_ids_for(r); break;
  }
  return 0;
}

}  // namespace attncheck::fuzz
