// Sharding (harness/shard) and the ring and all-gather variants end to end
// against the float64 reference, with both local attentions; ring rotation
// and the all-gather's exchange checked bitwise on crafted inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "harness/error.hpp"
#include "harness/shard.hpp"
#include "kernels/comm/threads.hpp"
#include "kernels/dist/blocks.hpp"
#include "kernels/dist/dist.hpp"
#include "reference/attention.hpp"

namespace attncheck {
namespace {

// Documents of the given lengths with `gap` padding rows after each, tail
// padding, position ids, random values rounded to the dtype.
Case make_case(const std::vector<int>& lens, int gap, int tail, int hq, int hkv, int d, int dv,
               MaskSpec mask, DType dtype = DType::Float32, std::uint64_t seed = 1) {
  Case c;
  Batch& b = c.batch;
  b.num_heads_q = hq;
  b.num_heads_kv = hkv;
  b.head_dim = d;
  b.head_dim_v = dv;
  b.mask = mask;
  b.dtype = dtype;
  b.softmax_scale = 1.0 / std::sqrt(double(d));
  std::vector<std::int32_t> padded{0};
  for (int len : lens) {
    b.cu_seqlens_q.push_back(b.cu_seqlens_q.back() + len);
    padded.push_back(padded.back() + len + gap);
  }
  b.cu_seqlens_kv = b.cu_seqlens_q;
  if (gap > 0) b.cu_seqlens_q_padded = b.cu_seqlens_kv_padded = padded;
  b.total_q = b.total_kv = padded.back() + tail - (gap > 0 ? 0 : 0);
  if (gap == 0) b.total_q = b.total_kv = b.cu_seqlens_q.back() + tail;
  std::vector<std::int32_t> ids(std::size_t(b.total_q), 77);
  for (int s = 0; s < b.num_seqs(); ++s) {
    for (int t = 0; t < b.q_len(s); ++t) ids[std::size_t(b.q_start(s) + t)] = t;
  }
  b.position_ids = ids;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd;
  auto fill = [&](std::vector<float>& x, std::size_t n) {
    x.resize(n);
    for (float& v : x) v = round_to(dtype, nd(rng));
  };
  fill(c.inputs.q, b.q_elems());
  fill(c.inputs.k, b.k_elems());
  fill(c.inputs.v, b.v_elems());
  fill(c.inputs.dout, b.o_elems());
  b.validate();
  return c;
}

double max_rel(const std::vector<float>& got, const std::vector<double>& want) {
  double scale = 1e-30, err = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (std::isinf(want[i])) {
      if (got[i] != want[i]) return INFINITY;
      continue;
    }
    scale = std::max(scale, std::abs(want[i]));
  }
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (std::isinf(want[i])) continue;
    const double e = std::abs(double(got[i]) - want[i]);
    if (std::isnan(e)) return INFINITY;
    err = std::max(err, e);
  }
  return err / scale;
}

void expect_matches_reference(dist::Variant v, int cp, const dist::LocalAttention& local,
                              const Case& c, double tol) {
  Results<float> got;
  dist::run_variant(v, cp, local, c, true, got);
  const auto ref = reference::attention<double>(c.batch, c.inputs, true);
  EXPECT_LE(max_rel(got.out, ref.out), tol) << "out";
  EXPECT_LE(max_rel(got.lse, ref.lse), tol) << "lse";
  EXPECT_LE(max_rel(got.dq, ref.dq), tol) << "dq";
  EXPECT_LE(max_rel(got.dk, ref.dk), tol) << "dk";
  EXPECT_LE(max_rel(got.dv, ref.dv), tol) << "dv";
}

MaskSpec causal() { return {.causal = true}; }

TEST(Shard, PadsEverySequenceUpToAMultipleOfTwoCp) {
  const Case c = make_case({5, 8, 0, 1}, 2, 3, 1, 1, 8, 8, causal());
  for (int cp : {1, 2, 4}) {
    const auto l = shard::make_cp_layout(c.batch, cp);
    EXPECT_EQ(l.cu_seqlens, c.batch.cu_seqlens_q);
    for (int s = 0; s < l.num_seqs(); ++s) {
      EXPECT_EQ(l.padded_len(s) % (2 * cp), 0);
      EXPECT_GE(l.padded_len(s), l.len(s)) << "a sequence lost tokens";
      EXPECT_LT(l.padded_len(s) - l.len(s), 2 * cp);
    }
    EXPECT_EQ(l.total % (2 * cp), 0);
  }
}

TEST(Shard, ZigzagIsAPartitionAndItsInverseIsExact) {
  const Case c = make_case({7, 12, 3}, 1, 2, 2, 1, 4, 4, causal());
  for (int cp : {1, 2, 3, 4}) {
    const auto l = shard::make_cp_layout(c.batch, cp);
    std::set<int> seen;
    for (int r = 0; r < cp; ++r) {
      const auto rows = shard::zigzag_rows(l, r);
      EXPECT_EQ(int(rows.size()), l.rows_per_rank());
      for (int x : rows) EXPECT_TRUE(seen.insert(x).second) << "row " << x << " held twice";
      // Real rows of each sequence form a prefix of the rank's slot.
      const Batch lb = shard::zigzag_local_batch(l, c.batch, r);
      EXPECT_NO_THROW(lb.validate());
      int lo = 0;
      for (int s = 0; s < l.num_seqs(); ++s) {
        for (int t = 0; t < 2 * l.chunk(s); ++t) {
          const bool real = l.valid[std::size_t(rows[std::size_t(lo + t)])] != 0;
          EXPECT_EQ(real, t < lb.q_len(s)) << "cp " << cp << " rank " << r << " seq " << s;
        }
        lo += 2 * l.chunk(s);
      }
    }
    EXPECT_EQ(int(seen.size()), l.total);
    // case -> layout -> shards -> layout -> case is the identity on real rows.
    const int w = 2 * 4;
    const auto lay = shard::to_layout(l, c.inputs.q, w, false);
    std::vector<float> back(lay.size(), -1.0f);
    for (int r = 0; r < cp; ++r) {
      const auto rows = shard::zigzag_rows(l, r);
      shard::put_rows(back, rows, shard::take_rows(lay, rows, w), w);
    }
    const auto again = shard::from_layout(l, back, w, false, c.batch.total_q);
    const auto real = c.batch.real_q_rows();
    for (int row = 0; row < c.batch.total_q; ++row) {
      for (int e = 0; e < w; ++e) {
        const float want = real[std::size_t(row)] ? c.inputs.q[std::size_t(row * w + e)] : 0.0f;
        ASSERT_EQ(again[std::size_t(row * w + e)], want);
      }
    }
  }
}

