#include "harness/casefile.hpp"

#include <fmt/format.h>
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "harness/error.hpp"
#include "harness/hdf5.hpp"

namespace attncheck::io {

namespace fs = std::filesystem;

namespace {

// ----------------------------------------------------------------- reading --

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& object, const std::string& what) const {
    throw Error(ErrorKind::Io, fmt::format("{}: {}", path_, object), -1, what);
  }

  void open() {
    std::error_code ec;
    if (!fs::exists(path_, ec)) fail("file", "does not exist");
    if (fs::is_directory(path_, ec)) fail("file", "is a directory, expected a case file (.h5)");
    const auto size = fs::file_size(path_, ec);
    if (ec) fail("file", "cannot be read: " + ec.message());
    if (size == 0) fail("file", "is empty, not an HDF5 file");
    const htri_t is = H5Fis_hdf5(path_.c_str());
    if (is <= 0) fail("file", "is not an HDF5 file (no HDF5 signature)");
    file_ = Handle(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!file_.ok()) {
      fail("file", "cannot be opened as HDF5 (truncated or corrupt file)");
    }
  }

  hid_t file() const { return file_.get(); }

  bool link_exists(const std::string& path) const {
    // Check each component: H5Lexists fails on a missing intermediate group.
    std::size_t pos = 1;
    while (pos <= path.size()) {
      const std::size_t slash = path.find('/', pos);
      const std::string prefix = path.substr(0, slash);
      const htri_t e = H5Lexists(file_.get(), prefix.c_str(), H5P_DEFAULT);
      if (e < 0) fail(prefix, "cannot be read (corrupt file)");
      if (e == 0) return false;
      if (slash == std::string::npos) break;
      pos = slash + 1;
    }
    return true;
  }

  H5I_type_t object_type(const std::string& path) const {
    Handle obj(H5Oopen(file_.get(), path.c_str(), H5P_DEFAULT), H5Oclose);
    if (!obj.ok()) fail(path, "cannot be opened (corrupt file)");
    return H5Iget_type(obj.get());
  }

  bool has_group(const std::string& path) const {
    if (!link_exists(path)) return false;
    if (object_type(path) != H5I_GROUP) fail(path, "is not a group; expected a group");
    return true;
  }
  void require_group(const std::string& path, const std::string& why) const {
    if (!has_group(path)) fail(path, "group is missing; " + why);
  }
  bool has_dataset(const std::string& path) const {
    if (!link_exists(path)) return false;
    if (object_type(path) != H5I_DATASET) fail(path, "is not a dataset; expected a dataset");
    return true;
  }

  // ---- attributes; `obj` is a group path, `name` the attribute.
  static std::string attr_path(const std::string& obj, const std::string& name) {
    return (obj == "/" ? std::string("/") : obj) + "@" + name;
  }

  bool has_attr(const std::string& obj, const std::string& name) const {
    const htri_t e = H5Aexists_by_name(file_.get(), obj.c_str(), name.c_str(), H5P_DEFAULT);
    if (e < 0) fail(attr_path(obj, name), "cannot be read (corrupt file)");
    return e > 0;
  }

