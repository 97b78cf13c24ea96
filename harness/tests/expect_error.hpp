// GoogleTest helper for the typed errors of harness/error.hpp.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "harness/error.hpp"

namespace attncheck::test {

// Any field / any index, for expect_error's arguments.
inline const std::string k_any_field;
inline constexpr std::int64_t k_any_index = -2;

// Runs `fn`, which must throw Error of `kind` naming `field` (unless
// k_any_field) and `index` (unless k_any_index); the message must contain
// every string of `mentions`.
inline void expect_error(const std::function<void()>& fn, ErrorKind kind, const std::string& field,
                         std::int64_t index, const std::vector<std::string>& mentions = {}) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    if (!field.empty()) {
      EXPECT_EQ(e.field(), field) << e.what();
    }
    if (index != k_any_index) {
      EXPECT_EQ(e.index(), index) << e.what();
    }
    for (const auto& m : mentions) {
      EXPECT_NE(std::string(e.what()).find(m), std::string::npos)
          << "message lacks '" << m << "': " << e.what();
    }
    return;
  }
  ADD_FAILURE() << "expected Error(" << to_string(kind) << ") on " << field << "[" << index
                << "], nothing was thrown";
}

}  // namespace attncheck::test
