// kleak: where did the kernel's memory go, and which code path still holds it?
// Subcommands only; every piece of logic lives in user/<stage>/.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <bpf/libbpf.h>
#include <sys/resource.h>

#include <algorithm>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "kleak/commands.h"
#include "kleak/docs.h"
#include "kleak/error.h"
#include "kleak/journal.h"
#include "kleak/text_escape.h"
#include "kleak/version.h"
#include "kleak_build_info.h"  // generated: KLEAK_GIT_COMMIT, KLEAK_BUILD_DATE

namespace {

// An error is one line on stderr: messages quote files, flags and kernel strings, so they are
// escaped (no control character reaches the terminal, no line is forged) and capped.
std::string message(const std::exception& e) { return kleak::escape_capped(e.what(), 4096); }

// What ran out, for a bad_alloc: "internal error: std::bad_alloc" named neither memory nor the
// limit an operator set (ulimit -v; a systemd MemoryMax shows as the OOM killer instead).
std::string out_of_memory() {
  rlimit as{};
  if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY)
    return fmt::format("out of memory: an allocation failed under the address space limit of {} MiB "
                       "(ulimit -v / RLIMIT_AS); raise it or narrow the work (--filter, --top, --max-allocs)",
                       as.rlim_cur >> 20);
  return "out of memory: an allocation failed (the box has no memory left for kleak)";
}

// Whatever went to stdout through stdio (fmt::print, CLI11's help through std::cout) must have
// arrived: `kleak ... > /dev/full` is an error, --help's too.
int flush_stdout(int exit_code) {
  std::cout.flush();
  if (std::fflush(stdout) != 0 || std::ferror(stdout) || !std::cout) {
    fmt::print(stderr, "{}kleak: writing to stdout failed: {}\n", kleak::log_prefix(kleak::LogLevel::err),
               std::strerror(errno ? errno : EIO));
    return kleak::kExitUsage;
  }
  return exit_code;
}

kleak::BuildInfo build_info() {
#if defined(__clang__)
  std::string compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  std::string compiler = "gcc " __VERSION__;
#else
  std::string compiler = "unknown";
#endif
  return {KLEAK_VERSION, KLEAK_GIT_COMMIT, KLEAK_BUILD_DATE, compiler, libbpf_version_string()};
}

// Before a command only --help and --version are options. CLI11 checks that a subcommand is
// present before it looks at the words, so `kleak --bogus` and `kleak -V` said "A subcommand is
// required": the unknown word is named here instead.
void check_first_word(CLI::App& app, int argc, char** argv) {
  if (argc < 2) return;
  std::string first = argv[1];
  std::vector<std::string> names, shown;  // hidden ones (help-man, ...) are known, not listed
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
    if (!sub->get_group().empty()) shown.push_back(sub->get_name());
  }
  if (first[0] == '-' && first != "-" && !app.get_option_no_throw(first.substr(0, first.find('='))))
    throw kleak::usage_error(fmt::format("unknown option '{}' (before a command only --help and --version; "
                                         "commands: {})", first, fmt::join(shown, ", ")));
  // CLI11 takes an unknown first word for a stray argument and says "A subcommand is required".
  if (first[0] != '-' && std::find(names.begin(), names.end(), first) == names.end())
    throw kleak::usage_error(fmt::format("unknown command '{}' (commands: {})", first, fmt::join(shown, ", ")));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kleak: find the kernel call stacks that hold memory"};
  app.require_subcommand(1);
  app.footer(kleak::help_footer());
  // Listed by --help and the man page; `kleak --version [--format json]` runs `kleak version`.
  bool version_flag = false;  // never set: main() turns --version into the version command
  app.add_flag("--version", version_flag, "Print the version, commit, build date, compiler and libbpf (--format json: as JSON)");
  kleak::register_docs_commands(app, "kleak " KLEAK_VERSION);  // hidden: help-man, help-bash-completion
  int exit_code = 0;
  kleak::register_trace_command(app, exit_code);
  kleak::register_hunt_command(app, exit_code);
  kleak::register_meminfo_command(app, exit_code);
  kleak::register_report_command(app, exit_code);
  kleak::register_doctor_command(app, exit_code);
  kleak::register_version_command(app, build_info());
  kleak::name_placeholders(app);
  std::vector<char*> args(argv, argv + argc);
  static char version_word[] = "version";
  if (argc > 1 && std::string_view(argv[1]) == "--version") args[1] = version_word;
  try {
    check_first_word(app, argc, args.data());
    app.parse(argc, args.data());
  } catch (const CLI::Success& e) {  // --help (CallForHelp derives from Success)
    return flush_stdout(app.exit(e));
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "{}kleak: {} (see kleak --help)\n", kleak::log_prefix(kleak::LogLevel::err), message(e));
    return kleak::kExitUsage;
  } catch (const kleak::Error& e) {
    fmt::print(stderr, "{}kleak: {}\n", kleak::log_prefix(kleak::LogLevel::err), message(e));
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "{}kleak: {}\n", kleak::log_prefix(kleak::LogLevel::err), out_of_memory());
    return kleak::kExitFailure;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}kleak: internal error: {}\n", kleak::log_prefix(kleak::LogLevel::err), message(e));
    return kleak::kExitFailure;
  }
  return flush_stdout(exit_code);
}
