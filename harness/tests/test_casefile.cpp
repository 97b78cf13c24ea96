// The HDF5 case file: round trips, atomic writes, reproducible bytes, and
// rejection of files that break FORMAT.md (the committed bad-file corpus is
// checked through the CLI by bad_cases.sh).
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include "harness/casefile.hpp"
#include "harness/error.hpp"

namespace attncheck {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            fs::path("attncheck-casefile-" + std::to_string(::getpid()) + "-" +
                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Two documents with padding between them and after, GQA 2, D != Dv, ids.
io::CaseFile sample_case(DType dtype = DType::BFloat16) {
  io::CaseFile f;
  Batch& b = f.c.batch;
  b.num_heads_q = 4;
  b.num_heads_kv = 2;
  b.head_dim = 8;
  b.head_dim_v = 4;
  b.mask.causal = true;
  b.mask.window_left = 3;
  b.mask.chunk_size = 4;
  b.dtype = dtype;
  b.softmax_scale = 0.3;
  b.cu_seqlens_q = {0, 3, 5};
  b.cu_seqlens_kv = {0, 4, 6};
  b.cu_seqlens_q_padded = std::vector<std::int32_t>{0, 4, 6};
  b.cu_seqlens_kv_padded = std::vector<std::int32_t>{0, 4, 7};
  b.total_q = 8;
  b.total_kv = 9;
  b.position_ids = std::vector<std::int32_t>{0, 1, 2, 77, 0, 1, -3, 9};
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  auto fill = [&](std::vector<float>& x, std::size_t n) {
    x.resize(n);
    for (float& v : x) v = round_to(dtype, nd(rng));
  };
  fill(f.c.inputs.q, b.q_elems());
  fill(f.c.inputs.k, b.k_elems());
  fill(f.c.inputs.v, b.v_elems());
  fill(f.c.inputs.dout, b.o_elems());
  // Padding rows may hold anything: NaN and Inf included.
  f.c.inputs.q[3 * 4 * 8] = std::numeric_limits<float>::quiet_NaN();
  f.c.inputs.k[8 * 2 * 8 + 1] = std::numeric_limits<float>::infinity();
  f.c.seed = 0xFFFFFFFFFFFFFFF1ull;
  f.has_seed = true;
  f.description = "two documents, padding, GQA";
  Results<double> e;
  e.out.assign(b.o_elems(), 0.5);
  e.lse.assign(b.lse_elems(), 1.25);
  e.dq.assign(b.q_elems(), -2.0);
  e.dk.assign(b.k_elems(), 3.0);
  e.dv.assign(b.v_elems(), 4.0);
  const auto rq = b.real_q_rows(), rk = b.real_kv_rows();
  for (int r = 0; r < b.total_q; ++r) {
    if (rq[std::size_t(r)]) continue;
    for (int i = 0; i < 4 * 4; ++i) e.out[std::size_t(r * 16 + i)] = 0.0;
    for (int i = 0; i < 4 * 8; ++i) e.dq[std::size_t(r * 32 + i)] = 0.0;
    for (int h = 0; h < 4; ++h) e.lse[std::size_t(h * b.total_q + r)] = -INFINITY;
  }
  for (int r = 0; r < b.total_kv; ++r) {
    if (rk[std::size_t(r)]) continue;
    for (int i = 0; i < 2 * 8; ++i) e.dk[std::size_t(r * 16 + i)] = 0.0;
    for (int i = 0; i < 2 * 4; ++i) e.dv[std::size_t(r * 8 + i)] = 0.0;
  }
  f.expected = e;
  f.expected_producer = "test";
  io::ResultGroup g;
  g.results.out.assign(b.o_elems(), 1.5f);
  g.results.lse.assign(b.lse_elems(), -INFINITY);
  g.verdict = "fail";
  g.metrics["worst_ratio"] = 12.5;
  g.notes["message"] = "out[3] differs";
  f.results["my-kernel"] = g;
  f.extra["property"] = "P1";
  return f;
}

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

TEST(CaseFile, RoundTripKeepsEveryField) {
  TempDir dir;
  const io::CaseFile f = sample_case();
  const std::string path = dir.file("c.h5");
  io::write_case(path, f);
  const io::CaseFile g = io::read_case(path);
  const Batch &a = f.c.batch, &b = g.c.batch;
  EXPECT_EQ(b.num_heads_q, a.num_heads_q);
  EXPECT_EQ(b.num_heads_kv, a.num_heads_kv);
  EXPECT_EQ(b.head_dim, a.head_dim);
  EXPECT_EQ(b.head_dim_v, a.head_dim_v);
  EXPECT_EQ(b.mask.causal, a.mask.causal);
  EXPECT_EQ(b.mask.window_left, a.mask.window_left);
  EXPECT_EQ(b.mask.window_right, a.mask.window_right);
  EXPECT_EQ(b.mask.chunk_size, a.mask.chunk_size);
  EXPECT_EQ(b.softmax_scale, a.softmax_scale);
  EXPECT_EQ(b.dtype, a.dtype);
  EXPECT_EQ(b.total_q, a.total_q);
  EXPECT_EQ(b.total_kv, a.total_kv);
  EXPECT_EQ(b.cu_seqlens_q, a.cu_seqlens_q);
  EXPECT_EQ(b.cu_seqlens_kv, a.cu_seqlens_kv);
  EXPECT_EQ(b.cu_seqlens_q_padded, a.cu_seqlens_q_padded);
  EXPECT_EQ(b.cu_seqlens_kv_padded, a.cu_seqlens_kv_padded);
  EXPECT_EQ(b.position_ids, a.position_ids);
  EXPECT_TRUE(same_bits(g.c.inputs.q, f.c.inputs.q));  // NaN payloads too
  EXPECT_TRUE(same_bits(g.c.inputs.k, f.c.inputs.k));
  EXPECT_TRUE(same_bits(g.c.inputs.v, f.c.inputs.v));
  EXPECT_TRUE(same_bits(g.c.inputs.dout, f.c.inputs.dout));
  EXPECT_EQ(g.c.seed, f.c.seed);
  EXPECT_TRUE(g.has_seed);
  EXPECT_EQ(g.description, f.description);
  ASSERT_TRUE(g.expected.has_value());
  EXPECT_TRUE(same_bits(g.expected->out, f.expected->out));
  EXPECT_TRUE(same_bits(g.expected->lse, f.expected->lse));
  EXPECT_TRUE(same_bits(g.expected->dq, f.expected->dq));
  EXPECT_TRUE(same_bits(g.expected->dk, f.expected->dk));
  EXPECT_TRUE(same_bits(g.expected->dv, f.expected->dv));
  EXPECT_EQ(g.expected_producer, "test");
  ASSERT_EQ(g.results.count("my-kernel"), 1u);
  const auto& r = g.results.at("my-kernel");
  EXPECT_TRUE(same_bits(r.results.out, f.results.at("my-kernel").results.out));
  EXPECT_TRUE(same_bits(r.results.lse, f.results.at("my-kernel").results.lse));
  EXPECT_FALSE(r.results.has_grads());
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics.at("worst_ratio"), 12.5);
  EXPECT_EQ(r.notes.at("message"), "out[3] differs");
  EXPECT_EQ(g.extra.at("property"), "P1");
}

TEST(CaseFile, OptionalPartsMayBeAbsent) {
  TempDir dir;
  io::CaseFile f = sample_case(DType::Float32);
  f.c.batch.cu_seqlens_q_padded.reset();
  f.c.batch.cu_seqlens_kv_padded.reset();
  f.c.batch.position_ids.reset();
  f.c.batch.mask.chunk_size = 0;
  f.c.batch.total_q = 5;
  f.c.batch.total_kv = 6;
  f.c.inputs.q.resize(f.c.batch.q_elems(), 0.0f);
  f.c.inputs.k.resize(f.c.batch.k_elems(), 0.0f);
  f.c.inputs.v.resize(f.c.batch.v_elems(), 0.0f);
  f.c.inputs.dout.resize(f.c.batch.o_elems(), 0.0f);
  for (float* x : {&f.c.inputs.q[0], &f.c.inputs.k[0]}) *x = 1.0f;
  // Real rows must be finite: the sample put NaN/Inf in rows that are now real.
  for (auto* v : {&f.c.inputs.q, &f.c.inputs.k}) {
    for (float& x : *v) {
      if (!std::isfinite(x)) x = 0.0f;
    }
  }
  f.expected.reset();
  f.results.clear();
  f.has_seed = false;
  f.description.clear();
  f.extra.clear();
  const std::string path = dir.file("plain.h5");
  io::write_case(path, f);
  const io::CaseFile g = io::read_case(path);
  EXPECT_FALSE(g.c.batch.cu_seqlens_q_padded.has_value());
  EXPECT_FALSE(g.c.batch.position_ids.has_value());
  EXPECT_FALSE(g.expected.has_value());
  EXPECT_TRUE(g.results.empty());
  EXPECT_FALSE(g.has_seed);
  EXPECT_TRUE(g.extra.empty());
}

TEST(CaseFile, ForwardOnlyExpected) {
  TempDir dir;
  io::CaseFile f = sample_case();
  f.expected->dq.clear();
  f.expected->dk.clear();
  f.expected->dv.clear();
  io::write_case(dir.file("fwd.h5"), f);
  const auto g = io::read_case(dir.file("fwd.h5"));
  ASSERT_TRUE(g.expected.has_value());
  EXPECT_FALSE(g.expected->has_grads());
}

TEST(CaseFile, SameCaseSameBytes) {
  TempDir dir;
  const io::CaseFile f = sample_case();
  io::write_case(dir.file("a.h5"), f);
  io::write_case(dir.file("b.h5"), f);
  auto slurp = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string a = slurp(dir.file("a.h5")), b = slurp(dir.file("b.h5"));
  EXPECT_GT(a.size(), 1000u);
  EXPECT_EQ(a, b) << "case files must not carry timestamps";
}

TEST(CaseFile, WriteIsAtomicAndLeavesNoTemporaries) {
  TempDir dir;
  const std::string path = dir.file("c.h5");
  io::write_case(path, sample_case());
  const auto before = io::read_case(path);
  // An invalid case is refused before anything is written: the old file stays.
  io::CaseFile bad = sample_case();
  bad.c.inputs.q.pop_back();
  EXPECT_THROW(io::write_case(path, bad), Error);
  const auto after = io::read_case(path);
  EXPECT_TRUE(same_bits(after.c.inputs.q, before.c.inputs.q));
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    ++entries;
    EXPECT_EQ(e.path().filename().string(), "c.h5");
  }
  EXPECT_EQ(entries, 1);
}

