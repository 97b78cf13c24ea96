// Conversions of the four packing descriptions of DESIGN.md to cu_seqlens
// (description (a)). Each returns the segmentation of one packed row (or a
// [B, S] layout) as actual lengths plus padded memory offsets; malformed
// inputs throw a typed Error naming the offending position, never a guess.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "harness/batch.hpp"

namespace attncheck {

struct Segmentation {
  std::vector<std::int32_t> cu_seqlens;         // actual lengths, prefix sums
  std::optional<std::vector<std::int32_t>> cu_seqlens_padded;  // absent = no padding
  int total = 0;                                 // rows in the buffer
};

// (b) One packed row with position ids that reset at each document.
// Rules (DESIGN.md): a document starts where the id is 0; within a document
// ids increase by exactly 1. The first id must be 0. Any other value (a gap,
// a repeat, a negative id) throws Error(InvalidPositionIds) naming the index.
// A missing id array (std::nullopt) throws Error(MissingPositionIds).
// The whole row is real: there is no padding in this description.
Segmentation segment_from_position_ids(const std::optional<std::vector<std::int32_t>>& ids);

// (b') Position ids with validity flags (Hugging Face position_ids +
// attention_mask, gathered across ranks): rows with valid == 0 are padding
// (their ids are ignored); a document starts at a valid row whose id is 0 and
// continues over the following valid rows whose ids increase by exactly 1; a
// padding row ends the current document. cu_seqlens: actual lengths;
// cu_seqlens_padded: document starts, each document's slot running to the
// next start (the last to the end), given only when some row is padding.
// Leading padding rows before the first document (or no document at all) are
// a zero-length document at row 0 whose slot covers them. A valid row with an
// id that neither is 0 nor continues the previous valid row's document (a
// gap, a repeat, a negative id, or a non-zero id right after padding) throws
// Error(InvalidPositionIds) naming the index, like segment_from_position_ids.
// ids and valid of different sizes throw Error(InvalidLayout).
Segmentation segment_from_position_ids_and_valid(std::span<const std::int32_t> ids,
                                                 std::span<const std::uint8_t> valid);

// (c) A padded [B, S] layout with an attention mask (1 = real token,
// 0 = padding), row-major, B * S entries. Each row holds one sequence whose
// real tokens must be a contiguous run starting at column 0 (right padding).
// The result describes the flattened [B * S] buffer: sequence i occupies rows
// [i * S, i * S + len_i). Mask values other than 0/1, or a 1 after a 0 in a row
// (left padding, holes), throw Error(InvalidLayout) naming row and column.
Segmentation segment_from_padded_mask(std::span<const std::int32_t> mask, int batch, int seqlen);

// (d) Token ids in which `eos_id` ends each document (TorchTitan's document
// mask). The EOS token is the last token of the document it ends; tokens
// after the last EOS form a final document. No padding. Negative token ids
// throw Error(InvalidLayout).
Segmentation segment_from_eos(std::span<const std::int32_t> tokens, std::int32_t eos_id);

// Describe q and kv of `b` by segmentations (cu_seqlens, padded offsets and
// buffer sizes); for self-attention pass the same segmentation twice.
void apply_segmentation(Batch& b, const Segmentation& q, const Segmentation& kv);

// Position ids (0..len-1 per document, padding rows 0) that describe a
// segmentation: the inverse of segment_from_position_ids for unpadded layouts.
std::vector<std::int32_t> position_ids_for(const Segmentation& seg);

}  // namespace attncheck
