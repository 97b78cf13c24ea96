// The two broken training runs P12 must reject (BUGZOO doc-leak and
// ids-after-shard), built for the tests only.
#pragma once

#include <cstdint>

#include "harness/packing.hpp"
#include "harness/registry.hpp"
#include "harness/train/data.hpp"
#include "reference/attention.hpp"

namespace attncheck::train::mutants {

// doc-leak: attention over the whole pack as one causal sequence, documents
// and padding included (DeepSpeed PR #7887: SDPA ignoring position-id
// resets), computed by the float64 reference like the reference run.
inline void run_doc_leak(const Case& c, bool grads, Results<float>& out) {
  Batch b = c.batch;
  b.cu_seqlens_q = {0, b.total_q};
  b.cu_seqlens_kv = {0, b.total_kv};
  b.cu_seqlens_q_padded.reset();
  b.cu_seqlens_kv_padded.reset();
  b.position_ids.reset();
  const Results<double> r = reference::attention<double>(b, c.inputs, grads);
  auto put = [](const std::vector<double>& from, std::vector<float>& to) {
    for (std::size_t i = 0; i < from.size(); ++i) to[i] = float(from[i]);
  };
  put(r.out, out.out);
  put(r.lse, out.lse);
  if (grads) {
    put(r.dq, out.dq);
    put(r.dk, out.dk);
    put(r.dv, out.dv);
  }
}

inline const Implementation& doc_leak_implementation() {
  static const Implementation impl{.name = "doc-leak",
                                   .device = "cpu",
                                   .description = "mutant: the whole pack as one sequence",
                                   .caps = Capabilities{},
                                   .run = run_doc_leak,
                                   .stats = {}};
  return impl;
}

// ids-after-shard: the position ids a trainer makes AFTER sharding the pack
// over `cp` sequence-parallel ranks (DeepSpeed PR #7887: position_ids =
// arange(local length) on every rank): each rank's contiguous rows count
// 0, 1, ... from its first row, whatever the documents. RoPE takes them, and
// an attention that derives documents from position ids (flash varlen,
// Ulysses here) sees one document per shard: documents leak into each other
// within a shard and are cut at shard boundaries. The targets (labels) were
// made before sharding and stay correct.
inline PackedBatch ids_after_shard(const PackedBatch& in, int cp) {
  PackedBatch b = in;
  const int rows = b.total / cp;
  for (int t = 0; t < b.total; ++t) b.position_ids[std::size_t(t)] = t % rows;
  const Segmentation seg = segment_from_position_ids(b.position_ids);
  b.cu_seqlens = seg.cu_seqlens;
  b.cu_seqlens_padded = seg.cu_seqlens;
  return b;
}

}  // namespace attncheck::train::mutants
