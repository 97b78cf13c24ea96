// The attncheck command line as a function: the `attncheck` executable
// (main.cpp) and the Python module (`python -m attncheck`, python/) both run it.
#include <fmt/format.h>

#include <iostream>
#include <map>

#include "harness/error.hpp"
#include "harness/cli/verbs.hpp"

namespace attncheck::cli {

int run_cli(int argc, char** argv) {
  CLI::App app{"attncheck: verify attention implementations on packed (variable-length) batches"};
  app.require_subcommand(1);
  std::map<CLI::App*, Action> actions;
  auto add = [&](const char* name, const char* help, Action (*fn)(CLI::App&)) {
    CLI::App* sub = app.add_subcommand(name, help);
    actions[sub] = fn(*sub);
  };
  add("list", "list the registered implementations, their devices and capabilities", add_list);
  add("fuzz", "run the properties over generated packed batches", add_fuzz);
  add("validate", "check a packed-batch description and print its cu_seqlens", add_validate);
  add("bench", "print throughput and campaign time/memory figures", add_bench);
  add("replay", "run implementations on a case file and judge them against its /expected",
      add_replay);
  add("export", "write generated cases as case files for external implementations", add_export);
  add("check", "judge /results/NAME written by external code against /expected", add_check);
  add("golden", "check or regenerate the committed golden cases", add_golden);
  add("loss", "train a tiny transformer with each implementation and compare the loss curves (P12)",
      add_loss);
  add("report", "write the HTML report of a results file and print its path", add_report);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return k_exit_usage;
  }
  try {
    for (auto& [sub, action] : actions) {
      if (sub->parsed()) return action();
    }
  } catch (const attncheck::Error& e) {
    std::cerr << "attncheck: error: " << e.what() << "\n";
    return k_exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "attncheck: internal error: " << e.what() << "\n";
    return k_exit_usage;
  }
  return k_exit_usage;
}

}  // namespace attncheck::cli