  Handle open_attr(const std::string& obj, const std::string& name, H5T_class_t want_class,
                   const char* expected) const {
    const std::string where = attr_path(obj, name);
    if (!has_attr(obj, name)) fail(where, fmt::format("attribute is missing; expected {}", expected));
    Handle a(H5Aopen_by_name(file_.get(), obj.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
             H5Aclose);
    if (!a.ok()) fail(where, "cannot be opened (corrupt file)");
    Handle space(H5Aget_space(a.get()), H5Sclose);
    const hssize_t n = H5Sget_simple_extent_npoints(space.get());
    if (n != 1) fail(where, fmt::format("has {} elements; expected one value ({})", n, expected));
    Handle type(H5Aget_type(a.get()), H5Tclose);
    const H5T_class_t cls = H5Tget_class(type.get());
    if (cls != want_class && !(want_class == H5T_FLOAT && cls == H5T_INTEGER)) {
      fail(where, fmt::format("has type {}; expected {}", class_name(cls), expected));
    }
    return a;
  }

  std::int64_t attr_int(const std::string& obj, const std::string& name, std::int64_t lo,
                        std::int64_t hi) const {
    const std::string expected = fmt::format("an integer in [{}, {}]", lo, hi);
    Handle a = open_attr(obj, name, H5T_INTEGER, expected.c_str());
    std::int64_t v = 0;
    if (H5Aread(a.get(), H5T_NATIVE_INT64, &v) < 0) {
      fail(attr_path(obj, name), "cannot be read as a 64-bit integer; expected " + expected);
    }
    if (v < lo || v > hi) fail(attr_path(obj, name), fmt::format("is {}; expected {}", v, expected));
    return v;
  }

  std::uint64_t attr_u64(const std::string& obj, const std::string& name) const {
    Handle a = open_attr(obj, name, H5T_INTEGER, "an unsigned 64-bit integer");
    std::uint64_t v = 0;
    if (H5Aread(a.get(), H5T_NATIVE_UINT64, &v) < 0) {
      fail(attr_path(obj, name), "cannot be read as an unsigned 64-bit integer");
    }
    return v;
  }

  double attr_double(const std::string& obj, const std::string& name) const {
    Handle a = open_attr(obj, name, H5T_FLOAT, "a floating-point number");
    double v = 0;
    if (H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v) < 0) {
      fail(attr_path(obj, name), "cannot be read as a double");
    }
    return v;
  }

  std::string attr_string(const std::string& obj, const std::string& name) const {
    Handle a = open_attr(obj, name, H5T_STRING, "a string");
    return read_string_attr(a.get(), attr_path(obj, name));
  }

