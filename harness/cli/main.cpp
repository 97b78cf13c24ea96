// attncheck: correctness and numerics verification of attention on packed batches.
//
// An implementation named py:MODULE:ATTR is Python code: this executable then
// hands the whole command line to `python -m attncheck` (python/), which runs
// the same CLI with that implementation registered beside the native ones, so
// every verb, option, exit code and printed replay command is the same.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "harness/cli/verbs.hpp"

namespace {

// True when an --impl value names a Python implementation (py:...).
bool names_python_impl(int argc, char** argv) {
  auto has_py = [](std::string_view v) {
    for (std::size_t start = 0; start <= v.size();) {
      const std::size_t comma = v.find(',', start);
      if (v.substr(start, comma - start).rfind("py:", 0) == 0) return true;
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    return false;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--impl" && i + 1 < argc && has_py(argv[i + 1])) return true;
    if (a.rfind("--impl=", 0) == 0 && has_py(a.substr(7))) return true;
  }
  return false;
}

// The interpreter that runs Python implementations: $ATTNCHECK_PYTHON, else
// the active virtual environment's python, else the one this build was
// configured with (the bridge module is built for that interpreter's ABI).
[[maybe_unused]] std::string python_interpreter() {
  if (const char* p = std::getenv("ATTNCHECK_PYTHON"); p && *p) return p;
  if (const char* venv = std::getenv("VIRTUAL_ENV"); venv && *venv) {
    const auto py = std::filesystem::path(venv) / "bin" / "python";
    if (std::filesystem::exists(py)) return py.string();
  }
  return ATTNCHECK_PYTHON3;
}

int run_in_python(int argc, char** argv) {
#if defined(ATTNCHECK_PYTHON_PACKAGE_DIR)
  // The build tree's package first, so this build's bridge is the one imported.
  std::string path = ATTNCHECK_PYTHON_PACKAGE_DIR;
  if (!std::filesystem::exists(std::filesystem::path(path) / "attncheck" / "__init__.py")) {
    std::cerr << "attncheck: error: --impl py:...: the Python module is not built in " << path
              << "; build it with `cmake --build --preset default` (target _core)\n";
    return attncheck::cli::k_exit_usage;
  }
  if (const char* old = std::getenv("PYTHONPATH"); old && *old) path += std::string(":") + old;
  setenv("PYTHONPATH", path.c_str(), 1);
  const std::string python = python_interpreter();
  std::vector<std::string> args{python, "-m", "attncheck"};
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  execv(python.c_str(), cargs.data());
  std::cerr << "attncheck: error: cannot run " << python << " for the Python implementation ("
            << std::strerror(errno) << "); set ATTNCHECK_PYTHON to a python3 that can import "
            << "numpy\n";
  return attncheck::cli::k_exit_usage;
#else
  (void)argc;
  (void)argv;
  std::cerr << "attncheck: error: --impl py:...: this build has no Python bridge (pybind11 was not "
               "found); install pybind11-dev and python3-dev (bash ci/deps.sh) and reconfigure, "
               "or `pip install .` and use `python -m attncheck`\n";
  return attncheck::cli::k_exit_usage;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  if (names_python_impl(argc, argv)) return run_in_python(argc, argv);
  return attncheck::cli::run_cli(argc, argv);
}
