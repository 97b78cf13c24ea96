#include "harness/error.hpp"

#include <fmt/format.h>

namespace attncheck {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidBatch: return "invalid batch";
    case ErrorKind::InvalidPositionIds: return "invalid position ids";
    case ErrorKind::MissingPositionIds: return "missing position ids";
    case ErrorKind::InvalidLayout: return "invalid layout";
    case ErrorKind::Unsupported: return "unsupported";
    case ErrorKind::Usage: return "usage";
    case ErrorKind::Io: return "i/o";
  }
  return "error";
}

namespace {
std::string compose(ErrorKind kind, const std::string& field, std::int64_t index,
                    const std::string& message) {
  if (field.empty()) return fmt::format("{}: {}", to_string(kind), message);
  if (index < 0) return fmt::format("{}: {}: {}", to_string(kind), field, message);
  return fmt::format("{}: {}[{}]: {}", to_string(kind), field, index, message);
}
}  // namespace

Error::Error(ErrorKind kind, std::string field, std::int64_t index, const std::string& message)
    : std::runtime_error(compose(kind, field, index, message)),
      kind_(kind),
      field_(std::move(field)),
      index_(index) {}

}  // namespace attncheck