  std::string read_string_attr(hid_t attr, const std::string& where) const {
    Handle type(H5Aget_type(attr), H5Tclose);
    if (H5Tget_class(type.get()) != H5T_STRING) fail(where, "is not a string");
    if (H5Tis_variable_str(type.get()) > 0) {
      Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(mem.get(), H5T_VARIABLE);
      H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
      char* s = nullptr;
      if (H5Aread(attr, mem.get(), &s) < 0 || s == nullptr) fail(where, "cannot be read as a string");
      std::string out(s);
      H5free_memory(s);
      return out;
    }
    const std::size_t size = H5Tget_size(type.get());
    if (size == 0 || size > (1u << 20)) fail(where, "has an unreadable string size");
    std::string buf(size, '\0');
    Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), size);
    H5Tset_strpad(mem.get(), H5T_STR_NULLPAD);
    if (H5Aread(attr, mem.get(), buf.data()) < 0) fail(where, "cannot be read as a string");
    buf.resize(std::strlen(buf.c_str()));
    return buf;
  }

  // Names of all attributes of `obj` with their type class.
  std::vector<std::pair<std::string, H5T_class_t>> attrs_of(const std::string& obj) const {
    std::vector<std::pair<std::string, H5T_class_t>> out;
    Handle o(H5Oopen(file_.get(), obj.c_str(), H5P_DEFAULT), H5Oclose);
    if (!o.ok()) fail(obj, "cannot be opened (corrupt file)");
    const int n = H5Aget_num_attrs(o.get());
    for (int i = 0; i < n; ++i) {
      Handle a(H5Aopen_by_idx(o.get(), ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(i), H5P_DEFAULT,
                              H5P_DEFAULT),
               H5Aclose);
      if (!a.ok()) fail(obj, "an attribute cannot be opened (corrupt file)");
      const ssize_t len = H5Aget_name(a.get(), 0, nullptr);
      std::string name(std::size_t(std::max<ssize_t>(len, 0)), '\0');
      H5Aget_name(a.get(), name.size() + 1, name.data());
      Handle t(H5Aget_type(a.get()), H5Tclose);
      out.emplace_back(name, H5Tget_class(t.get()));
    }
    return out;
  }

  std::vector<std::string> children(const std::string& group) const {
    std::vector<std::string> out;
    Handle g(H5Gopen2(file_.get(), group.c_str(), H5P_DEFAULT), H5Gclose);
    if (!g.ok()) fail(group, "cannot be opened as a group");
    H5G_info_t info{};
    if (H5Gget_info(g.get(), &info) < 0) fail(group, "cannot be listed (corrupt file)");
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      const ssize_t len =
          H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (len < 0) fail(group, "cannot be listed (corrupt file)");
      std::string name(std::size_t(len), '\0');
      H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1,
                         H5P_DEFAULT);
      out.push_back(name);
    }
    return out;
  }

  // ---- datasets
  struct Dataset {
    Handle ds;
    std::vector<hsize_t> dims;
    H5T_class_t cls = H5T_NO_CLASS;
  };

  Dataset open_dataset(const std::string& path) const {
    if (!has_dataset(path)) fail(path, "dataset is missing");
    Dataset d;
    d.ds = Handle(H5Dopen2(file_.get(), path.c_str(), H5P_DEFAULT), H5Dclose);
    if (!d.ds.ok()) fail(path, "cannot be opened (corrupt file)");
    Handle space(H5Dget_space(d.ds.get()), H5Sclose);
    const int nd = H5Sget_simple_extent_ndims(space.get());
    if (nd < 0) fail(path, "has an unreadable shape (corrupt file)");
    d.dims.resize(std::size_t(nd));
    H5Sget_simple_extent_dims(space.get(), d.dims.data(), nullptr);
    Handle type(H5Dget_type(d.ds.get()), H5Tclose);
    d.cls = H5Tget_class(type.get());
    return d;
  }

  static std::string shape_str(const std::vector<hsize_t>& dims) {
    std::string s = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + "]";
  }

  void check_shape(const std::string& path, const Dataset& d, const std::vector<hsize_t>& want,
                   const std::string& meaning) const {
    if (d.dims != want) {
      fail(path, fmt::format("has shape {}; expected {} = {} from the /batch attributes",
                             shape_str(d.dims), shape_str(want), meaning));
    }
  }

  // A dataset's shape is metadata: a few bytes can declare [2^31, 4096, 65536]
  // elements. Before anything is allocated for it, the file must hold its data:
  // contiguous and compact storage of every element within the file, or every
  // chunk of a chunked dataset written (a compressed chunk may expand, but only
  // to data somebody wrote). Missing data would read as fill values anyway,
  // which FORMAT.md has no use for.
  void check_storage(const std::string& path, const Dataset& d, std::size_t n) const {
    if (n == 0) return;
    Handle type(H5Dget_type(d.ds.get()), H5Tclose);
    Handle dcpl(H5Dget_create_plist(d.ds.get()), H5Pclose);
    const std::size_t elem = type.ok() ? H5Tget_size(type.get()) : 0;
    if (elem == 0 || !dcpl.ok()) fail(path, "has an unreadable type or layout (corrupt file)");
    const H5D_layout_t layout = H5Pget_layout(dcpl.get());
    if (layout == H5D_CONTIGUOUS || layout == H5D_COMPACT) {
      std::error_code ec;
      const std::uintmax_t file_bytes = fs::file_size(path_, ec);
      const hsize_t stored = H5Dget_storage_size(d.ds.get());
      const bool fits = n <= std::numeric_limits<std::size_t>::max() / elem && !ec;
      if (!fits || stored < n * elem || stored > file_bytes) {
        fail(path, fmt::format("declares {} elements of {} bytes but the file holds {} bytes of "
                               "its data (truncated or corrupt file)",
                               n, elem, stored));
      }
    } else if (layout == H5D_CHUNKED) {
      std::vector<hsize_t> chunk(d.dims.size());
      const int rank = H5Pget_chunk(dcpl.get(), int(chunk.size()), chunk.data());
      hsize_t needed = 1, written = 0;
      bool ok = rank == int(chunk.size()) &&
                H5Dget_num_chunks(d.ds.get(), H5S_ALL, &written) >= 0;
      for (std::size_t i = 0; ok && i < chunk.size(); ++i) {
        ok = chunk[i] > 0;
        if (ok) needed *= (d.dims[i] + chunk[i] - 1) / chunk[i];
      }
      if (!ok || written < needed) {
        fail(path, fmt::format("declares {} elements but {} of its {} chunks are written "
                               "(truncated or corrupt file)",
                               n, written, ok ? needed : 0));
      }
    } else {
      fail(path, "has a storage layout this reader does not take (contiguous, compact or "
                 "chunked expected)");
    }
  }

  template <typename T>
  std::vector<T> read_values(const std::string& path, const Dataset& d, hid_t memtype) const {
    std::size_t n = 1;
    for (hsize_t x : d.dims) {
      if (x != 0 && n > std::numeric_limits<std::size_t>::max() / std::size_t(x)) {
        fail(path, fmt::format("has shape {}: too many elements (corrupt file)", shape_str(d.dims)));
      }
      n *= std::size_t(x);
    }
    check_storage(path, d, n);
    std::vector<T> out(n);
    if (n > 0 && H5Dread(d.ds.get(), memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0) {
      fail(path, "data cannot be read (truncated or corrupt file)");
    }
    return out;
  }

  std::vector<std::int32_t> read_int_vector(const std::string& path, hsize_t len,
                                            const std::string& meaning) const {
    Dataset d = open_dataset(path);
    if (d.cls != H5T_INTEGER) {
      fail(path, fmt::format("has type {}; expected int32", class_name(d.cls)));
    }
    check_shape(path, d, {len}, meaning);
    const auto wide = read_values<std::int64_t>(path, d, H5T_NATIVE_INT64);
    std::vector<std::int32_t> out(wide.size());
    for (std::size_t i = 0; i < wide.size(); ++i) {
      if (wide[i] < std::numeric_limits<std::int32_t>::min() ||
          wide[i] > std::numeric_limits<std::int32_t>::max()) {
        fail(fmt::format("{}[{}]", path, i), fmt::format("is {}; does not fit int32", wide[i]));
      }
      out[i] = std::int32_t(wide[i]);
    }
    return out;
  }

  // A 1-D int vector whose length is only known from itself (cu_seqlens).
  std::vector<std::int32_t> read_int_vector_any(const std::string& path) const {
    Dataset d = open_dataset(path);
    if (d.dims.size() != 1) {
      fail(path, fmt::format("has shape {}; expected a 1-D array [batch + 1]", shape_str(d.dims)));
    }
    return read_int_vector(path, d.dims[0], "[batch + 1]");
  }

  template <typename T>
  std::vector<T> read_float_tensor(const std::string& path, const std::vector<hsize_t>& shape,
                                   const std::string& meaning) const {
    Dataset d = open_dataset(path);
    if (d.cls != H5T_FLOAT) {
      fail(path, fmt::format("has type {}; expected {}", class_name(d.cls),
                             sizeof(T) == 4 ? "float32" : "float64"));
    }
    check_shape(path, d, shape, meaning);
    return read_values<T>(path, d, sizeof(T) == 4 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE);
  }

  static const char* class_name(H5T_class_t c) {
    switch (c) {
      case H5T_INTEGER: return "integer";
      case H5T_FLOAT: return "float";
      case H5T_STRING: return "string";
      case H5T_COMPOUND: return "compound";
      case H5T_ENUM: return "enum";
      case H5T_ARRAY: return "array";
      case H5T_VLEN: return "variable-length";
      case H5T_BITFIELD: return "bitfield";
      case H5T_OPAQUE: return "opaque";
      case H5T_REFERENCE: return "reference";
      default: return "unknown";
    }
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  Handle file_;
};

struct Shapes {
  std::vector<hsize_t> q, k, v, o, lse;
};

Shapes shapes_of(const Batch& b) {
  const auto tq = hsize_t(b.total_q), tk = hsize_t(b.total_kv);
  const auto hq = hsize_t(b.num_heads_q), hk = hsize_t(b.num_heads_kv);
  const auto d = hsize_t(b.head_dim), dv = hsize_t(b.head_dim_v);
  return {{tq, hq, d}, {tk, hk, d}, {tk, hk, dv}, {tq, hq, dv}, {hq, tq}};
}

Batch read_batch(const Reader& r) {
  r.require_group("/batch", "expected the packed-batch description (FORMAT.md /batch)");
  const std::string g = "/batch";
  constexpr std::int64_t k_big = std::numeric_limits<std::int32_t>::max();
  Batch b;
  b.num_heads_q = int(r.attr_int(g, "num_heads_q", 1, 4096));
  b.num_heads_kv = int(r.attr_int(g, "num_heads_kv", 1, 4096));
  if (b.num_heads_q % b.num_heads_kv != 0) {
    r.fail("/batch@num_heads_q", fmt::format("is {}, not a multiple of num_heads_kv = {}; expected "
                                             "Hq % Hkv == 0",
                                             b.num_heads_q, b.num_heads_kv));
  }
  b.head_dim = int(r.attr_int(g, "head_dim", 1, 65536));
  b.head_dim_v = int(r.attr_int(g, "head_dim_v", 1, 65536));
  b.mask.causal = r.attr_int(g, "causal", 0, 1) != 0;
  b.mask.window_left = int(r.attr_int(g, "window_left", -1, k_big));
  b.mask.window_right = int(r.attr_int(g, "window_right", -1, k_big));
  if (r.has_attr(g, "chunk_size")) b.mask.chunk_size = int(r.attr_int(g, "chunk_size", 0, k_big));
  b.softmax_scale = r.attr_double(g, "softmax_scale");
  if (!std::isfinite(b.softmax_scale) || b.softmax_scale <= 0) {
    r.fail("/batch@softmax_scale", fmt::format("is {}; expected a finite positive number", b.softmax_scale));
  }
  const std::string dt = r.attr_string(g, "dtype");
  if (dt == "float32") {
    b.dtype = DType::Float32;
  } else if (dt == "bfloat16") {
    b.dtype = DType::BFloat16;
  } else if (dt == "float16") {
    b.dtype = DType::Float16;
  } else {
    r.fail("/batch@dtype", fmt::format("is '{}'; expected float32, bfloat16 or float16", dt));
  }
  b.total_q = int(r.attr_int(g, "total_q", 0, k_big));
  b.total_kv = int(r.attr_int(g, "total_kv", 0, k_big));

  b.cu_seqlens_q = r.read_int_vector_any("/batch/cu_seqlens_q");
  b.cu_seqlens_kv = r.read_int_vector("/batch/cu_seqlens_kv", b.cu_seqlens_q.size(),
                                      "[batch + 1] (the length of /batch/cu_seqlens_q)");
  const hsize_t n = b.cu_seqlens_q.size();
  if (r.has_dataset("/batch/cu_seqlens_q_padded")) {
    b.cu_seqlens_q_padded =
        r.read_int_vector("/batch/cu_seqlens_q_padded", n, "[batch + 1] (as cu_seqlens_q)");
  }
  if (r.has_dataset("/batch/cu_seqlens_kv_padded")) {
    b.cu_seqlens_kv_padded =
        r.read_int_vector("/batch/cu_seqlens_kv_padded", n, "[batch + 1] (as cu_seqlens_q)");
  }
  if (r.has_dataset("/batch/position_ids")) {
    b.position_ids =
        r.read_int_vector("/batch/position_ids", hsize_t(b.total_q), "[total_q]");
  }
  try {
    b.validate();
    if (b.position_ids) b.check_position_ids();
  } catch (const Error& e) {
    r.fail(e.field() == "position_ids" ? "/batch/position_ids" : "/batch", e.what());
  }
  return b;
}

// Padding rows of an expected tensor must hold the contract's values.
void check_expected_padding(const Reader& r, const std::string& path, const std::vector<double>& x,
                            const std::vector<bool>& real, bool lse, std::size_t rows) {
  if (rows == 0) return;
  const std::size_t per = x.size() / rows;
  for (std::size_t e = 0; e < x.size(); ++e) {
    const std::size_t row = lse ? e % rows : e / std::max<std::size_t>(per, 1);
    if (real[row]) continue;
    const bool ok = lse ? (std::isinf(x[e]) && x[e] < 0) : (x[e] == 0.0);
    if (!ok) {
      r.fail(path, fmt::format("element {} (padding row {}) is {}; expected {} at padding rows", e,
                               row, x[e], lse ? "-inf" : "0"));
    }
  }
}

template <typename T>
Results<T> read_outputs(const Reader& r, const std::string& group, const Batch& b,
                        bool check_padding) {
  const Shapes s = shapes_of(b);
  Results<T> out;
  out.out = r.read_float_tensor<T>(group + "/out", s.o, "[total_q, Hq, Dv]");
  out.lse = r.read_float_tensor<T>(group + "/lse", s.lse, "[Hq, total_q]");
  const bool dq = r.has_dataset(group + "/dq"), dk = r.has_dataset(group + "/dk"),
             dv = r.has_dataset(group + "/dv");
  if (dq || dk || dv) {
    for (const auto& [name, present] : {std::pair<const char*, bool>{"dq", dq}, {"dk", dk}, {"dv", dv}}) {
      if (!present) {
        r.fail(group + "/" + name,
               "dataset is missing; dq, dk and dv come together (all three, or none for a "
               "forward-only case)");
      }
    }
    out.dq = r.read_float_tensor<T>(group + "/dq", s.q, "[total_q, Hq, D]");
    out.dk = r.read_float_tensor<T>(group + "/dk", s.k, "[total_kv, Hkv, D]");
    out.dv = r.read_float_tensor<T>(group + "/dv", s.v, "[total_kv, Hkv, Dv]");
  }
  if constexpr (std::is_same_v<T, double>) {
    if (check_padding) {
      const auto rq = b.real_q_rows(), rk = b.real_kv_rows();
      check_expected_padding(r, group + "/out", out.out, rq, false, rq.size());
      check_expected_padding(r, group + "/lse", out.lse, rq, true, rq.size());
      if (out.has_grads()) {
        check_expected_padding(r, group + "/dq", out.dq, rq, false, rq.size());
        check_expected_padding(r, group + "/dk", out.dk, rk, false, rk.size());
        check_expected_padding(r, group + "/dv", out.dv, rk, false, rk.size());
      }
    }
  }
  return out;
}

const char* known_root_attrs[] = {"format", "format_version", "seed", "description"};

// ----------------------------------------------------------------- writing --

template <typename T>
void check_sizes(const Batch& b, const Results<T>& r, const std::string& what) {
  auto check = [&](std::size_t got, std::size_t want, const char* name) {
    if (got != want) {
      throw Error(ErrorKind::InvalidBatch, what + "/" + name, -1,
                  fmt::format("has {} elements, expected {}", got, want));
    }
  };
  check(r.out.size(), b.o_elems(), "out");
  check(r.lse.size(), b.lse_elems(), "lse");
  if (r.has_grads()) {
    check(r.dq.size(), b.q_elems(), "dq");
    check(r.dk.size(), b.k_elems(), "dk");
    check(r.dv.size(), b.v_elems(), "dv");
  } else if (!r.dk.empty() || !r.dv.empty()) {
    throw Error(ErrorKind::InvalidBatch, what, -1, "dq, dk, dv must be given together or not at all");
  }
}

template <typename T>
void write_outputs(Writer& w, const std::string& g, const Batch& b, const Results<T>& r) {
  const Shapes s = shapes_of(b);
  auto put = [&](const std::string& name, const std::vector<hsize_t>& dims, const std::vector<T>& v) {
    if constexpr (std::is_same_v<T, double>) {
      w.doubles(g + "/" + name, v, dims);
    } else {
      w.floats(g + "/" + name, v, dims);
    }
  };
  put("out", s.o, r.out);
  put("lse", s.lse, r.lse);
  if (r.has_grads()) {
    put("dq", s.q, r.dq);
    put("dk", s.k, r.dk);
    put("dv", s.v, r.dv);
  }
}

}  // namespace

