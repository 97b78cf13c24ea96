#include "harness/hdf5.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "harness/error.hpp"

namespace attncheck::io {

namespace fs = std::filesystem;

void silence_hdf5() {
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

Handle vlen_string_type() {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

void Writer::fail(const std::string& what) const { throw Error(ErrorKind::Io, path_, -1, what); }

void Writer::create(const std::string& tmp) {
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  H5Pset_obj_track_times(fcpl.get(), false);
  file_ = Handle(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT), H5Fclose);
  if (!file_.ok()) fail(fmt::format("cannot create the temporary file {}", tmp));
  gcpl_ = Handle(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
  H5Pset_obj_track_times(gcpl_.get(), false);
  dcpl_ = Handle(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(dcpl_.get(), false);
}

void Writer::close() {
  if (H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0) fail("flush failed");
  dcpl_.reset();
  gcpl_.reset();
  const herr_t rc = H5Fclose(file_.get());
  file_.release();  // closed (or unusable) either way
  if (rc < 0) fail("close failed");
}

void Writer::group(const std::string& path) {
  Handle g(H5Gcreate2(file_.get(), path.c_str(), H5P_DEFAULT, gcpl_.get(), H5P_DEFAULT), H5Gclose);
  if (!g.ok()) fail(fmt::format("cannot create group {}", path));
}

void Writer::attr_raw(const std::string& obj, const std::string& name, hid_t file_type,
                      hid_t mem_type, const void* value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate_by_name(file_.get(), obj.c_str(), name.c_str(), file_type, space.get(),
                             H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
           H5Aclose);
  if (!a.ok() || H5Awrite(a.get(), mem_type, value) < 0) {
    fail(fmt::format("cannot write attribute {}@{}", obj, name));
  }
}

void Writer::attr(const std::string& obj, const std::string& name, std::int32_t v) {
  attr_raw(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &v);
}
void Writer::attr(const std::string& obj, const std::string& name, std::uint64_t v) {
  attr_raw(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}
void Writer::attr(const std::string& obj, const std::string& name, double v) {
  attr_raw(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}
void Writer::attr(const std::string& obj, const std::string& name, const std::string& v) {
  const Handle t = vlen_string_type();
  const char* s = v.c_str();
  attr_raw(obj, name, t.get(), t.get(), &s);
}
void Writer::attr(const std::string& obj, const std::string& name, const char* v) {
  attr(obj, name, std::string(v));
}

void Writer::dataset(const std::string& path, const std::vector<hsize_t>& dims, hid_t file_type,
                     hid_t mem_type, const void* data) {
  Handle space(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
  Handle d(H5Dcreate2(file_.get(), path.c_str(), file_type, space.get(), H5P_DEFAULT, dcpl_.get(),
                      H5P_DEFAULT),
           H5Dclose);
  if (!d.ok()) fail(fmt::format("cannot create dataset {}", path));
  std::size_t n = 1;
  for (hsize_t x : dims) n *= std::size_t(x);
  if (n > 0 && H5Dwrite(d.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
    fail(fmt::format("cannot write dataset {}", path));
  }
}

namespace {
std::vector<hsize_t> dims_or_size(std::vector<hsize_t> dims, std::size_t n) {
  if (dims.empty()) dims = {hsize_t(n)};
  return dims;
}
}  // namespace

void Writer::ints(const std::string& path, const std::vector<std::int32_t>& v) {
  dataset(path, {hsize_t(v.size())}, H5T_STD_I32LE, H5T_NATIVE_INT32, v.data());
}
void Writer::int8s(const std::string& path, const std::vector<std::int8_t>& v,
                   std::vector<hsize_t> dims) {
  dataset(path, dims_or_size(std::move(dims), v.size()), H5T_STD_I8LE, H5T_NATIVE_INT8, v.data());
}
void Writer::floats(const std::string& path, const std::vector<float>& v,
                    std::vector<hsize_t> dims) {
  dataset(path, dims_or_size(std::move(dims), v.size()), H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
          v.data());
}
void Writer::doubles(const std::string& path, const std::vector<double>& v,
                     std::vector<hsize_t> dims) {
  dataset(path, dims_or_size(std::move(dims), v.size()), H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
          v.data());
}
void Writer::strings(const std::string& path, const std::vector<std::string>& v) {
  const Handle t = vlen_string_type();
  std::vector<const char*> ptrs;
  ptrs.reserve(v.size());
  for (const auto& s : v) ptrs.push_back(s.c_str());
  dataset(path, {hsize_t(v.size())}, t.get(), t.get(), ptrs.data());
}

namespace {
void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}
}  // namespace

void write_atomically(const std::string& path, const std::function<void(Writer&)>& body) {
  silence_hdf5();
  static std::atomic<unsigned> counter{0};
  const fs::path dest(path);
  const fs::path dir = dest.has_parent_path() ? dest.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw Error(ErrorKind::Io, path, -1,
                fmt::format("directory {} does not exist; create it first", dir.string()));
  }
  const std::string tmp = fmt::format("{}/.{}.tmp-{}-{}", dir.string(), dest.filename().string(),
                                      ::getpid(), counter++);
  try {
    Writer w(path);
    w.create(tmp);
    body(w);
    w.close();
    fsync_path(tmp, false);
    fs::rename(tmp, dest, ec);
    if (ec) {
      throw Error(ErrorKind::Io, path, -1,
                  fmt::format("cannot rename the temporary file into place: {}", ec.message()));
    }
    fsync_path(dir.string(), true);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

}  // namespace attncheck::io
