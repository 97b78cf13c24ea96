// Typed errors of the attncheck library. Library code throws these; only the
// CLI's main decides the exit code (STYLE.md #6).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace attncheck {

enum class ErrorKind {
  InvalidBatch,       // a packed-batch description violates the contract
  InvalidPositionIds, // position ids malformed (gap, not starting at 0, negative)
  MissingPositionIds, // an implementation needs position ids and the batch has none
  InvalidLayout,      // padded [B, S] + mask or EOS layout malformed
  Unsupported,        // an implementation cannot run this case
  Usage,              // bad command-line usage
  Io,                 // file input/output
};

const char* to_string(ErrorKind kind);

// `field` names the offending field ("cu_seqlens_q", "position_ids", ...);
// `index` is the offending element index or -1 when the error is about the
// whole field.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string field, std::int64_t index, const std::string& message);

  ErrorKind kind() const { return kind_; }
  const std::string& field() const { return field_; }
  std::int64_t index() const { return index_; }

 private:
  ErrorKind kind_;
  std::string field_;
  std::int64_t index_;
};

}  // namespace attncheck
