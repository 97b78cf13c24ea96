#include "harness/train/results.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <hdf5.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>

#include "harness/error.hpp"

namespace attncheck::train {

namespace fs = std::filesystem;

namespace {

// Owner of one HDF5 identifier (the C API has no RAII of its own).
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = -1;
    }
    return *this;
  }
  ~Handle() { reset(); }
  void reset() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = -1;
  }
  // Forget the id without closing it (it was closed by other means).
  void release() { id_ = -1; }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

class Writer {
 public:
  Writer(std::string path, const std::string& tmp) : path_(std::move(path)) {
    // HDF5 prints its error stack by default; failures become Errors here.
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
    H5Pset_obj_track_times(fcpl.get(), false);
    file_ = Handle(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT), H5Fclose);
    if (!file_.ok()) fail(fmt::format("cannot create the temporary file {}", tmp));
    gcpl_ = Handle(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
    H5Pset_obj_track_times(gcpl_.get(), false);
    dcpl_ = Handle(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_obj_track_times(dcpl_.get(), false);
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ErrorKind::Io, path_, -1, what);
  }

  void group(const std::string& path) {
    Handle g(H5Gcreate2(file_.get(), path.c_str(), H5P_DEFAULT, gcpl_.get(), H5P_DEFAULT), H5Gclose);
    if (!g.ok()) fail(fmt::format("cannot create group {}", path));
  }

  void attr(const std::string& obj, const std::string& name, hid_t file_type, hid_t mem_type,
            const void* value) {
    Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    Handle a(H5Acreate_by_name(file_.get(), obj.c_str(), name.c_str(), file_type, space.get(),
                               H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
             H5Aclose);
    if (!a.ok() || H5Awrite(a.get(), mem_type, value) < 0) {
      fail(fmt::format("cannot write attribute {}@{}", obj, name));
    }
  }
  void attr_int(const std::string& obj, const std::string& name, std::int32_t v) {
    attr(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &v);
  }
  void attr_u64(const std::string& obj, const std::string& name, std::uint64_t v) {
    attr(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
  }
  void attr_double(const std::string& obj, const std::string& name, double v) {
    attr(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
  }
  void attr_string(const std::string& obj, const std::string& name, const std::string& v) {
    Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(t.get(), H5T_VARIABLE);
    H5Tset_cset(t.get(), H5T_CSET_UTF8);
    const char* s = v.c_str();
    attr(obj, name, t.get(), t.get(), &s);
  }

  void doubles(const std::string& path, const std::vector<double>& v) {
    const hsize_t dims[1] = {hsize_t(v.size())};
    Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose);
    Handle d(H5Dcreate2(file_.get(), path.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT,
                        dcpl_.get(), H5P_DEFAULT),
             H5Dclose);
    if (!d.ok()) fail(fmt::format("cannot create dataset {}", path));
    if (!v.empty() && H5Dwrite(d.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0) {
      fail(fmt::format("cannot write dataset {}", path));
    }
  }

  void close() {
    if (H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0) fail("flush failed");
    dcpl_.reset();
    gcpl_.reset();
    const herr_t rc = H5Fclose(file_.get());
    file_.release();
    if (rc < 0) fail("close failed");
  }

 private:
  std::string path_;
  Handle file_, gcpl_, dcpl_;
};

void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

void check_name(const std::string& name, std::set<std::string>& seen) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    throw Error(ErrorKind::Usage, "--impl", -1,
                fmt::format("'{}' is not a valid results group name", name));
  }
  if (!seen.insert(name).second) {
    throw Error(ErrorKind::Usage, "--impl", -1, fmt::format("'{}' is given twice", name));
  }
}

}  // namespace

void write_loss_results(const std::string& path, const LossResults& r) {
  std::set<std::string> seen;
  check_name(r.reference, seen);
  for (const auto& run : r.runs) check_name(run.impl, seen);

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
    Writer w(path, tmp);
    w.attr_string("/", "format", k_results_format);
    w.attr_int("/", "format_version", k_results_format_version);
    w.group("/loss");
    w.attr_int("/loss", "steps", r.steps);
    w.attr_u64("/loss", "seed", r.seed);
    w.attr_string("/loss", "bound", r.bound);
    w.attr_string("/loss", "reference", r.reference);
    w.attr_string("/loss", "model", r.model);
    const std::string ref = "/loss/" + r.reference;
    w.group(ref);
    w.doubles(ref + "/loss", r.reference_loss);
    w.attr_string(ref, "verdict", "reference");
    w.attr_double(ref, "max_abs_diff", 0.0);
    w.attr_string(ref, "message", "the reference run (float64 attention)");
    for (const auto& run : r.runs) {
      const std::string g = "/loss/" + run.impl;
      w.group(g);
      w.doubles(g + "/loss", run.loss);
      w.attr_string(g, "verdict", run.verdict);
      w.attr_double(g, "max_abs_diff", run.max_abs_diff);
      w.attr_string(g, "message", run.message);
    }
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

}  // namespace attncheck::train
