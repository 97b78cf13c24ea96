#include "kernels/dist/local.hpp"

#include "harness/impl_flash.hpp"
#include "reference/attention.hpp"
#include "reference/partial.hpp"

namespace attncheck::dist {

namespace {
std::vector<float> to_float(const std::vector<double>& x) { return {x.begin(), x.end()}; }
}  // namespace

LocalAttention reference_local() {
  LocalAttention l;
  l.name = "ref";
  l.rounds_to_dtype = false;
  l.forward = [](const Batch& b, const Inputs& in, std::vector<float>& out, std::vector<float>& lse) {
    const auto r = reference::attention<double>(b, in, false);
    out = to_float(r.out);
    lse = to_float(r.lse);
  };
  l.backward = [](const Batch& b, const Inputs& in, const std::vector<float>& out,
                  const std::vector<float>& lse, std::vector<float>& dq, std::vector<float>& dk,
                  std::vector<float>& dv) {
    const auto r = reference::backward_given(b, in, out, lse);
    dq = to_float(r.dq);
    dk = to_float(r.dk);
    dv = to_float(r.dv);
  };
  return l;
}

namespace {
LocalAttention flash_local(const char* name, FlashKernels kernels) {
  // Every rank launches on its own thread; simt runs concurrent launches
  // (each on its launching thread, or one at a time on the worker pool).
  LocalAttention l;
  l.name = name;
  l.rounds_to_dtype = true;
  l.forward = [kernels](const Batch& b, const Inputs& in, std::vector<float>& out,
                        std::vector<float>& lse) {
    simt_backend::flash_forward(b, in, out, lse, kernels);
  };
  l.backward = [kernels](const Batch& b, const Inputs& in, const std::vector<float>& out,
                         const std::vector<float>& lse, std::vector<float>& dq,
                         std::vector<float>& dk, std::vector<float>& dv) {
    simt_backend::flash_backward_given(b, in, out, lse, dq, dk, dv, kernels);
  };
  return l;
}
}  // namespace

LocalAttention flash_simt_local() { return flash_local("flash", FlashKernels::Simple); }

LocalAttention flash_tc_simt_local() { return flash_local("flash-tc", FlashKernels::TensorCore); }

}  // namespace attncheck::dist
