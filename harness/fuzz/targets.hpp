// The bodies of the libFuzzer targets (harness/fuzz/README.md). Each takes
// one fuzzer input, returns 0, and either returns normally or dies: an
// exception other than attncheck::Error escapes, a sanitizer reports, or an
// invariant of a valid result fails (FUZZ_CHECK traps). The libFuzzer entry
// points (entry.cpp, fuzz build only) call them, and so does the regression
// test (harness/tests/test_fuzz_regressions.cpp) in the ordinary builds.
#pragma once

#include <cstddef>
#include <cstdint>

namespace attncheck::fuzz {

// Bytes -> a Batch description (heads, dims, mask, dtype, totals, cu_seqlens,
// optional padded offsets, optional position ids, optional inputs); validate()
// and, when valid, the row maps, check_position_ids, describe, validate_inputs
// and shard::make_cp_layout for cp 1..4 with their invariants.
int run_fuzz_batch(const std::uint8_t* data, std::size_t size);

// Bytes -> one of the packing conversions (position ids, ids + validity
// flags, padded [B, S] mask, EOS tokens, position_ids_for on an arbitrary
// segmentation); on success the round-trip invariants.
int run_fuzz_packing(const std::uint8_t* data, std::size_t size);

// Bytes -> a temporary file -> io::read_case; an accepted file is written back
// with io::write_case and read again, which must succeed and give the same case.
int run_fuzz_casefile(const std::uint8_t* data, std::size_t size);

}  // namespace attncheck::fuzz
