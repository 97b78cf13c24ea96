// attncheck._core: the C++ core as a Python extension module (pybind11).
//
// A Python attention function registered here becomes an Implementation of
// the native registry (harness/registry.hpp): the campaign, every property,
// shrinking, counterexample files, results files and reports treat it like
// the built-in ones. Per call the bridge hands the function one batch in the
// packing description it declared, as numpy arrays in the storage dtype:
// float32 THD tensors are read-only views of the harness's own buffers (no
// copy); float16/bfloat16 tensors are converted once in C++; other layouts
// (padded BSHD, position ids, EOS ids) are built in C++. The outputs come back
// through attncheck/_bridge.py, which checks their fields, shapes and dtypes.
// The GIL is taken only around the Python parts; the campaign runs without it.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/cli/verbs.hpp"
#include "harness/error.hpp"
#include "harness/registry.hpp"
#include "properties/generators.hpp"

namespace py = pybind11;

namespace attncheck::pybridge {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Python objects of one registered implementation. Never freed on purpose:
// the registry lives until the process exits, after the interpreter has been
// finalized, when releasing a Python reference would touch a dead interpreter.
struct PyImpl {
  std::string name;
  py::object impl;    // an attncheck.Implementation
  py::object bridge;  // the attncheck._bridge module
  Capabilities caps;
  std::shared_ptr<CallStats> stats;
};

void make_read_only(py::array& a) {
  py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
}

// The base object of views into buffers the caller keeps alive for the call.
py::capsule borrowed_base() {
  static int anchor = 0;
  return py::capsule(&anchor, [](void*) {});
}

template <typename T>
py::array view(const T* data, std::vector<py::ssize_t> shape, py::handle base, py::dtype dt) {
  py::array a(dt, std::move(shape), std::vector<py::ssize_t>{}, data, base);
  make_read_only(a);
  return a;
}

template <typename T>
py::array owned(std::vector<T>&& v, std::vector<py::ssize_t> shape, py::dtype dt) {
  auto* heap = new std::vector<T>(std::move(v));
  py::capsule base(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return view(heap->data(), std::move(shape), base, dt);
}

// numpy's dtype for a storage dtype: float32, float16, and for bfloat16
// ml_dtypes.bfloat16 when ml_dtypes can be imported, else uint16 (the bits).
py::dtype storage_dtype(DType d, py::handle bridge) {
  switch (d) {
    case DType::Float32: return py::dtype::of<float>();
    case DType::Float16: return py::dtype("float16");
    case DType::BFloat16: return py::reinterpret_borrow<py::dtype>(bridge.attr("BFLOAT16"));
  }
  throw std::logic_error("dtype");
}

// A float32 tensor in the storage dtype: a view of `src` for float32, else
// converted (exactly: case values are representable in their dtype; NaN and
// Inf of poisoned padding rows stay NaN and Inf).
py::array tensor(const float* src, std::size_t n, std::vector<py::ssize_t> shape, DType d,
                 py::handle base, py::handle bridge) {
  if (d == DType::Float32) return view(src, std::move(shape), base, py::dtype::of<float>());
  std::vector<std::uint16_t> bits(n);
  for (std::size_t i = 0; i < n; ++i) {
    bits[i] = d == DType::BFloat16 ? Eigen::numext::bit_cast<std::uint16_t>(Eigen::bfloat16(src[i]))
                                   : Eigen::numext::bit_cast<std::uint16_t>(Eigen::half(src[i]));
  }
  return owned(std::move(bits), std::move(shape), storage_dtype(d, bridge));
}

py::array int_view(const std::vector<std::int32_t>& v, py::handle base) {
  return view(v.data(), {py::ssize_t(v.size())}, base, py::dtype::of<std::int32_t>());
}

py::array int_owned(std::vector<std::int32_t> v) {
  const auto n = py::ssize_t(v.size());
  return owned(std::move(v), {n}, py::dtype::of<std::int32_t>());
}

// Padded [B, S, H, W] copy of a [T, H, W] buffer: sequence b's real rows at
// positions [0, len_b); positions past len_b hold the buffer's own padding
// rows of b's slot where the slot has them (so poisoned padding stays
// poisoned) and zeros past the slot.
std::vector<float> to_bshd(const std::vector<float>& src, const Batch& b, bool q_side, int s_max,
                           int width) {
  const int n = b.num_seqs();
  const int total = q_side ? b.total_q : b.total_kv;
  std::vector<float> out(std::size_t(n) * s_max * width, 0.0f);
  for (int i = 0; i < n; ++i) {
    const int start = q_side ? b.q_start(i) : b.kv_start(i);
    const int next = i + 1 < n ? (q_side ? b.q_start(i + 1) : b.kv_start(i + 1)) : total;
    const int rows = std::min(s_max, std::max(0, next - start));
    std::copy_n(src.begin() + std::ptrdiff_t(std::size_t(start) * width), std::size_t(rows) * width,
                out.begin() + std::ptrdiff_t(std::size_t(i) * s_max * width));
  }
  return out;
}

std::vector<std::int32_t> lengths(const std::vector<std::int32_t>& cu) {
  std::vector<std::int32_t> l;
  for (std::size_t i = 0; i + 1 < cu.size(); ++i) l.push_back(cu[i + 1] - cu[i]);
  return l;
}

int max_of(const std::vector<std::int32_t>& v) {
  return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}

// BSHD sequence axis: at least one position so that no dimension is empty.
int bshd_len(const std::vector<std::int32_t>& lens) { return std::max(1, max_of(lens)); }

// The fields of the batch object for `c` in `packing`. tensors=false: only
// the description (for Capabilities.refuses). `base` keeps borrowed views
// alive (borrowed_base() during a call, an owning capsule for generate()).
py::dict fields(const Case& c, Packing packing, bool tensors, py::handle base, py::handle bridge) {
  const Batch& b = c.batch;
  py::dict f;
  const auto lq = lengths(b.cu_seqlens_q), lk = lengths(b.cu_seqlens_kv);
  f["packing"] = to_string(packing);
  f["dtype"] = std::string(to_string(b.dtype));
  f["num_seqs"] = b.num_seqs();
  f["num_heads_q"] = b.num_heads_q;
  f["num_heads_kv"] = b.num_heads_kv;
  f["head_dim"] = b.head_dim;
  f["head_dim_v"] = b.head_dim_v;
  f["causal"] = b.mask.causal;
  f["window_left"] = b.mask.window_left;
  f["window_right"] = b.mask.effective_right();
  f["chunk_size"] = b.mask.chunk_size;
  f["softmax_scale"] = b.softmax_scale;
  f["total_q"] = b.total_q;
  f["total_kv"] = b.total_kv;
  f["max_seqlen_q"] = max_of(lq);
  f["max_seqlen_kv"] = max_of(lk);
  f["seqlens_q"] = int_owned(lq);
  f["seqlens_kv"] = int_owned(lk);
  f["has_padding"] = b.has_padding();
  f["seed"] = c.seed;
  const Inputs& in = c.inputs;
  const py::ssize_t hq = b.num_heads_q, hkv = b.num_heads_kv, d = b.head_dim, dv = b.head_dim_v;
  switch (packing) {
    case Packing::Thd:
      f["cu_seqlens_q"] = int_view(b.cu_seqlens_q, base);
      f["cu_seqlens_kv"] = int_view(b.cu_seqlens_kv, base);
      f["cu_seqlens_q_padded"] =
          b.cu_seqlens_q_padded ? py::object(int_view(*b.cu_seqlens_q_padded, base)) : py::none();
      f["cu_seqlens_kv_padded"] =
          b.cu_seqlens_kv_padded ? py::object(int_view(*b.cu_seqlens_kv_padded, base)) : py::none();
      f["seqused_q"] = f["seqlens_q"];
      f["seqused_kv"] = f["seqlens_kv"];
      f["position_ids"] = b.position_ids ? py::object(int_view(*b.position_ids, base)) : py::none();
      break;
    case Packing::PositionIds: {
      // The case's own ids where it has them, else the ids its cu_seqlens
      // describe (the same batch either way: there is no padding here).
      std::vector<std::int32_t> ids;
      if (b.position_ids) {
        ids = *b.position_ids;
      } else {
        for (int i = 0; i < b.num_seqs(); ++i) {
          for (int r = 0; r < b.q_len(i); ++r) ids.push_back(r);
        }
      }
      f["position_ids"] = int_owned(std::move(ids));
      break;
    }
    case Packing::Eos: {
      // Token ids: the last token of every document is eos_id (0), the others
      // 1 + row % 997. Zero-length documents have no token and no output.
      std::vector<std::int32_t> tokens(std::size_t(b.total_q));
      for (int r = 0; r < b.total_q; ++r) tokens[std::size_t(r)] = 1 + r % 997;
      for (int i = 0; i < b.num_seqs(); ++i) {
        if (b.q_len(i) > 0) tokens[std::size_t(b.cu_seqlens_q[i + 1] - 1)] = 0;
      }
      f["tokens"] = int_owned(std::move(tokens));
      f["eos_id"] = 0;
      break;
    }
    case Packing::Bshd: {
      const int sq = bshd_len(lq), sk = bshd_len(lk), n = b.num_seqs();
      std::vector<std::uint8_t> qm(std::size_t(n) * sq, 0), km(std::size_t(n) * sk, 0);
      for (int i = 0; i < n; ++i) {
        std::fill_n(qm.begin() + std::ptrdiff_t(i) * sq, lq[std::size_t(i)], 1);
        std::fill_n(km.begin() + std::ptrdiff_t(i) * sk, lk[std::size_t(i)], 1);
      }
      f["q_mask"] = owned(std::move(qm), {n, sq}, py::dtype("bool"));
      f["kv_mask"] = owned(std::move(km), {n, sk}, py::dtype("bool"));
      if (tensors) {
        auto q = to_bshd(in.q, b, true, sq, int(hq * d));
        auto k = to_bshd(in.k, b, false, sk, int(hkv * d));
        auto v = to_bshd(in.v, b, false, sk, int(hkv * dv));
        // Converted copies: keep them alive through owning arrays.
        auto keep = [&](std::vector<float>&& x, std::vector<py::ssize_t> shape) {
          auto* heap = new std::vector<float>(std::move(x));
          py::capsule cap(heap, [](void* p) { delete static_cast<std::vector<float>*>(p); });
          return tensor(heap->data(), heap->size(), std::move(shape), b.dtype, cap, bridge);
        };
        f["q"] = keep(std::move(q), {n, sq, hq, d});
        f["k"] = keep(std::move(k), {n, sk, hkv, d});
        f["v"] = keep(std::move(v), {n, sk, hkv, dv});
      }
      return f;
    }
  }
  if (tensors) {
    f["q"] = tensor(in.q.data(), in.q.size(), {b.total_q, hq, d}, b.dtype, base, bridge);
    f["k"] = tensor(in.k.data(), in.k.size(), {b.total_kv, hkv, d}, b.dtype, base, bridge);
    f["v"] = tensor(in.v.data(), in.v.size(), {b.total_kv, hkv, dv}, b.dtype, base, bridge);
  }
  return f;
}

// dout in the layout of the outputs.
py::array dout_array(const Case& c, Packing packing, py::handle base, py::handle bridge) {
  const Batch& b = c.batch;
  const py::ssize_t hq = b.num_heads_q, dv = b.head_dim_v;
  if (packing != Packing::Bshd) {
    return tensor(c.inputs.dout.data(), c.inputs.dout.size(), {b.total_q, hq, dv}, b.dtype, base,
                  bridge);
  }
  const int sq = bshd_len(lengths(b.cu_seqlens_q)), n = b.num_seqs();
  auto* heap = new std::vector<float>(to_bshd(c.inputs.dout, b, true, sq, int(hq * dv)));
  py::capsule cap(heap, [](void* p) { delete static_cast<std::vector<float>*>(p); });
  return tensor(heap->data(), heap->size(), {n, sq, hq, dv}, b.dtype, cap, bridge);
}

const float* f32_data(py::handle a, std::size_t want, const char* name) {
  auto arr = py::reinterpret_borrow<py::array_t<float, py::array::c_style>>(a);
  if (std::size_t(arr.size()) != want) {
    throw std::logic_error(std::string(name) + ": the bridge's size check was bypassed");
  }
  return arr.data();
}

// Writes a returned [T, H, W] (THD-like packings) or [B, S, H, W] (BSHD)
// float32 tensor into the harness's [T, H, W] buffer. BSHD: padding rows of
// the THD buffer are the bridge's to fill (zero), the implementation never
// sees them.
void store_rows(py::handle a, std::vector<float>& dst, const Batch& b, bool q_side, Packing packing,
                int width, const char* name) {
  if (packing != Packing::Bshd) {
    std::memcpy(dst.data(), f32_data(a, dst.size(), name), dst.size() * sizeof(float));
    return;
  }
  const auto lens = lengths(q_side ? b.cu_seqlens_q : b.cu_seqlens_kv);
  const int s_max = bshd_len(lens), n = b.num_seqs();
  const float* src = f32_data(a, std::size_t(n) * s_max * width, name);
  std::fill(dst.begin(), dst.end(), 0.0f);
  for (int i = 0; i < n; ++i) {
    const int start = q_side ? b.q_start(i) : b.kv_start(i);
    std::copy_n(src + std::size_t(i) * s_max * width, std::size_t(lens[std::size_t(i)]) * width,
                dst.begin() + std::ptrdiff_t(std::size_t(start) * width));
  }
}

// LSE: [Hq, T] as is, or [B, Hq, S] from BSHD (padding rows -inf).
void store_lse(py::handle a, std::vector<float>& dst, const Batch& b, Packing packing) {
  if (packing != Packing::Bshd) {
    std::memcpy(dst.data(), f32_data(a, dst.size(), "lse"), dst.size() * sizeof(float));
    return;
  }
  const auto lens = lengths(b.cu_seqlens_q);
  const int s_max = bshd_len(lens), n = b.num_seqs(), hq = b.num_heads_q;
  const float* src = f32_data(a, std::size_t(n) * hq * s_max, "lse");
  std::fill(dst.begin(), dst.end(), -std::numeric_limits<float>::infinity());
  for (int i = 0; i < n; ++i) {
    for (int h = 0; h < hq; ++h) {
      for (int s = 0; s < lens[std::size_t(i)]; ++s) {
        dst[std::size_t(h) * b.total_q + std::size_t(b.q_start(i) + s)] =
            src[(std::size_t(i) * hq + h) * s_max + s];
      }
    }
  }
}

// A failed Python call as the message of a failed case.
[[noreturn]] void rethrow(const PyImpl& st, py::error_already_set& e) {
  std::string msg;
  try {
    msg = py::str(st.bridge.attr("describe_exception")(e.value(), e.trace()));
  } catch (const py::error_already_set&) {
    msg = e.what();
  }
  throw std::runtime_error(msg);
}

void run_python(const PyImpl& st, const Case& c, bool grads, Results<float>& out) {
  const auto t0 = Clock::now();
  py::gil_scoped_acquire gil;
  const Batch& b = c.batch;
  const Packing packing = st.caps.packing;
  double inner = 0.0;
  try {
    py::capsule base = borrowed_base();
    py::dict f = fields(c, packing, true, base, st.bridge);
    py::tuple r = st.bridge.attr("call_forward")(st.impl, f);
    inner += r[2].cast<double>();
    store_rows(r[0], out.out, b, true, packing, b.num_heads_q * b.head_dim_v, "out");
    if (!r[1].is_none()) store_lse(r[1], out.lse, b, packing);
    if (grads) {
      py::tuple g = st.bridge.attr("call_backward")(st.impl, f, dout_array(c, packing, base, st.bridge));
      inner += g[3].cast<double>();
      store_rows(g[0], out.dq, b, true, packing, b.num_heads_q * b.head_dim, "dq");
      store_rows(g[1], out.dk, b, false, packing, b.num_heads_kv * b.head_dim, "dk");
      store_rows(g[2], out.dv, b, false, packing, b.num_heads_kv * b.head_dim_v, "dv");
    }
  } catch (py::error_already_set& e) {
    rethrow(st, e);
  }
  st.stats->calls += 1;
  st.stats->inner_s += inner;
  st.stats->run_s += seconds_since(t0);
}

Capabilities capabilities(py::handle impl) {
  py::object caps = impl.attr("caps");
  Capabilities c;
  c.dtypes.clear();
  for (auto d : caps.attr("dtypes")) c.dtypes.push_back(parse_dtype(py::str(d).cast<std::string>()));
  c.gqa = caps.attr("gqa").cast<bool>();
  c.lq_ne_lk = caps.attr("lq_ne_lk").cast<bool>();
  c.dv_ne_d = caps.attr("dv_ne_d").cast<bool>();
  c.causal = caps.attr("causal").cast<bool>();
  c.non_causal = caps.attr("non_causal").cast<bool>();
  c.windows = caps.attr("windows").cast<bool>();
  c.chunked = caps.attr("chunked").cast<bool>();
  c.padding = caps.attr("padding").cast<bool>();
  c.needs_position_ids = caps.attr("needs_position_ids").cast<bool>();
  c.deterministic = caps.attr("deterministic").cast<bool>();
  c.batch_invariant = caps.attr("batch_invariant").cast<bool>();
  c.cp = caps.attr("cp").cast<int>();
  c.lse = caps.attr("lse").cast<bool>();
  c.max_head_dim = caps.attr("max_head_dim").cast<int>();
  c.packing = parse_packing(caps.attr("packing").cast<std::string>());
  c.backward = !impl.attr("backward_fn").is_none();
  return c;
}

void register_python(const std::string& name, py::object impl, const std::string& description) {
  auto* st = new PyImpl{name, impl, py::module_::import("attncheck._bridge"), capabilities(impl),
                        std::make_shared<CallStats>()};
  if (!py::getattr(impl.attr("caps"), "refuses", py::none()).is_none()) {
    st->caps.refuses = [st](const Batch& b) -> std::optional<std::string> {
      py::gil_scoped_acquire gil;
      Case meta;
      meta.batch = b;
      try {
        py::object why = st->bridge.attr("call_refuses")(
            st->impl, fields(meta, st->caps.packing, false, borrowed_base(), st->bridge));
        if (why.is_none()) return std::nullopt;
        return py::str(why).cast<std::string>();
      } catch (py::error_already_set& e) {
        rethrow(*st, e);
      }
    };
  }
  register_implementation({.name = name,
                           .device = "python",
                           .description = description,
                           .caps = st->caps,
                           .run = [st](const Case& c, bool grads,
                                       Results<float>& out) { run_python(*st, c, grads, out); },
                           .stats = st->stats,
                           .fork_safe = false});
}

// Generated cases (the fuzz generator with its options), as batch fields that
// own their arrays.
py::list generate(int count, std::uint64_t seed, int max_tokens, int max_head_dim,
                  const std::vector<std::string>& dtypes, bool self_attention,
                  const std::string& packing) {
  gen::GenOptions o;
  o.max_tokens = max_tokens;
  o.max_head_dim = max_head_dim;
  o.self_attention = self_attention;
  if (!dtypes.empty()) {
    o.dtypes.clear();
    for (const auto& d : dtypes) o.dtypes.push_back(parse_dtype(d));
  }
  const Packing pk = parse_packing(packing);
  py::object bridge = py::module_::import("attncheck._bridge");
  py::list out;
  for (int i = 0; i < count; ++i) {
    auto* c = new Case(gen::build_case(gen::case_spec(o)(rc::Random(seed + std::uint64_t(i)), i % 101).value()));
    py::capsule owner(c, [](void* p) { delete static_cast<Case*>(p); });
    py::dict f = fields(*c, pk, true, owner, bridge);
    f["dout"] = dout_array(*c, pk, owner, bridge);
    f["description"] = c->batch.describe();
    out.append(f);
  }
  return out;
}

int run_main(const std::vector<std::string>& args) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  int status = 0;
  {
    py::gil_scoped_release nogil;
    status = cli::run_cli(int(copy.size()), argv.data());
    std::cout.flush();
    std::cerr.flush();
  }
  return status;
}

}  // namespace
}  // namespace attncheck::pybridge

PYBIND11_MODULE(_core, m) {
  using namespace attncheck::pybridge;
  m.doc() = "attncheck's C++ core: the CLI, the registry and the generators (see attncheck/__init__.py)";
  m.def("main", &run_main, py::arg("argv"),
        "Run the attncheck CLI (argv[0] is the program name); returns the exit code.");
  m.def("register_implementation", &register_python, py::arg("name"), py::arg("impl"),
        py::arg("description"), "Register an attncheck.Implementation under `name`.");
  m.def("generate", &generate, py::arg("count"), py::arg("seed"), py::arg("max_tokens"),
        py::arg("max_head_dim"), py::arg("dtypes"), py::arg("self_attention"), py::arg("packing"));
  // pybind11 before 2.12 reads numpy 1.x's array descriptors: with numpy 2 it
  // crashes, so attncheck/__init__.py refuses that pairing with a message.
  m.attr("pybind11_version") = py::make_tuple(PYBIND11_VERSION_MAJOR, PYBIND11_VERSION_MINOR);
  m.def("registered", [] {
    std::vector<std::string> names;
    for (const auto& i : attncheck::builtin_registry().all()) names.push_back(i.name);
    return names;
  });
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const attncheck::Error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
}
