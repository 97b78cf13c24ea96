#include "properties/generators.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "reference/mask.hpp"

namespace attncheck::gen {

const char* to_string(ValueDist d) {
  switch (d) {
    case ValueDist::Gaussian: return "gaussian";
    case ValueDist::HeavyTail: return "heavy-tail";
    case ValueDist::Outliers: return "outliers";
    case ValueDist::LargeLogits: return "large-logits";
    case ValueDist::Ties: return "ties";
    case ValueDist::ActivationLike: return "activation-like";
  }
  return "?";
}

const char* to_string(MaskKind m) {
  switch (m) {
    case MaskKind::None: return "full";
    case MaskKind::Causal: return "causal";
    case MaskKind::Window: return "window";
    case MaskKind::CausalWindow: return "causal+window";
    case MaskKind::Chunked: return "chunked";
    case MaskKind::CausalChunked: return "causal+chunked";
  }
  return "?";
}

namespace {

// (Hkv, group) pairs allowed by the options, simplest first; empty when no
// narrowing applies (the plain generators then draw them independently).
std::vector<std::pair<int, int>> head_pairs(const GenOptions& o) {
  std::vector<std::pair<int, int>> pairs;
  if (o.heads_split <= 0 && !o.gqa_only) return pairs;
  for (int hkv : {1, 2, 3, 4, 8}) {
    for (int group : {1, 2, 3, 4, 8}) {
      if (o.mha_only && group != 1) continue;
      if (o.gqa_only && !o.mha_only && group == 1) continue;
      if (o.heads_split > 0) {
        const int n = o.heads_split, hq = hkv * group;
        if (hq % n != 0 || (hkv % n != 0 && n % hkv != 0)) continue;
      }
      pairs.emplace_back(hkv, group);
    }
  }
  return pairs;
}

bool heads_allowed(const GenOptions& o, int hkv, int group) {
  const auto pairs = head_pairs(o);
  if (pairs.empty()) return !o.mha_only || group == 1;
  return std::find(pairs.begin(), pairs.end(), std::make_pair(hkv, group)) != pairs.end();
}

// Element lists are ordered simplest first: RapidCheck shrinks towards the front.
rc::Gen<Shape> shape(const GenOptions& opts) {
  std::vector<int> dims;
  for (int d : {8, 16, 32, 64, 24, 40, 72, 96, 100, 128, 160, 192, 256}) {
    if (d <= opts.max_head_dim) dims.push_back(d);
  }
  if (dims.empty()) dims.push_back(std::max(1, opts.max_head_dim));
  const auto pairs = head_pairs(opts);
  const bool paired = !pairs.empty();
  const int min_docs = std::clamp(opts.min_docs, 1, 12);
  auto num_docs = min_docs <= 1
                      ? rc::gen::weightedOneOf<int>({{2, rc::gen::just(1)},
                                                     {5, rc::gen::inRange(2, 5)},
                                                     {2, rc::gen::inRange(5, 13)}})
                      : rc::gen::weightedOneOf<int>({{5, rc::gen::inRange(min_docs, std::max(min_docs, 4) + 1)},
                                                     {2, rc::gen::inRange(std::max(min_docs, 5), 13)}});
  auto shapes = rc::gen::build<Shape>(
      rc::gen::set(&Shape::dtype, rc::gen::elementOf(opts.dtypes)),
      rc::gen::set(&Shape::heads_kv, paired ? rc::gen::just(1) : rc::gen::element(1, 2, 3, 4, 8)),
      rc::gen::set(&Shape::group, opts.mha_only || paired ? rc::gen::just(1)
                                                          : rc::gen::element(1, 2, 3, 4, 8)),
      rc::gen::set(&Shape::head_dim, rc::gen::elementOf(dims)),
      rc::gen::set(&Shape::head_dim_v,
                   opts.same_head_dim
                       ? rc::gen::just(0)
                       : rc::gen::weightedOneOf<int>({{3, rc::gen::just(0)},  // 0: Dv = D
                                                      {1, rc::gen::elementOf(dims)}})),
      rc::gen::set(&Shape::mask,
                   opts.masks.empty()
                       ? rc::gen::element(MaskKind::None, MaskKind::Causal, MaskKind::Window,
                                          MaskKind::CausalWindow, MaskKind::Chunked,
                                          MaskKind::CausalChunked)
                       : rc::gen::elementOf(opts.masks)),
      rc::gen::set(&Shape::dist,
                   rc::gen::element(ValueDist::Gaussian, ValueDist::HeavyTail, ValueDist::Outliers,
                                    ValueDist::LargeLogits, ValueDist::Ties,
                                    ValueDist::ActivationLike)),
      rc::gen::set(&Shape::ids_present,
                   opts.ids_always ? rc::gen::just(true) : rc::gen::element(true, false)),
      rc::gen::set(&Shape::padded,
                   opts.no_padding ? rc::gen::just(false) : rc::gen::element(false, true)),
      rc::gen::set(&Shape::cross,
                   opts.self_attention ? rc::gen::just(false)
                                       : rc::gen::weightedElement<bool>({{3, false}, {1, true}})),
      rc::gen::set(&Shape::default_scale, rc::gen::weightedElement<bool>({{4, true}, {1, false}})),
      rc::gen::set(&Shape::num_docs, num_docs),
      rc::gen::set(&Shape::multi_tile, rc::gen::weightedElement<bool>({{7, false}, {1, true}})));
  if (!paired) return shapes;
  return rc::gen::map(rc::gen::pair(shapes, rc::gen::elementOf(pairs)),
                      [](const std::pair<Shape, std::pair<int, int>>& p) {
                        Shape s = p.first;
                        s.heads_kv = p.second.first;
                        s.group = p.second.second;
                        return s;
                      });
}

// A sequence length in [0, max_len]: 0, 1, tile edges and uniform.
rc::Gen<int> length(int max_len) {
  if (max_len < 1) return rc::gen::just(0);
  std::vector<int> edges;
  for (int t : k_tiles) {
    for (int e : {t - 1, t, t + 1}) {
      if (e <= max_len) edges.push_back(e);
    }
  }
  auto uniform = rc::gen::inRange(1, max_len + 1);
  return rc::gen::weightedOneOf<int>({{1, rc::gen::just(0)},
                                      {2, rc::gen::just(1)},
                                      {8, uniform},
                                      {edges.empty() ? 0u : 3u,
                                       edges.empty() ? uniform : rc::gen::elementOf(edges)}});
}

rc::Gen<int> padding(bool padded) {
  if (!padded) return rc::gen::just(0);
  return rc::gen::weightedOneOf<int>({{2, rc::gen::just(0)}, {3, rc::gen::inRange(1, 6)}});
}

rc::Gen<DocSpec> doc(const Shape& s, int max_len) {
  return rc::gen::mapcat(length(max_len), [=](int lq) {
    return rc::gen::map(
        rc::gen::tuple(s.cross ? length(max_len) : rc::gen::just(lq), padding(s.padded),
                       padding(s.padded)),
        [lq](const std::tuple<int, int, int>& t) {
          return DocSpec{lq, std::get<0>(t), std::get<1>(t), std::get<2>(t)};
        });
  });
}

// The first document of a multi-tile case: longer than k_multi_tile_rows
// (both sides), at most `hi` rows.
rc::Gen<DocSpec> long_doc(const Shape& s, int hi) {
  auto len = rc::gen::inRange(k_multi_tile_rows + 1, hi + 1);
  return rc::gen::mapcat(len, [=](int lq) {
    return rc::gen::map(
        rc::gen::tuple(s.cross ? rc::gen::inRange(k_multi_tile_rows + 1, hi + 1) : rc::gen::just(lq),
                       padding(s.padded), padding(s.padded)),
        [lq](const std::tuple<int, int, int>& t) {
          return DocSpec{lq, std::get<0>(t), std::get<1>(t), std::get<2>(t)};
        });
  });
}

// Window side: unbounded, 0, 1, or up to the longest document.
rc::Gen<int> window_side(int max_len) {
  return rc::gen::weightedOneOf<int>({{1, rc::gen::just(-1)},
                                      {1, rc::gen::element(0, 1)},
                                      {3, rc::gen::inRange(0, std::max(1, max_len) + 1)}});
}

rc::Gen<int> chunk_size(int max_len) {
  return rc::gen::weightedOneOf<int>({{2, rc::gen::element(1, 2, 3, 16, 64)},
                                      {3, rc::gen::inRange(1, std::max(1, max_len) + 1)}});
}

// Upper bound on a document's length for this shape and RapidCheck size,
// `docs` documents sharing `tokens` rows.
int max_doc_len(const Shape& s, const GenOptions& o, int size, int docs, int tokens) {
  if (docs < 1) return 0;
  const int hq = s.heads_kv * s.group;
  const int dv = s.head_dim_v == 0 ? s.head_dim : s.head_dim_v;
  const int by_tokens = tokens / docs - 5;  // leave room for padding
  const double by_work = std::sqrt(o.max_work / (double(docs) * hq * (s.head_dim + dv)));
  const int cap = std::max(1, std::min(by_tokens, int(by_work)));
  return std::max(1, int(std::lround(double(cap) * std::min(size + 1, 100) / 100.0)));
}

// Multi-tile cases may do twice the work of the others (k_multi_tile_work):
// one document of k_multi_tile_rows + 1 rows or more must fit.
inline constexpr double k_multi_tile_work = 2.0;

int head_width(const Shape& s) {
  const int dv = s.head_dim_v == 0 ? s.head_dim : s.head_dim_v;
  return s.heads_kv * s.group * (s.head_dim + dv);
}

// The longest multi-tile document the options allow for this shape (0: none
// longer than k_multi_tile_rows fits): at most three 64-key tiles, within
// the token and work caps whatever the RapidCheck size.
int multi_tile_max(const Shape& s, const GenOptions& o) {
  if (!s.multi_tile) return 0;
  const int by_tokens = o.max_tokens - 5 - (o.padding_rows ? 1 : 0);
  const int by_work = int(std::sqrt(k_multi_tile_work * o.max_work / double(head_width(s))));
  const int hi = std::min({by_tokens, by_work, 3 * k_multi_tile_rows});
  return hi > k_multi_tile_rows ? hi : 0;
}

// A multi-tile shape whose heads are too many for a long document within the
// work cap gets the fewest heads the options allow instead (the other cases
// cover the head counts; these cover the length).
Shape fit_multi_tile(Shape s, const GenOptions& o) {
  if (!s.multi_tile || multi_tile_max(s, o) > 0) return s;
  const auto pairs = head_pairs(o);
  Shape t = s;
  t.heads_kv = pairs.empty() ? 1 : pairs.front().first;
  t.group = pairs.empty() ? 1 : pairs.front().second;
  return multi_tile_max(t, o) > 0 ? t : s;
}

rc::Gen<CaseSpec> case_spec_unshrunk(const GenOptions& opts) {
  return rc::gen::mapcat(shape(opts), [opts](Shape drawn) {
    const Shape s = fit_multi_tile(drawn, opts);
    return rc::gen::withSize([opts, s](int size) {
      const int long_max = multi_tile_max(s, opts);
      const int reserve = opts.padding_rows ? 1 : 0;  // a tail row kept for padding
      // A multi-tile first document takes its rows first; the others share the rest.
      const int rest_docs = long_max > 0 ? s.num_docs - 1 : s.num_docs;
      const int rest_tokens = opts.max_tokens - reserve - (long_max > 0 ? long_max + 5 : 0);
      const int max_len =
          rest_docs == 0 ? 0
          : rest_tokens < 6 * rest_docs
              ? (long_max > 0 ? 0 : max_doc_len(s, opts, size, rest_docs, rest_tokens))
              : max_doc_len(s, opts, size, rest_docs, rest_tokens);
      const int used = (long_max > 0 ? long_max + 5 : 0) + rest_docs * (max_len + 5);
      const int tail_max = opts.no_padding && !opts.padding_rows
                               ? 0
                               : std::max(reserve, std::min(8, opts.max_tokens - used));
      auto tail = opts.padding_rows
                      ? rc::gen::inRange(1, tail_max + 1)
                      : rc::gen::weightedOneOf<int>(
                            {{3, rc::gen::just(0)}, {1, rc::gen::inRange(0, tail_max + 1)}});
      auto rest = rc::gen::container<std::vector<DocSpec>>(std::size_t(rest_docs), doc(s, max_len));
      auto docs = long_max == 0
                      ? rest
                      : rc::gen::map(rc::gen::pair(long_doc(s, long_max), rest),
                                     [](const std::pair<DocSpec, std::vector<DocSpec>>& p) {
                                       std::vector<DocSpec> all{p.first};
                                       all.insert(all.end(), p.second.begin(), p.second.end());
                                       return all;
                                     });
      const int window_max = std::max(max_len, long_max);
      return rc::gen::build<CaseSpec>(
          rc::gen::set(&CaseSpec::shape, rc::gen::just(s)), rc::gen::set(&CaseSpec::docs, docs),
          rc::gen::set(&CaseSpec::tail_q, tail), rc::gen::set(&CaseSpec::tail_kv, tail),
          rc::gen::set(&CaseSpec::window_left, window_side(window_max)),
          rc::gen::set(&CaseSpec::window_right, window_side(window_max)),
          rc::gen::set(&CaseSpec::chunk, chunk_size(window_max)),
          rc::gen::set(&CaseSpec::scale, rc::gen::element(0.5, 0.0625, 1.0, 2.0)),
          rc::gen::set(&CaseSpec::value_seed, rc::gen::arbitrary<std::uint64_t>()));
    });
  });
}

// Shrinks of one document: lengths and padding towards 0 (Lq and Lk together
// unless the shape allows them to differ).
rc::Seq<DocSpec> shrink_doc(const DocSpec& d, bool cross) {
  auto with = [d](int DocSpec::*field) {
    return rc::seq::map(rc::shrink::towards(d.*field, 0), [d, field](int v) {
      DocSpec t = d;
      t.*field = v;
      return t;
    });
  };
  auto lq = rc::seq::map(rc::shrink::towards(d.lq, 0), [d, cross](int v) {
    DocSpec t = d;
    t.lq = v;
    if (!cross) t.lk = v;
    return t;
  });
  if (!cross) return rc::seq::concat(lq, with(&DocSpec::pad_q), with(&DocSpec::pad_kv));
  return rc::seq::concat(lq, with(&DocSpec::lk), with(&DocSpec::pad_q), with(&DocSpec::pad_kv));
}

// Shrinks tried after RapidCheck's own (which regenerate the documents when
// the shape shrinks): drop documents, shorten them, drop tail padding, fewer
// heads, smaller head dims. Every shrink stays a valid spec: it only removes
// tokens or work.
rc::Seq<CaseSpec> shrink_spec(const CaseSpec& s, const GenOptions& o) {
  auto set_docs = [s](std::vector<DocSpec> docs) {
    CaseSpec t = s;
    t.shape.num_docs = int(docs.size());
    t.docs = std::move(docs);
    return t;
  };
  const std::size_t min_docs = std::size_t(std::max(1, o.min_docs));
  auto fewer = rc::seq::filter(rc::seq::map(rc::shrink::removeChunks(s.docs), set_docs),
                               [min_docs](const CaseSpec& t) { return t.docs.size() >= min_docs; });
  const bool cross = s.shape.cross;
  auto shorter = rc::seq::map(
      rc::shrink::eachElement(s.docs, [cross](const DocSpec& d) { return shrink_doc(d, cross); }),
      set_docs);
  // With padding rows required each tail keeps one row.
  const int keep = o.padding_rows ? 1 : 0;
  auto tails = rc::seq::map(
      rc::shrink::towards(s.tail_q + s.tail_kv, std::min(2 * keep, s.tail_q + s.tail_kv)),
      [s, keep](int total) {
        CaseSpec t = s;
        t.tail_q = std::max(keep, std::min(t.tail_q, total - keep));
        t.tail_kv = std::max(keep, std::min(t.tail_kv, total - t.tail_q));
        return t;
      });
  // A code can map back to the same heads (code % 100 == 0 with group 1):
  // such a candidate is no shrink, and accepting it would repeat forever.
  auto heads = rc::seq::filter(
      rc::seq::map(rc::shrink::towards(s.shape.heads_kv * 100 + s.shape.group, 101),
                   [s](int code) {
                     CaseSpec t = s;
                     t.shape.heads_kv = std::max(1, std::min(s.shape.heads_kv, code / 100));
                     t.shape.group = std::max(1, std::min(s.shape.group, code % 100));
                     return t;
                   }),
      [s, o](const CaseSpec& t) {
        return (t.shape.heads_kv != s.shape.heads_kv || t.shape.group != s.shape.group) &&
               heads_allowed(o, t.shape.heads_kv, t.shape.group);
      });
  auto dims = rc::seq::map(rc::shrink::towards(s.shape.head_dim, 8), [s](int d) {
    CaseSpec t = s;
    t.shape.head_dim = d;
    if (t.shape.head_dim_v != 0) t.shape.head_dim_v = std::min(t.shape.head_dim_v, d);
    return t;
  });
  return rc::seq::concat(fewer, shorter, tails, heads, dims);
}

}  // namespace

rc::Gen<CaseSpec> case_spec(const GenOptions& opts) {
  return rc::gen::shrink(case_spec_unshrunk(opts),
                         [opts](const CaseSpec& s) { return shrink_spec(s, opts); });
}

namespace {

struct ValueSampler {
  ValueDist dist;
  double logit_sigma;  // std of q/k entries for LargeLogits
  std::normal_distribution<double> normal{0.0, 1.0};
  std::student_t_distribution<double> student{2.0};
  std::uniform_real_distribution<double> unit{0.0, 1.0};

