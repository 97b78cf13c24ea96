// The small layer over the HDF5 C API that every attncheck file shares: an
// owner for HDF5 identifiers, a writer of groups, scalar attributes and
// datasets with object time tracking off (the same content gives the same
// bytes), and the atomic write (temporary file in the destination's
// directory, flushed, fsynced, renamed into place, directory fsynced).
// Written by hand because the HDF5 C++ API has neither RAII for every
// identifier kind nor an atomic file write; the format code (casefile.cpp,
// results.cpp, train/results.cpp) stays in its own files.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace attncheck::io {

// HDF5 prints its error stack to stderr by default; attncheck turns every
// failure into an Error naming the file and object instead.
void silence_hdf5();

// Owner of one HDF5 identifier (the C API has no RAII of its own).
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
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

// Variable-length UTF-8 string type (attributes and datasets).
Handle vlen_string_type();

// Writes one HDF5 file; every failure throws Error(Io) naming `path` (the
// destination the user asked for, not the temporary file).
class Writer {
 public:
  explicit Writer(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& what) const;

  void create(const std::string& tmp);
  void close();

  void group(const std::string& path);

  // Scalar attributes of the group or dataset at `obj`.
  void attr_raw(const std::string& obj, const std::string& name, hid_t file_type, hid_t mem_type,
                const void* value);
  void attr(const std::string& obj, const std::string& name, std::int32_t v);
  void attr(const std::string& obj, const std::string& name, std::uint64_t v);
  void attr(const std::string& obj, const std::string& name, double v);
  void attr(const std::string& obj, const std::string& name, const std::string& v);
  void attr(const std::string& obj, const std::string& name, const char* v);

  // Datasets; `data` holds the product of `dims` elements of `mem_type`.
  void dataset(const std::string& path, const std::vector<hsize_t>& dims, hid_t file_type,
               hid_t mem_type, const void* data);
  // Empty dims: one dimension of v.size().
  void ints(const std::string& path, const std::vector<std::int32_t>& v);
  void int8s(const std::string& path, const std::vector<std::int8_t>& v,
             std::vector<hsize_t> dims = {});
  void floats(const std::string& path, const std::vector<float>& v, std::vector<hsize_t> dims = {});
  void doubles(const std::string& path, const std::vector<double>& v,
               std::vector<hsize_t> dims = {});
  void strings(const std::string& path, const std::vector<std::string>& v);

 private:
  std::string path_;
  Handle file_, gcpl_, dcpl_;
};

// Writes `path` atomically: `body` fills a Writer on a temporary file in the
// same directory, which is then flushed, fsynced and renamed into place. The
// directory must exist (Error(Io) naming it otherwise); on any failure the
// temporary file is removed and `path` is left as it was.
void write_atomically(const std::string& path, const std::function<void(Writer&)>& body);

}  // namespace attncheck::io
