// kleak: where did the kernel's memory go, and which code path still holds it?
// Subcommands only; every piece of logic lives in user/<stage>/.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kleak/commands.h"
#include "kleak/error.h"

int main(int argc, char** argv) {
  CLI::App app{"kleak: find the kernel call stacks that hold memory"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kleak 0.1.0");
  int exit_code = 0;
  kleak::register_trace_command(app, exit_code);
  kleak::register_meminfo_command(app, exit_code);
  kleak::register_report_command(app, exit_code);
  app.add_subcommand("version", "Print kleak's version")->callback([] { fmt::print("kleak 0.1.0\n"); });
  try {
    // CLI11 takes an unknown first word for a stray argument and says "A subcommand is required".
    std::vector<std::string> names;
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
      names.push_back(sub->get_name());
    if (argc > 1 && argv[1][0] != '-' && std::find(names.begin(), names.end(), argv[1]) == names.end()) {
      throw kleak::usage_error(fmt::format("unknown command '{}' (commands: {})", argv[1], fmt::join(names, ", ")));
    }
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version (CallForHelp derives from Success)
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "kleak: {} (see kleak --help)\n", e.what());
    return kleak::kExitUsage;
  } catch (const kleak::Error& e) {
    fmt::print(stderr, "kleak: {}\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    fmt::print(stderr, "kleak: internal error: {}\n", e.what());
    return kleak::kExitFailure;
  }
  return exit_code;
}
