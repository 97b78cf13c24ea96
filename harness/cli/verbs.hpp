// The verbs of the attncheck CLI. Each registers its options on a CLI11
// subcommand and returns the process exit code:
//   0 all passed, 1 a property failed, 2 bad usage or input.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace attncheck::cli {

inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_failed = 1;
inline constexpr int k_exit_usage = 2;
inline constexpr int k_exit_interrupted = 130;  // SIGINT/SIGTERM stopped a fuzz run (128 + SIGINT)

using Action = std::function<int()>;

// Parses argv (argv[0] is the program name) and runs the verb: the whole CLI.
// Errors are printed on stderr and turned into the exit codes above.
int run_cli(int argc, char** argv);

// A campaign's worker_setup for `jobs` row workers: simt's block workers get
// each its share of the cores (unless a configuration chose their number).
std::function<void()> simt_worker_share(int jobs);

Action add_list(CLI::App& app);
Action add_fuzz(CLI::App& app);
Action add_bench(CLI::App& app);
Action add_validate(CLI::App& app);
Action add_replay(CLI::App& app);
Action add_export(CLI::App& app);
Action add_check(CLI::App& app);
Action add_golden(CLI::App& app);
Action add_loss(CLI::App& app);
Action add_report(CLI::App& app);

}  // namespace attncheck::cli
