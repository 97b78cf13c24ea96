// Ulysses (kernels/dist/ulysses.cpp): the sequence <-> heads all-to-alls move
// data exactly (bitwise, replicated kv heads summed in rank order), the
// segmentation of gathered position ids + validity flags
// (segment_from_position_ids_and_valid), end-to-end agreement with the
// float64 reference on hand-built packed batches (padding between and after
// documents, every mask kind, GQA with Hkv >= cp and Hkv < cp, cp 1, 2, 4),
// its errors, its communication volume, and one run with flash on simt.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "harness/tests/expect_error.hpp"
#include "harness/dtype.hpp"
#include "harness/error.hpp"
#include "harness/packing.hpp"
#include "harness/shard.hpp"
#include "kernels/comm/threads.hpp"
#include "kernels/dist/dist.hpp"
#include "kernels/dist/ulysses.hpp"
#include "reference/attention.hpp"

namespace attncheck::dist {
namespace {

using Ids = std::vector<std::int32_t>;
using Flags = std::vector<std::uint8_t>;
constexpr float k_nan = std::numeric_limits<float>::quiet_NaN();

using test::expect_error;

// ---- the exchange moves data exactly ----------------------------------------

// Row, head and element encoded exactly in a float (all < 2^24).
float encode(int row, int head, int e) { return float(row * 10000 + head * 100 + e); }

struct ExchangeResult {
  std::vector<float> local, full, back;
};

// Every rank builds its n rows [n, heads, dim] with `value(global row, head,
// e)`, exchanges them to heads and back; results per rank.
std::vector<ExchangeResult> exchange(int cp, const ulysses::HeadSplit& split, int n, int dim,
                                     const std::function<float(int, int, int)>& value) {
  std::vector<ExchangeResult> res(static_cast<std::size_t>(cp));
  comm::run_threads(cp, [&](comm::Communicator& comm) {
    ExchangeResult& x = res[std::size_t(comm.rank())];
    for (int i = 0; i < n; ++i) {
      for (int h = 0; h < split.heads; ++h) {
        for (int e = 0; e < dim; ++e) x.local.push_back(value(comm.rank() * n + i, h, e));
      }
    }
    x.full = ulysses::seq_to_heads(comm, split, x.local, dim);
    x.back = ulysses::heads_to_seq(comm, split, x.full, dim);
  });
  return res;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(UlyssesExchange, SequenceToHeadsMovesEveryElementToItsPlace) {
  for (const int cp : {2, 4}) {
    for (const int heads_per_rank : {1, 3}) {
      const auto split = ulysses::split_q_heads(cp * heads_per_rank, cp);
      const int n = 3, dim = 5, T = cp * n;
      const auto res = exchange(cp, split, n, dim, encode);
      for (int r = 0; r < cp; ++r) {
        const auto& full = res[std::size_t(r)].full;
        ASSERT_EQ(full.size(), std::size_t(T * heads_per_rank * dim)) << "cp " << cp;
        for (int row = 0; row < T; ++row) {
          for (int hh = 0; hh < heads_per_rank; ++hh) {
            for (int e = 0; e < dim; ++e) {
              const float got = full[(std::size_t(row) * heads_per_rank + hh) * dim + e];
              ASSERT_EQ(got, encode(row, r * heads_per_rank + hh, e))
                  << "cp " << cp << " rank " << r << " row " << row << " local head " << hh;
            }
          }
        }
        EXPECT_TRUE(same_bits(res[std::size_t(r)].back, res[std::size_t(r)].local))
            << "round trip is not the identity, cp " << cp << " rank " << r;
      }
    }
  }
}

// Arbitrary bit patterns (NaN payloads, -0.0, denormals, infinities) survive
// the round trip: the exchange copies, it never computes 0 + x.
TEST(UlyssesExchange, RoundTripIsBitwiseIdentityOnAnyBits) {
  for (const int cp : {2, 4}) {
    const auto split = ulysses::split_q_heads(2 * cp, cp);
    std::mt19937 rng(std::uint32_t(17 + cp));
    std::vector<std::uint32_t> bits(std::size_t(cp) * 4 * split.heads * 3);
    for (auto& b : bits) b = rng();
    bits[0] = 0x80000000u;  // -0.0
    bits[1] = 0x7fa00001u;  // a signalling NaN with a payload
    const auto res = exchange(cp, split, 4, 3, [&](int row, int h, int e) {
      return std::bit_cast<float>(bits[(std::size_t(row) * split.heads + h) * 3 + e]);
    });
    for (int r = 0; r < cp; ++r) {
      EXPECT_TRUE(same_bits(res[std::size_t(r)].back, res[std::size_t(r)].local))
          << "cp " << cp << " rank " << r;
    }
  }
}

TEST(UlyssesExchange, ReplicatedKvHeadsReachEveryReplicaAndSumBack) {
  struct Shape {
    int hq, hkv, cp;
  };
  for (const Shape s : {Shape{4, 1, 4}, Shape{8, 2, 4}, Shape{4, 1, 2}}) {
    const auto split = ulysses::split_kv_heads(s.hq, s.hkv, s.cp);
    const int n = 2, dim = 3, T = s.cp * n, replicas = s.cp / s.hkv;
    const auto res = exchange(s.cp, split, n, dim, encode);
    for (int r = 0; r < s.cp; ++r) {
      const auto& x = res[std::size_t(r)];
      const int head = r * s.hkv / s.cp;
      ASSERT_EQ(x.full.size(), std::size_t(T * dim));
      for (int row = 0; row < T; ++row) {
        for (int e = 0; e < dim; ++e) {
          ASSERT_EQ(x.full[std::size_t(row) * dim + e], encode(row, head, e))
              << "Hq " << s.hq << " Hkv " << s.hkv << " cp " << s.cp << " rank " << r;
        }
      }
      // Back: every replica returns the same value, summed (exact: integers).
      ASSERT_EQ(x.back.size(), x.local.size());
      for (std::size_t i = 0; i < x.local.size(); ++i) {
        ASSERT_EQ(x.back[i], float(replicas) * x.local[i]) << "rank " << r << " element " << i;
      }
    }
  }
}

// The sum over replicas is ((c0 + c1) + c2) + c3 in float32, rank order: these
// values give a different float in any other order.
TEST(UlyssesExchange, ReplicaSumIsInRankOrder) {
  const float c[4] = {1.0f, 1e8f, -1e8f, 3.0f};
  const float want = ((c[0] + c[1]) + c[2]) + c[3];
  ASSERT_NE(want, ((c[3] + c[2]) + c[1]) + c[0]);
  const auto split = ulysses::split_kv_heads(4, 1, 4);
  std::vector<std::vector<float>> back(4);
  comm::run_threads(4, [&](comm::Communicator& comm) {
    const std::vector<float> full(std::size_t(4 * 2 * 3), c[comm.rank()]);  // T = 8, dim 3
    back[std::size_t(comm.rank())] = ulysses::heads_to_seq(comm, split, full, 3);
  });
  for (const auto& b : back) {
    ASSERT_EQ(b.size(), std::size_t(2 * 3));
    for (const float x : b) EXPECT_EQ(x, want);
  }
}

TEST(UlyssesExchange, LseHeadsToSequenceTransposesExactly) {
  const int cp = 4, per_rank = 2, n = 3, T = cp * n;
  const auto split = ulysses::split_q_heads(cp * per_rank, cp);
  std::vector<std::vector<float>> got(static_cast<std::size_t>(cp));
  comm::run_threads(cp, [&](comm::Communicator& comm) {
    std::vector<float> full(std::size_t(per_rank * T));  // [per_rank, T]
    for (int hh = 0; hh < per_rank; ++hh) {
      for (int row = 0; row < T; ++row) {
        full[std::size_t(hh) * T + row] = encode(row, comm.rank() * per_rank + hh, 0);
      }
    }
    full[0] = -std::numeric_limits<float>::infinity();
    got[std::size_t(comm.rank())] = ulysses::lse_heads_to_seq(comm, split, full);
  });
  for (int r = 0; r < cp; ++r) {
    const auto& lse = got[std::size_t(r)];  // [Hq, n]
    ASSERT_EQ(lse.size(), std::size_t(cp * per_rank * n));
    for (int h = 0; h < cp * per_rank; ++h) {
      for (int i = 0; i < n; ++i) {
        const int row = r * n + i;
        const float want = (row == 0 && h % per_rank == 0) ? -std::numeric_limits<float>::infinity()
                                                           : encode(row, h, 0);
        EXPECT_EQ(lse[std::size_t(h) * n + i], want)
            << "rank " << r << " head " << h << " row " << i;
      }
    }
  }
}

TEST(UlyssesHeadSplit, KvHeadsFollowTheQueryHeads) {
  const auto even = ulysses::split_kv_heads(8, 4, 2);
  EXPECT_EQ(even.per_rank, 2);
  EXPECT_EQ(even.first, (std::vector<int>{0, 2}));
  const auto rep = ulysses::split_kv_heads(8, 2, 4);
  EXPECT_EQ(rep.per_rank, 1);
  EXPECT_EQ(rep.first, (std::vector<int>{0, 0, 1, 1}));
  const auto one = ulysses::split_kv_heads(4, 1, 4);
  EXPECT_EQ(one.first, (std::vector<int>{0, 0, 0, 0}));
  const auto q = ulysses::split_q_heads(6, 3);
  EXPECT_EQ(q.per_rank, 2);
  EXPECT_EQ(q.first, (std::vector<int>{0, 2, 4}));
  expect_error([] { ulysses::split_q_heads(6, 4); }, ErrorKind::Unsupported, "num_heads_q", -1,
               {"Hq = 6 is not divisible by cp = 4"});
  expect_error([] { ulysses::split_kv_heads(6, 3, 2); }, ErrorKind::Unsupported, "num_heads_kv", -1,
               {"Hkv = 3", "cp = 2"});
  expect_error([] { ulysses::split_kv_heads(6, 2, 3); }, ErrorKind::Unsupported, "num_heads_kv", -1,
               {"Hkv = 2", "cp = 3"});
}

// ---- segmentation from gathered ids + validity flags -------------------------

TEST(SegmentFromIdsAndValid, PaddingBetweenDocumentsAndAtTheTail) {
  // doc 0 rows 0..2, padding 3..4, doc 1 rows 5..6, doc 2 rows 7..9, tail 10.
  const Ids ids{0, 1, 2, 9, 9, 0, 1, 0, 1, 2, 5};
  const Flags valid{1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0};
  const auto seg = segment_from_position_ids_and_valid(ids, valid);
  EXPECT_EQ(seg.cu_seqlens, (Ids{0, 3, 5, 8}));
  ASSERT_TRUE(seg.cu_seqlens_padded.has_value());
  EXPECT_EQ(*seg.cu_seqlens_padded, (Ids{0, 5, 7, 11}));
  EXPECT_EQ(seg.total, 11);
}

TEST(SegmentFromIdsAndValid, LeadingPaddingIsAZeroLengthDocument) {
  const auto seg = segment_from_position_ids_and_valid(Ids{4, 4, 0, 1, 0}, Flags{0, 0, 1, 1, 1});
  EXPECT_EQ(seg.cu_seqlens, (Ids{0, 0, 2, 3}));
  ASSERT_TRUE(seg.cu_seqlens_padded.has_value());
  EXPECT_EQ(*seg.cu_seqlens_padded, (Ids{0, 2, 4, 5}));
  EXPECT_EQ(seg.total, 5);
}

TEST(SegmentFromIdsAndValid, AllPaddingAndEmpty) {
  const auto all = segment_from_position_ids_and_valid(Ids{3, 0, 1}, Flags{0, 0, 0});
  EXPECT_EQ(all.cu_seqlens, (Ids{0, 0}));
  ASSERT_TRUE(all.cu_seqlens_padded.has_value());
  EXPECT_EQ(*all.cu_seqlens_padded, (Ids{0, 3}));
  EXPECT_EQ(all.total, 3);
  const auto none = segment_from_position_ids_and_valid(Ids{}, Flags{});
  EXPECT_EQ(none.cu_seqlens, (Ids{0}));
  EXPECT_FALSE(none.cu_seqlens_padded.has_value());
  EXPECT_EQ(none.total, 0);
}

TEST(SegmentFromIdsAndValid, WithoutPaddingEqualsPlainPositionIds) {
  const Ids ids{0, 1, 0, 1, 2, 0};
  const auto seg = segment_from_position_ids_and_valid(ids, Flags(ids.size(), 1));
  const auto plain = segment_from_position_ids(ids);
  EXPECT_EQ(seg.cu_seqlens, (Ids{0, 2, 5, 6}));
  EXPECT_EQ(seg.cu_seqlens, plain.cu_seqlens);
  EXPECT_FALSE(seg.cu_seqlens_padded.has_value());
  EXPECT_EQ(seg.total, 6);
}

TEST(SegmentFromIdsAndValid, PaddingIdsAreIgnored) {
  const auto seg =
      segment_from_position_ids_and_valid(Ids{0, 1, -7, 12345, 0}, Flags{1, 1, 0, 0, 1});
  EXPECT_EQ(seg.cu_seqlens, (Ids{0, 2, 3}));
  ASSERT_TRUE(seg.cu_seqlens_padded.has_value());
  EXPECT_EQ(*seg.cu_seqlens_padded, (Ids{0, 4, 5}));
}

TEST(SegmentFromIdsAndValid, MalformedIdsNameTheIndex) {
  auto seg = [](Ids ids, Flags valid) {
    return [ids, valid] { segment_from_position_ids_and_valid(ids, valid); };
  };
  expect_error(seg({0, 1, 3}, {1, 1, 1}), ErrorKind::InvalidPositionIds, "position_ids", 2,
               {"is 3", "expected 2"});
  expect_error(seg({0, 1, 1}, {1, 1, 1}), ErrorKind::InvalidPositionIds, "position_ids", 2,
               {"is 1"});
  expect_error(seg({1, 2}, {1, 1}), ErrorKind::InvalidPositionIds, "position_ids", 0, {"is 1"});
  expect_error(seg({0, -1}, {1, 1}), ErrorKind::InvalidPositionIds, "position_ids", 1,
               {"negative"});
  // A padding row ends the document: 2 cannot continue the 1 before the padding.
  expect_error(seg({0, 1, 9, 2}, {1, 1, 0, 1}), ErrorKind::InvalidPositionIds, "position_ids", 3,
               {"is 2", "padding"});
  // Leading padding, then a non-zero id.
  expect_error(seg({0, 1}, {0, 1}), ErrorKind::InvalidPositionIds, "position_ids", 1, {"is 1"});
  expect_error(seg({0, 1}, {1}), ErrorKind::InvalidLayout, "valid", -1, {"1 entries", "has 2"});
}

// ---- end to end against the float64 reference --------------------------------

struct DocSpec {
  int len = 0;
  int pad = 0;  // padding rows after the document
};

struct CaseSpec {
  std::string name;
  std::vector<DocSpec> docs;
  int tail = 0;
  int hq = 2, hkv = 2, d = 8, dv = 8;
  MaskSpec mask{};
  std::vector<int> cps{1, 2, 4};
  bool ids = true;
  DType dtype = DType::Float32;
};

// Real rows get normal values rounded to the dtype; padding rows NaN (nothing
// may read them) and position id 77 (padding ids carry anything).
Case make_case(const CaseSpec& s, std::uint64_t seed) {
  Case c;
  c.seed = seed;
  Batch& b = c.batch;
  b.num_heads_q = s.hq;
  b.num_heads_kv = s.hkv;
  b.head_dim = s.d;
  b.head_dim_v = s.dv;
  b.mask = s.mask;
  b.dtype = s.dtype;
  std::vector<std::int32_t> cu{0}, padded{0};
  std::vector<bool> real;
  Ids ids;
  for (const DocSpec& doc : s.docs) {
    for (int t = 0; t < doc.len; ++t) {
      real.push_back(true);
      ids.push_back(t);
    }
    for (int t = 0; t < doc.pad; ++t) {
      real.push_back(false);
      ids.push_back(77);
    }
    cu.push_back(cu.back() + doc.len);
    padded.push_back(padded.back() + doc.len + doc.pad);
  }
  for (int t = 0; t < s.tail; ++t) {
    real.push_back(false);
    ids.push_back(77);
  }
  b.cu_seqlens_q = b.cu_seqlens_kv = cu;
  b.cu_seqlens_q_padded = b.cu_seqlens_kv_padded = padded;
  b.total_q = b.total_kv = int(real.size());
  if (s.ids) b.position_ids = ids;
  b.softmax_scale = b.default_scale();
  b.validate();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto fill = [&](int row_elems) {
    std::vector<float> x(real.size() * std::size_t(row_elems));
    for (std::size_t row = 0; row < real.size(); ++row) {
      for (int e = 0; e < row_elems; ++e) x[row * row_elems + e] = real[row] ? normal(rng) : k_nan;
    }
    round_to(s.dtype, x);
    return x;
  };
  c.inputs.q = fill(s.hq * s.d);
  c.inputs.k = fill(s.hkv * s.d);
  c.inputs.v = fill(s.hkv * s.dv);
  c.inputs.dout = fill(s.hq * s.dv);
  return c;
}

// |got - want| <= tol (1 + |want|) element by element; -inf must match exactly.
void expect_close(const std::vector<float>& got, const std::vector<double>& want, double tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double g = got[i], w = want[i];
    const bool ok = std::isinf(w) ? g == w : std::abs(g - w) <= tol * (1.0 + std::abs(w));
    if (!ok && ++bad <= 5) ADD_FAILURE() << what << "[" << i << "] = " << g << ", reference " << w;
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " elements off";
}

void expect_matches_reference(const Case& c, const Results<float>& got, double tol,
                              const std::string& what) {
  const auto ref = reference::attention<double>(c.batch, c.inputs, true);
  expect_close(got.out, ref.out, tol, what + " out");
  expect_close(got.lse, ref.lse, tol, what + " lse");
  expect_close(got.dq, ref.dq, tol, what + " dq");
  expect_close(got.dk, ref.dk, tol, what + " dk");
  expect_close(got.dv, ref.dv, tol, what + " dv");
}

const std::vector<DocSpec> k_docs = {{5, 2}, {7, 0}, {3, 3}, {6, 1}};

std::vector<CaseSpec> end_to_end_cases() {
  std::vector<CaseSpec> v;
  v.push_back({.name = "causal_gqa",
               .docs = k_docs,
               .tail = 2,
               .hq = 4,
               .hkv = 2,
               .mask = {.causal = true}});
  v.push_back({.name = "no_mask", .docs = k_docs, .tail = 3, .hq = 4, .hkv = 4});
  v.push_back({.name = "window",
               .docs = k_docs,
               .tail = 1,
               .hq = 4,
               .hkv = 4,
               .mask = {.window_left = 2, .window_right = 1}});
  v.push_back({.name = "causal_window",
               .docs = k_docs,
               .tail = 2,
               .hq = 4,
               .hkv = 2,
               .mask = {.causal = true, .window_left = 3}});
  v.push_back(
      {.name = "chunked", .docs = k_docs, .tail = 2, .hq = 4, .hkv = 4, .mask = {.chunk_size = 3}});
  v.push_back({.name = "causal_chunked",
               .docs = k_docs,
               .tail = 0,
               .hq = 4,
               .hkv = 2,
               .mask = {.causal = true, .chunk_size = 4}});
  // Hkv < cp: one kv head replicated on every rank (cp 4) or on two (cp 2).
  v.push_back({.name = "replicated_kv",
               .docs = k_docs,
               .tail = 2,
               .hq = 4,
               .hkv = 1,
               .mask = {.causal = true}});
  v.push_back({.name = "replicated_kv_pairs",
               .docs = k_docs,
               .tail = 1,
               .hq = 8,
               .hkv = 2,
               .d = 4,
               .dv = 4});
  // A zero-length and a length-1 document, D != Dv (not a power of two).
  v.push_back({.name = "short_docs_d_ne_dv",
               .docs = {{0, 1}, {1, 0}, {9, 2}, {0, 0}, {4, 0}},
               .tail = 3,
               .hq = 4,
               .hkv = 2,
               .d = 6,
               .dv = 5,
               .mask = {.causal = true}});
  // One document across every shard, no padding in the case.
  v.push_back(
      {.name = "one_long_doc", .docs = {{16, 0}}, .hq = 4, .hkv = 4, .mask = {.causal = true}});
  return v;
}

void PrintTo(const CaseSpec& s, std::ostream* os) { *os << s.name; }

class UlyssesEndToEnd : public ::testing::TestWithParam<CaseSpec> {};

TEST_P(UlyssesEndToEnd, MatchesReference) {
  const CaseSpec& s = GetParam();
  const Case c = make_case(s, 1234);
  for (const int cp : s.cps) {
    Results<float> got;
    run_variant(Variant::Ulysses, cp, reference_local(), c, true, got);
    expect_matches_reference(c, got, 1e-5, s.name + " cp " + std::to_string(cp));
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, UlyssesEndToEnd, ::testing::ValuesIn(end_to_end_cases()),
                         [](const ::testing::TestParamInfo<CaseSpec>& p) { return p.param.name; });

// Replicated kv gradients are summed in rank order: two runs, same bits.
TEST(UlyssesEndToEnd, Deterministic) {
  const Case c = make_case(end_to_end_cases()[6], 99);
  Results<float> a, b;
  run_variant(Variant::Ulysses, 4, reference_local(), c, true, a);
  run_variant(Variant::Ulysses, 4, reference_local(), c, true, b);
  EXPECT_TRUE(same_bits(a.out, b.out));
  EXPECT_TRUE(same_bits(a.lse, b.lse));
  EXPECT_TRUE(same_bits(a.dq, b.dq));
  EXPECT_TRUE(same_bits(a.dk, b.dk));
  EXPECT_TRUE(same_bits(a.dv, b.dv));
}

// Only zero-length documents and padding: the layout has no rows, every rank
// exchanges empty blocks, the case's rows come back 0 / -inf.
TEST(UlyssesEndToEnd, NoRealRows) {
  for (const int tail : {0, 3}) {
    const Case c =
        make_case({.name = "empty", .docs = {{0, 0}, {0, 2}}, .tail = tail, .hq = 4, .hkv = 1}, 1);
    for (const int cp : {1, 2, 4}) {
      Results<float> got;
      run_variant(Variant::Ulysses, cp, reference_local(), c, true, got);
      expect_matches_reference(c, got, 0.0, "no real rows cp " + std::to_string(cp));
    }
  }
}

// The forward-only run fills out and lse, no gradients.
TEST(UlyssesEndToEnd, ForwardOnly) {
  const Case c = make_case(end_to_end_cases()[0], 5);
  Results<float> got;
  run_variant(Variant::Ulysses, 2, reference_local(), c, false, got);
  EXPECT_FALSE(got.has_grads());
  const auto ref = reference::attention<double>(c.batch, c.inputs, false);
  expect_close(got.out, ref.out, 1e-5, "out");
  expect_close(got.lse, ref.lse, 1e-5, "lse");
}

// ---- errors -------------------------------------------------------------------

// Through the driver (which may refuse the batch before any rank runs): an
// Unsupported error that says what is wrong.
TEST(UlyssesErrors, HeadsNotDivisibleByCp) {
  CaseSpec s{.name = "hq3", .docs = {{5, 1}, {4, 0}}, .hq = 3, .hkv = 3};
  const Case c = make_case(s, 1);
  Results<float> out;
  expect_error([&] { run_variant(Variant::Ulysses, 2, reference_local(), c, true, out); },
               ErrorKind::Unsupported, test::k_any_field, test::k_any_index,
               {"Hq = 3 is not divisible by cp = 2"});
  // Hkv neither a multiple nor a divisor of cp.
  s.hq = 6;
  s.hkv = 2;
  const Case c2 = make_case(s, 2);
  expect_error([&] { run_variant(Variant::Ulysses, 3, reference_local(), c2, true, out); },
               ErrorKind::Unsupported, test::k_any_field, test::k_any_index,
               {"Hkv = 2", "cp = 3"});
}

// The rank body's own check, without the driver in front of it.
TEST(UlyssesErrors, RankRefusesHeadsNotDivisibleByCp) {
  struct Shape {
    int hq, hkv, cp;
    const char* field;
    const char* message;
  };
  for (const Shape sh :
       {Shape{3, 3, 2, "num_heads_q", "ulysses: Hq = 3 is not divisible by cp = 2"},
        Shape{6, 2, 3, "num_heads_kv", "ulysses: Hkv = 2 kv heads cannot be split"},
        Shape{6, 3, 2, "num_heads_kv", "ulysses: Hkv = 3 kv heads cannot be split"}}) {
    const Case c =
        make_case({.name = "rank", .docs = {{5, 1}, {4, 0}}, .hq = sh.hq, .hkv = sh.hkv}, 1);
    const shard::CpLayout layout = shard::make_cp_layout(c.batch, sh.cp, true);
    const Batch global = shard::layout_batch(layout, c.batch);
    const LocalAttention local = reference_local();
    const Context ctx{layout, global, local, true};
    expect_error(
        [&] {
          comm::run_threads(sh.cp, [&](comm::Communicator& comm) {
            RankIo io;
            io.rows = shard::contiguous_rows(layout, comm.rank());
            ulysses_rank(comm, ctx, io);
          });
        },
        ErrorKind::Unsupported, sh.field, -1, {sh.message});
  }
}

TEST(UlyssesErrors, MissingPositionIds) {
  CaseSpec s{.name = "noids", .docs = {{5, 1}, {4, 0}}, .hq = 2, .hkv = 2};
  s.ids = false;
  const Case c = make_case(s, 1);
  Results<float> out;
  expect_error([&] { run_variant(Variant::Ulysses, 2, reference_local(), c, true, out); },
               ErrorKind::MissingPositionIds, "position_ids", -1);
}

// ---- communication volume (the header comment's table) -------------------------

TEST(UlyssesTraffic, BytesPerRankAsDocumented) {
  struct Shape {
    int hq, hkv, cp;
  };
  for (const Shape sh : {Shape{4, 2, 2}, Shape{4, 1, 4}, Shape{8, 4, 4}}) {
    CaseSpec s{
        .name = "traffic", .docs = k_docs, .tail = 1, .hq = sh.hq, .hkv = sh.hkv, .d = 6, .dv = 5};
    const Case c = make_case(s, 3);
    const int P = sh.cp;
    const std::uint64_t n = std::uint64_t(shard::make_cp_layout(c.batch, P).rows_per_rank());
    const std::uint64_t hq = std::uint64_t(sh.hq / P);
    const std::uint64_t hkv = std::uint64_t(sh.hkv % P == 0 ? sh.hkv / P : 1);
    const std::uint64_t m = std::uint64_t(P - 1) * n, d = 6, dv = 5;
    for (const bool grads : {false, true}) {
      Results<float> out;
      std::vector<comm::Traffic> tr;
      run_variant(Variant::Ulysses, P, reference_local(), c, grads, out, &tr);
      std::uint64_t a2a = m * 4 * (hq * d + hkv * d + hkv * dv + hq * dv + hq);
      if (grads) a2a += m * 4 * (hq * dv + hq * d + hkv * d + hkv * dv);
      ASSERT_EQ(tr.size(), std::size_t(P));
      for (const comm::Traffic& t : tr) {
        EXPECT_EQ(t.all_to_all, a2a) << "Hq " << sh.hq << " Hkv " << sh.hkv << " cp " << P;
        EXPECT_EQ(t.all_gather, m * 5);
        EXPECT_EQ(t.sendrecv, 0u);
        EXPECT_EQ(t.all_reduce, 0u);
        EXPECT_EQ(t.calls, grads ? 11u : 7u);
      }
    }
  }
}

// ---- flash on simt as the local attention ---------------------------------------

TEST(UlyssesFlash, AgreesWithReference) {
  CaseSpec s{.name = "flash",
             .docs = k_docs,
             .tail = 2,
             .hq = 4,
             .hkv = 1,
             .mask = {.causal = true, .window_left = 4}};
  const Case c = make_case(s, 7);
  for (const int cp : {2, 4}) {
    Results<float> got;
    run_variant(Variant::Ulysses, cp, flash_simt_local(), c, true, got);
    expect_matches_reference(c, got, 1e-4, "flash cp " + std::to_string(cp));
  }
}

// bfloat16: flash stores O and gradients in the dtype, so must the variant
// after its own arithmetic (the sum over kv replicas): every value it returns
// is a bfloat16, within bfloat16 rounding of the reference.
TEST(UlyssesFlash, Bfloat16ResultsAreRoundedToTheDtype) {
  const Case c = make_case({.name = "flash_bf16",
                            .docs = k_docs,
                            .tail = 2,
                            .hq = 4,
                            .hkv = 1,
                            .mask = {.causal = true},
                            .dtype = DType::BFloat16},
                           8);
  Results<float> got;
  run_variant(Variant::Ulysses, 4, flash_simt_local(), c, true, got);
  for (const auto* t : {&got.out, &got.dq, &got.dk, &got.dv}) {
    int bad = 0;
    for (const float x : *t) bad += representable(DType::BFloat16, x) ? 0 : 1;
    EXPECT_EQ(bad, 0) << "values not representable in bfloat16";
  }
  // A few bfloat16 roundings (unit roundoff 2^-8) on values of order 1.
  expect_matches_reference(c, got, 2e-2, "flash bf16 cp 4");
}

}  // namespace
}  // namespace attncheck::dist
