#include "harness/verify.hpp"

#include <algorithm>

#include "reference/attention.hpp"
#include "reference/baseline.hpp"

namespace attncheck {

const char* Verdict::status_name() const {
  switch (status) {
    case Status::Pass: return "pass";
    case Status::Fail: return "fail";
    case Status::Error: return "error";
  }
  return "error";
}

VerifyContext make_verify_context(const Case& c, bool grads) {
  VerifyContext ctx;
  ctx.grads = grads;
  auto o = reference::oracle(c.batch, c.inputs, grads);
  ctx.oracle = std::move(o.value);
  ctx.magnitude = std::move(o.magnitude);
  ctx.baseline = reference::baseline(c.batch, c.inputs, grads);
  return ctx;
}

Verdict verify(const Case& c, const VerifyContext& ctx, const Results<double>& expected,
               const Results<float>& got, Slack slack) {
  Verdict v;
  v.tensors = compare_forward(c.batch, got, expected, ctx.magnitude, ctx.baseline, &ctx.oracle, slack);
  v.grads_checked = ctx.grads && expected.has_grads() && got.has_grads();
  if (v.grads_checked) {
    auto bwd = compare_backward(c.batch, got, expected, ctx.magnitude, ctx.baseline, &ctx.oracle, slack);
    v.tensors.insert(v.tensors.end(), bwd.begin(), bwd.end());
  }
  for (const auto& t : v.tensors) {
    v.worst_ratio = std::max(v.worst_ratio, t.ratio);
    if (!t.pass && v.status == Verdict::Status::Pass) {
      v.status = Verdict::Status::Fail;
      v.message = t.message;
    }
  }
  Results<float> fwd_only;
  const Results<float>* padded = &got;
  if (!v.grads_checked && got.has_grads()) {
    fwd_only.out = got.out;
    fwd_only.lse = got.lse;
    padded = &fwd_only;
  }
  v.padding = check_padding_zero(c.batch, *padded);
  if (!v.padding.pass && v.status == Verdict::Status::Pass) {
    v.status = Verdict::Status::Fail;
    v.message = "padding rows: " + v.padding.message;
  }
  return v;
}

}  // namespace attncheck
