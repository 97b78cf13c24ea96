// attncheck report RESULTS [-o DIR]: the HTML report of a results file
// (reports/RESULTS-FORMAT.md), drawn by reports/report.py with the Python 3
// the build found (Debian's, with python3-h5py, python3-numpy and
// python3-matplotlib). Prints the path of DIR/index.html as its last line.
// Exit codes: 0 written, 2 unusable results file, missing Python or modules.
#include <fmt/format.h>

#include <cstdlib>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "harness/cli/verbs.hpp"
#include "harness/error.hpp"

#ifndef ATTNCHECK_PYTHON3
#error "ATTNCHECK_PYTHON3 must name the Python 3 interpreter (cmake/Dependencies.cmake)"
#endif
#ifndef ATTNCHECK_REPORT_SCRIPT
#error "ATTNCHECK_REPORT_SCRIPT must name reports/report.py"
#endif

namespace attncheck::cli {

namespace fs = std::filesystem;

namespace {

// reports/report.py's exit code for a missing Python module.
constexpr int k_report_missing_module = 3;

// Runs argv[0] with argv (no shell), stdout and stderr inherited; returns its
// exit status. Throws Error(Io) when it cannot be started or is killed.
int run(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::cout.flush();
  std::cerr.flush();
  const pid_t pid = ::fork();
  if (pid < 0) throw Error(ErrorKind::Io, argv[0], -1, std::string("cannot fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::execv(args[0], args.data());
    // Only reached when exec failed; report it the way the shell does.
    const std::string msg = fmt::format("attncheck: cannot run {}: {}\n", argv[0], std::strerror(errno));
    (void)!::write(STDERR_FILENO, msg.data(), msg.size());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw Error(ErrorKind::Io, argv[0], -1, "waitpid failed");
  }
  if (WIFSIGNALED(status)) {
    throw Error(ErrorKind::Io, argv[0], -1, fmt::format("killed by signal {}", WTERMSIG(status)));
  }
  return WEXITSTATUS(status);
}

}  // namespace

Action add_report(CLI::App& app) {
  struct Opts {
    std::string results;
    std::string dir;
    std::string python = ATTNCHECK_PYTHON3;
    std::string script = ATTNCHECK_REPORT_SCRIPT;
  };
  auto o = std::make_shared<Opts>();
  // An installed Python package ships its own copy of report.py (python/).
  if (const char* s = std::getenv("ATTNCHECK_REPORT_SCRIPT"); s && *s) o->script = s;
  app.add_option("results", o->results, "results file (.h5) written by fuzz, golden check or loss")
      ->required();
  app.add_option("-o,--output", o->dir,
                 "directory for index.html and its figures (default: RESULTS without .h5, "
                 "plus -report)");
  app.add_option("--python", o->python, "Python 3 interpreter with h5py, numpy and matplotlib")
      ->capture_default_str();
  return [o] {
    if (!fs::is_regular_file(o->results)) {
      throw Error(ErrorKind::Io, o->results, -1, "does not exist or is not a file; expected a results file (.h5)");
    }
    if (::access(o->python.c_str(), X_OK) != 0) {
      throw Error(ErrorKind::Io, o->python, -1,
                  "Python 3 interpreter not found; install Debian's python3 python3-h5py "
                  "python3-numpy python3-matplotlib (ci/deps.sh) or pass --python");
    }
    if (!fs::is_regular_file(o->script)) {
      throw Error(ErrorKind::Io, o->script, -1, "the report generator is missing from the source tree");
    }
    std::string dir = o->dir;
    if (dir.empty()) {
      fs::path p(o->results);
      dir = (p.parent_path() / (p.stem().string() + "-report")).string();
    }
    const int rc = run({o->python, o->script, o->results, "-o", dir});
    if (rc == k_report_missing_module) {
      throw Error(ErrorKind::Io, o->python, -1,
                  "lacks a module the report needs (see the message above); install Debian's "
                  "python3-h5py python3-numpy python3-matplotlib");
    }
    if (rc != 0) {
      throw Error(ErrorKind::Io, o->results, -1,
                  fmt::format("the report generator {} failed (exit {}; its message is above)",
                              o->script, rc));
    }
    const fs::path index = fs::absolute(fs::path(dir) / "index.html").lexically_normal();
    if (!fs::is_regular_file(index)) {
      throw Error(ErrorKind::Io, index.string(), -1, "was not written by the report generator");
    }
    std::cout << "report: " << index.string() << "\n";
    return k_exit_ok;
  };
}

}  // namespace attncheck::cli
