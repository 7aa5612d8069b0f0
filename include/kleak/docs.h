// The man page and the bash completion are rendered from the same CLI11 tables as --help, so no
// option can be documented in one and missing from the other (tests/package/docs_test.sh checks
// every option of every subcommand's --help against both). Build-time: CMake runs the built
// binary's hidden `help-man` and `help-bash-completion` subcommands (user/docs/).
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <string_view>

namespace kleak {

// roff for man(7), section 1: every visible subcommand with its positionals and options.
std::string render_manpage(const CLI::App& app, std::string_view version);
// A bash completion script (complete -F _kleak kleak): subcommands, their options, and file
// names after options and positionals that take a value.
std::string render_bash_completion(const CLI::App& app);
// Adds the hidden `help-man` and `help-bash-completion` subcommands; they render `app` as it is
// when they run, so subcommands registered after this call are included.
void register_docs_commands(CLI::App& app, std::string version);

}  // namespace kleak
