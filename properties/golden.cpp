#include "properties/golden.hpp"

#include <fmt/format.h>

#include "harness/packing.hpp"
#include "properties/generators.hpp"

namespace attncheck::golden {

namespace {

using gen::CaseSpec;
using gen::DocSpec;
using gen::MaskKind;
using gen::ValueDist;

struct Spec {
  DType dtype = DType::Float32;
  int hkv = 1, group = 1, d = 16, dv = 0;
  MaskKind mask = MaskKind::None;
  ValueDist dist = ValueDist::Gaussian;
  bool ids = true, padded = false;
  std::vector<DocSpec> docs;
  int tail_q = 0, tail_kv = 0;
  int wl = -1, wr = -1, chunk = 0;
  double scale = 0.0;  // 0: 1/sqrt(D)
};

Case make(const Spec& s, std::uint64_t seed) {
  CaseSpec c;
  c.shape.dtype = s.dtype;
  c.shape.heads_kv = s.hkv;
  c.shape.group = s.group;
  c.shape.head_dim = s.d;
  c.shape.head_dim_v = s.dv == 0 ? s.d : s.dv;
  c.shape.mask = s.mask;
  c.shape.dist = s.dist;
  c.shape.ids_present = s.ids;
  c.shape.padded = s.padded;
  c.shape.default_scale = s.scale == 0.0;
  c.scale = s.scale;
  c.shape.num_docs = int(s.docs.size());
  for (const auto& d : s.docs) c.shape.cross = c.shape.cross || d.lq != d.lk;
  c.docs = s.docs;
  c.tail_q = s.tail_q;
  c.tail_kv = s.tail_kv;
  c.window_left = s.wl;
  c.window_right = s.wr;
  c.chunk = s.chunk;
  c.value_seed = seed;
  return gen::build_case(c);
}

std::vector<DocSpec> self_docs(std::initializer_list<int> lens) {
  std::vector<DocSpec> out;
  for (int l : lens) out.push_back({l, l, 0, 0});
  return out;
}

// Re-describe a self-attention case through a segmentation produced by one of
// the packing conversions: the batch's cu_seqlens/padded offsets come from
// `seg`, the values are the spec's.
Case with_segmentation(Case c, const Segmentation& seg) {
  Batch& b = c.batch;
  if (b.total_q != seg.total || b.total_kv != seg.total) {
    throw std::logic_error("golden: segmentation does not cover the case's buffers");
  }
  apply_segmentation(b, seg, seg);
  b.validate();
  return c;
}

}  // namespace

std::vector<GoldenCase> golden_cases() {
  std::vector<GoldenCase> out;
  std::uint64_t seed = 20261122;
  auto add = [&](std::string name, std::string what, const Spec& s) {
    out.push_back({std::move(name), std::move(what), make(s, seed++)});
  };

  // --- packing descriptions (a)-(d), self-attention, causal.
  add("pack-cu-seqlens", "description (a): cu_seqlens only, no position ids, 3 documents, causal",
      {.hkv = 2, .group = 2, .mask = MaskKind::Causal, .ids = false, .docs = self_docs({5, 9, 3})});
  add("pack-position-ids", "description (b): one packed row, position ids reset per document",
      {.hkv = 2, .mask = MaskKind::Causal, .ids = true, .docs = self_docs({7, 1, 12, 4})});
  {
    // (c) padded [B, S] + attention mask: 3 rows of S = 12, right padding.
    Spec s{.hkv = 1, .group = 4, .mask = MaskKind::Causal, .ids = true, .padded = true,
           .docs = {{9, 9, 3, 3}, {12, 12, 0, 0}, {2, 2, 10, 10}}};
    std::vector<std::int32_t> mask(3 * 12, 0);
    const int lens[3] = {9, 12, 2};
    for (int r = 0; r < 3; ++r) {
      for (int t = 0; t < lens[r]; ++t) mask[std::size_t(r * 12 + t)] = 1;
    }
    const Segmentation seg = segment_from_padded_mask(mask, 3, 12);
    out.push_back({"pack-padded-mask",
                   "description (c): padded [3, 12] layout with an attention mask (right padding)",
                   with_segmentation(make(s, seed++), seg)});
  }
  {
    // (d) token ids with EOS = 2 ending each document; tokens after the last EOS
    // form a final document.
    const std::vector<std::int32_t> tokens = {5, 7, 9, 2, 4, 2, 8, 8, 8, 8, 8, 2, 6, 6};
    const Segmentation seg = segment_from_eos(tokens, 2);
    Spec s{.hkv = 2, .group = 1, .d = 24, .mask = MaskKind::Causal, .ids = true,
           .docs = self_docs({4, 2, 6, 2})};
    out.push_back({"pack-eos-ids",
                   "description (d): EOS-terminated documents (EOS id 2), trailing document "
                   "without EOS",
                   with_segmentation(make(s, seed++), seg)});
  }

  // --- padding.
  add("padding-between-and-tail", "padding between sequences and tail padding, no mask",
      {.hkv = 2, .group = 2, .padded = true, .docs = {{6, 6, 2, 2}, {3, 3, 0, 0}, {8, 8, 5, 5}},
       .tail_q = 4, .tail_kv = 4});
  add("padding-tail-only", "tail padding without cu_seqlens_padded, causal",
      {.hkv = 1, .mask = MaskKind::Causal, .docs = self_docs({10, 6}), .tail_q = 7, .tail_kv = 7});
  add("zero-length-docs", "zero-length documents (q and kv), between real ones, with padding",
      {.hkv = 2, .padded = true,
       .docs = {{0, 0, 2, 2}, {5, 5, 1, 1}, {0, 0, 0, 0}, {1, 1, 3, 3}, {0, 0, 0, 0}}});
  add("length-one-docs", "length-1 documents, causal (one key per row: dS = 0)",
      {.hkv = 1, .group = 2, .mask = MaskKind::Causal, .docs = self_docs({1, 1, 1, 4, 1})});
  add("tile-edges-63-64-65", "lengths at a 64-row tile edge",
      {.hkv = 1, .d = 32, .mask = MaskKind::Causal, .ids = false, .docs = self_docs({63, 64, 65})});
  add("tile-edges-15-16-17-31-32-33", "lengths at 16- and 32-row tile edges",
      {.hkv = 2, .d = 16, .padded = true,
       .docs = {{15, 15, 1, 1}, {16, 16, 0, 0}, {17, 17, 2, 2}, {31, 31, 0, 0}, {32, 32, 1, 1},
                {33, 33, 0, 0}}});
  add("tile-edge-128-129", "a 129-row document beside a 127-row one",
      {.hkv = 1, .d = 8, .mask = MaskKind::Causal, .docs = self_docs({127, 129})});

  // --- Lq != Lk.
  add("cross-lq-gt-lk-causal", "Lq > Lk with bottom-right causal: early queries see no key",
      {.hkv = 2, .mask = MaskKind::Causal, .ids = false, .docs = {{9, 4, 0, 0}, {6, 11, 0, 0}}});
  add("cross-padded-no-mask", "Lq != Lk with padding on both sides, no mask",
      {.hkv = 1, .group = 2, .d = 20, .dv = 12, .ids = false, .padded = true,
       .docs = {{3, 10, 1, 2}, {8, 2, 0, 3}, {0, 5, 2, 0}}, .tail_q = 2, .tail_kv = 1});
  add("cross-lk-zero", "a document with Lk = 0 (its queries see nothing) and one with Lq = 0",
      {.hkv = 1, .ids = false, .docs = {{4, 0, 0, 0}, {0, 6, 0, 0}, {5, 5, 0, 0}}});

  // --- heads.
  add("gqa-2", "GQA group 2 (Hq 4, Hkv 2)", {.hkv = 2, .group = 2, .d = 32, .mask = MaskKind::Causal,
                                             .docs = self_docs({12, 20})});
  add("gqa-4", "GQA group 4 (Hq 8, Hkv 2)", {.hkv = 2, .group = 4, .d = 16, .docs = self_docs({9, 14})});
  add("gqa-8-mqa", "MQA: Hq 8, Hkv 1", {.hkv = 1, .group = 8, .d = 16, .mask = MaskKind::Causal,
                                        .padded = true, .docs = {{11, 11, 2, 2}, {6, 6, 0, 0}}});

  // --- masks.
  add("window-left", "sliding window left 3, right unbounded",
      {.hkv = 1, .mask = MaskKind::Window, .docs = self_docs({14, 6}), .wl = 3, .wr = -1});
  add("window-both", "sliding window (2, 1), padding",
      {.hkv = 2, .mask = MaskKind::Window, .padded = true, .docs = {{10, 10, 3, 3}, {5, 5, 0, 0}},
       .wl = 2, .wr = 1});
  add("window-right-only", "window left unbounded, right 0 without causal flag",
      {.hkv = 1, .mask = MaskKind::Window, .docs = self_docs({8, 13}), .wl = -1, .wr = 0});
  add("causal-window", "causal + left window 4 (Mistral-style)",
      {.hkv = 1, .group = 2, .mask = MaskKind::CausalWindow, .docs = self_docs({17, 9}), .wl = 4});
  add("chunked", "chunked attention, chunk 4, no causal",
      {.hkv = 1, .mask = MaskKind::Chunked, .docs = self_docs({11, 7}), .chunk = 4});
  add("causal-chunked", "causal chunked attention (Llama 4), chunk 5, Lq != Lk",
      {.hkv = 2, .mask = MaskKind::CausalChunked, .ids = false, .docs = {{13, 13, 0, 0}, {6, 9, 0, 0}},
       .chunk = 5});

  // --- dtypes.
  add("bf16-causal-padded", "bfloat16 storage, causal, padding",
      {.dtype = DType::BFloat16, .hkv = 2, .group = 2, .d = 32, .mask = MaskKind::Causal,
       .padded = true, .docs = {{12, 12, 2, 2}, {7, 7, 1, 1}}, .tail_q = 3, .tail_kv = 3});
  add("fp16-window-gqa", "float16 storage, window, GQA",
      {.dtype = DType::Float16, .hkv = 1, .group = 4, .d = 16, .mask = MaskKind::Window,
       .docs = self_docs({15, 8}), .wl = 5, .wr = 2});
  add("bf16-cross-chunked", "bfloat16, Lq != Lk, chunked",
      {.dtype = DType::BFloat16, .hkv = 1, .mask = MaskKind::Chunked, .ids = false,
       .docs = {{8, 12, 0, 0}, {5, 3, 0, 0}}, .chunk = 3});

  // --- head dims.
  add("headdim-8", "D = Dv = 8", {.hkv = 1, .d = 8, .docs = self_docs({6, 6})});
  add("headdim-40-non-pow2", "D = 40 (not a power of two)",
      {.hkv = 1, .d = 40, .mask = MaskKind::Causal, .docs = self_docs({10, 5})});
  add("headdim-96-dv-64", "D = 96, Dv = 64", {.hkv = 1, .d = 96, .dv = 64, .docs = self_docs({7, 9})});
  add("headdim-128", "D = 128, bfloat16",
      {.dtype = DType::BFloat16, .hkv = 1, .d = 128, .mask = MaskKind::Causal, .docs = self_docs({12})});
  add("headdim-256", "D = 256 (largest supported tile)",
      {.hkv = 1, .d = 256, .mask = MaskKind::Causal, .docs = self_docs({6, 3})});
  add("headdim-200-dv-136", "D = 200, Dv = 136 (both non-pow2), float16",
      {.dtype = DType::Float16, .hkv = 1, .d = 200, .dv = 136, .docs = self_docs({5, 4})});

  // --- value distributions and scale.
  add("values-large-logits", "large logits (|s| ~ 1e2), causal",
      {.hkv = 1, .mask = MaskKind::Causal, .dist = ValueDist::LargeLogits, .docs = self_docs({12, 7})});
  add("values-ties", "exact ties in scores",
      {.hkv = 1, .group = 2, .dist = ValueDist::Ties, .docs = self_docs({9, 9})});
  add("values-outliers", "outlier values, padding",
      {.hkv = 2, .dist = ValueDist::Outliers, .padded = true, .docs = {{8, 8, 2, 2}, {6, 6, 1, 1}}});
  add("values-heavy-tail", "heavy-tailed values, float16",
      {.dtype = DType::Float16, .hkv = 1, .dist = ValueDist::HeavyTail, .docs = self_docs({10, 4})});
  add("values-activation-like", "activation-like rows, custom scale 0.3",
      {.hkv = 1, .d = 32, .mask = MaskKind::Causal, .dist = ValueDist::ActivationLike,
       .docs = self_docs({16}), .scale = 0.3});
  return out;
}

}  // namespace attncheck::golden
