// The man page and the bash, zsh and fish completions are rendered from the same CLI11 tables as
// --help, so no option can be documented in one and missing from another (tests/package/docs_test.sh
// checks every option of every subcommand's --help against them). Build-time: CMake runs the built
// binary's hidden `help-man` and `help-*-completion` subcommands (user/docs/).
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace kleak {

// The examples and exit codes --help ends with (app.footer) and the man page shows.
struct UsageExample {
  std::string_view command, what;
};
const std::vector<UsageExample>& usage_examples();
std::string_view exit_status_text();
std::string help_footer();

// roff for man(7), section 8 (a root tool, as bpftrace): every visible subcommand with its positionals and options.
std::string render_manpage(const CLI::App& app, std::string_view version);
// A bash completion script (complete -F _kleak kleak): subcommands, their options, and file
// names after options and positionals that take a value.
std::string render_bash_completion(const CLI::App& app);
// The same placeholder for the same kind of value in every subcommand's --help, man page and
// completion: DURATION, FILE, DIR, N, ... (CLI11 says TEXT, INT by C++ type). Called once every
// subcommand is registered.
void name_placeholders(CLI::App& app);
// zsh (#compdef, for fpath or `source`) and fish scripts from the same table as bash's.
std::string render_zsh_completion(const CLI::App& app);
std::string render_fish_completion(const CLI::App& app);
// Adds the hidden `help-man`, `help-bash-completion`, `help-zsh-completion` and
// `help-fish-completion` subcommands; they render `app` as it is
// when they run, so subcommands registered after this call are included.
void register_docs_commands(CLI::App& app, std::string version);

}  // namespace kleak