TEST(CaseFile, WriteIntoMissingDirectoryIsAClearError) {
  TempDir dir;
  try {
    io::write_case(dir.file("no/such/dir/c.h5"), sample_case());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io);
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
}

TEST(CaseFile, WriteResultAddsAGroup) {
  TempDir dir;
  const std::string path = dir.file("c.h5");
  io::write_case(path, sample_case());
  io::ResultGroup g;
  g.results.out.assign(sample_case().c.batch.o_elems(), 2.0f);
  g.results.lse.assign(sample_case().c.batch.lse_elems(), 0.0f);
  g.verdict = "pass";
  io::write_result(path, "other", g);
  const auto f = io::read_case(path);
  EXPECT_EQ(f.results.size(), 2u);
  EXPECT_EQ(f.results.at("other").verdict, "pass");
  EXPECT_EQ(f.results.at("other").results.out[0], 2.0f);
}

std::string error_of(const std::string& path) {
  try {
    io::read_case(path);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io);
    return e.what();
  }
  return "";
}

TEST(CaseFile, RejectsDamagedFilesNamingFileAndObject) {
  TempDir dir;
  const std::string good = dir.file("good.h5");
  io::write_case(good, sample_case());
  // Truncated copies at several lengths: never a crash, always an Error.
  std::ifstream in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  for (std::size_t cut : {std::size_t(0), std::size_t(8), std::size_t(100), bytes.size() / 3,
                          bytes.size() / 2, bytes.size() - 200}) {
    const std::string p = dir.file("cut-" + std::to_string(cut) + ".h5");
    std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(cut));
    const std::string msg = error_of(p);
    EXPECT_FALSE(msg.empty()) << "truncated at " << cut << " bytes was accepted";
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
  }
  EXPECT_NE(error_of(dir.file("missing.h5")).find("does not exist"), std::string::npos);
  EXPECT_NE(error_of(dir.path().string()).find("is a directory"), std::string::npos);
}

