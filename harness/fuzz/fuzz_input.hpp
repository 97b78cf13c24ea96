// Shared pieces of the libFuzzer targets (harness/fuzz/README.md): a byte
// reader that decodes a fuzzer input into fields, and the invariant check.
//
// The reader is deliberately simple (no FuzzedDataProvider, so the target
// bodies also build with g++ for the regression test): fields are read from
// the front, one or a few bytes each, and reading past the end gives zeros,
// so every input decodes to something and short inputs decode to small
// batches. make_seeds.py writes seed inputs in this encoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace attncheck::fuzz {

// Byte that selects a raw 32-bit value in pick(): any int32, the only way to
// reach values outside the small ranges of the decoders.
inline constexpr std::uint8_t k_raw = 0xFF;

class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}

  bool empty() const { return n_ == 0; }
  std::size_t remaining() const { return n_; }

  std::uint8_t u8() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  std::uint16_t u16() { return std::uint16_t(u8() | (unsigned(u8()) << 8)); }
  std::uint32_t u32() { return std::uint32_t(u16()) | (std::uint32_t(u16()) << 16); }
  std::uint64_t u64() { return std::uint64_t(u32()) | (std::uint64_t(u32()) << 32); }
  std::int32_t i32() { return std::int32_t(u32()); }
  bool flag() { return (u8() & 1u) != 0; }

  // One byte b: k_raw reads a raw little-endian int32 that follows; any other
  // byte gives lo + b % (hi - lo + 1) (hi - lo < 255 keeps every value
  // reachable: the byte for v is v - lo).
  std::int32_t pick(std::int32_t lo, std::int32_t hi) {
    const std::uint8_t b = u8();
    if (b == k_raw) return i32();
    const std::int64_t span = std::int64_t(hi) - lo + 1;
    return std::int32_t(lo + std::int64_t(b) % span);
  }

  // 0 .. max from two bytes (little endian), for sizes and indices.
  std::size_t size(std::size_t max) { return std::size_t(u16()) % (max + 1); }

  double f64() {
    const std::uint64_t bits = u64();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  float f32() {
    const std::uint32_t bits = u32();
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
};

// ATTNCHECK_FUZZ_VERBOSE=1: the targets print what an input decodes to and
// the verdict (for reading a crash input or checking a seed).
inline bool verbose() {
  static const bool on = [] {
    const char* v = std::getenv("ATTNCHECK_FUZZ_VERBOSE");
    return v != nullptr && *v != '\0' && *v != '0';
  }();
  return on;
}

[[noreturn]] inline void invariant_failed(const char* file, int line, const char* cond) {
  std::fprintf(stderr, "attncheck fuzz: invariant violated at %s:%d: %s\n", file, line, cond);
  std::fflush(stderr);
  __builtin_trap();
}

}  // namespace attncheck::fuzz

// An invariant of a valid object that does not hold: a bug. Traps, so
// libFuzzer records the input (and a regression test run dies loudly).
#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) ::attncheck::fuzz::invariant_failed(__FILE__, __LINE__, #cond); \
  } while (0)
