// libFuzzer's custom mutator for fuzz_casefile (fuzz build only).
//
// Why: flipping bytes of HDF5 metadata tests libhdf5's parser, not ours, and
// libhdf5 1.10.8 (Debian 12) crashes on corrupt metadata within seconds:
// global-heap reads of variable-length strings (H5HG_read memcpy past its
// buffer), object-header message decoding (H5O__msg_iterate_real overflows),
// metadata-cache entries with corrupt sizes (H5C_protect: huge allocations,
// endless loops). None of that is attncheck code, none of it can be fixed here
// (README.md of this directory lists the cases). So the mutations go through
// the HDF5 API instead: every mutated input is a well-formed HDF5 file whose
// CONTENT breaks FORMAT.md in a new way - attribute values, types and shapes,
// dataset values (bytes, NaN/Inf, int32 limits), dataset shapes and types,
// missing and extra objects - which is what io::read_case must judge.
// ATTNCHECK_FUZZ_RAW_HDF5=1 restores libFuzzer's byte mutations (to survey
// libhdf5 itself).
#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size,
                                        std::size_t max_size);

namespace {

// Owner of one HDF5 identifier.
struct Id {
  hid_t id = -1;
  herr_t (*close)(hid_t) = nullptr;
  Id(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  ~Id() {
    if (id >= 0 && close != nullptr) close(id);
  }
  bool ok() const { return id >= 0; }
  operator hid_t() const { return id; }  // NOLINT: handle passes as the id
};

class Rng {
 public:
  explicit Rng(unsigned seed) : g_(seed) {}
  std::size_t below(std::size_t n) { return n == 0 ? 0 : std::size_t(g_() % n); }
  bool one_in(std::size_t n) { return below(n) == 0; }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }

