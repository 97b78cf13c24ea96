// Conversions of the packing descriptions (b), (c), (d) of DESIGN.md to
// cu_seqlens, their error cases, and the position-id round trip.
#include "harness/tests/expect_error.hpp"
#include "harness/packing.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "harness/error.hpp"

namespace attncheck {
namespace {

using Ids = std::vector<std::int32_t>;

using test::expect_error;

// ---- (b) position ids ------------------------------------------------------

TEST(SegmentFromPositionIds, ThreeDocuments) {
  const auto seg = segment_from_position_ids(Ids{0, 1, 2, 0, 1, 0});
  EXPECT_EQ(seg.cu_seqlens, (Ids{0, 3, 5, 6}));
  EXPECT_FALSE(seg.cu_seqlens_padded.has_value());
  EXPECT_EQ(seg.total, 6);
}

TEST(SegmentFromPositionIds, EmptyRowIsZeroDocuments) {
  const auto seg = segment_from_position_ids(Ids{});
  EXPECT_EQ(seg.cu_seqlens, (Ids{0}));
  EXPECT_FALSE(seg.cu_seqlens_padded.has_value());
  EXPECT_EQ(seg.total, 0);
}

TEST(SegmentFromPositionIds, SingleTokenDocuments) {
  EXPECT_EQ(segment_from_position_ids(Ids{0}).cu_seqlens, (Ids{0, 1}));
  EXPECT_EQ(segment_from_position_ids(Ids{0, 0, 0}).cu_seqlens, (Ids{0, 1, 2, 3}));
  EXPECT_EQ(segment_from_position_ids(Ids{0, 1, 0}).cu_seqlens, (Ids{0, 2, 3}));
}

TEST(SegmentFromPositionIds, OneLongDocument) {
  const auto seg = segment_from_position_ids(Ids{0, 1, 2, 3, 4, 5, 6});
  EXPECT_EQ(seg.cu_seqlens, (Ids{0, 7}));
  EXPECT_EQ(seg.total, 7);
}

TEST(SegmentFromPositionIds, MissingIds) {
  expect_error([] { segment_from_position_ids(std::nullopt); }, ErrorKind::MissingPositionIds,
               "position_ids", -1, {"missing"});
}

TEST(SegmentFromPositionIds, Gap) {
  expect_error([] { segment_from_position_ids(Ids{0, 1, 3, 4}); }, ErrorKind::InvalidPositionIds,
               "position_ids", 2, {"is 3", "expected 2", "gap"});
}

TEST(SegmentFromPositionIds, Repeat) {
  expect_error([] { segment_from_position_ids(Ids{0, 1, 2, 2}); }, ErrorKind::InvalidPositionIds,
               "position_ids", 3, {"is 2", "expected 3", "repeat"});
}

TEST(SegmentFromPositionIds, StepBackWithoutReset) {
  expect_error([] { segment_from_position_ids(Ids{0, 1, 2, 0, 1, 2, 1}); },
               ErrorKind::InvalidPositionIds, "position_ids", 6);
}

TEST(SegmentFromPositionIds, NotStartingAtZero) {
  expect_error([] { segment_from_position_ids(Ids{1, 2, 3}); }, ErrorKind::InvalidPositionIds,
               "position_ids", 0, {"is 1", "must be 0"});
  // A shard of a global row starts mid-document: the same error.
  expect_error([] { segment_from_position_ids(Ids{5, 6, 0, 1}); }, ErrorKind::InvalidPositionIds,
               "position_ids", 0);
}

TEST(SegmentFromPositionIds, NegativeId) {
  expect_error([] { segment_from_position_ids(Ids{0, 1, -1, 0}); }, ErrorKind::InvalidPositionIds,
               "position_ids", 2, {"-1", "negative"});
  expect_error([] { segment_from_position_ids(Ids{-1}); }, ErrorKind::InvalidPositionIds,
               "position_ids", 0, {"negative"});
}

TEST(SegmentFromPositionIds, LargestIdDoesNotOverflow) {
  constexpr std::int32_t k_max = std::numeric_limits<std::int32_t>::max();
  expect_error([] { segment_from_position_ids(Ids{0, k_max, k_max}); },
               ErrorKind::InvalidPositionIds, "position_ids", 1);
}

// ---- (c) padded [B, S] + mask ----------------------------------------------

TEST(SegmentFromPaddedMask, RightPaddedRows) {
  // B = 3, S = 4: lengths 2, 4, 1.
  const Ids mask{1, 1, 0, 0,  //
                 1, 1, 1, 1,  //
                 1, 0, 0, 0};
  const auto seg = segment_from_padded_mask(mask, 3, 4);
  EXPECT_EQ(seg.cu_seqlens, (Ids{0, 2, 6, 7}));
  ASSERT_TRUE(seg.cu_seqlens_padded.has_value());
  EXPECT_EQ(*seg.cu_seqlens_padded, (Ids{0, 4, 8, 12}));
  EXPECT_EQ(seg.total, 12);
}

TEST(SegmentFromPaddedMask, AllPaddingRows) {
  const Ids mask{0, 0, 0,  //
                 1, 1, 0,  //
                 0, 0, 0};
  const auto seg = segment_from_padded_mask(mask, 3, 3);
  EXPECT_EQ(seg.cu_seqlens, (Ids{0, 0, 2, 2}));
  ASSERT_TRUE(seg.cu_seqlens_padded.has_value());
  EXPECT_EQ(*seg.cu_seqlens_padded, (Ids{0, 3, 6, 9}));
  EXPECT_EQ(seg.total, 9);
}

TEST(SegmentFromPaddedMask, NoPaddingLeavesPaddedOffsetsAbsent) {
  const Ids mask{1, 1, 1, 1, 1, 1};
  const auto seg = segment_from_padded_mask(mask, 2, 3);
  EXPECT_EQ(seg.cu_seqlens, (Ids{0, 3, 6}));
  EXPECT_FALSE(seg.cu_seqlens_padded.has_value());
  EXPECT_EQ(seg.total, 6);
}

TEST(SegmentFromPaddedMask, ZeroRows) {
  const auto seg = segment_from_padded_mask({}, 0, 5);
  EXPECT_EQ(seg.cu_seqlens, (Ids{0}));
  EXPECT_FALSE(seg.cu_seqlens_padded.has_value());
  EXPECT_EQ(seg.total, 0);
}

TEST(SegmentFromPaddedMask, ZeroColumns) {
  const auto seg = segment_from_padded_mask({}, 2, 0);
  EXPECT_EQ(seg.cu_seqlens, (Ids{0, 0, 0}));
  EXPECT_FALSE(seg.cu_seqlens_padded.has_value());
  EXPECT_EQ(seg.total, 0);
}

TEST(SegmentFromPaddedMask, SingleToken) {
  const auto seg = segment_from_padded_mask(Ids{1}, 1, 1);
  EXPECT_EQ(seg.cu_seqlens, (Ids{0, 1}));
  EXPECT_FALSE(seg.cu_seqlens_padded.has_value());
  EXPECT_EQ(seg.total, 1);
}

TEST(SegmentFromPaddedMask, LeftPadding) {
  const Ids mask{1, 1, 1,  //
                 0, 1, 1};
  expect_error([&] { segment_from_padded_mask(mask, 2, 3); }, ErrorKind::InvalidLayout,
               "attention_mask", 4, {"row 1", "column 1", "right padding"});
}

TEST(SegmentFromPaddedMask, Hole) {
  const Ids mask{1, 0, 1, 0};
  expect_error([&] { segment_from_padded_mask(mask, 1, 4); }, ErrorKind::InvalidLayout,
               "attention_mask", 2, {"row 0", "column 2"});
}

TEST(SegmentFromPaddedMask, ValueTwo) {
  const Ids mask{1, 1, 1, 1, 2, 0};
  expect_error([&] { segment_from_padded_mask(mask, 2, 3); }, ErrorKind::InvalidLayout,
               "attention_mask", 4, {"is 2", "row 1", "column 1"});
}

TEST(SegmentFromPaddedMask, NegativeValue) {
  const Ids mask{-1, 0};
  expect_error([&] { segment_from_padded_mask(mask, 1, 2); }, ErrorKind::InvalidLayout,
               "attention_mask", 0, {"row 0", "column 0"});
}

TEST(SegmentFromPaddedMask, SizeMismatch) {
  const Ids mask{1, 1, 1, 1, 1};
  expect_error([&] { segment_from_padded_mask(mask, 2, 3); }, ErrorKind::InvalidLayout,
               "attention_mask", -1, {"5", "6"});
}

TEST(SegmentFromPaddedMask, NegativeShape) {
  expect_error([] { segment_from_padded_mask({}, -1, 3); }, ErrorKind::InvalidLayout, "batch",
               -1);
  expect_error([] { segment_from_padded_mask({}, 2, -3); }, ErrorKind::InvalidLayout, "seqlen",
               -1);
}

// ---- (d) EOS-terminated documents ------------------------------------------

constexpr std::int32_t k_eos = 2;

TEST(SegmentFromEos, EosEndsItsDocument) {
  // docs: [5 7 EOS] [9 EOS] [4 4]
  const auto seg = segment_from_eos(Ids{5, 7, k_eos, 9, k_eos, 4, 4}, k_eos);
  EXPECT_EQ(seg.cu_seqlens, (Ids{0, 3, 5, 7}));
  EXPECT_FALSE(seg.cu_seqlens_padded.has_value());
  EXPECT_EQ(seg.total, 7);
}

TEST(SegmentFromEos, EosAsLastToken) {
  const auto seg = segment_from_eos(Ids{5, k_eos, 6, 6, k_eos}, k_eos);
  EXPECT_EQ(seg.cu_seqlens, (Ids{0, 2, 5}));
  EXPECT_EQ(seg.total, 5);
}

TEST(SegmentFromEos, TokensAfterLastEosFormFinalDocument) {
  const auto seg = segment_from_eos(Ids{k_eos, 8, 8, 8}, k_eos);
  EXPECT_EQ(seg.cu_seqlens, (Ids{0, 1, 4}));
  EXPECT_EQ(seg.total, 4);
}

TEST(SegmentFromEos, NoEosIsOneDocument) {
  const auto seg = segment_from_eos(Ids{3, 4, 5}, k_eos);
  EXPECT_EQ(seg.cu_seqlens, (Ids{0, 3}));
}

TEST(SegmentFromEos, ConsecutiveEosAreSingleTokenDocuments) {
  const auto seg = segment_from_eos(Ids{k_eos, k_eos, k_eos}, k_eos);
  EXPECT_EQ(seg.cu_seqlens, (Ids{0, 1, 2, 3}));
}

TEST(SegmentFromEos, SingleToken) {
  EXPECT_EQ(segment_from_eos(Ids{7}, k_eos).cu_seqlens, (Ids{0, 1}));
  EXPECT_EQ(segment_from_eos(Ids{k_eos}, k_eos).cu_seqlens, (Ids{0, 1}));
}

TEST(SegmentFromEos, EmptyIsZeroDocuments) {
  const auto seg = segment_from_eos({}, k_eos);
  EXPECT_EQ(seg.cu_seqlens, (Ids{0}));
  EXPECT_FALSE(seg.cu_seqlens_padded.has_value());
  EXPECT_EQ(seg.total, 0);
}

TEST(SegmentFromEos, EosIdZero) {
  const auto seg = segment_from_eos(Ids{0, 1, 0}, 0);
  EXPECT_EQ(seg.cu_seqlens, (Ids{0, 1, 3}));
}

TEST(SegmentFromEos, NegativeTokenId) {
  expect_error([] { segment_from_eos(Ids{5, k_eos, -100, 4}, k_eos); }, ErrorKind::InvalidLayout,
               "tokens", 2, {"-100", "index 2"});
}

TEST(SegmentFromEos, NegativeEosId) {
  expect_error([] { segment_from_eos(Ids{5, 6}, -1); }, ErrorKind::InvalidLayout, "eos_id", -1);
}

// ---- position_ids_for ------------------------------------------------------

TEST(PositionIdsFor, Unpadded) {
  Segmentation seg;
  seg.cu_seqlens = {0, 3, 4, 6};
  seg.total = 6;
  EXPECT_EQ(position_ids_for(seg), (Ids{0, 1, 2, 0, 0, 1}));
}

TEST(PositionIdsFor, PaddingRowsAreZero) {
  const Ids mask{1, 1, 0, 0,  //
                 0, 0, 0, 0,  //
                 1, 1, 1, 0};
  const auto seg = segment_from_padded_mask(mask, 3, 4);
  EXPECT_EQ(position_ids_for(seg), (Ids{0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0}));
}

TEST(PositionIdsFor, ZeroDocuments) {
  Segmentation seg;
  seg.cu_seqlens = {0};
  EXPECT_TRUE(position_ids_for(seg).empty());
  seg.total = 2;
  EXPECT_EQ(position_ids_for(seg), (Ids{0, 0}));
}

TEST(PositionIdsFor, EmptyCuSeqlens) {
  expect_error([] { position_ids_for(Segmentation{}); }, ErrorKind::InvalidLayout, "cu_seqlens",
               -1);
}

TEST(PositionIdsFor, DocumentOutsideBuffer) {
  Segmentation seg;
  seg.cu_seqlens = {0, 3, 5};
  seg.total = 4;
  expect_error([&] { position_ids_for(seg); }, ErrorKind::InvalidLayout, "cu_seqlens", 1);
  seg.total = 8;
  seg.cu_seqlens_padded = Ids{0, 7, 8};
  expect_error([&] { position_ids_for(seg); }, ErrorKind::InvalidLayout, "cu_seqlens_padded", 1);
}

TEST(PositionIdsFor, EosRoundTrip) {
  const auto seg = segment_from_eos(Ids{5, k_eos, 6, 6, k_eos, 9}, k_eos);
  const auto ids = position_ids_for(seg);
  EXPECT_EQ(ids, (Ids{0, 1, 0, 1, 2, 0}));
  EXPECT_EQ(segment_from_position_ids(ids).cu_seqlens, seg.cu_seqlens);
}

// position_ids_for inverts segment_from_position_ids on unpadded layouts with
// documents of length >= 1 (a zero-length document has no id to mark it).
TEST(PositionIdsFor, RoundTripRandomLengths) {
  constexpr int k_trials = 400;
  constexpr std::uint32_t k_seed = 20240611;
  std::mt19937 rng(k_seed);
  std::uniform_int_distribution<int> num_docs(0, 12);
  std::uniform_int_distribution<std::int32_t> doc_len(1, 40);
  for (int trial = 0; trial < k_trials; ++trial) {
    Segmentation seg;
    seg.cu_seqlens = {0};
    const int docs = num_docs(rng);
    for (int i = 0; i < docs; ++i) seg.cu_seqlens.push_back(seg.cu_seqlens.back() + doc_len(rng));
    seg.total = seg.cu_seqlens.back();
    const auto back = segment_from_position_ids(position_ids_for(seg));
    ASSERT_EQ(back.cu_seqlens, seg.cu_seqlens) << "trial " << trial;
    ASSERT_FALSE(back.cu_seqlens_padded.has_value()) << "trial " << trial;
    ASSERT_EQ(back.total, seg.total) << "trial " << trial;
  }
}

}  // namespace
}  // namespace attncheck
