// fuzz_casefile: the input bytes are a case file (FORMAT.md). io::read_case
// must accept it or throw Error(Io), nothing else; an accepted case must be
// writable by io::write_case, and reading that file back must succeed and give
// the same case: batch fields, inputs and outputs bit for bit (NaN payloads in
// padding rows included), seed, description, extra attributes, results.
// HDF5's C library is not instrumented; its own checks are what it has.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "harness/casefile.hpp"
#include "harness/error.hpp"
#include "harness/fuzz/fuzz_input.hpp"
#include "harness/fuzz/targets.hpp"

namespace attncheck::fuzz {

namespace {

namespace fs = std::filesystem;

// A directory for the per-process scratch files: $ATTNCHECK_FUZZ_TMPDIR, else
// /dev/shm (tmpfs: write_case's fsync costs nothing), else the system's.
const fs::path& scratch_dir() {
  static const fs::path dir = [] {
    std::error_code ec;
    if (const char* env = std::getenv("ATTNCHECK_FUZZ_TMPDIR"); env && *env) return fs::path(env);
    if (fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0) {
      return fs::path("/dev/shm");
    }
    return fs::temp_directory_path(ec);
  }();
  return dir;
}

std::string scratch_file(const char* suffix) {
  return (scratch_dir() / ("attncheck-fuzz-casefile-" + std::to_string(::getpid()) + suffix))
      .string();
}

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

template <typename T>
bool same_results(const Results<T>& a, const Results<T>& b) {
  return same_bits(a.out, b.out) && same_bits(a.lse, b.lse) && same_bits(a.dq, b.dq) &&
         same_bits(a.dk, b.dk) && same_bits(a.dv, b.dv);
}

bool same_batch(const Batch& a, const Batch& b) {
  return a.num_heads_q == b.num_heads_q && a.num_heads_kv == b.num_heads_kv &&
         a.head_dim == b.head_dim && a.head_dim_v == b.head_dim_v &&
         a.mask.causal == b.mask.causal && a.mask.window_left == b.mask.window_left &&
         a.mask.window_right == b.mask.window_right && a.mask.chunk_size == b.mask.chunk_size &&
         std::memcmp(&a.softmax_scale, &b.softmax_scale, sizeof(double)) == 0 &&
         a.dtype == b.dtype && a.total_q == b.total_q && a.total_kv == b.total_kv &&
         a.cu_seqlens_q == b.cu_seqlens_q && a.cu_seqlens_kv == b.cu_seqlens_kv &&
         a.cu_seqlens_q_padded == b.cu_seqlens_q_padded &&
         a.cu_seqlens_kv_padded == b.cu_seqlens_kv_padded && a.position_ids == b.position_ids;
}

bool same_metrics(const std::map<std::string, double>& a, const std::map<std::string, double>& b) {
  if (a.size() != b.size()) return false;
  for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {
    if (i->first != j->first || std::memcmp(&i->second, &j->second, sizeof(double)) != 0) {
      return false;
    }
  }
  return true;
}

bool same_case(const io::CaseFile& a, const io::CaseFile& b) {
  if (!same_batch(a.c.batch, b.c.batch)) return false;
  const Inputs &x = a.c.inputs, &y = b.c.inputs;
  if (!same_bits(x.q, y.q) || !same_bits(x.k, y.k) || !same_bits(x.v, y.v) ||
      !same_bits(x.dout, y.dout)) {
    return false;
  }
  if (a.has_seed != b.has_seed || (a.has_seed && a.c.seed != b.c.seed)) return false;
  if (a.description != b.description || a.extra != b.extra) return false;
  if (a.expected.has_value() != b.expected.has_value()) return false;
  if (a.expected && !same_results(*a.expected, *b.expected)) return false;
  if (a.expected && a.expected_producer != b.expected_producer) return false;
  if (a.results.size() != b.results.size()) return false;
  for (auto i = a.results.begin(), j = b.results.begin(); i != a.results.end(); ++i, ++j) {
    if (i->first != j->first || !same_results(i->second.results, j->second.results) ||
        i->second.verdict != j->second.verdict || i->second.notes != j->second.notes ||
        !same_metrics(i->second.metrics, j->second.metrics)) {
      return false;
    }
  }
  return true;
}

bool write_bytes(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = (size == 0 || std::fwrite(data, 1, size, f) == size);
  return std::fclose(f) == 0 && ok;
}

}  // namespace

int run_fuzz_casefile(const std::uint8_t* data, std::size_t size) {
  const std::string input = scratch_file(".h5");
  const std::string copy = scratch_file("-rt.h5");
  // Both scratch files go when the input is done, however it ends.
  struct Cleanup {
    const std::string &a, &b;
    ~Cleanup() {
      std::error_code ec;
      fs::remove(a, ec);
      fs::remove(b, ec);
    }
  } cleanup{input, copy};
  if (!write_bytes(input, data, size)) {
    std::fprintf(stderr, "fuzz_casefile: cannot write %s\n", input.c_str());
    std::abort();  // the environment, not the input: stop rather than fuzz nothing
  }
  io::CaseFile first;
  try {
    first = io::read_case(input);
  } catch (const Error& e) {
    if (verbose()) std::fprintf(stderr, "fuzz_casefile: refused: %s\n", e.what());
    FUZZ_CHECK(e.kind() == ErrorKind::Io);
    return 0;
  }
  if (verbose()) {
    std::fprintf(stderr, "fuzz_casefile: accepted: %s\n", first.c.batch.describe().c_str());
  }

  // Accepted: write it back, read it again, compare.
  io::CaseFile second;
  try {
    io::write_case(copy, first);
  } catch (const Error& e) {
    std::fprintf(stderr, "fuzz_casefile: write_case refused an accepted case: %s\n", e.what());
    FUZZ_CHECK(!"write_case refused a case read_case accepted");
  }
  try {
    second = io::read_case(copy);
  } catch (const Error& e) {
    std::fprintf(stderr, "fuzz_casefile: read_case refused its own output: %s\n", e.what());
    FUZZ_CHECK(!"read_case refused what write_case wrote");
  }
  FUZZ_CHECK(same_case(first, second));
  return 0;
}

}  // namespace attncheck::fuzz
