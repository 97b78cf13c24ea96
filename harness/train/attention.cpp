#include "harness/train/attention.hpp"

#include <algorithm>

#include "reference/attention.hpp"

namespace attncheck::train {

namespace {

std::vector<float> to_float(const std::vector<double>& x) {
  std::vector<float> out(x.size());
  std::transform(x.begin(), x.end(), out.begin(), [](double v) { return float(v); });
  return out;
}

std::vector<double> to_double(const std::vector<float>& x) {
  return std::vector<double>(x.begin(), x.end());
}

Case make_case(const Batch& b, const Qkv& x) {
  Case c;
  c.batch = b;
  c.inputs.q = to_float(x.q);
  c.inputs.k = to_float(x.k);
  c.inputs.v = to_float(x.v);
  return c;
}

void run_reference_f64(const Case& c, bool grads, Results<float>& out) {
  const Results<double> r = reference::attention<double>(c.batch, c.inputs, grads);
  auto put = [](const std::vector<double>& from, std::vector<float>& to) {
    std::transform(from.begin(), from.end(), to.begin(), [](double v) { return float(v); });
  };
  put(r.out, out.out);
  put(r.lse, out.lse);
  if (grads) {
    put(r.dq, out.dq);
    put(r.dk, out.dk);
    put(r.dv, out.dv);
  }
}

}  // namespace

AttentionOp implementation_attention(const Implementation& impl) {
  AttentionOp op;
  op.name = impl.name;
  op.forward = [&impl](const Batch& b, const Qkv& x) {
    const Case c = make_case(b, x);
    return to_double(run_implementation(impl, c, /*grads=*/false).out);
  };
  op.backward = [&impl](const Batch& b, const Qkv& x, const std::vector<double>& dout) {
    Case c = make_case(b, x);
    c.inputs.dout = to_float(dout);
    const Results<float> r = run_implementation(impl, c, /*grads=*/true);
    return Qkv{to_double(r.dq), to_double(r.dk), to_double(r.dv)};
  };
  return op;
}

const Implementation& reference_implementation() {
  static const Implementation impl{
      .name = "reference",
      .device = "cpu",
      .description = "reference::attention<double> (the float64 oracle), outputs rounded to float32",
      .caps = Capabilities{},
      .run = run_reference_f64,
      .stats = {}};
  return impl;
}

}  // namespace attncheck::train