 private:
  std::mt19937 g_;
};

const char* const k_groups[] = {"/batch", "/inputs", "/expected", "/results", "/results/my-kernel",
                                "/results/x", "/extension"};
const char* const k_datasets[] = {
    "/batch/cu_seqlens_q", "/batch/cu_seqlens_kv", "/batch/cu_seqlens_q_padded",
    "/batch/cu_seqlens_kv_padded", "/batch/position_ids", "/inputs/q", "/inputs/k", "/inputs/v",
    "/inputs/do", "/expected/out", "/expected/lse", "/expected/dq", "/expected/dk",
    "/expected/dv", "/results/my-kernel/out", "/results/my-kernel/lse", "/results/my-kernel/dq",
    "/results/x/out", "/results/x/lse", "/results/x/dk"};
struct AttrName {
  const char* object;
  const char* name;
};
const AttrName k_attrs[] = {
    {"/", "format"},           {"/", "format_version"},       {"/", "seed"},
    {"/", "description"},      {"/", "property"},             {"/batch", "num_heads_q"},
    {"/batch", "num_heads_kv"}, {"/batch", "head_dim"},        {"/batch", "head_dim_v"},
    {"/batch", "causal"},      {"/batch", "window_left"},     {"/batch", "window_right"},
    {"/batch", "chunk_size"},  {"/batch", "softmax_scale"},   {"/batch", "dtype"},
    {"/batch", "total_q"},     {"/batch", "total_kv"},        {"/expected", "producer"},
    {"/results/my-kernel", "verdict"}, {"/results/my-kernel", "worst_ratio"},
    {"/results/my-kernel", "message"}};
const char* const k_strings[] = {"float32", "bfloat16", "float16", "fp32", "int8", "",
                                 "attncheck-case", "attncheck-results", "pass", "fail", "error",
                                 "1", "P1", "\xff\xfe", "a/b", "."};

std::string scratch_path() {
  const char* env = std::getenv("ATTNCHECK_FUZZ_TMPDIR");
  std::string dir = env && *env ? env : (::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  return dir + "/attncheck-fuzz-mutate-" + std::to_string(::getpid()) + ".h5";
}

bool write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = size == 0 || std::fwrite(data, 1, size, f) == size;
  return std::fclose(f) == 0 && ok;
}

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::vector<std::uint8_t> out;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return out;
  std::uint8_t buf[1 << 14];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

// The HDF5 signature where the library looks for it (0, 512, 1024, ...).
bool has_signature(const std::uint8_t* data, std::size_t size) {
  static const std::uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  for (std::size_t at = 0; at + 8 <= size; at = at == 0 ? 512 : at * 2) {
    if (std::memcmp(data + at, sig, 8) == 0) return true;
  }
  return false;
}

// ---- what the file holds

struct Contents {
  std::vector<std::string> datasets, groups;
  std::vector<std::pair<std::string, std::string>> attrs;  // object, name
};

herr_t visit(hid_t, const char* name, const H5O_info_t* info, void* op) {
  auto* c = static_cast<Contents*>(op);
  const std::string path = std::string(name) == "." ? "/" : "/" + std::string(name);
  if (info->type == H5O_TYPE_DATASET) c->datasets.push_back(path);
  if (info->type == H5O_TYPE_GROUP) c->groups.push_back(path);
  return 0;
}

Contents list(hid_t file) {
  Contents c;
  H5Ovisit(file, H5_INDEX_NAME, H5_ITER_INC, visit, &c);
  std::vector<std::string> objects = c.groups;
  objects.insert(objects.end(), c.datasets.begin(), c.datasets.end());
  for (const auto& obj : objects) {
    Id o(H5Oopen(file, obj.c_str(), H5P_DEFAULT), H5Oclose);
    if (!o.ok()) continue;
    const int n = H5Aget_num_attrs(o);
    for (int i = 0; i < n; ++i) {
      char name[256] = {0};
      if (H5Aget_name_by_idx(o, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(i), name, sizeof name,
                             H5P_DEFAULT) > 0) {
        c.attrs.emplace_back(obj, name);
      }
    }
  }
  return c;
}

// ---- attributes

void put_attr(hid_t file, const std::string& obj, const std::string& name, hid_t type,
              hid_t mem, const void* value, hsize_t n = 1) {
  if (H5Oexists_by_name(file, obj.c_str(), H5P_DEFAULT) <= 0) return;
  if (H5Aexists_by_name(file, obj.c_str(), name.c_str(), H5P_DEFAULT) > 0) {
    H5Adelete_by_name(file, obj.c_str(), name.c_str(), H5P_DEFAULT);
  }
  Id space(n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), H5Sclose);
  Id a(H5Acreate_by_name(file, obj.c_str(), name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT),
       H5Aclose);
  if (a.ok()) H5Awrite(a, mem, value);
}

std::int64_t interesting_int(Rng& r, std::int64_t old) {
  // old +- 1, * 2, / 2 and - old, wrapping (old may be any int64).
  const auto u = std::uint64_t(old);
  const std::vector<std::int64_t> v = {0,   1,   -1,  2,  -2,      3,
                                       4,   7,   8,   16, 4096,    65536,
                                       std::numeric_limits<std::int32_t>::max(),
                                       std::numeric_limits<std::int32_t>::min(),
                                       std::int64_t(1) << 31,  -(std::int64_t(1) << 40),
                                       std::int64_t(u + 1), std::int64_t(u - 1),
                                       std::int64_t(u * 2), old / 2, std::int64_t(0 - u)};
  return r.one_in(4) ? std::int64_t(r.below(300)) - 2 : r.pick(v);
}

double interesting_double(Rng& r, double old) {
  const std::vector<double> v = {0.0,  -0.0, -1.0, 1.0, 0.125, std::nan(""),
                                 INFINITY, -INFINITY, 4.9e-324, 1.7e308, old * 2, old / 2, -old};
  return r.pick(v);
}

