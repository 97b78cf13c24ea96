// `attncheck validate`: check a packed-batch description given on the command
// line (any of the four packing descriptions) and print the cu_seqlens it
// describes, or the typed error naming the offending field and index.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>

#include "harness/cli/verbs.hpp"
#include "harness/error.hpp"
#include "harness/packing.hpp"

namespace attncheck::cli {

namespace {

struct ValidateOpts {
  std::vector<std::int32_t> cu_q, cu_kv, cu_q_padded, cu_kv_padded, ids, mask, mask_shape, tokens;
  int total_q = -1, total_kv = -1;
  int heads_q = 1, heads_kv = 1, head_dim = 64, head_dim_v = -1;
  bool causal = false;
  std::vector<int> window;
  int chunk = 0;
  double scale = 0.0;
  std::string dtype = "float32";
  std::int32_t eos_id = -1;
};

Batch build(const ValidateOpts& o, CLI::App& app) {
  Batch b;
  b.num_heads_q = o.heads_q;
  b.num_heads_kv = o.heads_kv;
  b.head_dim = o.head_dim;
  b.head_dim_v = o.head_dim_v < 0 ? o.head_dim : o.head_dim_v;
  b.mask.causal = o.causal;
  if (!o.window.empty()) {
    if (o.window.size() != 2) {
      throw Error(ErrorKind::Usage, "--window", -1, "takes two values: LEFT,RIGHT (-1 = unbounded)");
    }
    b.mask.window_left = o.window[0];
    b.mask.window_right = o.window[1];
  }
  b.mask.chunk_size = o.chunk;
  b.softmax_scale = o.scale > 0 || app.count("--scale") ? o.scale : b.default_scale();
  b.dtype = parse_dtype(o.dtype);

  const int described = int(!o.cu_q.empty()) + int(!o.mask.empty()) + int(!o.tokens.empty()) +
                        int(o.cu_q.empty() && !o.ids.empty());
  if (described != 1) {
    throw Error(ErrorKind::Usage, "", -1,
                "describe the packing exactly one way: --cu-seqlens-q (optionally with "
                "--position-ids to check), --position-ids alone, --attention-mask with "
                "--mask-shape, or --tokens with --eos-id");
  }
  if (!o.cu_q.empty()) {
    b.cu_seqlens_q = o.cu_q;
    b.cu_seqlens_kv = o.cu_kv.empty() ? o.cu_q : o.cu_kv;
    if (!o.cu_q_padded.empty()) b.cu_seqlens_q_padded = o.cu_q_padded;
    if (!o.cu_kv_padded.empty()) {
      b.cu_seqlens_kv_padded = o.cu_kv_padded;
    } else if (o.cu_kv.empty() && !o.cu_q_padded.empty()) {
      b.cu_seqlens_kv_padded = o.cu_q_padded;
    }
    auto last = [](const std::vector<std::int32_t>& v) { return v.empty() ? 0 : v.back(); };
    b.total_q = o.total_q >= 0 ? o.total_q : last(o.cu_q_padded.empty() ? o.cu_q : o.cu_q_padded);
    b.total_kv = o.total_kv >= 0 ? o.total_kv
                                 : (o.cu_kv.empty() && o.cu_kv_padded.empty() ? b.total_q
                                    : last(o.cu_kv_padded.empty() ? o.cu_kv : o.cu_kv_padded));
    if (!o.ids.empty()) b.position_ids = o.ids;
    b.validate();
    if (b.position_ids) b.check_position_ids();
    return b;
  }
  Segmentation seg;
  if (!o.mask.empty()) {
    if (o.mask_shape.size() != 2) {
      throw Error(ErrorKind::Usage, "--mask-shape", -1, "is required with --attention-mask: B,S");
    }
    seg = segment_from_padded_mask(o.mask, o.mask_shape[0], o.mask_shape[1]);
  } else if (!o.tokens.empty()) {
    if (!app.count("--eos-id")) {
      throw Error(ErrorKind::Usage, "--eos-id", -1, "is required with --tokens");
    }
    seg = segment_from_eos(o.tokens, o.eos_id);
  } else {
    seg = segment_from_position_ids(o.ids);
    b.position_ids = o.ids;
  }
  apply_segmentation(b, seg, seg);
  b.validate();
  return b;
}

}  // namespace

Action add_validate(CLI::App& app) {
  auto o = std::make_shared<ValidateOpts>();
  app.add_option("--cu-seqlens-q", o->cu_q, "(a) actual lengths as prefix sums")->delimiter(',');
  app.add_option("--cu-seqlens-kv", o->cu_kv, "kv prefix sums (default: as q)")->delimiter(',');
  app.add_option("--cu-seqlens-q-padded", o->cu_q_padded, "q memory offsets")->delimiter(',');
  app.add_option("--cu-seqlens-kv-padded", o->cu_kv_padded, "kv memory offsets")->delimiter(',');
  app.add_option("--total-q", o->total_q, "rows of the q buffer (default: last offset)");
  app.add_option("--total-kv", o->total_kv, "rows of the kv buffer (default: last offset)");
  app.add_option("--position-ids", o->ids,
                 "(b) position ids resetting at each document; with --cu-seqlens-q: checked "
                 "against it")
      ->delimiter(',');
  app.add_option("--attention-mask", o->mask, "(c) padded [B, S] layout: 1 real, 0 padding")
      ->delimiter(',');
  app.add_option("--mask-shape", o->mask_shape, "B,S of --attention-mask")->delimiter(',');
  app.add_option("--tokens", o->tokens, "(d) token ids, --eos-id ending each document")
      ->delimiter(',');
  app.add_option("--eos-id", o->eos_id, "end-of-sequence token id");
  app.add_option("--heads-q", o->heads_q, "Hq");
  app.add_option("--heads-kv", o->heads_kv, "Hkv");
  app.add_option("--head-dim", o->head_dim, "D");
  app.add_option("--head-dim-v", o->head_dim_v, "Dv (default D)");
  app.add_flag("--causal", o->causal, "bottom-right causal mask");
  app.add_option("--window", o->window, "sliding window LEFT,RIGHT (-1 = unbounded)")
      ->delimiter(',');
  app.add_option("--chunk", o->chunk, "chunk size (0 = none)");
  app.add_option("--scale", o->scale, "softmax scale (default 1/sqrt(D))");
  app.add_option("--dtype", o->dtype, "float32, bfloat16 or float16");
  return [o, &app] {
    const Batch b = build(*o, app);
    std::cout << "valid: " << b.describe() << "\n";
    std::cout << fmt::format("cu_seqlens_q {}\ncu_seqlens_kv {}\n", b.cu_seqlens_q, b.cu_seqlens_kv);
    if (b.cu_seqlens_q_padded) {
      std::cout << fmt::format("cu_seqlens_q_padded {}\n", *b.cu_seqlens_q_padded);
    }
    if (b.cu_seqlens_kv_padded) {
      std::cout << fmt::format("cu_seqlens_kv_padded {}\n", *b.cu_seqlens_kv_padded);
    }
    return k_exit_ok;
  };
}

}  // namespace attncheck::cli
