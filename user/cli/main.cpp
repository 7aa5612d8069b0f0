// kleak: where did the kernel's memory go, and which code path still holds it?
// Subcommands only; every piece of logic lives in user/<stage>/.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

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
  try {
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
