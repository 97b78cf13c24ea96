// What the checks of checks.cpp are made of: the values ranks send (a hash
// of sender, receiver, exchange and position, so a misplaced, swapped or
// stale byte shows), buffers in rank memory between guard zones, and the
// comparisons that throw CheckFailed naming the rank, check and first wrong
// element.
#pragma once

#include <fmt/format.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/comm/tests/checks.hpp"

namespace attncheck::comm::test::support {

constexpr std::size_t k_guard = 64;      // poison bytes before and after every buffer
constexpr std::uint64_t k_all = 0xFFFF;  // "every rank" as a pattern's receiver

// SplitMix64's finalizer: every input bit changes half the output bits.
inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline std::uint64_t key(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d) {
  return mix(mix(mix(mix(a) ^ b) ^ c) ^ d);
}

// The byte rank `from` sends to rank `to` at position i of an exchange
// tagged `salt`.
inline std::byte pattern(std::uint64_t from, std::uint64_t to, std::uint64_t salt,
                         std::uint64_t i) {
  return static_cast<std::byte>(key(from, to, salt, i) & 0xFF);
}

inline std::string show(std::byte b) { return fmt::format("0x{:02x}", static_cast<unsigned>(b)); }
inline std::string show(float x) {
  return fmt::format("{} (0x{:08x})", x, std::bit_cast<std::uint32_t>(x));
}
inline std::string show(double x) {
  return fmt::format("{} (0x{:016x})", x, std::bit_cast<std::uint64_t>(x));
}
template <class T>
std::string show(T x) {
  return fmt::format("{}", x);
}

// One check on one rank: its name, the rank's communicator and memory, and
// the Traffic the operations so far must have produced.
struct Ctx {
  Ctx(Communicator& c, RankMemory& m, const char* check_name) : comm(c), mem(m), check(check_name) {
    comm.reset_traffic();
  }

  // The guard byte of the next buffer: a different one for each buffer of a
  // check, so a copy that runs past one buffer writes a byte its guard zone
  // does not hold.
  std::byte next_poison() { return static_cast<std::byte>(0x81 + (buffers++ * 0x35) % 0x7F); }

  [[noreturn]] void fail(const std::string& message) const {
    throw CheckFailed(fmt::format("{} rank {} of {}: check {}: {}", comm.backend(), comm.rank(),
                                  comm.size(), check, message));
  }

  void expect_traffic(const std::string& after) const {
    const Traffic& got = comm.traffic();
    if (got == want && got.total() == want.total()) return;
    const auto text = [](const Traffic& t) {
      return fmt::format("{{sendrecv {}, all_to_all {}, all_gather {}, all_reduce {}, calls {}}}",
                         t.sendrecv, t.all_to_all, t.all_gather, t.all_reduce, t.calls);
    };
    fail(fmt::format("Traffic after {} is {}, want {}", after, text(got), text(want)));
  }

  Communicator& comm;
  RankMemory& mem;
  const char* check;
  Traffic want;
  unsigned buffers = 0;
};

// n elements of T in rank memory between two guard zones of poison bytes.
template <class T>
class Buffer {
 public:
  Buffer(Ctx& ctx, std::size_t n)
      : mem_(ctx.mem),
        n_(n),
        base_(mem_.allocate(n * sizeof(T) + 2 * k_guard)),
        poison_(ctx.next_poison()) {
    const std::vector<std::byte> poison(n * sizeof(T) + 2 * k_guard, poison_);
    mem_.upload(base_, poison.data(), poison.size());
  }

  std::span<T> span() const { return {reinterpret_cast<T*>(base_ + k_guard), n_}; }
  std::span<const std::byte> bytes() const { return std::as_bytes(span()); }

  void set(const std::vector<T>& values) {
    mem_.upload(base_ + k_guard, reinterpret_cast<const std::byte*>(values.data()), n_ * sizeof(T));
  }

  // The contents; fails when a byte of a guard zone changed.
  std::vector<T> get(const Ctx& ctx, const std::string& what) const {
    std::vector<std::byte> all(n_ * sizeof(T) + 2 * k_guard);
    mem_.download(all.data(), base_, all.size());
    for (std::size_t i = 0; i < k_guard; ++i) {
      if (all[i] != poison_) {
        ctx.fail(fmt::format("{}: byte {} before the buffer was overwritten", what, k_guard - i));
      }
      if (all[all.size() - k_guard + i] != poison_) {
        ctx.fail(fmt::format("{}: byte {} after the buffer was overwritten", what, i));
      }
    }
    std::vector<T> values(n_);
    if (n_ > 0) std::memcpy(values.data(), all.data() + k_guard, n_ * sizeof(T));
    return values;
  }

 private:
  RankMemory& mem_;
  std::size_t n_;
  std::byte* base_;
  std::byte poison_;
};

template <class T, class Fn>
std::vector<T> make(std::size_t n, Fn fn) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = fn(i);
  return v;
}

// got[i] must equal want(i) bit for bit.
template <class T, class Want>
void expect_elements(const Ctx& ctx, const std::string& what, const std::vector<T>& got,
                     Want want) {
  std::size_t wrong = 0, first = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const T w = want(i);
    if (std::memcmp(&got[i], &w, sizeof(T)) != 0 && wrong++ == 0) first = i;
  }
  if (wrong > 0) {
    ctx.fail(fmt::format("{}: {} of {} elements differ; first at {}: got {}, want {}", what, wrong,
                         got.size(), first, show(got[first]), show(want(first))));
  }
}

// Sends `data` and checks that it came back unchanged (a send buffer is read-only).
template <class T>
void expect_unchanged(const Ctx& ctx, const std::string& what, const Buffer<T>& buffer,
                      const std::vector<T>& data) {
  expect_elements(ctx, what + " (its send buffer)", buffer.get(ctx, what),
                  [&](std::size_t i) { return data[i]; });
}

}  // namespace attncheck::comm::test::support
