// The results file (reports/RESULTS-FORMAT.md) as the C++ side writes it:
// a failing campaign (the doc-leak mutant of the bug zoo) with its shrunk
// counterexample's per-token error strip, through the report generator;
// atomic, timestamp-free writes; refusal of inconsistent data.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "harness/casefile.hpp"
#include "harness/error.hpp"
#include "harness/registry.hpp"
#include "harness/results.hpp"
#include "properties/campaign.hpp"
#include "properties/counterexample.hpp"
#include "properties/tests/doc_leak.hpp"
#include "reference/attention.hpp"

#ifndef ATTNCHECK_PYTHON3
#error "ATTNCHECK_PYTHON3 must name the Python 3 interpreter"
#endif
#ifndef ATTNCHECK_REPORT_SCRIPT
#error "ATTNCHECK_REPORT_SCRIPT must name reports/report.py"
#endif

namespace attncheck {
namespace {

namespace fs = std::filesystem;

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() /
                       ("attncheck-results-test-" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Registry leaky_registry() {
  Registry reg = test::doc_leak_registry();
  reg.add(builtin_registry().find("reference-f32"));
  return reg;
}

// Runs the failing campaign and writes its results file; returns its path.
struct FailingCampaign {
  fs::path dir, results;
  props::CampaignResult r;
};

FailingCampaign failing_campaign() {
  FailingCampaign fc;
  fc.dir = scratch("failing");
  fc.results = fc.dir / "results.h5";
  const Registry reg = leaky_registry();
  props::CampaignOptions o;
  o.cases = 60;
  o.seed = 3;
  o.gen.max_tokens = 128;
  o.properties = {"P1", "P3"};
  o.on_failure = [&](props::Row& row, const Case& shrunk) {
    const Implementation& impl = reg.find(row.impl);
    row.saved_to = props::save_counterexample((fc.dir / "cex").string(), row, shrunk, impl);
    row.strip = props::error_strip(shrunk, impl);
  };
  std::ostringstream progress;
  fc.r = props::run_campaign(reg, o, progress);
  io::ResultsFile f;
  f.producer = "test_results";
  f.campaign = props::to_results(fc.r, o);
  io::write_results(fc.results.string(), f);
  return fc;
}

TEST(ResultsFile, FailingCampaignRecordsPerCaseRatiosAndTheErrorStrip) {
  const FailingCampaign fc = failing_campaign();
  const auto& rows = fc.r.rows;
  ASSERT_EQ(rows.size(), 4u);  // doc-leak and reference-f32, P1 and P3
  const props::Row& leak = rows[0];
  ASSERT_EQ(leak.impl, "doc-leak");
  ASSERT_EQ(leak.failed, 1) << "the doc-leak mutant survived P1";
  // One ratio, outcome and time per generated case; the failing case is last.
  ASSERT_EQ(leak.ratios.size(), std::size_t(leak.cases));
  ASSERT_EQ(leak.outcomes.size(), std::size_t(leak.cases));
  ASSERT_EQ(leak.case_seconds.size(), std::size_t(leak.cases));
  EXPECT_EQ(leak.outcomes.back(), props::Outcome::Status::Fail);
  EXPECT_GT(leak.ratios.back(), 1.0);
  for (std::size_t i = 0; i < leak.outcomes.size(); ++i) {
    EXPECT_EQ(std::isnan(leak.ratios[i]), leak.outcomes[i] == props::Outcome::Status::Skip) << i;
  }
  const props::Row& good = rows[2];
  ASSERT_EQ(good.impl, "reference-f32");
  EXPECT_EQ(good.failed, 0);
  EXPECT_EQ(good.ratios.size(), std::size_t(good.cases));
  // The first row's cases are the coverage sample.
  EXPECT_EQ(fc.r.generated.size(), std::size_t(leak.cases));

  // The strip: the shrunk case's boundaries and an error in a real row.
  ASSERT_TRUE(leak.strip.has_value());
  const io::ErrorStrip& s = *leak.strip;
  const io::CaseFile cex = io::read_case(leak.saved_to);
  EXPECT_EQ(s.cu_seqlens_q, cex.c.batch.cu_seqlens_q);
  EXPECT_EQ(s.total_q, cex.c.batch.total_q);
  ASSERT_EQ(s.out.size(), std::size_t(s.total_q));
  EXPECT_EQ(s.plain_run, "fail");
  double worst = 0.0;
  for (double x : s.out) worst = std::max(worst, x);
  EXPECT_GT(worst, 0.0) << "a document leak changes some output row";
  EXPECT_GT(s.tensor_metrics.at("out_ratio"), 1.0);

  // The results file carries the root attributes the report checks.
  const hid_t file = H5Fopen(fc.results.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  EXPECT_GT(H5Aexists_by_name(file, "/", "format", H5P_DEFAULT), 0);
  EXPECT_GT(H5Lexists(file, "/campaign/rows/0000/failure/strip", H5P_DEFAULT), 0);
  EXPECT_EQ(H5Lexists(file, "/campaign/rows/0002/failure", H5P_DEFAULT), 0);
  H5Fclose(file);

  // The report generator draws it: a failure article with its strip figure
  // and both replay commands.
  const fs::path out = fc.dir / "report";
  const std::string cmd = std::string(ATTNCHECK_PYTHON3) + " " + ATTNCHECK_REPORT_SCRIPT + " " +
                          fc.results.string() + " -o " + out.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::string page = slurp(out / "index.html");
  EXPECT_NE(page.find("id=\"failure-0000\""), std::string::npos);
  EXPECT_NE(page.find("src=\"strip-0000.png\""), std::string::npos);
  EXPECT_TRUE(fs::exists(out / "strip-0000.png"));
  EXPECT_NE(page.find("--reproduce"), std::string::npos);
  EXPECT_NE(page.find("attncheck replay " + leak.saved_to), std::string::npos);
  fs::remove_all(fc.dir.parent_path());
}

io::ResultsFile small_results() {
  io::ResultsFile f;
  f.producer = "test_results";
  io::CampaignSection c;
  c.seed = 7;
  c.cases_per_row = 2;
  io::CampaignRow row;
  row.impl = "x";
  row.code = "P1";
  row.cases = 2;
  row.ratios = {0.5, std::nan("")};
  row.outcomes = {io::CaseOutcome::Pass, io::CaseOutcome::Skip};
  row.case_seconds = {0.1, 0.2};
  row.skip_reasons["too big"] = 1;
  c.rows.push_back(row);
  f.campaign = c;
  io::GoldenSection g;
  g.implementations = {"reference-f64", "x"};
  g.cases = {"a", "b", "c"};
  g.status.assign(6, io::CaseOutcome::Pass);
  g.ratio.assign(6, 0.25);
  g.seconds = {0.0, 1.0};
  f.golden = g;
  return f;
}

TEST(ResultsFile, SameResultsGiveTheSameBytesAndNoTemporaryFileIsLeft) {
  const fs::path dir = scratch("bytes");
  const io::ResultsFile f = small_results();
  io::write_results((dir / "a.h5").string(), f);
  io::write_results((dir / "b.h5").string(), f);
  EXPECT_EQ(slurp(dir / "a.h5"), slurp(dir / "b.h5"));
  io::write_results((dir / "a.h5").string(), f);  // replaces in place
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    ++files;
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
  EXPECT_EQ(files, 2);
  fs::remove_all(dir.parent_path());
}

TEST(ResultsFile, RefusesAMissingDirectoryAndInconsistentData) {
  const fs::path dir = scratch("refuse");
  try {
    io::write_results((dir / "no-such-dir" / "r.h5").string(), small_results());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io);
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  io::ResultsFile bad = small_results();
  bad.campaign->rows[0].ratios.pop_back();
  try {
    io::write_results((dir / "r.h5").string(), bad);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    EXPECT_NE(std::string(e.what()).find("/campaign/rows/0000/ratios"), std::string::npos) << e.what();
  }
  bad = small_results();
  bad.golden->status.pop_back();
  EXPECT_THROW(io::write_results((dir / "r.h5").string(), bad), Error);
  EXPECT_FALSE(fs::exists(dir / "r.h5"));
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir.parent_path());
}

}  // namespace
}  // namespace attncheck
