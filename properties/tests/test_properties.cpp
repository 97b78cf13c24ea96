// The properties over the registry (CI budget: fixed seed, bounded cases), the
// packing-description property P7, the position-id property P9, generator
// coverage and shrinking, and the campaign's failure/replay path.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <sstream>

#include "harness/error.hpp"
#include "harness/packing.hpp"
#include "harness/registry.hpp"
#include "harness/casefile.hpp"
#include "harness/verify.hpp"
#include "properties/campaign.hpp"
#include "properties/counterexample.hpp"
#include "properties/tests/doc_leak.hpp"
#include "reference/attention.hpp"

namespace attncheck {
namespace {

// CI budget of the registry campaign: every property, every registered
// implementation, 60 generated cases each, buffers up to 256 rows.
constexpr int k_ci_cases = 60;
constexpr int k_ci_max_tokens = 256;
constexpr std::uint64_t k_ci_seed = 20261122;

// Runs every property over `impls` and expects no failure, and every row to
// have applied to some cases (a property that never runs checks nothing).
void expect_campaign_holds(const std::vector<std::string>& impls, const gen::GenOptions& g) {
  props::CampaignOptions o;
  o.cases = k_ci_cases;
  o.seed = k_ci_seed;
  o.gen = g;
  o.impls = impls;
  std::ostringstream progress, summary;
  const auto r = props::run_campaign(builtin_registry(), o, progress);
  props::print_summary(r, summary);
  EXPECT_EQ(r.total_failed, 0) << summary.str();
  std::size_t rows = 0;  // every (implementation, property) pair; P8 only for sequence parallelism
  for (const auto& name : impls) {
    rows += props::all_properties().size() - (builtin_registry().find(name).caps.cp == 0 ? 1 : 0);
  }
  ASSERT_EQ(r.rows.size(), rows);
  for (const auto& row : r.rows) {
    EXPECT_EQ(row.cases, k_ci_cases) << row.impl << " " << row.code;
    EXPECT_GT(row.passed, 0) << row.impl << " " << row.code << " was skipped on every case";
  }
}

std::vector<std::string> registered(bool sequence_parallel) {
  std::vector<std::string> out;
  for (const auto& i : builtin_registry().all()) {
    if ((i.caps.cp > 0) == sequence_parallel) out.push_back(i.name);
  }
  return out;
}

// The sequence-parallel variants of the default campaign (default_share > 0):
// flash-tc's cp 4 variants run only when named (their kernel is the cp 2
// variants', their distribution the cp 4 flash and reference variants'; on
// simt they cost 30-90 s each here).
std::vector<std::string> campaign_sequence_parallel() {
  std::vector<std::string> out;
  for (const auto& i : builtin_registry().all()) {
    if (i.caps.cp > 0 && i.default_share > 0.0) out.push_back(i.name);
  }
  return out;
}

TEST(Registry, EveryPropertyHoldsForEverySingleDeviceImplementation) {
  gen::GenOptions g;
  g.max_tokens = k_ci_max_tokens;
  expect_campaign_holds(registered(false), g);
}

// The sequence-parallel variants shard self-attention: the generator gives
// them Lq == Lk batches and the masks at least one variant implements, each
// row narrowed to the cases its variant runs (properties/campaign.cpp
// options_for). One test per variant, so that ctest spreads them over cores.
gen::GenOptions sequence_parallel_gen() {
  gen::GenOptions g;
  g.max_tokens = 128;  // cp = 8 pads every document to a multiple of 16 rows
  g.self_attention = true;
  g.masks = {gen::MaskKind::None, gen::MaskKind::Causal, gen::MaskKind::CausalWindow,
             gen::MaskKind::CausalChunked, gen::MaskKind::Window};
  return g;
}

TEST(Registry, EverySequenceParallelVariantIsRegistered) {
  EXPECT_EQ(registered(true).size(), 24u)
      << "ring, ulysses, allgather x (cp 2, 4, 8 x reference, flash; cp 2, 4 x flash-tc)";
}

class SequenceParallelVariant : public ::testing::TestWithParam<std::string> {};

TEST_P(SequenceParallelVariant, EveryPropertyHolds) {
  expect_campaign_holds({GetParam()}, sequence_parallel_gen());
}

INSTANTIATE_TEST_SUITE_P(Registry, SequenceParallelVariant,
                         ::testing::ValuesIn(campaign_sequence_parallel()),
                         [](const ::testing::TestParamInfo<std::string>& variant) {
                           std::string name = variant.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// On a machine with a usable GPU the implementations on device "cuda" are
// registered; there the suite also runs at larger sizes. Elsewhere this test
// is skipped and says why.
TEST(Registry, GpuImplementationsHoldAtLargerSizes) {
  props::CampaignOptions o;
  for (const auto& impl : builtin_registry().all()) {
    if (impl.device == "cuda") o.impls.push_back(impl.name);
  }
  if (o.impls.empty()) {
    std::string why;
    for (const auto& w : unregistered()) why += w + "; ";
    GTEST_SKIP() << "no implementation on a GPU is registered: " << why;
  }
  o.cases = k_ci_cases;
  o.seed = k_ci_seed;
  o.gen.max_tokens = 4096;
  o.gen.max_work = 4e8;
  std::ostringstream progress, summary;
  const auto r = props::run_campaign(builtin_registry(), o, progress);
  props::print_summary(r, summary);
  EXPECT_EQ(r.total_failed, 0) << summary.str();
}

// ---- A deliberately broken implementation: the campaign must catch it, print
// a reproduce string, and the replay must fail the same way.

Registry leaky_registry() { return test::doc_leak_registry(); }

TEST(Campaign, CatchesDocumentLeakAndReplaysIt) {
  const Registry reg = leaky_registry();
  props::CampaignOptions o;
  o.cases = 100;
  o.seed = 3;
  o.gen.max_tokens = 128;
  o.properties = {"P1"};
  std::ostringstream progress;
  const auto r = props::run_campaign(reg, o, progress);
  ASSERT_EQ(r.rows.size(), 1u);
  const auto& row = r.rows[0];
  ASSERT_EQ(row.failed, 1) << "the doc-leak mutant survived P1";
  EXPECT_FALSE(row.reproduce.empty());
  EXPECT_NE(row.replay.find("attncheck fuzz --impl doc-leak --property P1"), std::string::npos);
  // The shrunk counterexample is tiny: a leak needs a second document or a
  // padding row to leak into, and one or two tokens each.
  EXPECT_LE(row.shrunk_docs, 2) << row.counterexample;
  EXPECT_LE(row.shrunk_tokens, 4) << row.counterexample;
  // Replay from the reproduce string alone.
  props::CampaignOptions replay = o;
  replay.impls = {"doc-leak"};
  replay.reproduce = row.reproduce;
  const auto again = props::run_campaign(reg, replay, progress);
  ASSERT_EQ(again.rows.size(), 1u);
  EXPECT_EQ(again.rows[0].failed, 1);
  EXPECT_EQ(again.rows[0].counterexample, row.counterexample);
}

TEST(Campaign, SavesTheShrunkCounterexampleAsACaseFileThatReplays) {
  const Registry reg = leaky_registry();
  const auto dir = std::filesystem::temp_directory_path() /
                   ("attncheck-cex-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  props::CampaignOptions o;
  o.cases = 100;
  o.seed = 3;
  o.gen.max_tokens = 128;
  o.properties = {"P1"};
  int calls = 0;
  o.on_failure = [&](props::Row& row, const Case& shrunk) {
    ++calls;
    row.saved_to = props::save_counterexample(dir.string(), row, shrunk, reg.find(row.impl));
  };
  std::ostringstream progress;
  const auto r = props::run_campaign(reg, o, progress);
  ASSERT_EQ(calls, 1);
  const auto& row = r.rows.at(0);
  ASSERT_EQ(row.saved_to, (dir / "doc-leak-P1.h5").string());
  const io::CaseFile f = io::read_case(row.saved_to);
  EXPECT_EQ(f.extra.at("property"), "P1");
  EXPECT_EQ(f.extra.at("implementation"), "doc-leak");
  EXPECT_EQ(f.extra.at("reproduce"), row.reproduce);
  EXPECT_EQ(f.c.batch.describe(), row.counterexample);
  ASSERT_TRUE(f.expected.has_value());
  // /expected is the float64 reference of the saved inputs.
  const auto ref = reference::oracle(f.c.batch, f.c.inputs, true).value;
  EXPECT_EQ(f.expected->out, ref.out);
  EXPECT_EQ(f.expected->dk, ref.dk);
  // The recorded results fail, and running the mutant on the file's case again
  // fails the same way while a correct implementation passes.
  const auto& saved = f.results.at("doc-leak");
  EXPECT_EQ(saved.verdict, "fail");
  const auto ctx = make_verify_context(f.c, true);
  EXPECT_EQ(verify(f.c, ctx, *f.expected, saved.results).status, Verdict::Status::Fail);
  const auto rerun = run_implementation(reg.find("doc-leak"), f.c, true);
  const Verdict again = verify(f.c, ctx, *f.expected, rerun);
  EXPECT_EQ(again.status, Verdict::Status::Fail);
  EXPECT_EQ(again.message, verify(f.c, ctx, *f.expected, saved.results).message);
  const auto good = run_implementation(builtin_registry().find("reference-f32"), f.c, true);
  EXPECT_EQ(verify(f.c, ctx, *f.expected, good).status, Verdict::Status::Pass)
      << verify(f.c, ctx, *f.expected, good).message;
  std::filesystem::remove_all(dir);
}

// nondeterministic (BUGZOO): the float32 reference with the first output
// element moved by a run-dependent number of ulps, as an unordered
// accumulation would round it differently from run to run (consecutive runs
// always differ).
void run_jittery(const Case& c, bool grads, Results<float>& out) {
  static std::atomic<unsigned> calls{0};
  test::put_results(reference::attention<float>(c.batch, c.inputs, grads), grads, out);
  const auto rq = c.batch.real_q_rows();
  const auto first = std::find(rq.begin(), rq.end(), true);
  const unsigned ulps = calls++ % 64;
  if (first == rq.end()) return;
  const std::size_t e =
      std::size_t(first - rq.begin()) * std::size_t(c.batch.num_heads_q * c.batch.head_dim_v);
  for (unsigned i = 0; i < ulps; ++i) {
    out.out[e] = std::nextafter(out.out[e], std::numeric_limits<float>::infinity());
  }
}

// A failure of a bitwise property caused by nondeterminism says so; one
// caused by the property's own transformation does not.
TEST(Campaign, BitwiseFailuresOfANondeterministicImplementationSaySo) {
  Registry reg = test::doc_leak_registry();
  reg.add({.name = "jittery", .device = "cpu", .description = "mutant", .caps = Capabilities{},
           .run = run_jittery,
           .stats = {}});
  props::CampaignOptions o;
  o.cases = 100;
  o.seed = 3;
  o.gen.max_tokens = 128;
  o.properties = {"P4", "P5"};
  std::ostringstream progress;
  const auto r = props::run_campaign(reg, o, progress);
  ASSERT_EQ(r.rows.size(), 4u);
  int checked = 0;
  for (const auto& row : r.rows) {
    if (row.impl == "jittery") {
      ASSERT_EQ(row.failed, 1) << row.code << " missed the nondeterminism";
      EXPECT_NE(row.failure.find("nondeterministic (P10)"), std::string::npos) << row.failure;
      ++checked;
    } else {
      if (row.code == "P5") {
        ASSERT_EQ(row.failed, 1) << "the doc-leak mutant survived P5";
        ++checked;
      }
      EXPECT_EQ(row.failure.find("nondeterministic"), std::string::npos) << row.failure;
    }
  }
  EXPECT_EQ(checked, 3);
}

// Correct to rounding, but every output element on an odd buffer row moved by
// one ulp: a document's bits depend on where it sits, as they do for a
// library computing the packed row with dense matmuls.
void run_row_dependent(const Case& c, bool grads, Results<float>& out) {
  test::put_results(reference::attention<float>(c.batch, c.inputs, grads), grads, out);
  auto nudge = [](std::vector<float>& t, int rows) {
    if (rows == 0 || t.empty()) return;
    const std::size_t w = t.size() / std::size_t(rows);
    for (std::size_t e = 0; e < t.size(); ++e) {
      if ((e / w) % 2 == 1 && t[e] != 0.0f) {
        t[e] = std::nextafter(t[e], std::numeric_limits<float>::infinity());
      }
    }
  };
  nudge(out.out, c.batch.total_q);
  if (grads) {
    nudge(out.dq, c.batch.total_q);
    nudge(out.dk, c.batch.total_kv);
    nudge(out.dv, c.batch.total_kv);
  }
}

// batch_invariant = false: P4, P5, P13, P14 judge the transformed run within
// the bound. The row-dependent implementation fails P13 bitwise and passes it
// declared; the document leak still fails P5 declared.
TEST(Campaign, ImplementationsWithoutBatchInvarianceAreJudgedWithinTheBound) {
  auto campaign = [](bool invariant) {
    Registry reg;
    Capabilities caps;
    caps.batch_invariant = invariant;
    reg.add({.name = "row-dependent", .device = "cpu", .description = "test", .caps = caps,
             .run = run_row_dependent, .stats = {}});
    caps.lq_ne_lk = false;
    reg.add({.name = "doc-leak", .device = "cpu", .description = "mutant", .caps = caps,
             .run = test::run_doc_leak, .stats = {}});
    props::CampaignOptions o;
    o.cases = 60;
    o.seed = 5;
    o.gen.max_tokens = 128;
    o.properties = {"P4", "P5", "P13", "P14"};
    std::ostringstream progress;
    return props::run_campaign(reg, o, progress);
  };
  const auto strict = campaign(true);
  const auto declared = campaign(false);
  auto row = [](const props::CampaignResult& r, const std::string& impl, const std::string& code) {
    for (const auto& x : r.rows) {
      if (x.impl == impl && x.code == code) return x;
    }
    ADD_FAILURE() << "no row " << impl << " " << code;
    return props::Row{};
  };
  EXPECT_EQ(row(strict, "row-dependent", "P13").failed, 1) << "the bitwise P13 missed the ulp";
  for (const char* code : {"P4", "P5", "P13", "P14"}) {
    const auto x = row(declared, "row-dependent", code);
    EXPECT_EQ(x.failed, 0) << code << ": " << x.failure;
    EXPECT_GT(x.passed, 0) << code << " never applied";
  }
  const auto leak = row(declared, "doc-leak", "P5");
  ASSERT_EQ(leak.failed, 1) << "the document leak passed P5 within the bound";
  EXPECT_NE(leak.failure.find("declares no batch invariance"), std::string::npos) << leak.failure;
}

TEST(Campaign, UnknownNamesAreUsageErrors) {
  props::CampaignOptions o;
  o.impls = {"no-such-impl"};
  std::ostringstream progress;
  try {
    props::run_campaign(builtin_registry(), o, progress);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    EXPECT_NE(std::string(e.what()).find("reference-f32"), std::string::npos) << e.what();
  }
  o.impls = {};
  o.properties = {"P99"};
  EXPECT_THROW(props::run_campaign(builtin_registry(), o, progress), Error);
  o.properties = {"P1"};
  o.impls = {"reference-f32"};
  o.reproduce = "not a reproduce string";
  EXPECT_THROW(props::run_campaign(builtin_registry(), o, progress), Error);
}

// ---- Generators: coverage and shrinking.

TEST(Generators, CoverTheDesignFeatureList) {
  gen::GenOptions opts;
  std::map<std::string, int> seen;
  for (int i = 0; i < 400; ++i) {
    const auto spec = gen::case_spec(opts)(rc::Random(77 + i), i % 101).value();
    const Case c = gen::build_case(spec);
    ASSERT_NO_THROW(c.batch.validate()) << c.batch.describe();
    ASSERT_NO_THROW(validate_inputs(c.batch, c.inputs)) << c.batch.describe();
    for (const auto& f : gen::features(spec, c)) ++seen[f];
  }
  for (const char* f :
       {"docs=1", "docs=2..4", "docs>=5", "zero-length doc", "length-1 doc", "tile-edge length",
        "Lq!=Lk", "padding between docs", "tail padding", "position ids", "no position ids",
        "group=1", "group=2", "group=8", "Hkv=1", "D non-pow2", "D>=128", "Dv!=D", "mask full",
        "mask causal", "mask window", "mask causal+window", "mask chunked", "mask causal+chunked",
        "float32", "bfloat16", "float16", "values gaussian", "values heavy-tail",
        "values outliers", "values large-logits", "values ties", "values activation-like",
        "row sees no key", "custom scale", "multi-tile rising scores", "doc > 64 rows"}) {
    EXPECT_GT(seen[f], 0) << "generator never produced: " << f;
  }
}

TEST(Generators, LargeLogitsReachMagnitudeHundred) {
  gen::GenOptions opts;
  double biggest = 0.0;
  for (int i = 0; i < 300 && biggest < 50.0; ++i) {
    auto spec = gen::case_spec(opts)(rc::Random(900 + i), 100).value();
    if (spec.shape.dist != gen::ValueDist::LargeLogits || spec.docs[0].lq == 0 ||
        spec.docs[0].lk == 0) {
      continue;
    }
    const Case c = gen::build_case(spec);
    const Batch& b = c.batch;
    // Score of the first query and key of document 0, head 0.
    double s = 0.0;
    for (int e = 0; e < b.head_dim; ++e) {
      s += double(c.inputs.q[std::size_t(b.q_start(0)) * b.num_heads_q * b.head_dim + e]) *
           c.inputs.k[std::size_t(b.kv_start(0)) * b.num_heads_kv * b.head_dim + e];
    }
    biggest = std::max(biggest, std::abs(s * b.softmax_scale));
  }
  EXPECT_GE(biggest, 50.0);
}

class NullListener : public rc::detail::TestListener {
 public:
  void onTestCaseFinished(const rc::detail::CaseDescription&) override {}
  void onShrinkTried(const rc::detail::CaseDescription&, bool) override {}
  void onTestFinished(const rc::detail::TestMetadata&, const rc::detail::TestResult&) override {}
};

TEST(Generators, FailuresShrinkToAFewTokens) {
  // A property that fails whenever some document has Lq != Lk must shrink to
  // one document of lengths {0, 1} or {1, 0}: one token in all.
  gen::GenOptions opts;
  int docs = -1, tokens = -1;
  auto body = [&] {
    const Case c = gen::build_case(*gen::case_spec(opts));
    bool cross = false;
    for (int i = 0; i < c.batch.num_seqs(); ++i) {
      cross = cross || c.batch.q_len(i) != c.batch.kv_len(i);
    }
    docs = c.batch.num_seqs();
    tokens = c.batch.cu_seqlens_q.back() + c.batch.cu_seqlens_kv.back();
    RC_ASSERT(!cross);
  };
  rc::detail::TestMetadata meta;
  meta.id = "shrink";
  rc::detail::TestParams params;
  params.seed = 5;
  params.maxSuccess = 500;
  NullListener listener;
  const auto result = rc::detail::checkProperty(rc::detail::toProperty(body), meta, params, listener);
  rc::detail::FailureResult failure;
  ASSERT_TRUE(result.match(failure)) << "the generator never produced Lq != Lk";
  // The last evaluated case need not be the minimal one: replay the reproduce
  // string, which evaluates exactly the shrunk counterexample.
  const std::unordered_map<std::string, rc::detail::Reproduce> repro{{"shrink", failure.reproduce}};
  const auto again =
      rc::detail::checkProperty(rc::detail::toProperty(body), meta, params, listener, repro);
  ASSERT_TRUE(again.template is<rc::detail::FailureResult>());
  EXPECT_EQ(docs, 1);
  EXPECT_EQ(tokens, 1);
}

// ---- P7: the four packing descriptions give identical real-token results.

struct Docs {
  std::vector<int> lens;  // >= 1: position ids and EOS ids cannot express empty documents
  int heads = 2, dim = 8;
  bool causal = false;
  std::uint64_t seed = 0;
};

Case case_from(const Segmentation& seg, const Docs& d,
               const std::vector<std::vector<float>>& doc_rows_q,
               const std::vector<std::vector<float>>& doc_rows_k,
               const std::vector<std::vector<float>>& doc_rows_v) {
  Case c;
  Batch& b = c.batch;
  b.num_heads_q = b.num_heads_kv = d.heads;
  b.head_dim = b.head_dim_v = d.dim;
  b.mask.causal = d.causal;
  b.softmax_scale = b.default_scale();
  apply_segmentation(b, seg, seg);
  const std::size_t w = std::size_t(d.heads) * d.dim;
  for (auto* x : {&c.inputs.q, &c.inputs.k, &c.inputs.v, &c.inputs.dout}) {
    x->assign(std::size_t(b.total_q) * w, std::numeric_limits<float>::quiet_NaN());
  }
  for (int i = 0; i < b.num_seqs(); ++i) {
    std::copy(doc_rows_q[i].begin(), doc_rows_q[i].end(), c.inputs.q.begin() + std::ptrdiff_t(b.q_start(i) * w));
    std::copy(doc_rows_k[i].begin(), doc_rows_k[i].end(), c.inputs.k.begin() + std::ptrdiff_t(b.kv_start(i) * w));
    std::copy(doc_rows_v[i].begin(), doc_rows_v[i].end(), c.inputs.v.begin() + std::ptrdiff_t(b.kv_start(i) * w));
    std::copy(doc_rows_q[i].begin(), doc_rows_q[i].end(), c.inputs.dout.begin() + std::ptrdiff_t(b.q_start(i) * w));
  }
  return c;
}

RC_GTEST_PROP(P7, PackingDescriptionsGiveIdenticalResults, ()) {
  Docs d;
  d.lens = *rc::gen::container<std::vector<int>>(*rc::gen::inRange(1, 6), rc::gen::inRange(1, 20))
                .as("document lengths");
  d.causal = *rc::gen::arbitrary<bool>().as("causal");
  d.seed = *rc::gen::arbitrary<std::uint64_t>().as("seed");
  const int n = int(d.lens.size());
  const int s_max = *std::max_element(d.lens.begin(), d.lens.end());
  const std::size_t w = std::size_t(d.heads) * d.dim;
  std::mt19937_64 rng(d.seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> q(n), k(n), v(n);
  for (int i = 0; i < n; ++i) {
    for (auto* x : {&q[i], &k[i], &v[i]}) {
      x->resize(std::size_t(d.lens[i]) * w);
      for (float& e : *x) e = normal(rng);
    }
  }
  // (a) cu_seqlens.
  Segmentation a;
  a.cu_seqlens = {0};
  for (int len : d.lens) a.cu_seqlens.push_back(a.cu_seqlens.back() + len);
  a.total = a.cu_seqlens.back();
  // (b) position ids resetting at each document.
  std::vector<std::int32_t> ids;
  for (int len : d.lens) {
    for (int t = 0; t < len; ++t) ids.push_back(t);
  }
  const Segmentation sb = segment_from_position_ids(ids);
  // (c) padded [B, S] layout with an attention mask.
  std::vector<std::int32_t> mask(std::size_t(n) * s_max, 0);
  for (int i = 0; i < n; ++i) {
    std::fill_n(mask.begin() + std::ptrdiff_t(i) * s_max, d.lens[i], 1);
  }
  const Segmentation sc = segment_from_padded_mask(mask, n, s_max);
  // (d) token ids with EOS (id 0) ending each document; other tokens 1..9.
  std::vector<std::int32_t> tokens;
  for (int len : d.lens) {
    for (int t = 0; t + 1 < len; ++t) tokens.push_back(1 + int(rng() % 9));
    tokens.push_back(0);
  }
  const Segmentation sd = segment_from_eos(tokens, 0);

  const auto ra = reference::attention<double>(case_from(a, d, q, k, v).batch,
                                               case_from(a, d, q, k, v).inputs, true);
  for (const Segmentation* seg : {&sb, &sc, &sd}) {
    const Case c = case_from(*seg, d, q, k, v);
    RC_ASSERT(c.batch.num_seqs() == n);
    const auto r = reference::attention<double>(c.batch, c.inputs, true);
    for (int i = 0; i < n; ++i) {
      for (std::size_t e = 0; e < std::size_t(d.lens[i]) * w; ++e) {
        const std::size_t x = std::size_t(a.cu_seqlens[i]) * w + e;
        const std::size_t y = std::size_t(c.batch.q_start(i)) * w + e;
        RC_ASSERT(r.out[y] == ra.out[x]);
        RC_ASSERT(r.dq[y] == ra.dq[x]);
        RC_ASSERT(r.dk[y] == ra.dk[x]);
        RC_ASSERT(r.dv[y] == ra.dv[x]);
      }
    }
  }
}

// ---- P9: position ids. Derived segmentation equals cu_seqlens; malformed or
// missing ids give the documented error naming the position.

RC_GTEST_PROP(P9, DerivedSegmentationEqualsCuSeqlens, ()) {
  const auto lens = *rc::gen::container<std::vector<int>>(rc::gen::inRange(1, 40));
  std::vector<std::int32_t> ids, cu{0};
  for (int len : lens) {
    for (int t = 0; t < len; ++t) ids.push_back(t);
    cu.push_back(cu.back() + len);
  }
  const Segmentation s = segment_from_position_ids(ids);
  RC_ASSERT(s.cu_seqlens == cu);
  RC_ASSERT(s.total == cu.back());
  RC_ASSERT(!s.cu_seqlens_padded.has_value());
}

RC_GTEST_PROP(P9, MalformedIdsNameTheirPosition, ()) {
  const auto lens = *rc::gen::nonEmpty(rc::gen::container<std::vector<int>>(rc::gen::inRange(2, 30)));
  std::vector<std::int32_t> ids;
  for (int len : lens) {
    for (int t = 0; t < len; ++t) ids.push_back(t);
  }
  const int pos = *rc::gen::inRange(0, int(ids.size())).as("corrupted position");
  const int kind = *rc::gen::inRange(0, 3).as("0 gap, 1 negative, 2 not starting at 0");
  if (kind == 0) {
    // A gap: two more than the previous id (a first id of 2: not starting at 0).
    ids[std::size_t(pos)] = pos == 0 ? 2 : ids[std::size_t(pos) - 1] + 2;
  } else if (kind == 1) {
    ids[std::size_t(pos)] = -1 - pos;     // negative
  } else {
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] += 1;  // ids start at 1
  }
  const int expected = kind == 2 ? 0 : pos;
  try {
    segment_from_position_ids(ids);
    RC_FAIL("malformed ids accepted");
  } catch (const Error& e) {
    RC_ASSERT(e.kind() == ErrorKind::InvalidPositionIds);
    RC_ASSERT(e.field() == std::string("position_ids"));
    RC_ASSERT(e.index() == expected);
  }
}

TEST(P9, MissingIdsAreTheDocumentedError) {
  try {
    segment_from_position_ids(std::nullopt);
    FAIL() << "missing ids accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::MissingPositionIds);
  }
  Batch b;
  b.softmax_scale = 1.0;
  b.total_q = b.total_kv = 3;
  b.cu_seqlens_q = b.cu_seqlens_kv = {0, 3};
  EXPECT_THROW(b.check_position_ids(), Error);
}

// P9 for the sequence-parallel variants: a variant that derives document
// boundaries from position ids refuses a batch without them with the
// documented error; every variant refuses malformed ids naming the position
// (ids are checked when the CP layout is built, before sharding).
TEST(P9, SequenceParallelVariantsGiveTheDocumentedErrors) {
  Case c;
  Batch& b = c.batch;
  b.num_heads_q = b.num_heads_kv = 8;
  b.head_dim = b.head_dim_v = 8;
  b.softmax_scale = 0.35;
  b.mask.causal = true;
  b.cu_seqlens_q = b.cu_seqlens_kv = {0, 5, 9};
  b.total_q = b.total_kv = 9;
  for (auto* x : {&c.inputs.q, &c.inputs.k, &c.inputs.v, &c.inputs.dout}) x->assign(9 * 8 * 8, 0.5f);
  int needs_ids = 0;
  for (const auto& impl : builtin_registry().all()) {
    if (impl.caps.cp == 0) continue;
    SCOPED_TRACE(impl.name);
    Case base = c;  // in a dtype the variant's local kernel takes (flash-tc: no float32)
    if (std::find(impl.caps.dtypes.begin(), impl.caps.dtypes.end(), base.batch.dtype) ==
        impl.caps.dtypes.end()) {
      base.batch.dtype = impl.caps.dtypes.front();
    }
    Case missing = base;
    if (impl.caps.needs_position_ids) {
      ++needs_ids;
      try {
        run_implementation(impl, missing, true);
        ADD_FAILURE() << "ran without position ids";
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::MissingPositionIds) << e.what();
      }
    } else {
      EXPECT_NO_THROW(run_implementation(impl, missing, true));
    }
    Case bad = base;
    bad.batch.position_ids = std::vector<std::int32_t>{0, 1, 2, 4, 5, 0, 1, 2, 3};
    try {
      run_implementation(impl, bad, true);
      ADD_FAILURE() << "ran with malformed position ids";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidPositionIds) << e.what();
      EXPECT_EQ(e.index(), 3) << e.what();
    }
  }
  EXPECT_EQ(needs_ids, 8) << "the ulysses variants derive boundaries from ids";
}

}  // namespace
}  // namespace attncheck