  // tensor: 0 q, 1 k, 2 v, 3 do; channel: index within the head.
  double operator()(std::mt19937_64& rng, int tensor, int channel) {
    switch (dist) {
      case ValueDist::Gaussian: return normal(rng);
      case ValueDist::HeavyTail: return std::clamp(student(rng), -1e3, 1e3);
      case ValueDist::Outliers: {
        const double x = normal(rng);
        return unit(rng) < 0.01 ? 50.0 * x : x;
      }
      case ValueDist::LargeLogits: return tensor < 2 ? logit_sigma * normal(rng) : normal(rng);
      case ValueDist::Ties: {
        static constexpr double k_levels[] = {-1.0, 0.0, 1.0};
        return k_levels[rng() % 3];
      }
      case ValueDist::ActivationLike: {
        // Mostly small post-activation values; every 16th channel a massive one.
        const double x = std::max(0.0, normal(rng)) - 0.2;
        return channel % 16 == 0 ? 20.0 * x : x;
      }
    }
    return 0.0;
  }
};

void fill_rows(std::vector<float>& x, int row, int row_elems, int head_width, DType dt,
               std::mt19937_64& rng, ValueSampler& s, int tensor) {
  for (int e = 0; e < row_elems; ++e) {
    x[std::size_t(row) * row_elems + e] = round_to(dt, float(s(rng, tensor, e % head_width)));
  }
}

ValueSampler sampler(const Batch& b, ValueDist dist) {
  // Logits s = scale * q.k have std scale * sigma^2 * sqrt(D); aim at 100.
  const double sigma = std::sqrt(100.0 / (b.softmax_scale * std::sqrt(double(b.head_dim))));
  return ValueSampler{dist, sigma};
}

}  // namespace

void add_rising_scores(Case& c) {
  const Batch& b = c.batch;
  // Score term scale * (a) * (a * j / 64) = k_rise_per_tile * j / 64 on channel 0.
  const double a = std::sqrt(k_rise_per_tile / b.softmax_scale);
  const int d = b.head_dim;
  for (int i = 0; i < b.num_seqs(); ++i) {
    for (int r = 0; r < b.q_len(i); ++r) {
      for (int h = 0; h < b.num_heads_q; ++h) {
        float& x = c.inputs.q[(std::size_t(b.q_start(i) + r) * b.num_heads_q + h) * d];
        x = round_to(b.dtype, float(x + a));
      }
    }
    for (int j = 0; j < b.kv_len(i); ++j) {
      for (int h = 0; h < b.num_heads_kv; ++h) {
        float& x = c.inputs.k[(std::size_t(b.kv_start(i) + j) * b.num_heads_kv + h) * d];
        x = round_to(b.dtype, float(x + a * j / double(k_multi_tile_rows)));
      }
    }
  }
}

void refill_documents(Case& c, ValueDist dist, std::uint64_t seed, const std::vector<int>& docs) {
  const Batch& b = c.batch;
  std::mt19937_64 rng(seed);
  ValueSampler s = sampler(b, dist);
  const int qw = b.num_heads_q * b.head_dim, kw = b.num_heads_kv * b.head_dim;
  const int vw = b.num_heads_kv * b.head_dim_v, ow = b.num_heads_q * b.head_dim_v;
  for (int i = 0; i < b.num_seqs(); ++i) {
    if (!docs.empty() && std::find(docs.begin(), docs.end(), i) == docs.end()) continue;
    for (int r = b.q_start(i); r < b.q_start(i) + b.q_len(i); ++r) {
      fill_rows(c.inputs.q, r, qw, b.head_dim, b.dtype, rng, s, 0);
      fill_rows(c.inputs.dout, r, ow, b.head_dim_v, b.dtype, rng, s, 3);
    }
    for (int r = b.kv_start(i); r < b.kv_start(i) + b.kv_len(i); ++r) {
      fill_rows(c.inputs.k, r, kw, b.head_dim, b.dtype, rng, s, 1);
      fill_rows(c.inputs.v, r, vw, b.head_dim_v, b.dtype, rng, s, 2);
    }
  }
}

Case build_case(const CaseSpec& spec) {
  const Shape& s = spec.shape;
  Case c;
  c.seed = spec.value_seed;
  Batch& b = c.batch;
  b.num_heads_kv = s.heads_kv;
  b.num_heads_q = s.heads_kv * s.group;
  b.head_dim = s.head_dim;
  b.head_dim_v = s.head_dim_v == 0 ? s.head_dim : s.head_dim_v;
  b.dtype = s.dtype;
  b.softmax_scale = s.default_scale ? b.default_scale() : spec.scale;
  switch (s.mask) {
    case MaskKind::None: break;
    case MaskKind::Causal: b.mask.causal = true; break;
    case MaskKind::Window:
      b.mask.window_left = spec.window_left;
      b.mask.window_right = spec.window_right;
      break;
    case MaskKind::CausalWindow:
      b.mask.causal = true;
      b.mask.window_left = std::max(0, spec.window_left);
      b.mask.window_right = 0;
      break;
    case MaskKind::Chunked: b.mask.chunk_size = spec.chunk; break;
    case MaskKind::CausalChunked:
      b.mask.causal = true;
      b.mask.chunk_size = spec.chunk;
      break;
  }
  std::vector<std::int32_t> pq{0}, pk{0};
  b.cu_seqlens_q = {0};
  b.cu_seqlens_kv = {0};
  for (const DocSpec& d : spec.docs) {
    b.cu_seqlens_q.push_back(b.cu_seqlens_q.back() + d.lq);
    b.cu_seqlens_kv.push_back(b.cu_seqlens_kv.back() + d.lk);
    pq.push_back(pq.back() + d.lq + d.pad_q);
    pk.push_back(pk.back() + d.lk + d.pad_kv);
  }
  if (s.padded) {
    b.cu_seqlens_q_padded = pq;
    b.cu_seqlens_kv_padded = pk;
  }
  b.total_q = (s.padded ? pq.back() : b.cu_seqlens_q.back()) + spec.tail_q;
  b.total_kv = (s.padded ? pk.back() : b.cu_seqlens_kv.back()) + spec.tail_kv;

  std::mt19937_64 rng(spec.value_seed);
  c.inputs.q.assign(b.q_elems(), 0.0f);
  c.inputs.k.assign(b.k_elems(), 0.0f);
  c.inputs.v.assign(b.v_elems(), 0.0f);
  c.inputs.dout.assign(b.o_elems(), 0.0f);
  // Padding rows get large finite garbage: a kernel that reads them errs visibly.
  std::normal_distribution<double> garbage(0.0, 100.0);
  for (auto* x : {&c.inputs.q, &c.inputs.k, &c.inputs.v, &c.inputs.dout}) {
    for (float& v : *x) v = round_to(b.dtype, float(garbage(rng)));
  }
  refill_documents(c, s.dist, rng(), {});
  if (s.multi_tile) add_rising_scores(c);

  if (s.ids_present) {
    std::vector<std::int32_t> ids(std::size_t(b.total_q));
    std::uniform_int_distribution<int> junk(-5, 1000);
    for (auto& id : ids) id = junk(rng);  // padding rows carry anything
    for (int i = 0; i < b.num_seqs(); ++i) {
      for (int t = 0; t < b.q_len(i); ++t) ids[std::size_t(b.q_start(i) + t)] = t;
    }
    b.position_ids = std::move(ids);
  }
  return c;
}

std::vector<std::string> features(const CaseSpec& spec, const Case& c) {
  const Batch& b = c.batch;
  std::vector<std::string> f;
  const int n = b.num_seqs();
  f.push_back(n == 1 ? "docs=1" : n <= 4 ? "docs=2..4" : "docs>=5");
  bool zero = false, one = false, edge = false, cross = false, pad_between = false;
  for (int i = 0; i < n; ++i) {
    for (int len : {b.q_len(i), b.kv_len(i)}) {
      zero = zero || len == 0;
      one = one || len == 1;
      for (int t : k_tiles) edge = edge || len == t - 1 || len == t || len == t + 1;
    }
    cross = cross || b.q_len(i) != b.kv_len(i);
    if (i + 1 < n) pad_between = pad_between || b.q_start(i) + b.q_len(i) != b.q_start(i + 1) ||
                                 b.kv_start(i) + b.kv_len(i) != b.kv_start(i + 1);
  }
  if (zero) f.push_back("zero-length doc");
  if (one) f.push_back("length-1 doc");
  if (edge) f.push_back("tile-edge length");
  if (cross) f.push_back("Lq!=Lk");
  if (pad_between) f.push_back("padding between docs");
  if (b.q_start(n) < b.total_q || b.kv_start(n) < b.total_kv) f.push_back("tail padding");
  if (b.cu_seqlens_q_padded) f.push_back("cu_seqlens_padded");
  f.push_back(b.position_ids ? "position ids" : "no position ids");
  f.push_back("group=" + std::to_string(b.group_size()));
  if (b.num_heads_kv == 1) f.push_back("Hkv=1");
  const bool pow2 = (b.head_dim & (b.head_dim - 1)) == 0;
  f.push_back(pow2 ? "D pow2" : "D non-pow2");
  if (b.head_dim >= 128) f.push_back("D>=128");
  if (b.head_dim_v != b.head_dim) f.push_back("Dv!=D");
  f.push_back(std::string("mask ") + to_string(spec.shape.mask));
  f.push_back(std::string(to_string(b.dtype)));
  f.push_back(std::string("values ") + to_string(spec.shape.dist));
  if (!spec.shape.default_scale) f.push_back("custom scale");
  bool blind = false;  // some real query sees no key
  for (int i = 0; i < n && !blind; ++i) {
    for (int r = 0; r < b.q_len(i) && !blind; ++r) {
      bool sees = false;
      for (int j = 0; j < b.kv_len(i) && !sees; ++j) {
        sees = reference::visible(b.mask, r, j, b.q_len(i), b.kv_len(i));
      }
      blind = !sees;
    }
  }
  if (blind) f.push_back("row sees no key");
  bool long_doc = false;
  for (int i = 0; i < n; ++i) long_doc = long_doc || b.kv_len(i) > k_multi_tile_rows;
  if (long_doc) f.push_back(spec.shape.multi_tile ? "multi-tile rising scores" : "doc > 64 rows");
  return f;
}

}  // namespace attncheck::gen