TEST(Shard, LqNotEqualLkAndBadCpAreClearErrors) {
  Case c = make_case({4, 4}, 0, 0, 1, 1, 8, 8, causal());
  c.batch.cu_seqlens_kv = {0, 3, 8};
  EXPECT_THROW(shard::make_cp_layout(c.batch, 2), Error);
  EXPECT_THROW(shard::make_cp_layout(make_case({4}, 0, 0, 1, 1, 8, 8, causal()).batch, 0), Error);
  Case no_ids = make_case({4, 4}, 0, 0, 1, 1, 8, 8, causal());
  no_ids.batch.position_ids.reset();
  try {
    shard::make_cp_layout(no_ids.batch, 2, /*require_position_ids=*/true);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::MissingPositionIds);
  }
  // Built from cu_seqlens when not required.
  EXPECT_EQ(shard::make_cp_layout(no_ids.batch, 2).position_ids[1], 1);
}

TEST(Ring, RotationMovesKVBitwise) {
  for (int cp : {1, 2, 3, 4, 8}) {
    comm::run_threads(cp, [cp](comm::Communicator& comm) {
      // Every float encodes (owner rank, element) exactly.
      const int n = 37;
      std::vector<float> buf(n), scratch;
      for (int e = 0; e < n; ++e) buf[std::size_t(e)] = float(comm.rank() * 1000 + e);
      for (int step = 1; step <= 2 * cp; ++step) {
        dist::ring_shift(comm, buf, scratch);
        const int owner = ((comm.rank() - step) % cp + cp) % cp;
        for (int e = 0; e < n; ++e) {
          if (buf[std::size_t(e)] != float(owner * 1000 + e)) {
            throw std::runtime_error("ring step " + std::to_string(step) + " rank " +
                                     std::to_string(comm.rank()) + " holds the wrong block");
          }
        }
      }
    });
  }
}

TEST(Ring, RefusesWhatItDoesNotImplement) {
  Results<float> out;
  const Case windowed = make_case({8}, 0, 0, 1, 1, 8, 8, {.causal = true, .window_left = 2});
  EXPECT_THROW(dist::run_variant(dist::Variant::Ring, 2, dist::reference_local(), windowed, true, out),
               Error);
  EXPECT_TRUE(dist::refusal(dist::Variant::Ring, 2, windowed.batch).has_value());
  EXPECT_FALSE(dist::refusal(dist::Variant::AllGather, 2, windowed.batch).has_value());
}

struct VariantCase {
  dist::Variant v;
  int cp;
};

class DistVsReference : public ::testing::TestWithParam<VariantCase> {};

TEST_P(DistVsReference, ReferenceLocalMatchesTheReference) {
  const auto [v, cp] = GetParam();
  const auto ref = dist::reference_local();
  expect_matches_reference(v, cp, ref, make_case({9, 1, 0, 14}, 2, 3, 4, 2, 8, 8, causal()), 2e-6);
  expect_matches_reference(v, cp, ref, make_case({5, 11}, 0, 0, 2, 2, 16, 8, MaskSpec{}), 2e-6);
  expect_matches_reference(v, cp, ref, make_case({3, 17, 6}, 1, 0, 2, 1, 8, 8, causal()), 2e-6);
  if (v == dist::Variant::AllGather) {
    expect_matches_reference(v, cp, ref,
                             make_case({13, 6}, 1, 1, 2, 1, 8, 8, {.causal = true, .window_left = 3}),
                             2e-6);
    expect_matches_reference(v, cp, ref,
                             make_case({13, 6}, 0, 2, 2, 1, 8, 8, {.causal = true, .chunk_size = 3}),
                             2e-6);
  }
}

TEST_P(DistVsReference, FlashLocalMatchesTheReference) {
  const auto [v, cp] = GetParam();
  expect_matches_reference(v, cp, dist::flash_simt_local(),
                           make_case({9, 1, 0, 14}, 2, 3, 4, 2, 8, 8, causal()), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Variants, DistVsReference,
                         ::testing::Values(VariantCase{dist::Variant::Ring, 1},
                                           VariantCase{dist::Variant::Ring, 2},
                                           VariantCase{dist::Variant::Ring, 4},
                                           VariantCase{dist::Variant::AllGather, 2},
                                           VariantCase{dist::Variant::AllGather, 4}),
                         [](const auto& param_info) {
                           return std::string(dist::to_string(param_info.param.v)) + "_cp" +
                                  std::to_string(param_info.param.cp);
                         });

}  // namespace
}  // namespace attncheck