void mutate_attr(hid_t file, Rng& r, const Contents& c) {
  std::string obj, name;
  if (!c.attrs.empty() && !r.one_in(4)) {
    std::tie(obj, name) = c.attrs[r.below(c.attrs.size())];
  } else {
    const AttrName& a = k_attrs[r.below(std::size(k_attrs))];
    obj = a.object;
    name = a.name;
  }
  // The old value as a number, when it is one.
  std::int64_t old_int = 0;
  double old_double = 0;
  if (H5Aexists_by_name(file, obj.c_str(), name.c_str(), H5P_DEFAULT) > 0) {
    Id a(H5Aopen_by_name(file, obj.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    Id t(a.ok() ? H5Aget_type(a) : -1, H5Tclose);
    Id s(a.ok() ? H5Aget_space(a) : -1, H5Sclose);
    if (t.ok() && s.ok() && H5Sget_simple_extent_npoints(s) == 1) {
      const H5T_class_t cls = H5Tget_class(t);
      if (cls == H5T_INTEGER) H5Aread(a, H5T_NATIVE_INT64, &old_int);
      if (cls == H5T_FLOAT) H5Aread(a, H5T_NATIVE_DOUBLE, &old_double);
      if (cls == H5T_INTEGER) old_double = double(old_int);
      if (cls == H5T_FLOAT && std::isfinite(old_double) && std::fabs(old_double) < 1e18) {
        old_int = std::int64_t(old_double);
      }
    }
  }
  switch (r.below(8)) {
    case 0: {  // delete it
      H5Adelete_by_name(file, obj.c_str(), name.c_str(), H5P_DEFAULT);
      break;
    }
    case 1: case 2: {  // an int32, as the writer does
      const std::int32_t v = std::int32_t(interesting_int(r, old_int));
      put_attr(file, obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &v);
      break;
    }
    case 3: {  // another integer type
      const std::int64_t v = interesting_int(r, old_int);
      const hid_t types[] = {H5T_STD_I64LE, H5T_STD_U64LE, H5T_STD_I8LE, H5T_STD_U16BE};
      put_attr(file, obj, name, types[r.below(4)], H5T_NATIVE_INT64, &v);
      break;
    }
    case 4: {  // a double
      const double v = interesting_double(r, old_double);
      put_attr(file, obj, name, r.one_in(3) ? H5T_IEEE_F32LE : H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
               &v);
      break;
    }
    case 5: case 6: {  // a string: variable length (the writer's) or fixed (h5py's bytes)
      std::string v = k_strings[r.below(std::size(k_strings))];
      if (r.one_in(4)) {
        v.clear();
        for (std::size_t i = 0, n = 1 + r.below(12); i < n; ++i) v += char(1 + r.below(255));
      }
      Id t(H5Tcopy(H5T_C_S1), H5Tclose);
      if (r.one_in(2)) {
        H5Tset_size(t, H5T_VARIABLE);
        H5Tset_cset(t, H5T_CSET_UTF8);
        const char* s = v.c_str();
        put_attr(file, obj, name, t, t, &s);
      } else {
        H5Tset_size(t, std::max<std::size_t>(1, v.size()));
        H5Tset_strpad(t, r.one_in(2) ? H5T_STR_NULLPAD : H5T_STR_NULLTERM);
        std::string buf = v;
        buf.resize(std::max<std::size_t>(1, v.size()), '\0');
        put_attr(file, obj, name, t, t, buf.data());
      }
      break;
    }
    default: {  // two values instead of one
      const std::int32_t v[2] = {std::int32_t(old_int), std::int32_t(interesting_int(r, old_int))};
      put_attr(file, obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, v, 2);
      break;
    }
  }
}

// ---- datasets

struct Raw {
  std::vector<hsize_t> dims;
  std::vector<std::uint8_t> bytes;  // in the memory form of `type`
  Id type{-1, H5Tclose};
  H5T_class_t cls = H5T_NO_CLASS;
  std::size_t elem = 0;
};

// Reads a numeric dataset with its own (native-converted) type; false if it
// is not one or is too big to bother with.
bool read_raw(hid_t file, const std::string& path, Raw& raw) {
  Id d(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.ok()) return false;
  Id ftype(H5Dget_type(d), H5Tclose);
  Id space(H5Dget_space(d), H5Sclose);
  if (!ftype.ok() || !space.ok()) return false;
  raw.cls = H5Tget_class(ftype);
  if (raw.cls != H5T_INTEGER && raw.cls != H5T_FLOAT) return false;
  raw.type.id = H5Tget_native_type(ftype, H5T_DIR_ASCEND);
  if (!raw.type.ok()) return false;
  raw.elem = H5Tget_size(raw.type);
  const int nd = H5Sget_simple_extent_ndims(space);
  if (nd < 0 || nd > 8) return false;
  raw.dims.resize(std::size_t(nd));
  H5Sget_simple_extent_dims(space, raw.dims.data(), nullptr);
  std::size_t n = 1;
  for (hsize_t x : raw.dims) n *= std::size_t(x);
  if (raw.elem == 0 || n > (1u << 20) / raw.elem) return false;
  raw.bytes.resize(n * raw.elem);
  return n == 0 || H5Dread(d, raw.type, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.bytes.data()) >= 0;
}

bool write_new(hid_t file, const std::string& path, hid_t file_type, hid_t mem_type,
               const std::vector<hsize_t>& dims, const void* data) {
  if (H5Lexists(file, path.c_str(), H5P_DEFAULT) > 0) H5Ldelete(file, path.c_str(), H5P_DEFAULT);
  Id lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl, 1);
  Id space(dims.empty() ? H5Screate(H5S_SCALAR)
                        : H5Screate_simple(int(dims.size()), dims.data(), nullptr),
           H5Sclose);
  Id d(H5Dcreate2(file, path.c_str(), file_type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT),
       H5Dclose);
  if (!d.ok()) return false;
  std::size_t n = 1;
  for (hsize_t x : dims) n *= std::size_t(x);
  return n == 0 || H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
}

// Values the reader must judge: NaN, Inf, huge, tiny, not bfloat16/float16.
void special_values(Rng& r, Raw& raw) {
  const std::size_t n = raw.bytes.size() / raw.elem;
  if (n == 0) return;
  for (std::size_t k = 0, m = 1 + r.below(3); k < m; ++k) {
    std::uint8_t* at = raw.bytes.data() + r.below(n) * raw.elem;
    if (raw.cls == H5T_FLOAT && raw.elem == sizeof(float)) {
      const float v[] = {NAN, INFINITY, -INFINITY, 1e30f, -0.0f, 1.0f + 1.0f / 4096.0f,
                         1e-40f, 65520.0f, 3.0e38f};
      std::memcpy(at, &v[r.below(std::size(v))], sizeof(float));
    } else if (raw.cls == H5T_FLOAT && raw.elem == sizeof(double)) {
      const double v[] = {NAN, INFINITY, -INFINITY, 0.0, 1e300, -1.0};
      std::memcpy(at, &v[r.below(std::size(v))], sizeof(double));
    } else if (raw.cls == H5T_INTEGER) {
      std::int64_t old = 0;
      std::memcpy(&old, at, std::min<std::size_t>(raw.elem, 8));
      const std::int64_t v = interesting_int(r, old);
      std::memcpy(at, &v, std::min<std::size_t>(raw.elem, 8));
    }
  }
}

void mutate_dataset(hid_t file, Rng& r, const Contents& c) {
  std::string path;
  if (!c.datasets.empty() && !r.one_in(6)) {
    path = r.pick(c.datasets);
  } else {
    path = k_datasets[r.below(std::size(k_datasets))];
  }
  Raw raw;
  const bool have =
      H5Oexists_by_name(file, path.c_str(), H5P_DEFAULT) > 0 && read_raw(file, path, raw);
  switch (have ? r.below(6) : 5) {
    case 0: {  // delete it
      H5Ldelete(file, path.c_str(), H5P_DEFAULT);
      return;
    }
    case 1: {  // libFuzzer's byte mutations on the values, size kept
      if (raw.bytes.empty()) return;
      std::vector<std::uint8_t> buf = raw.bytes;
      const std::size_t n = LLVMFuzzerMutate(buf.data(), buf.size(), buf.size());
      std::copy_n(buf.begin(), n, raw.bytes.begin());
      break;
    }
    case 2: {  // special values
      special_values(r, raw);
      break;
    }
    case 3: {  // another shape: a dimension +-1 or 0, dropped, added or swapped
      auto& d = raw.dims;
      const std::size_t what = r.below(4);
      if (what == 0 && !d.empty()) {
        hsize_t& x = d[r.below(d.size())];
        x = r.one_in(4) ? 0 : (r.one_in(2) ? x + 1 : (x > 0 ? x - 1 : 1));
      } else if (what == 1 && !d.empty()) {
        d.erase(d.begin() + std::ptrdiff_t(r.below(d.size())));
      } else if (what == 2 && d.size() < 4) {
        d.insert(d.begin() + std::ptrdiff_t(r.below(d.size() + 1)), hsize_t(1 + r.below(3)));
      } else if (d.size() >= 2) {
        std::swap(d[r.below(d.size())], d[r.below(d.size())]);
      }
      std::size_t n = 1;
      for (hsize_t x : d) n *= std::size_t(x);
      if (n > (1u << 20)) return;
      const std::vector<std::uint8_t> old = raw.bytes;
      raw.bytes.assign(n * raw.elem, 0);
      for (std::size_t i = 0; i < raw.bytes.size() && !old.empty(); ++i) {
        raw.bytes[i] = old[i % old.size()];
      }
      break;
    }
    case 4: {  // another type: int <-> float, another width
      const hid_t types[] = {H5T_NATIVE_INT32, H5T_NATIVE_INT64, H5T_NATIVE_FLOAT,
                             H5T_NATIVE_DOUBLE, H5T_NATIVE_INT16, H5T_NATIVE_UINT32};
      const hid_t to = types[r.below(std::size(types))];
      const std::size_t n = raw.bytes.size() / std::max<std::size_t>(raw.elem, 1);
      const std::size_t to_size = H5Tget_size(to);
      std::vector<std::uint8_t> buf(std::max(n * std::max(to_size, raw.elem), std::size_t(1)));
      std::copy(raw.bytes.begin(), raw.bytes.end(), buf.begin());
      if (n > 0 && H5Tconvert(raw.type, to, n, buf.data(), nullptr, H5P_DEFAULT) < 0) return;
      buf.resize(n * to_size);
      write_new(file, path, to, to, raw.dims, buf.data());
      return;
    }
    default: {  // a new dataset: a copy of another one, or a small int vector
      if (!c.datasets.empty() && r.one_in(2)) {
        const std::string& from = r.pick(c.datasets);
        if (from == path) return;
        if (H5Lexists(file, path.c_str(), H5P_DEFAULT) > 0) {
          H5Ldelete(file, path.c_str(), H5P_DEFAULT);
        }
        Id lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
        H5Pset_create_intermediate_group(lcpl, 1);
        H5Ocopy(file, from.c_str(), file, path.c_str(), H5P_DEFAULT, lcpl);
        return;
      }
      std::vector<std::int32_t> v(r.below(12));
      std::int32_t acc = 0;
      for (auto& x : v) x = (acc += std::int32_t(r.below(6)));
      write_new(file, path, H5T_STD_I32LE, H5T_NATIVE_INT32, {hsize_t(v.size())}, v.data());
      return;
    }
  }
  write_new(file, path, raw.type, raw.type, raw.dims, raw.bytes.data());
}

void mutate_structure(hid_t file, Rng& r, const Contents& c) {
  if (r.one_in(2) && !c.groups.empty()) {  // delete a group (not the root)
    const std::string& g = r.pick(c.groups);
    if (g != "/") H5Ldelete(file, g.c_str(), H5P_DEFAULT);
    return;
  }
  // Create a group (results groups, unknown extensions), or a dataset where a
  // group belongs.
  const std::string g = k_groups[r.below(std::size(k_groups))];
  if (H5Lexists(file, "/results", H5P_DEFAULT) > 0 || g.rfind("/results/", 0) != 0 ||
      r.one_in(2)) {
    Id lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
    H5Pset_create_intermediate_group(lcpl, 1);
    if (r.one_in(4)) {
      const std::int32_t v = 1;
      write_new(file, g, H5T_STD_I32LE, H5T_NATIVE_INT32, {1}, &v);
    } else if (H5Lexists(file, g.c_str(), H5P_DEFAULT) <= 0) {
      Id grp(H5Gcreate2(file, g.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    }
  }
}

std::size_t mutate_hdf5(std::uint8_t* data, std::size_t size, std::size_t max_size,
                        unsigned seed) {
  static const std::string path = scratch_path();
  Rng r(seed);
  if (!write_file(path, data, size)) return size;
  {
    Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    Id file(H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl), H5Fclose);
    if (!file.ok()) return size;
    for (std::size_t k = 0, n = 1 + r.below(3); k < n; ++k) {
      const Contents c = list(file);
      switch (r.below(8)) {
        case 0: case 1: case 2: mutate_attr(file, r, c); break;
        case 7: mutate_structure(file, r, c); break;
        default: mutate_dataset(file, r, c); break;
      }
    }
    H5Fflush(file, H5F_SCOPE_GLOBAL);
  }
  std::vector<std::uint8_t> out = read_file(path);
  ::unlink(path.c_str());
  if (out.empty() || out.size() > max_size) return size;
  // Rarely, a truncated file (an interrupted copy).
  std::size_t n = out.size();
  if (r.one_in(64)) n = 1 + r.below(n);
  std::copy_n(out.begin(), n, data);
  return n;
}

// Every file open allocates libhdf5's metadata cache (~0.5 MB), more than its
// default free-list limits keep for reuse: under ASan that is a fresh mmap,
// page faults and a memset per open, four opens per input. Larger limits let
// libhdf5 reuse the block (the fuzz process only).
const bool k_free_lists = [] {
  H5set_free_list_limits(64 << 20, 16 << 20, 64 << 20, 16 << 20, 64 << 20, 16 << 20);
  return true;
}();

}  // namespace

extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size,
                                               std::size_t max_size, unsigned int seed) {
  static const bool raw = [] {
    const char* v = std::getenv("ATTNCHECK_FUZZ_RAW_HDF5");
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return v != nullptr && *v != '\0' && *v != '0';
  }();
  if (raw) return LLVMFuzzerMutate(data, size, max_size);
  if (!has_signature(data, size)) {
    // Not HDF5 (the text and empty seeds): byte mutations are harmless while
    // no signature appears, which libhdf5 checks first.
    std::vector<std::uint8_t> keep(data, data + size);
    const std::size_t n = LLVMFuzzerMutate(data, size, max_size);
    if (!has_signature(data, n)) return n;
    std::copy(keep.begin(), keep.end(), data);
    return size;
  }
  return mutate_hdf5(data, size, max_size, seed);
}

// Splicing two files byte-wise makes corrupt metadata: no cross-over.
extern "C" std::size_t LLVMFuzzerCustomCrossOver(const std::uint8_t*, std::size_t,
                                                 const std::uint8_t*, std::size_t, std::uint8_t*,
                                                 std::size_t, unsigned int) {
  return 0;
}
