// Campaign rows in forked worker processes (properties/row_workers.hpp): the
// wire format, verdicts independent of --jobs, a worker that dies, and the
// sequence-parallel rows' generated cases applying.
#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <sstream>

#include "harness/registry.hpp"
#include "properties/campaign.hpp"
#include "properties/row_workers.hpp"
#include "properties/tests/doc_leak.hpp"

namespace attncheck {
namespace {

TEST(RowWorkers, RecordRoundTrips) {
  props::WorkerRow w;
  w.row.impl = "ring-cp4-flash";
  w.row.device = "simt";
  w.row.code = "P3";
  w.row.name = "padding-zero";
  w.row.cases = 3;
  w.row.passed = 1;
  w.row.failed = 1;
  w.row.skipped = 1;
  w.row.worst_ratio = 1.25;
  w.row.seconds = 0.5;
  w.row.cut_by_time = true;
  w.row.skip_reasons = {{"one document", 1}};
  w.row.ratios = {0.5, std::nan(""), 1.25};
  w.row.outcomes = {props::Outcome::Status::Pass, props::Outcome::Status::Skip, props::Outcome::Status::Fail};
  w.row.case_seconds = {0.1, 0.2, 0.2};
  w.row.failure = "out row 3 differs\nsecond line";
  w.row.counterexample = "docs [2, 0]";
  w.row.shrunk_docs = 2;
  w.row.shrunk_tokens = 4;
  w.row.cases_to_failure = 3;
  w.row.reproduce = "BAAA";
  w.row.replay = "attncheck fuzz --impl ring-cp4-flash";
  w.row.saved_to = "/tmp/x.h5";
  io::ErrorStrip s;
  s.plain_run = "fail";
  s.plain_run_message = "m";
  s.total_q = 2;
  s.total_kv = 2;
  s.cu_seqlens_q = {0, 2};
  s.cu_seqlens_q_padded = {0, 2};
  s.cu_seqlens_kv = {0, 2};
  s.cu_seqlens_kv_padded = {0, 2};
  s.out = {0.0, 1e-3};
  s.lse = {0.0, INFINITY};
  s.tensor_metrics = {{"out_err", 1e-3}};
  w.row.strip = s;
  w.interrupted = true;
  w.coverage = {{"docs=1", 7}, {"multi-tile rising scores", 2}};
  io::GeneratedCase g;
  g.total_q = 5;
  g.total_kv = 6;
  g.heads_q = 4;
  g.heads_kv = 2;
  g.head_dim = 64;
  g.head_dim_v = 32;
  g.dtype = "bfloat16";
  g.mask = "causal";
  g.values = "gaussian";
  g.position_ids = true;
  g.lengths_q = {2, 3};
  g.lengths_kv = {3, 3};
  w.generated = {g};

  const props::WorkerRow b = props::decode_row(props::encode_row(w));
  EXPECT_EQ(b.row.impl, w.row.impl);
  EXPECT_EQ(b.row.code, w.row.code);
  EXPECT_EQ(b.row.cases, 3);
  EXPECT_EQ(b.row.failed, 1);
  EXPECT_EQ(b.row.skipped, 1);
  EXPECT_EQ(b.row.worst_ratio, 1.25);
  EXPECT_TRUE(b.row.cut_by_time);
  EXPECT_EQ(b.row.skip_reasons, w.row.skip_reasons);
  ASSERT_EQ(b.row.ratios.size(), 3u);
  EXPECT_TRUE(std::isnan(b.row.ratios[1]));
  EXPECT_EQ(b.row.ratios[2], 1.25);
  EXPECT_EQ(b.row.outcomes, w.row.outcomes);
  EXPECT_EQ(b.row.case_seconds, w.row.case_seconds);
  EXPECT_EQ(b.row.failure, w.row.failure);
  EXPECT_EQ(b.row.counterexample, w.row.counterexample);
  EXPECT_EQ(b.row.shrunk_tokens, 4);
  EXPECT_EQ(b.row.reproduce, w.row.reproduce);
  EXPECT_EQ(b.row.replay, w.row.replay);
  EXPECT_EQ(b.row.saved_to, w.row.saved_to);
  ASSERT_TRUE(b.row.strip.has_value());
  EXPECT_EQ(b.row.strip->plain_run, "fail");
  EXPECT_EQ(b.row.strip->cu_seqlens_kv_padded, s.cu_seqlens_kv_padded);
  EXPECT_EQ(b.row.strip->lse, s.lse);
  EXPECT_EQ(b.row.strip->tensor_metrics, s.tensor_metrics);
  EXPECT_TRUE(b.interrupted);
  EXPECT_EQ(b.coverage, w.coverage);
  ASSERT_EQ(b.generated.size(), 1u);
  EXPECT_EQ(b.generated[0].lengths_kv, g.lengths_kv);
  EXPECT_EQ(b.generated[0].dtype, "bfloat16");
  EXPECT_TRUE(b.generated[0].position_ids);

  // A cut record is an error, not a guess.
  const std::string bytes = props::encode_row(w);
  EXPECT_THROW(props::decode_row(bytes.substr(0, bytes.size() / 2)), std::runtime_error);
}

// The same campaign on 1 and 2 worker processes: the same verdicts.
TEST(RowWorkers, VerdictsDoNotDependOnJobs) {
  props::CampaignOptions o;
  o.impls = {"reference-f32", "ring-cp2-ref", "ulysses-cp2-ref"};
  o.properties = {"P1", "P3", "P5"};
  o.cases = 12;
  o.seed = 5;
  o.gen.max_tokens = 64;
  std::ostringstream progress;
  o.jobs = 1;
  const auto one = props::run_campaign(builtin_registry(), o, progress);
  o.jobs = 2;
  const auto two = props::run_campaign(builtin_registry(), o, progress);
  ASSERT_EQ(one.rows.size(), two.rows.size());
  ASSERT_EQ(one.rows.size(), 9u);
  for (std::size_t i = 0; i < one.rows.size(); ++i) {
    EXPECT_EQ(one.rows[i].impl, two.rows[i].impl);
    EXPECT_EQ(one.rows[i].code, two.rows[i].code);
    EXPECT_EQ(one.rows[i].cases, two.rows[i].cases) << one.rows[i].impl << " " << one.rows[i].code;
    EXPECT_EQ(one.rows[i].passed, two.rows[i].passed) << one.rows[i].impl << " " << one.rows[i].code;
    EXPECT_EQ(one.rows[i].skipped, two.rows[i].skipped) << one.rows[i].impl;
    EXPECT_EQ(one.rows[i].ratios.size(), two.rows[i].ratios.size());
  }
  EXPECT_EQ(one.total_cases, two.total_cases);
  EXPECT_EQ(one.coverage, two.coverage);
}

// An implementation that kills its process: with workers, its row is
// reported failed with the command that reruns it, and the other rows finish.
TEST(RowWorkers, AWorkerThatDiesCostsOnlyItsRow) {
  Registry reg;
  reg.add({.name = "dies", .device = "cpu", .description = "aborts on every case", .caps = {},
           .run = [](const Case&, bool, Results<float>&) { std::raise(SIGKILL); },
           .stats = {}});
  Registry leaky = test::doc_leak_registry();
  for (const auto& impl : leaky.all()) reg.add(impl);
  props::CampaignOptions o;
  o.properties = {"P1"};
  o.cases = 20;
  o.seed = 3;
  o.gen.max_tokens = 64;
  o.jobs = 2;
  std::ostringstream progress;
  const auto r = props::run_campaign(reg, o, progress);
  ASSERT_EQ(r.rows.size(), 2u);
  const auto& dead = r.rows[0].impl == "dies" ? r.rows[0] : r.rows[1];
  const auto& other = r.rows[0].impl == "dies" ? r.rows[1] : r.rows[0];
  EXPECT_EQ(dead.failed, 1);
  EXPECT_NE(dead.failure.find("attncheck fuzz --impl dies --property P1"), std::string::npos)
      << dead.failure;
  // The doc-leak row ran in its own worker and still caught its bug.
  EXPECT_EQ(other.impl, "doc-leak");
  EXPECT_EQ(other.failed, 1);
  EXPECT_FALSE(other.counterexample.empty());
}

// Each sequence-parallel variant's generated cases are ones it runs and its
// property judges: at least 90% applied, for every property.
TEST(RowWorkers, SequenceParallelRowsApplyToTheirCases) {
  props::CampaignOptions o;
  o.impls = {"ring-cp4-ref", "ulysses-cp4-ref", "allgather-cp4-ref"};
  o.cases = 20;
  o.seed = 11;
  o.gen.max_tokens = 96;
  o.jobs = 2;
  std::ostringstream progress;
  const auto r = props::run_campaign(builtin_registry(), o, progress);
  ASSERT_EQ(r.rows.size(), 30u);  // 3 variants x P1-P6, P8, P10, P13, P14
  for (const auto& row : r.rows) {
    ASSERT_GT(row.cases, 0) << row.impl << " " << row.code;
    EXPECT_LE(row.skipped * 10, row.cases)
        << row.impl << " " << row.code << ": " << row.skipped << " of " << row.cases
        << " skipped";
    EXPECT_EQ(row.failed, 0) << row.impl << " " << row.code << ": " << row.failure;
  }
}

}  // namespace
}  // namespace attncheck