CaseFile read_case(const std::string& path) {
  silence_hdf5();
  Reader r(path);
  r.open();
  CaseFile f;
  const std::string format = r.attr_string("/", "format");
  if (format != k_format_name) {
    r.fail("/@format", fmt::format("is '{}'; expected '{}'", format, k_format_name));
  }
  const auto version = r.attr_int("/", "format_version", std::numeric_limits<std::int32_t>::min(),
                                   std::numeric_limits<std::int32_t>::max());
  if (version != k_format_version) {
    r.fail("/@format_version",
           fmt::format("is {}; this attncheck reads format_version {} (a newer attncheck may read "
                       "this file)",
                       version, k_format_version));
  }
  if (r.has_attr("/", "seed")) {
    f.c.seed = r.attr_u64("/", "seed");
    f.has_seed = true;
  }
  if (r.has_attr("/", "description")) f.description = r.attr_string("/", "description");
  for (const auto& [name, cls] : r.attrs_of("/")) {
    if (cls != H5T_STRING) continue;
    if (std::find(std::begin(known_root_attrs), std::end(known_root_attrs), name) !=
        std::end(known_root_attrs)) {
      continue;
    }
    f.extra[name] = r.attr_string("/", name);
  }

  Batch& b = f.c.batch;
  b = read_batch(r);
  const Shapes s = shapes_of(b);
  r.require_group("/inputs", "expected q, k, v and do");
  Inputs& in = f.c.inputs;
  in.q = r.read_float_tensor<float>("/inputs/q", s.q, "[total_q, Hq, D]");
  in.k = r.read_float_tensor<float>("/inputs/k", s.k, "[total_kv, Hkv, D]");
  in.v = r.read_float_tensor<float>("/inputs/v", s.v, "[total_kv, Hkv, Dv]");
  in.dout = r.read_float_tensor<float>("/inputs/do", s.o, "[total_q, Hq, Dv]");
  try {
    validate_inputs(b, in);
  } catch (const Error& e) {
    r.fail("/inputs/" + e.field(), e.what());
  }

  if (r.has_group("/expected")) {
    f.expected = read_outputs<double>(r, "/expected", b, /*check_padding=*/true);
    if (r.has_attr("/expected", "producer")) f.expected_producer = r.attr_string("/expected", "producer");
  }
  if (r.has_group("/results")) {
    for (const auto& name : r.children("/results")) {
      const std::string g = "/results/" + name;
      if (!r.has_group(g)) continue;
      ResultGroup rg;
      rg.results = read_outputs<float>(r, g, b, false);
      for (const auto& [attr, cls] : r.attrs_of(g)) {
        if (attr == "verdict") {
          rg.verdict = r.attr_string(g, attr);
        } else if (cls == H5T_STRING) {
          rg.notes[attr] = r.attr_string(g, attr);
        } else if (cls == H5T_FLOAT || cls == H5T_INTEGER) {
          rg.metrics[attr] = r.attr_double(g, attr);
        }
      }
      f.results[name] = std::move(rg);
    }
  }
  return f;
}

