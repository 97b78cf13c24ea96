// The packed-batch model: every malformed description is rejected with the
// kind, field and index that name it; a valid padded batch passes and its row
// maps match a hand-worked example.
#include "harness/tests/expect_error.hpp"
#include "harness/batch.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "harness/error.hpp"

namespace attncheck {
namespace {

using Ids = std::vector<std::int32_t>;

constexpr float k_nan = std::numeric_limits<float>::quiet_NaN();
constexpr float k_inf = std::numeric_limits<float>::infinity();
constexpr std::int32_t k_int_min = std::numeric_limits<std::int32_t>::min();
// 1 + 2^-10: exact in float32 and float16, not in bfloat16 (8 significand bits).
const float k_not_bf16 = 1.0f + std::ldexp(1.0f, -10);

// Hand-worked valid batch, Hq = 4, Hkv = 2, D = 8, Dv = 4, bfloat16, causal.
//   q:  lengths 3, 1, 2 in slots [0,4) [4,6) [6,8), tail row 8 (total 9)
//       rows 0 1 2 | 3 pad | 4 | 5 pad | 6 7 | 8 tail
//   kv: lengths 3, 2, 0 in slots [0,4) [4,8) [8,8), tail rows 8, 9 (total 10)
//       rows 0 1 2 | 3 pad | 4 5 | 6 7 pad | 8 9 tail
// Position ids of padding rows (3, 5, 8) are garbage on purpose.
Batch base_batch() {
  Batch b;
  b.num_heads_q = 4;
  b.num_heads_kv = 2;
  b.head_dim = 8;
  b.head_dim_v = 4;
  b.mask.causal = true;
  b.softmax_scale = b.default_scale();
  b.dtype = DType::BFloat16;
  b.total_q = 9;
  b.total_kv = 10;
  b.cu_seqlens_q = {0, 3, 4, 6};
  b.cu_seqlens_kv = {0, 3, 5, 5};
  b.cu_seqlens_q_padded = Ids{0, 4, 6, 8};
  b.cu_seqlens_kv_padded = Ids{0, 4, 8, 8};
  b.position_ids = Ids{0, 1, 2, 7, 0, -9, 0, 1, 5};
  return b;
}

// Inputs of base_batch with values 0.5 everywhere (exact in every dtype).
Inputs base_inputs(const Batch& b) {
  Inputs in;
  in.q.assign(b.q_elems(), 0.5f);
  in.k.assign(b.k_elems(), 0.5f);
  in.v.assign(b.v_elems(), 0.5f);
  in.dout.assign(b.o_elems(), 0.5f);
  return in;
}

// Flat index of element `e` of row `row` in a [rows, heads, dim] buffer.
std::int64_t flat(int row, int heads, int dim, int e = 0) {
  return std::int64_t(row) * heads * dim + e;
}

using test::expect_error;

// Test name of a table row: its `name`.
template <typename Row>
std::string case_name(const ::testing::TestParamInfo<Row>& row) {
  return row.param.name;
}

// ---- malformed batch descriptions: one mutation of base_batch each ---------

struct BadBatch {
  std::string name;
  std::function<void(Batch&)> mutate;
  std::string field;
  std::int64_t index;
};

void PrintTo(const BadBatch& c, std::ostream* os) { *os << c.name; }

const std::vector<BadBatch> k_bad_batches = {
    // cu_seqlens of actual lengths
    {"CuQEmpty", [](Batch& b) { b.cu_seqlens_q.clear(); }, "cu_seqlens_q", -1},
    {"CuKvEmpty", [](Batch& b) { b.cu_seqlens_kv.clear(); }, "cu_seqlens_kv", -1},
    {"CuQNotStartingAtZero", [](Batch& b) { b.cu_seqlens_q = {1, 3, 4, 6}; }, "cu_seqlens_q", 0},
    {"CuKvNegativeStart", [](Batch& b) { b.cu_seqlens_kv = {-1, 3, 5, 5}; }, "cu_seqlens_kv", 0},
    {"CuQNonMonotone", [](Batch& b) { b.cu_seqlens_q = {0, 3, 2, 6}; }, "cu_seqlens_q", 2},
    {"CuKvNonMonotone", [](Batch& b) { b.cu_seqlens_kv = {0, 3, 5, 4}; }, "cu_seqlens_kv", 3},
    {"MismatchedNumSeqs",
     [](Batch& b) {
       b.cu_seqlens_kv = {0, 3, 5};
       b.cu_seqlens_kv_padded = Ids{0, 4, 8};
     },
     "cu_seqlens_kv", -1},
    {"CuQBeyondTotalQ",
     [](Batch& b) {
       b.cu_seqlens_q_padded.reset();
       b.cu_seqlens_q = {0, 3, 4, 10};
     },
     "cu_seqlens_q", 3},
    {"CuKvBeyondTotalKv",
     [](Batch& b) {
       b.cu_seqlens_kv_padded.reset();
       b.cu_seqlens_kv = {0, 3, 5, 11};
     },
     "cu_seqlens_kv", 3},
    // padded memory offsets
    {"QLengthExceedsPaddedSlot", [](Batch& b) { b.cu_seqlens_q = {0, 3, 6, 8}; },
     "cu_seqlens_q_padded", 2},
    {"KvLengthExceedsPaddedSlot", [](Batch& b) { b.cu_seqlens_kv = {0, 5, 5, 5}; },
     "cu_seqlens_kv_padded", 1},
    {"QPaddedNotStartingAtZero", [](Batch& b) { b.cu_seqlens_q_padded = Ids{1, 4, 6, 8}; },
     "cu_seqlens_q_padded", 0},
    {"KvPaddedNonMonotone", [](Batch& b) { b.cu_seqlens_kv_padded = Ids{0, 4, 3, 8}; },
     "cu_seqlens_kv_padded", 2},
    {"QPaddedHugeDrop", [](Batch& b) { b.cu_seqlens_q_padded = Ids{0, 4, k_int_min, 8}; },
     "cu_seqlens_q_padded", 2},
    {"QPaddedSizeMismatch", [](Batch& b) { b.cu_seqlens_q_padded = Ids{0, 4, 8}; },
     "cu_seqlens_q_padded", -1},
    {"KvPaddedSizeMismatch", [](Batch& b) { b.cu_seqlens_kv_padded = Ids{0, 4, 8, 8, 10}; },
     "cu_seqlens_kv_padded", -1},
    {"QPaddedBeyondTotalQ", [](Batch& b) { b.total_q = 7; }, "cu_seqlens_q_padded", 3},
    {"KvPaddedBeyondTotalKv", [](Batch& b) { b.total_kv = 7; }, "cu_seqlens_kv_padded", 3},
    // heads and dims
    {"HqNotMultipleOfHkv", [](Batch& b) { b.num_heads_q = 3; }, "num_heads_q", -1},
    {"HkvLargerThanHq", [](Batch& b) { b.num_heads_kv = 8; }, "num_heads_q", -1},
    {"ZeroHeadsQ", [](Batch& b) { b.num_heads_q = 0; }, "num_heads_q", -1},
    {"NegativeHeadsKv", [](Batch& b) { b.num_heads_kv = -2; }, "num_heads_kv", -1},
    {"ZeroHeadsKv", [](Batch& b) { b.num_heads_kv = 0; }, "num_heads_kv", -1},
    {"ZeroHeadDim", [](Batch& b) { b.head_dim = 0; }, "head_dim", -1},
    {"ZeroHeadDimV", [](Batch& b) { b.head_dim_v = 0; }, "head_dim_v", -1},
    // softmax scale
    {"ScaleZero", [](Batch& b) { b.softmax_scale = 0.0; }, "softmax_scale", -1},
    {"ScaleNaN", [](Batch& b) { b.softmax_scale = std::nan(""); }, "softmax_scale", -1},
    {"ScaleInf", [](Batch& b) { b.softmax_scale = HUGE_VAL; }, "softmax_scale", -1},
    {"ScaleNegative", [](Batch& b) { b.softmax_scale = -0.125; }, "softmax_scale", -1},
    // mask
    {"WindowLeftBelowMinusOne", [](Batch& b) { b.mask.window_left = -2; }, "window_left", -1},
    {"WindowRightBelowMinusOne",
     [](Batch& b) {
       b.mask.causal = false;
       b.mask.window_right = -5;
     },
     "window_right", -1},
    {"CausalWithPositiveWindowRight", [](Batch& b) { b.mask.window_right = 1; }, "window_right",
     -1},
    {"NegativeChunkSize", [](Batch& b) { b.mask.chunk_size = -1; }, "chunk_size", -1},
    // totals and position ids
    {"NegativeTotalQ", [](Batch& b) { b.total_q = -1; }, "total_q", -1},
    {"NegativeTotalKv", [](Batch& b) { b.total_kv = -1; }, "total_kv", -1},
    {"PositionIdsTooShort", [](Batch& b) { b.position_ids->pop_back(); }, "position_ids", -1},
    {"PositionIdsTooLong", [](Batch& b) { b.position_ids->push_back(0); }, "position_ids", -1},
};

class InvalidBatchTest : public ::testing::TestWithParam<BadBatch> {};

TEST_P(InvalidBatchTest, ValidateNamesFieldAndIndex) {
  Batch b = base_batch();
  GetParam().mutate(b);
  expect_error([&] { b.validate(); }, ErrorKind::InvalidBatch, GetParam().field,
               GetParam().index);
}

INSTANTIATE_TEST_SUITE_P(Mutations, InvalidBatchTest, ::testing::ValuesIn(k_bad_batches),
                         case_name<BadBatch>);

TEST(InvalidBatch, ScaleNegativeInfinity) {
  Batch b = base_batch();
  b.softmax_scale = -HUGE_VAL;
  expect_error([&] { b.validate(); }, ErrorKind::InvalidBatch, "softmax_scale", -1,
               {"-inf", "1/sqrt(head_dim)"});
}

TEST(InvalidBatch, MessageNamesTheViolation) {
  Batch b = base_batch();
  b.cu_seqlens_q = {0, 3, 6, 8};
  expect_error([&] { b.validate(); }, ErrorKind::InvalidBatch, "cu_seqlens_q_padded", 2,
               {"sequence 1", "actual length 3", "[4, 6)"});
}

// ---- inputs: sizes and real-row values -------------------------------------

struct BadInputs {
  std::string name;
  DType dtype;
  std::function<void(const Batch&, Inputs&)> mutate;
  std::string field;
  std::int64_t index;
};

void PrintTo(const BadInputs& c, std::ostream* os) { *os << c.name; }

// base_batch: q rows hold Hq * D = 32 elements, k rows Hkv * D = 16, v rows
// Hkv * Dv = 8, dO rows Hq * Dv = 16.
const std::vector<BadInputs> k_bad_inputs = {
    {"QTooSmall", DType::BFloat16, [](const Batch&, Inputs& in) { in.q.pop_back(); }, "q", -1},
    {"KTooLarge", DType::BFloat16, [](const Batch&, Inputs& in) { in.k.push_back(0.f); }, "k",
     -1},
    {"VEmpty", DType::BFloat16, [](const Batch&, Inputs& in) { in.v.clear(); }, "v", -1},
    {"DoutWrongSize", DType::BFloat16, [](const Batch&, Inputs& in) { in.dout.resize(3); }, "do",
     -1},
    {"NaNInRealQRow", DType::BFloat16,
     [](const Batch&, Inputs& in) { in.q[std::size_t(flat(1, 4, 8, 5))] = k_nan; }, "q",
     flat(1, 4, 8, 5)},
    {"InfInRealKRow", DType::Float32,
     [](const Batch&, Inputs& in) { in.k[std::size_t(flat(4, 2, 8, 15))] = -k_inf; }, "k",
     flat(4, 2, 8, 15)},
    {"NotBf16InRealVRow", DType::BFloat16,
     [](const Batch&, Inputs& in) { in.v[std::size_t(flat(5, 2, 4, 3))] = k_not_bf16; }, "v",
     flat(5, 2, 4, 3)},
    {"NotFp16InRealQRow", DType::Float16,
     [](const Batch&, Inputs& in) { in.q[std::size_t(flat(7, 4, 8))] = 1e-30f; }, "q",
     flat(7, 4, 8)},
    {"NaNInRealDoutRow", DType::BFloat16,
     [](const Batch&, Inputs& in) { in.dout[std::size_t(flat(6, 4, 4, 2))] = k_nan; }, "do",
     flat(6, 4, 4, 2)},
};

class InvalidInputsTest : public ::testing::TestWithParam<BadInputs> {};

TEST_P(InvalidInputsTest, ValidateInputsNamesFieldAndIndex) {
  Batch b = base_batch();
  b.dtype = GetParam().dtype;
  Inputs in = base_inputs(b);
  GetParam().mutate(b, in);
  expect_error([&] { validate_inputs(b, in); }, ErrorKind::InvalidBatch, GetParam().field,
               GetParam().index);
}

INSTANTIATE_TEST_SUITE_P(Mutations, InvalidInputsTest, ::testing::ValuesIn(k_bad_inputs),
                         case_name<BadInputs>);

TEST(ValidateInputs, MessageNamesRealRow) {
  const Batch b = base_batch();
  Inputs in = base_inputs(b);
  in.v[std::size_t(flat(5, 2, 4, 3))] = k_not_bf16;
  expect_error([&] { validate_inputs(b, in); }, ErrorKind::InvalidBatch, "v", flat(5, 2, 4, 3),
               {"real row 5", "bfloat16"});
}

TEST(ValidateInputs, PaddingRowsMayHoldAnything) {
  const Batch b = base_batch();
  Inputs in = base_inputs(b);
  in.q[std::size_t(flat(3, 4, 8))] = k_nan;         // padding between sequences
  in.q[std::size_t(flat(8, 4, 8, 31))] = k_inf;     // tail padding
  in.k[std::size_t(flat(3, 2, 8, 7))] = k_nan;      // padding between sequences
  in.v[std::size_t(flat(9, 2, 4))] = k_not_bf16;    // tail padding
  in.dout[std::size_t(flat(5, 4, 4, 1))] = -k_inf;  // padding between sequences
  EXPECT_NO_THROW(validate_inputs(b, in));
}

TEST(ValidateInputs, ForwardOnlyInputsHaveNoDout) {
  const Batch b = base_batch();
  Inputs in = base_inputs(b);
  in.dout.clear();
  EXPECT_NO_THROW(validate_inputs(b, in));
}

TEST(ValidateInputs, Float32AcceptsValuesBf16Cannot) {
  Batch b = base_batch();
  b.dtype = DType::Float32;
  Inputs in = base_inputs(b);
  in.v[std::size_t(flat(5, 2, 4, 3))] = k_not_bf16;
  EXPECT_NO_THROW(validate_inputs(b, in));
}

// ---- position ids ----------------------------------------------------------

TEST(CheckPositionIds, Missing) {
  Batch b = base_batch();
  b.position_ids.reset();
  EXPECT_NO_THROW(b.validate());
  expect_error([&] { b.check_position_ids(); }, ErrorKind::MissingPositionIds, "position_ids",
               -1);
}

TEST(CheckPositionIds, WrongIdNamesRowAndSequence) {
  Batch b = base_batch();
  (*b.position_ids)[7] = 2;
  EXPECT_NO_THROW(b.validate());
  expect_error([&] { b.check_position_ids(); }, ErrorKind::InvalidPositionIds, "position_ids", 7,
               {"row 7", "token 1", "sequence 2"});
}

TEST(CheckPositionIds, IdsNotRestartingAtDocumentStart) {
  Batch b = base_batch();
  (*b.position_ids)[4] = 3;  // sequence 1 starts at row 4
  expect_error([&] { b.check_position_ids(); }, ErrorKind::InvalidPositionIds, "position_ids", 4);
}

TEST(CheckPositionIds, WrongLengthIsAnError) {
  Batch b = base_batch();
  b.position_ids = Ids{0, 1};
  expect_error([&] { b.check_position_ids(); }, ErrorKind::InvalidPositionIds, "position_ids",
               -1);
}

TEST(CheckPositionIds, PaddingRowsAreIgnored) {
  const Batch b = base_batch();
  EXPECT_NO_THROW(b.check_position_ids());
}

// ---- the valid hand-worked batch -------------------------------------------

TEST(ValidBatch, Passes) {
  const Batch b = base_batch();
  EXPECT_NO_THROW(b.validate());
  EXPECT_NO_THROW(validate_inputs(b, base_inputs(b)));
}

TEST(ValidBatch, Accessors) {
  const Batch b = base_batch();
  EXPECT_EQ(b.num_seqs(), 3);
  EXPECT_EQ(b.q_len(1), 1);
  EXPECT_EQ(b.kv_len(1), 2);
  EXPECT_EQ(b.kv_len(2), 0);
  EXPECT_EQ(b.q_start(2), 6);
  EXPECT_EQ(b.kv_start(2), 8);
  EXPECT_EQ(b.group_size(), 2);
  EXPECT_TRUE(b.has_padding());
  EXPECT_EQ(b.q_elems(), 9u * 4 * 8);
  EXPECT_EQ(b.k_elems(), 10u * 2 * 8);
  EXPECT_EQ(b.v_elems(), 10u * 2 * 4);
  EXPECT_EQ(b.o_elems(), 9u * 4 * 4);
  EXPECT_EQ(b.lse_elems(), 4u * 9);
}

TEST(ValidBatch, RowMaps) {
  const Batch b = base_batch();
  EXPECT_EQ(b.real_q_rows(),
            (std::vector<bool>{true, true, true, false, true, false, true, true, false}));
  EXPECT_EQ(b.q_row_seq(), (std::vector<int>{0, 0, 0, -1, 1, -1, 2, 2, -1}));
  EXPECT_EQ(b.real_kv_rows(), (std::vector<bool>{true, true, true, false, true, true, false, false,
                                                 false, false}));
  EXPECT_EQ(b.kv_row_seq(), (std::vector<int>{0, 0, 0, -1, 1, 1, -1, -1, -1, -1}));
}

TEST(ValidBatch, Describe) {
  const Batch b = base_batch();
  EXPECT_EQ(b.describe(),
            "3 docs [3,1/2,2/0] rows q=9 kv=10 Hq=4 Hkv=2 D=8 Dv=4 causal bfloat16 scale=0.3536 "
            "ids");
}

TEST(ValidBatch, UnpaddedBatchHasNoPadding) {
  Batch b;
  b.softmax_scale = b.default_scale();
  b.cu_seqlens_q = {0, 2, 5};
  b.cu_seqlens_kv = {0, 2, 5};
  b.total_q = 5;
  b.total_kv = 5;
  EXPECT_NO_THROW(b.validate());
  EXPECT_FALSE(b.has_padding());
  EXPECT_EQ(b.q_row_seq(), (std::vector<int>{0, 0, 1, 1, 1}));
  EXPECT_EQ(b.describe(),
            "2 docs [2,3] rows q=5 kv=5 Hq=1 Hkv=1 D=8 Dv=8 full float32 scale=0.3536");
}

TEST(ValidBatch, ZeroSequences) {
  Batch b;
  b.softmax_scale = 1.0;
  EXPECT_NO_THROW(b.validate());
  EXPECT_EQ(b.num_seqs(), 0);
  EXPECT_TRUE(b.q_row_seq().empty());
}

TEST(ValidBatch, CausalWithWindowRightZeroOrUnbounded) {
  Batch b = base_batch();
  b.mask.window_right = 0;
  EXPECT_NO_THROW(b.validate());
  b.mask.window_left = 2;
  b.mask.window_right = -1;
  b.mask.chunk_size = 4;
  EXPECT_NO_THROW(b.validate());
  EXPECT_EQ(b.mask.describe(), "causal+window(2,0)+chunk4");
}

}  // namespace
}  // namespace attncheck
