// The implementation registry (STYLE.md #3, PyTorch OpInfo / nccl-tests'
// table): each implementation is one declarative entry. Properties are written
// once and run over every entry that supports the generated case; unsupported
// cases are skipped with the reason.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/batch.hpp"

namespace attncheck {

// The packing description an implementation is handed (DESIGN.md "Packing
// descriptions"). Native implementations take THD + cu_seqlens; the Python
// bridge (python/) converts each case to the description its implementation
// declares.
enum class Packing {
  Thd,          // [T, H, D] buffers + cu_seqlens (+ padded offsets, seqused)
  Bshd,         // [B, S, H, D] padded per sequence + boolean masks of real positions
  PositionIds,  // one packed row [T, H, D] described by position ids only
  Eos,          // one packed row described by token ids in which an EOS id ends each document
};
const char* to_string(Packing p);
// Throws Error(Usage) naming the accepted spellings (thd, bshd, position_ids, eos).
Packing parse_packing(const std::string& name);

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
  // Bit-identical results for a document wherever it sits in the batch and
  // whatever the other documents hold, and GQA bit-identical to MHA with
  // repeated kv heads (false: P4, P5, P13, P14 compare within the bound).
  bool batch_invariant = true;
  int max_head_dim = 256;          // max of D and Dv
  bool dv_ne_d = true;             // value head dim Dv != D
  bool lse = true;                 // returns the log-sum-exp (false: LSE is not judged)
  Packing packing = Packing::Thd;  // the description it is handed; position_ids and eos
                                   // imply self-attention without padding
  bool non_causal = true;          // masks without causal (none, two-sided windows, chunks)
  bool windows_need_causal = false;  // windows and chunks only together with a causal mask
  // > 0: heads are split over this many ranks (Ulysses): Hq must be divisible
  // by it and Hkv must divide it or be divisible by it.
  int heads_split = 0;
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

// Where an implementation's time goes, for implementations behind a bridge
// (python/): run_s is the whole run call, inner_s the part spent inside the
// implementation's own code; the difference is the bridge (marshalling,
// calls). Read by `attncheck bench`.
struct CallStats {
  long calls = 0;
  double run_s = 0.0;
  double inner_s = 0.0;
};

struct Implementation {
  std::string name;
  std::string device;  // "cpu", "simt", "cuda", "threads", ...
  std::string description;
  Capabilities caps;
  RunFn run;
  std::shared_ptr<CallStats> stats;  // null for native implementations
  // May run in a forked worker process (the campaign's parallel rows): false
  // for implementations holding state a fork does not carry (a Python
  // interpreter, a CUDA context).
  bool fork_safe = true;
  // The share of --cases this implementation's rows run in a campaign that
  // names no implementation (the default campaign, with its time budget):
  // 1 all of them, 0 none (run it with --impl). Naming it with --impl runs
  // every case.
  double default_share = 1.0;
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

// The implementations built into this binary, and those registered at run
// time (the Python bridge's) after them.
const Registry& builtin_registry();
// Adds an implementation to builtin_registry() (throws Error(Usage) on a
// duplicate name). Not thread-safe: register before a campaign starts.
void register_implementation(Implementation impl);
// Implementations this binary knows but did not register, with the reason
// (e.g. "flash-cuda (device cuda): no CUDA device").
std::vector<std::string> unregistered();

std::string describe(const Capabilities& caps);

}  // namespace attncheck
