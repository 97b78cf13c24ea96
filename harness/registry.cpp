#include "harness/registry.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "harness/compare.hpp"
#include "harness/error.hpp"
#include "harness/impl_flash.hpp"
#include "kernels/dist/dist.hpp"
#include "kernels/flash/flash.hpp"
#include "reference/attention.hpp"

namespace attncheck {

std::optional<std::string> skip_reason(const Implementation& impl, const Batch& b) {
  const Capabilities& c = impl.caps;
  if (std::find(c.dtypes.begin(), c.dtypes.end(), b.dtype) == c.dtypes.end()) {
    return fmt::format("dtype {} not supported", to_string(b.dtype));
  }
  if (!c.gqa && b.num_heads_q != b.num_heads_kv) return std::string("no GQA/MQA (Hq != Hkv)");
  if (!c.causal && b.mask.causal) return std::string("no causal mask");
  if (!c.windows && b.mask.has_window()) return std::string("no sliding windows");
  if (!c.chunked && b.mask.chunk_size > 0) return std::string("no chunked attention");
  if (!c.padding && b.has_padding()) return std::string("no padding between or after sequences");
  if (std::max(b.head_dim, b.head_dim_v) > c.max_head_dim) {
    return fmt::format("head dim {} > max {}", std::max(b.head_dim, b.head_dim_v), c.max_head_dim);
  }
  if (!c.dv_ne_d && b.head_dim_v != b.head_dim) return std::string("no Dv != D");
  if (!c.lq_ne_lk) {
    for (int i = 0; i < b.num_seqs(); ++i) {
      if (b.q_len(i) != b.kv_len(i)) return std::string("no Lq != Lk");
    }
  }
  if (!c.non_causal && !b.mask.causal) return std::string("causal masks only");
  // P9 checks the error such an implementation gives without ids.
  if (c.needs_position_ids && !b.position_ids) return std::string("needs position ids");
  if (c.packing == Packing::PositionIds || c.packing == Packing::Eos) {
    const char* what = c.packing == Packing::Eos ? "EOS ids" : "position ids alone";
    if (b.has_padding()) return fmt::format("{} cannot describe padding rows", what);
    if (b.cu_seqlens_q != b.cu_seqlens_kv || b.total_q != b.total_kv) {
      return fmt::format("{} describe self-attention only (q and kv laid out alike)", what);
    }
  }
  if (c.refuses) return c.refuses(b);
  return std::nullopt;
}

const char* to_string(Packing p) {
  switch (p) {
    case Packing::Thd: return "thd";
    case Packing::Bshd: return "bshd";
    case Packing::PositionIds: return "position_ids";
    case Packing::Eos: return "eos";
  }
  return "?";
}

Packing parse_packing(const std::string& name) {
  for (Packing p : {Packing::Thd, Packing::Bshd, Packing::PositionIds, Packing::Eos}) {
    if (name == to_string(p)) return p;
  }
  throw Error(ErrorKind::Usage, "packing", -1,
              fmt::format("unknown packing '{}'; use thd, bshd, position_ids or eos", name));
}

Results<float> run_implementation(const Implementation& impl, const Case& c, bool grads) {
  const Batch& b = c.batch;
  Results<float> r;
  const float poison = output_poison();
  r.out.assign(b.o_elems(), poison);
  r.lse.assign(b.lse_elems(), poison);
  if (grads) {
    r.dq.assign(b.q_elems(), poison);
    r.dk.assign(b.k_elems(), poison);
    r.dv.assign(b.v_elems(), poison);
  }
  impl.run(c, grads, r);
  if (!impl.caps.lse) r.lse.clear();  // declared: no LSE, none judged
  return r;
}

void Registry::add(Implementation impl) {
  for (const auto& i : impls_) {
    if (i.name == impl.name) {
      throw Error(ErrorKind::Usage, "implementation", -1,
                  fmt::format("'{}' is registered twice", impl.name));
    }
  }
  impls_.push_back(std::move(impl));
}

const Implementation& Registry::find(const std::string& name) const {
  for (const auto& i : impls_) {
    if (i.name == name) return i;
  }
  std::string known;
  for (const auto& i : impls_) known += (known.empty() ? "" : ", ") + i.name;
  throw Error(ErrorKind::Usage, "--impl", -1,
              fmt::format("unknown implementation '{}'; known: {} (see `attncheck list`)", name,
                          known));
}

std::string describe(const Capabilities& c) {
  std::string dts;
  for (DType d : c.dtypes) dts += (dts.empty() ? "" : ",") + std::string(to_string(d));
  std::string s = dts;
  auto flag = [&](bool on, const char* name) {
    if (on) s += std::string(" ") + name;
  };
  flag(c.gqa, "gqa");
  flag(c.lq_ne_lk, "lq!=lk");
  flag(!c.dv_ne_d, "dv=d");
  flag(c.causal, "causal");
  flag(c.windows, "window");
  flag(c.chunked, "chunk");
  flag(c.padding, "padding");
  flag(c.backward, "bwd");
  flag(c.non_causal, "non-causal");
  flag(c.needs_position_ids, "needs-ids");
  flag(c.windows_need_causal, "windows-need-causal");
  if (c.heads_split > 0) s += fmt::format(" heads-split={}", c.heads_split);
  flag(c.deterministic, "deterministic");
  flag(!c.batch_invariant, "not-batch-invariant");
  flag(!c.lse, "no-lse");
  s += fmt::format(" d<={}", c.max_head_dim);
  if (c.packing != Packing::Thd) s += fmt::format(" packing={}", to_string(c.packing));
  return s;
}

namespace {

// The reference's float32 instantiation: the same Eigen algorithm as the
// float64 oracle, computed in float32 (not the naive baseline).
void run_reference_f32(const Case& c, bool grads, Results<float>& out) {
  Results<float> r = reference::attention<float>(c.batch, c.inputs, grads);
  std::copy(r.out.begin(), r.out.end(), out.out.begin());
  std::copy(r.lse.begin(), r.lse.end(), out.lse.begin());
  if (grads) {
    std::copy(r.dq.begin(), r.dq.end(), out.dq.begin());
    std::copy(r.dk.begin(), r.dk.end(), out.dk.begin());
    std::copy(r.dv.begin(), r.dv.end(), out.dv.begin());
  }
}

Registry make_builtin() {
  Registry reg;
  reg.add({.name = "reference-f32",
           .device = "cpu",
           .description = "the reference's Eigen algorithm in float32 (fwd+bwd)",
           .caps = Capabilities{},
           .run = run_reference_f32,
           .stats = {}});
  Capabilities flash_caps;
  flash_caps.max_head_dim = flash::k_max_head_dim;
  Capabilities flash_simt_caps = flash_caps;
  flash_simt_caps.simt = true;
  reg.add({.name = "flash",
           .device = "simt",
           .description = "kernels/flash (FlashAttention-2, fwd+bwd) run on the CPU by kernels/simt",
           .caps = flash_simt_caps,
           .run = [](const Case& c, bool grads, Results<float>& out) {
             simt_backend::run_flash(c, grads, out);
           },
           .stats = {}});
  Capabilities tc_caps = flash_simt_caps;
  tc_caps.dtypes = {DType::BFloat16, DType::Float16};
  tc_caps.refuses = [](const Batch& b) { return flash_tc_refusal(b); };
  reg.add({.name = "flash-tc",
           .device = "simt",
           .description = "kernels/flash tensor-core kernels (FlashAttention-2 structure: mma.sync "
                          "m16n8k16, ldmatrix, cp.async; bf16/fp16, fwd+bwd) on kernels/simt",
           .caps = tc_caps,
           .run = [](const Case& c, bool grads, Results<float>& out) {
             simt_backend::run_flash(c, grads, out, FlashKernels::TensorCore);
           },
           .stats = {},
           // Half the default campaign's cases (simt's cost per case, above).
           .default_share = 0.5});
  // Sequence-parallel variants on the threads backend, each over the local
  // attentions, so a failure says whether the distribution or the kernel is wrong.
  enum class Local { Reference, Flash, FlashTc };
  for (dist::Variant v : {dist::Variant::Ring, dist::Variant::Ulysses, dist::Variant::AllGather}) {
    for (int cp : {2, 4, 8}) {
      for (Local which : {Local::Reference, Local::Flash, Local::FlashTc}) {
        // flash-tc inside every variant at cp 2 and 4 (cp 8 adds rank count,
        // not kernel coverage). On simt each tensor-core instruction is a warp
        // collective (32 fiber switches), so these rows cost 5-10x the flash
        // ones (`attncheck bench`): the default campaign runs the cp 2 rows
        // on a tenth of its cases, and cp 4 with --impl only.
        if (which == Local::FlashTc && cp == 8) continue;
        const double share = which != Local::FlashTc ? 1.0 : (cp == 2 ? 0.1 : 0.0);
        const bool on_simt = which != Local::Reference;
        const dist::Support sup = dist::support(v);
        Capabilities caps;
        caps.lq_ne_lk = false;
        caps.windows = sup.windows;
        caps.chunked = sup.chunked;
        caps.non_causal = sup.non_causal;
        caps.needs_position_ids = sup.needs_position_ids;
        caps.windows_need_causal = sup.windows_need_causal;
        caps.heads_split = sup.splits_heads ? cp : 0;
        if (on_simt) caps.max_head_dim = flash::k_max_head_dim;
        if (which == Local::FlashTc) caps.dtypes = {DType::BFloat16, DType::Float16};
        caps.simt = on_simt;
        caps.refuses = [v, cp, which](const Batch& b) -> std::optional<std::string> {
          if (which == Local::FlashTc) {
            if (auto why = flash_tc_refusal(b)) return why;
          }
          return dist::refusal(v, cp, b);
        };
        caps.cp = cp;
        caps.single_device = which == Local::Reference ? "reference-f32"
                             : which == Local::Flash   ? "flash"
                                                       : "flash-tc";
        const auto local = which == Local::Reference ? dist::reference_local()
                           : which == Local::Flash   ? dist::flash_simt_local()
                                                     : dist::flash_tc_simt_local();
        const char* local_words = which == Local::Reference ? "float64 reference"
                                  : which == Local::Flash   ? "flash (simt)"
                                                            : "flash-tc (simt)";
        reg.add({.name = fmt::format("{}-cp{}-{}", dist::to_string(v), cp, local.name),
                 .device = "threads",
                 .description = fmt::format("{} sequence parallelism, cp={} ranks (threads), local "
                                            "attention: {}",
                                            dist::to_string(v), cp, local_words),
                 .caps = caps,
                 .run = [v, cp, local](const Case& c, bool grads, Results<float>& out) {
                   dist::run_variant(v, cp, local, c, grads, out);
                 },
                 .stats = {},
                 .default_share = share});
      }
    }
  }
#if defined(ATTNCHECK_WITH_CUDA)
  // On a machine with a usable GPU the same kernels run natively too.
  if (cuda_backend::device_unavailable().empty()) {
    reg.add({.name = "flash-cuda",
             .device = "cuda",
             .description = "kernels/flash (FlashAttention-2, fwd+bwd) on the GPU",
             .caps = flash_caps,
             .run = [](const Case& c, bool grads, Results<float>& out) {
               cuda_backend::run_flash(c, grads, out);
             },
             .stats = {},
             .fork_safe = false});
    Capabilities tc_cuda_caps = flash_caps;
    tc_cuda_caps.dtypes = {DType::BFloat16, DType::Float16};
    tc_cuda_caps.refuses = [](const Batch& b) { return flash_tc_refusal(b); };
    reg.add({.name = "flash-tc-cuda",
             .device = "cuda",
             .description = "kernels/flash tensor-core kernels (mma.sync, ldmatrix, cp.async) on "
                            "the GPU",
             .caps = tc_cuda_caps,
             .run = [](const Case& c, bool grads, Results<float>& out) {
               cuda_backend::run_flash(c, grads, out, FlashKernels::TensorCore);
             },
             .stats = {},
             .fork_safe = false});
  }
#endif
  return reg;
}

}  // namespace

std::vector<std::string> unregistered() {
  std::vector<std::string> out;
#if defined(ATTNCHECK_WITH_CUDA)
  if (const auto why = cuda_backend::device_unavailable(); !why.empty()) {
    out.push_back("flash-cuda (device cuda): " + why);
    out.push_back("flash-tc-cuda (device cuda): " + why);
  }
#else
  for (const char* n : {"flash-cuda", "flash-tc-cuda"}) {
    out.push_back(fmt::format("{} (device cuda): this build has no CUDA (nvcc not found or "
                              "ATTNCHECK_ENABLE_CUDA=OFF)",
                              n));
  }
#endif
  return out;
}

namespace {
Registry& mutable_registry() {
  static Registry reg = make_builtin();
  return reg;
}
}  // namespace

const Registry& builtin_registry() { return mutable_registry(); }

void register_implementation(Implementation impl) { mutable_registry().add(std::move(impl)); }

}  // namespace attncheck