void write_case(const std::string& path, const CaseFile& f) {
  silence_hdf5();
  const Batch& b = f.c.batch;
  validate_inputs(b, f.c.inputs);
  if (f.c.inputs.dout.empty() && b.o_elems() > 0) {  // an empty batch has an empty /inputs/do
    throw Error(ErrorKind::InvalidBatch, "do", -1, "a case file needs /inputs/do (FORMAT.md)");
  }
  if (f.expected) check_sizes(b, *f.expected, "/expected");
  for (const auto& [name, rg] : f.results) {
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
      throw Error(ErrorKind::Usage, "results", -1,
                  fmt::format("'{}' is not a valid result group name", name));
    }
    check_sizes(b, rg.results, "/results/" + name);
  }

  write_atomically(path, [&](Writer& w) {
    w.attr("/", "format", k_format_name);
    w.attr("/", "format_version", k_format_version);
    if (f.has_seed) w.attr("/", "seed", f.c.seed);
    if (!f.description.empty()) w.attr("/", "description", f.description);
    for (const auto& [k, v] : f.extra) w.attr("/", k, v);

    w.group("/batch");
    w.attr("/batch", "num_heads_q", b.num_heads_q);
    w.attr("/batch", "num_heads_kv", b.num_heads_kv);
    w.attr("/batch", "head_dim", b.head_dim);
    w.attr("/batch", "head_dim_v", b.head_dim_v);
    w.attr("/batch", "causal", b.mask.causal ? 1 : 0);
    w.attr("/batch", "window_left", b.mask.window_left);
    w.attr("/batch", "window_right", b.mask.window_right);
    w.attr("/batch", "chunk_size", b.mask.chunk_size);
    w.attr("/batch", "softmax_scale", b.softmax_scale);
    w.attr("/batch", "dtype", std::string(to_string(b.dtype)));
    w.attr("/batch", "total_q", b.total_q);
    w.attr("/batch", "total_kv", b.total_kv);
    w.ints("/batch/cu_seqlens_q", b.cu_seqlens_q);
    w.ints("/batch/cu_seqlens_kv", b.cu_seqlens_kv);
    if (b.cu_seqlens_q_padded) w.ints("/batch/cu_seqlens_q_padded", *b.cu_seqlens_q_padded);
    if (b.cu_seqlens_kv_padded) w.ints("/batch/cu_seqlens_kv_padded", *b.cu_seqlens_kv_padded);
    if (b.position_ids) w.ints("/batch/position_ids", *b.position_ids);

    const Shapes s = shapes_of(b);
    w.group("/inputs");
    w.floats("/inputs/q", f.c.inputs.q, s.q);
    w.floats("/inputs/k", f.c.inputs.k, s.k);
    w.floats("/inputs/v", f.c.inputs.v, s.v);
    w.floats("/inputs/do", f.c.inputs.dout, s.o);

    if (f.expected) {
      w.group("/expected");
      write_outputs(w, "/expected", b, *f.expected);
      if (!f.expected_producer.empty()) w.attr("/expected", "producer", f.expected_producer);
    }
    if (!f.results.empty()) {
      w.group("/results");
      for (const auto& [name, rg] : f.results) {
        const std::string g = "/results/" + name;
        w.group(g);
        write_outputs(w, g, b, rg.results);
        if (!rg.verdict.empty()) w.attr(g, "verdict", rg.verdict);
        for (const auto& [k, v] : rg.metrics) w.attr(g, k, v);
        for (const auto& [k, v] : rg.notes) w.attr(g, k, v);
      }
    }
  });
}

void write_result(const std::string& path, const std::string& name, const ResultGroup& group) {
  CaseFile f = read_case(path);
  f.results[name] = group;
  write_case(path, f);
}

std::vector<std::string> list_cases(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    throw Error(ErrorKind::Io, path, -1, "does not exist; expected a case file or a directory of them");
  }
  if (!fs::is_directory(path, ec)) return {path};
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    const auto name = e.path().filename().string();
    if (e.is_regular_file() && e.path().extension() == ".h5" && !name.starts_with(".")) {
      out.push_back(e.path().string());
    }
  }
  if (ec) throw Error(ErrorKind::Io, path, -1, "cannot be listed: " + ec.message());
  std::sort(out.begin(), out.end());
  if (out.empty()) throw Error(ErrorKind::Io, path, -1, "holds no case files (*.h5)");
  return out;
}

}  // namespace attncheck::io