// Rewrites one attribute of a valid file with the HDF5 C API.
void set_int_attr(const std::string& path, const char* obj, const char* name, int value) {
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  H5Adelete_by_name(f, obj, name, H5P_DEFAULT);
  const hid_t s = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate_by_name(f, obj, name, H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_INT, &value);
  H5Aclose(a);
  H5Sclose(s);
  H5Fclose(f);
}

TEST(CaseFile, RejectsContractViolationsInsideAValidFile) {
  TempDir dir;
  const std::string path = dir.file("c.h5");
  struct Edit {
    const char* obj;
    const char* name;
    int value;
    const char* expect;
  };
  for (const Edit& e : {Edit{"/", "format_version", 2, "/@format_version"},
                        Edit{"/batch", "num_heads_kv", 3, "/batch@num_heads_q"},
                        Edit{"/batch", "causal", 2, "/batch@causal"},
                        Edit{"/batch", "total_q", 4, "/batch"},
                        Edit{"/batch", "head_dim", 9, "/inputs/q"}}) {
    io::write_case(path, sample_case());
    set_int_attr(path, e.obj, e.name, e.value);
    const std::string msg = error_of(path);
    EXPECT_NE(msg.find(e.expect), std::string::npos) << e.name << ": " << msg;
  }
}

TEST(CaseFile, ListCases) {
  TempDir dir;
  EXPECT_THROW(io::list_cases(dir.path().string()), Error);  // no cases
  io::write_case(dir.file("b.h5"), sample_case());
  io::write_case(dir.file("a.h5"), sample_case());
  std::ofstream(dir.file("notes.txt")) << "x";
  const auto files = io::list_cases(dir.path().string());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(fs::path(files[0]).filename(), "a.h5");
  EXPECT_EQ(fs::path(files[1]).filename(), "b.h5");
  EXPECT_THROW(io::list_cases(dir.file("nope")), Error);
}

}  // namespace
}  // namespace attncheck
