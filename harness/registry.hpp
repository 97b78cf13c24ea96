// The implementation registry (STYLE.md #3, PyTorch OpInfo / nccl-tests'
// table): each implementation is one declarative entry. Properties are written
// once and run over every entry that supports the generated case; unsupported
// cases are skipped with the reason.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "harness/batch.hpp"

namespace attncheck {

struct Capabilities {
  std::vector<DType> dtypes{DType::Float32, DType::BFloat16, DType::Float16};
  bool gqa = true;                 // Hq != Hkv
  bool lq_ne_lk = true;            // a sequence with Lq != Lk
  bool causal = true;
  bool windows = true;             // sliding windows
  bool chunked = true;             // chunked attention
  bool padding = true;             // cu_seqlens_padded / tail padding
  bool backward = true;            // dQ, dK, dV
  bool needs_position_ids = false; // reads position ids instead of cu_seqlens
  bool deterministic = true;       // bitwise reproducible run to run
  int max_head_dim = 256;          // max of D and Dv
  bool non_causal = true;          // masks without causal (none, two-sided windows, chunks)
  // Sequence parallelism: the number of ranks (0: single device), and the
  // single-device implementation it must agree with (P8).
  int cp = 0;
  std::string single_device;
  // Its kernels run on kernels/simt (so a random fiber schedule applies).
  bool simt = false;
  // Anything else the implementation refuses (head counts it cannot split, a
  // mask combination): the reason, or nullopt when it runs the batch.
  std::function<std::optional<std::string>(const Batch&)> refuses;
};

// Runs the implementation on `c`. The harness hands over output buffers that
// are already sized and filled with the output poison (harness/compare.hpp);
// the implementation must write every element, padding rows included.
// grads: also compute dq, dk, dv (buffers present only then).
using RunFn = std::function<void(const Case& c, bool grads, Results<float>& out)>;

struct Implementation {
  std::string name;
  std::string device;  // "cpu", "simt", "cuda", "threads", ...
  std::string description;
  Capabilities caps;
  RunFn run;
};

// Why `impl` cannot run `b` (nullopt when it can).
std::optional<std::string> skip_reason(const Implementation& impl, const Batch& b);

// Allocate poisoned outputs and run. Propagates the implementation's errors.
Results<float> run_implementation(const Implementation& impl, const Case& c, bool grads);

class Registry {
 public:
  void add(Implementation impl);  // throws Error(Usage) on a duplicate name
  const std::vector<Implementation>& all() const { return impls_; }
  // Throws Error(Usage) listing the known names when `name` is unknown.
  const Implementation& find(const std::string& name) const;

 private:
  std::vector<Implementation> impls_;
};

// The implementations built into this binary.
const Registry& builtin_registry();
// Implementations this binary knows but did not register, with the reason
// (e.g. "flash-cuda (device cuda): no CUDA device").
std::vector<std::string> unregistered();

std::string describe(const Capabilities& caps);

}  // namespace attncheck
