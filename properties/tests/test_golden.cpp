// The committed golden set is what `attncheck golden update` produces: the
// same case names, batches and bitwise-identical inputs (the inputs come from
// explicit specs and seeds, so they are machine-independent), and /expected is
// the float64 reference of those inputs.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <set>

#include "harness/casefile.hpp"
#include "properties/golden.hpp"

namespace attncheck {
namespace {

namespace fs = std::filesystem;

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

TEST(Golden, CommittedSetMatchesItsGenerator) {
  const auto cases = golden::golden_cases();
  ASSERT_GE(cases.size(), 24u);
  std::set<std::string> names;
  std::uintmax_t bytes = 0;
  for (const auto& g : cases) {
    SCOPED_TRACE(g.name);
    EXPECT_TRUE(names.insert(g.name).second) << "duplicate golden name";
    const std::string path = (fs::path(ATTNCHECK_GOLDEN_DIR) / (g.name + ".h5")).string();
    ASSERT_TRUE(fs::exists(path)) << path << " missing: run `attncheck golden update`";
    bytes += fs::file_size(path);
    const io::CaseFile f = io::read_case(path);
    EXPECT_EQ(f.c.batch.describe(), g.c.batch.describe());
    EXPECT_EQ(f.c.batch.cu_seqlens_q, g.c.batch.cu_seqlens_q);
    EXPECT_EQ(f.c.batch.cu_seqlens_kv, g.c.batch.cu_seqlens_kv);
    EXPECT_EQ(f.c.batch.cu_seqlens_q_padded, g.c.batch.cu_seqlens_q_padded);
    EXPECT_EQ(f.c.batch.cu_seqlens_kv_padded, g.c.batch.cu_seqlens_kv_padded);
    EXPECT_EQ(f.c.batch.position_ids, g.c.batch.position_ids);
    EXPECT_TRUE(same_bits(f.c.inputs.q, g.c.inputs.q));
    EXPECT_TRUE(same_bits(f.c.inputs.k, g.c.inputs.k));
    EXPECT_TRUE(same_bits(f.c.inputs.v, g.c.inputs.v));
    EXPECT_TRUE(same_bits(f.c.inputs.dout, g.c.inputs.dout));
    ASSERT_TRUE(f.expected.has_value());
    EXPECT_TRUE(f.expected->has_grads());
  }
  // No stale files beside the set.
  int files = 0;
  for (const auto& e : fs::directory_iterator(ATTNCHECK_GOLDEN_DIR)) {
    if (e.path().extension() != ".h5") continue;
    ++files;
    EXPECT_TRUE(names.count(e.path().stem().string())) << "stale golden file " << e.path();
  }
  EXPECT_EQ(files, int(cases.size()));
  EXPECT_LT(bytes, 5u * 1000 * 1000) << "the golden set must stay under 5 MB";
}

}  // namespace
}  // namespace attncheck
