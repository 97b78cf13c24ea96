// RapidCheck generators of packed batches (DESIGN.md "Generators").
//
// A case is generated in two stages so that shapes shrink before contents
// (gen::mapcat): first the Shape (dtype, heads, dims, mask kind, value
// distribution, number of documents), then the per-document lengths and
// padding, the mask parameters and a seed from which every value is drawn.
// Lengths include 0, 1 and tile edges (tile-1, tile, tile+1 for tiles 16..128).
#pragma once

#include <rapidcheck.h>

#include <cstdint>
#include <string>
#include <vector>

#include "harness/batch.hpp"

namespace attncheck::gen {

enum class ValueDist { Gaussian, HeavyTail, Outliers, LargeLogits, Ties, ActivationLike };
enum class MaskKind { None, Causal, Window, CausalWindow, Chunked, CausalChunked };

struct GenOptions {
  int max_tokens = 512;     // cap on rows of the q and kv buffers (padding included)
  double max_work = 4e6;    // cap on sum_docs Lq*Lk * Hq * (D + Dv): keeps cases fast
  int max_head_dim = 256;
  std::vector<DType> dtypes{DType::Float32, DType::BFloat16, DType::Float16};
  // Every document has Lq == Lk (the only kind sequence parallelism shards).
  bool self_attention = false;
  // Mask kinds to generate; empty: all.
  std::vector<MaskKind> masks;
  bool mha_only = false;    // Hq == Hkv (group 1) only
  bool no_padding = false;  // no padding rows between or after documents
  bool ids_always = false;  // every case carries position ids
  bool same_head_dim = false;  // Dv == D only
  // Narrowings for the sequence-parallel rows (properties/campaign.cpp
  // options_for), so that their cases are ones the variant runs and the
  // property judges:
  int heads_split = 0;        // > 0: Hq divisible by it, Hkv dividing it or divisible by it
  int min_docs = 1;           // at least this many documents
  bool padding_rows = false;  // at least one padding row after the documents (q and kv)
  bool gqa_only = false;      // Hq != Hkv only
};

// Multi-tile documents: with Shape::multi_tile the first document is longer
// than k_multi_tile_rows (the kv tile of kernels/flash at D <= 64; two or
// more of its tiles at larger D) and every document gets a rising score
// profile: keys ramp along one channel with their position and queries lean
// on it, so a row's running max grows by about k_rise_per_tile logits from
// one 64-key tile to the next (an online softmax that fails to rescale its
// accumulator errs by about e^8 on such a row).
inline constexpr int k_multi_tile_rows = 64;
inline constexpr double k_rise_per_tile = 8.0;



const char* to_string(ValueDist d);
const char* to_string(MaskKind m);

struct Shape {
  DType dtype = DType::Float32;
  int heads_kv = 1;
  int group = 1;  // Hq / Hkv
  int head_dim = 8;
  int head_dim_v = 8;
  MaskKind mask = MaskKind::None;
  ValueDist dist = ValueDist::Gaussian;
  bool ids_present = true;
  bool padded = false;   // cu_seqlens_padded given (slots may still be tight)
  bool cross = false;    // documents may have Lq != Lk
  bool default_scale = true;
  int num_docs = 1;
  bool multi_tile = false;  // see k_multi_tile_rows
};

struct DocSpec {
  int lq = 0, lk = 0, pad_q = 0, pad_kv = 0;
};

struct CaseSpec {
  Shape shape;
  std::vector<DocSpec> docs;
  int tail_q = 0, tail_kv = 0;
  int window_left = -1, window_right = -1, chunk = 0;
  double scale = 0.0;  // used when !shape.default_scale
  std::uint64_t value_seed = 0;
};

rc::Gen<CaseSpec> case_spec(const GenOptions& opts);

// Deterministic: the same spec gives the same case on every machine.
Case build_case(const CaseSpec& spec);

// Draw values for the real rows of documents in `docs` (all when empty) from
// `seed`, leaving other rows as they are (used by the isolation property).
void refill_documents(Case& c, ValueDist dist, std::uint64_t seed, const std::vector<int>& docs);

// The rising score profile of a multi-tile case (k_rise_per_tile), added to
// the real rows of every document.
void add_rising_scores(Case& c);

// Features of a case, for RC_TAG and coverage reports.
std::vector<std::string> features(const CaseSpec& spec, const Case& c);

// Longest tile edge considered by the length generator.
inline constexpr int k_tiles[] = {16, 32, 64, 128};

}  // namespace attncheck::gen
