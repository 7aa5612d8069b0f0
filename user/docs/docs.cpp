// Man page and bash completion rendered from the CLI11 App itself (include/kleak/docs.h).
#include "kleak/docs.h"

#include <fmt/format.h>

#include <map>
#include <vector>

#include "kleak/privileges.h"

namespace kleak {
namespace {

// Hidden subcommands and options have an empty group (CLI11's convention).
std::vector<const CLI::App*> visible_subcommands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); });
}
std::vector<const CLI::Option*> visible_options(const CLI::App& app) {
  return app.get_options([](const CLI::Option* o) { return !o->get_group().empty(); });
}

// As CLI11's own help formatter decides: flags (and --help, --version) have no type name.
bool takes_value(const CLI::Option& o) { return o.get_type_size() != 0 && !o.get_type_name().empty(); }

std::vector<std::string> switch_names(const CLI::Option& o) {
  std::vector<std::string> names;
  for (const auto& s : o.get_snames()) names.push_back("-" + s);
  for (const auto& l : o.get_lnames()) names.push_back("--" + l);
  return names;
}

// man(7) text: backslashes and hyphens escaped, no line may start with a control character.
std::string roff(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    line_start = c == '\n';
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
  }
  return out;
}

std::string option_tag(const CLI::Option& o) {
  std::string tag;
  for (const auto& n : switch_names(o)) tag += (tag.empty() ? "" : ", ") + fmt::format("\\fB{}\\fR", roff(n));
  if (takes_value(o)) tag += fmt::format(" \\fI{}\\fR", roff(o.get_type_name()));
  return tag;
}

std::string option_text(const CLI::Option& o) {
  std::string text = o.get_description();
  if (!o.get_default_str().empty()) text += fmt::format(" (default: {})", o.get_default_str());
  return roff(text);
}

std::string render_subcommand(const CLI::App& sub) {
  std::string usage = fmt::format("kleak {} [OPTIONS]", sub.get_name());
  std::vector<const CLI::Option*> positionals, switches;
  for (const CLI::Option* o : visible_options(sub)) (o->nonpositional() ? switches : positionals).push_back(o);
  for (const CLI::Option* p : positionals) usage += " " + p->get_name(true);
  std::string s = fmt::format(".SS \"{}\"\n{}\n", roff(usage), roff(sub.get_description()));
  for (const CLI::Option* p : positionals)
    s += fmt::format(".TP\n\\fI{}\\fR\n{}\n", roff(p->get_name(true)), option_text(*p));
  for (const CLI::Option* o : switches) s += fmt::format(".TP\n{}\n{}\n", option_tag(*o), option_text(*o));
  return s;
}

}  // namespace

const std::vector<UsageExample>& usage_examples() {
  static const std::vector<UsageExample> v = {
      {"kleak doctor", "Say whether kleak trace would work here, and why not"},
      {"kleak hunt", "Watch /proc for 60 s, then trace only what grows and name its stacks"},
      {"kleak trace --duration 10m", "Every allocation still held after 10 minutes, grouped by stack"},
      {"kleak trace --by cache --format json -o now.json", "By slab cache, as JSON, into a file"},
      {"kleak trace --duration 1h --record monday.kleak", "Keep the window for later"},
      {"kleak diff monday.kleak tuesday.kleak", "What changed between two recordings (no root)"},
      {"kleak meminfo", "Where MemTotal goes, every kB of /proc/meminfo"},
  };
  return v;
}

std::string_view exit_status_text() {
  return "0 success; 1 the box refused (privileges, BTF, tracefs, load or attach); 2 bad usage "
         "(flags, durations, filters, files); 3 the report is incomplete (a map was full)";
}

std::string help_footer() {
  std::string s = "Examples:\n";
  for (const auto& e : usage_examples()) s += fmt::format("  {:<50} {}\n", e.command, e.what);
  s += fmt::format("\nExit status: {}.\n", exit_status_text());
  s += "Privileges: trace and hunt need root or ";
  std::string caps;
  for (const auto& need : required_capabilities()) caps += (caps.empty() ? "" : ", ") + std::string(need.name);
  return s + caps + "; kleak doctor says what is missing.";
}

namespace {

std::string man_privileges() {
  std::string s = ".SH PRIVILEGES\n\\fBkleak trace\\fR and \\fBkleak hunt\\fR need root, or these capabilities "
                  "(as the systemd unit grants with AmbientCapabilities=):\n";
  for (const auto& need : required_capabilities())
    s += fmt::format(".TP\n\\fB{}\\fR\n{}\n", roff(need.name), roff(need.why));
  s += ".PP\nA seccomp filter must allow \\fBbpf\\fR(2) and \\fBperf_event_open\\fR(2), kernel lockdown must not be "
       "in confidentiality mode, and kernels before 5.11 need RLIMIT_MEMLOCK raised. \\fBkleak doctor\\fR "
       "names whichever of these refuses, with its fix. \\fBreport\\fR, \\fBdiff\\fR and \\fBmeminfo\\fR "
       "need no privilege.\n";
  return s;
}

std::string man_examples() {
  std::string s = ".SH EXAMPLES\n";
  for (const auto& e : usage_examples()) s += fmt::format(".TP\n.B {}\n{}\n", roff(e.command), roff(e.what));
  return s;
}

}  // namespace

std::string render_manpage(const CLI::App& app, std::string_view version) {
  // Section 8: a tool for root, as bcc's tools and bpftrace.
  std::string s = fmt::format(".TH KLEAK 8 \"\" \"{}\" \"System Administration\"\n", roff(version));
  s += ".SH NAME\nkleak \\- find the kernel call stacks that hold memory\n";
  s += ".SH SYNOPSIS\n.B kleak\n.I COMMAND\n[\\fIOPTIONS\\fR]\n";
  s += fmt::format(".SH DESCRIPTION\n{}\n", roff(app.get_description()));
  s += ".PP\nEvery command takes \\fB\\-h\\fR, \\fB\\-\\-help\\fR; \\fBkleak \\-\\-version\\fR prints the version.\n";
  s += ".SH COMMANDS\n";
  for (const CLI::App* sub : visible_subcommands(app)) s += render_subcommand(*sub);
  s += ".SH OPTIONS\n";
  for (const CLI::Option* o : visible_options(app)) s += fmt::format(".TP\n{}\n{}\n", option_tag(*o), option_text(*o));
  s += man_privileges();
  s += man_examples();
  s += fmt::format(".SH EXIT STATUS\n{}.\n", roff(exit_status_text()));
  s += ".SH FILES\n/proc/kallsyms, /proc/slabinfo, /proc/meminfo, /sys/kernel/btf/vmlinux, "
       "/sys/kernel/tracing\n";
  s += ".SH SEE ALSO\n\\fBbpftrace\\fR(8), \\fBbpftool\\fR(8), \\fBslabtop\\fR(1), \\fBproc\\fR(5), "
       "\\fBcapabilities\\fR(7), \\fBseccomp\\fR(2), \\fBkernel_lockdown\\fR(7), "
       "\\fBsystemd.exec\\fR(5)\n";
  return s;
}

namespace {

// What every completion needs of one visible subcommand, from the CLI11 tables (as bash's).
struct CompletionEntry {
  std::string name, description;
  std::vector<std::string> options, valued;  // every switch; those that take a value
  bool positional = false;                    // takes file arguments
};

std::vector<CompletionEntry> completion_table(const CLI::App& app) {
  std::vector<CompletionEntry> out;
  for (const CLI::App* sub : visible_subcommands(app)) {
    CompletionEntry e{sub->get_name(), sub->get_description(), {}, {}, false};
    for (const CLI::Option* o : visible_options(*sub)) {
      e.positional |= !o->nonpositional();
      for (const auto& n : switch_names(*o)) {
        e.options.push_back(n);
        if (takes_value(*o)) e.valued.push_back(n);
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::string joined(const std::vector<std::string>& v, std::string_view sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : std::string(sep)) + x;
  return s;
}

// Inside single quotes: ' closes, so it is written '\'' (sh, zsh) or \' (fish).
std::string single_quoted(std::string_view text, std::string_view quote) {
  std::string out;
  for (char c : text) out += c == '\'' ? std::string(quote) : std::string(1, c);
  return out;
}

// The top-level switches, each preceded by a space: what every shell offers before a subcommand.
std::string top_switches(const CLI::App& app) {
  std::string top;
  for (const CLI::Option* o : visible_options(app))
    for (const auto& n : switch_names(*o)) top += " " + n;
  return top;
}

}  // namespace

std::string render_bash_completion(const CLI::App& app) {
  std::string subs, pattern, cases;
  for (const auto& e : completion_table(app)) {
    subs += (subs.empty() ? "" : " ") + e.name;
    pattern += (pattern.empty() ? "" : "|") + e.name;
    cases += fmt::format("    {})\n      opts='{}'\n      files={}\n", e.name, joined(e.options, " "), e.positional ? 1 : 0);
    if (!e.valued.empty())
      cases += fmt::format("      case \"$prev\" in {}) COMPREPLY=($(compgen -f -- \"$cur\")); return ;; esac\n",
                           joined(e.valued, "|"));
    cases += "      ;;\n";
  }
  const std::string top = top_switches(app);
  return fmt::format(
      "# bash completion for kleak, generated by `kleak help-bash-completion` from its option tables\n"
      "_kleak() {{\n"
      "  local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}} sub='' i\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    case \"${{COMP_WORDS[i]}}\" in {}) sub=${{COMP_WORDS[i]}}; break ;; esac\n"
      "  done\n"
      "  local opts files=0\n"
      "  case \"$sub\" in\n"
      "    '') COMPREPLY=($(compgen -W '{}{}' -- \"$cur\")); return ;;\n"
      "{}"
      "  esac\n"
      "  if [[ $cur != -* && $files == 1 ]]; then COMPREPLY=($(compgen -f -- \"$cur\")); return; fi\n"
      "  COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
      "}}\n"
      "complete -F _kleak kleak\n",
      pattern, subs, top, cases);
}


std::string render_zsh_completion(const CLI::App& app) {
  std::string subs, pattern, cases;
  for (const auto& e : completion_table(app)) {
    subs += " '" + e.name + ":" + single_quoted(e.description, "'\\''") + "'";
    pattern += (pattern.empty() ? "" : "|") + e.name;
    cases += fmt::format("    ({}) opts=({}); valued=({}); files={} ;;\n", e.name, joined(e.options, " "),
                         joined(e.valued, " "), e.positional ? 1 : 0);
  }
  const std::string top = top_switches(app);
  return fmt::format(
      "#compdef kleak\n"
      "# zsh completion for kleak, generated by `kleak help-zsh-completion` from its option tables\n"
      "_kleak() {{\n"
      "  local sub='' i files=0\n"
      "  local -a subs opts valued\n"
      "  subs=({})\n"
      "  for ((i = 2; i < CURRENT; i++)); do\n"
      "    case $words[i] in ({}) sub=$words[i]; break ;; esac\n"
      "  done\n"
      "  case $sub in\n"
      "    ('') _describe -t commands 'kleak command' subs; compadd -- {}; return ;;\n"
      "{}"
      "  esac\n"
      "  if (( ${{valued[(Ie)${{words[CURRENT-1]}}]}} )); then _files; return; fi\n"
      "  if [[ $PREFIX != -* && $files == 1 ]]; then _files; return; fi\n"
      "  compadd -- $opts\n"
      "}}\n"
      "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _kleak \"$@\"; else compdef _kleak kleak; fi\n",
      subs, pattern, top, cases);
}

std::string render_fish_completion(const CLI::App& app) {
  std::string s =
      "# fish completion for kleak, generated by `kleak help-fish-completion` from its option tables\n"
      "complete -c kleak -f\n";
  for (const CLI::Option* o : visible_options(app))
    for (const auto& l : o->get_lnames())
      s += fmt::format("complete -c kleak -n __fish_use_subcommand -l {} -d '{}'\n", l,
                       single_quoted(o->get_description(), "\\'"));
  for (const auto& e : completion_table(app))
    s += fmt::format("complete -c kleak -n __fish_use_subcommand -a {} -d '{}'\n", e.name,
                     single_quoted(e.description, "\\'"));
  for (const CLI::App* sub : visible_subcommands(app)) {
    std::string when = "'__fish_seen_subcommand_from " + sub->get_name() + "'";
    for (const CLI::Option* o : visible_options(*sub)) {
      if (!o->nonpositional()) {
        s += fmt::format("complete -c kleak -n {} -F\n", when);
        continue;
      }
      std::string names;
      for (const auto& n : o->get_snames()) names += " -s " + n;
      for (const auto& n : o->get_lnames()) names += " -l " + n;
      s += fmt::format("complete -c kleak -n {}{}{} -d '{}'\n", when, names, takes_value(*o) ? " -rF" : "",
                       single_quoted(o->get_description(), "\\'"));
    }
  }
  return s;
}

namespace {
// One word per kind of value, whatever subcommand the option is in (trace said TEXT where hunt said
// D for the same duration).
const std::map<std::string, std::string, std::less<>>& placeholder_by_name() {
  static const std::map<std::string, std::string, std::less<>> m = {
      {"duration", "DURATION"}, {"interval", "DURATION"}, {"watch", "DURATION"},
      {"output", "FILE"},       {"record", "FILE"},       {"btf", "FILE"},
      {"kallsyms", "FILE"},     {"web.config.file", "FILE"}, {"save", "FILE"},
      {"file", "FILE"},         {"a", "FILE"},            {"b", "FILE"},
      {"tracefs", "DIR"},       {"format", "FORMAT"},     {"min-size", "SIZE"},
      {"max-size", "SIZE"},     {"pid", "PID"},           {"cgroup", "CGROUP"},
      {"filter", "EXPR"},       {"by", "FIELD"},          {"sort", "ORDER"},
      {"kinds", "KINDS"},       {"cache", "CACHE"},       {"serve", "ADDRESS"},
      {"attach", "MODE"},       {"bulk-frees", "MODE"},
  };
  return m;
}

void name_placeholders_of(CLI::App& app) {
  for (CLI::Option* o : app.get_options([](CLI::Option*) { return true; })) {
    if (o->get_type_size() == 0 || o->get_type_name().empty()) continue;  // a flag
    std::string name = o->get_lnames().empty() ? o->get_name(true) : o->get_lnames().front();
    std::string type = o->get_type_name();
    auto it = placeholder_by_name().find(name);
    if (it != placeholder_by_name().end() && type.find(' ') == std::string::npos && type.find('|') == std::string::npos)
      o->type_name(it->second);
    else if (type == "INT" || type == "UINT" || type.starts_with("UINT") || type.starts_with("INT"))
      o->type_name("N");
    else if (type == "FLOAT")
      o->type_name("NUMBER");
    else if (type == "TEXT")
      o->type_name("VALUE");
  }
}
}  // namespace

void name_placeholders(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) name_placeholders_of(*sub);
}

void register_docs_commands(CLI::App& app, std::string version) {
  CLI::App* man = app.add_subcommand("help-man", "Print the man page (roff), generated from these options");
  man->group("");
  man->callback([&app, version] { fmt::print("{}", render_manpage(app, version)); });
  CLI::App* comp = app.add_subcommand("help-bash-completion", "Print the bash completion script");
  comp->group("");
  comp->callback([&app] { fmt::print("{}", render_bash_completion(app)); });
  CLI::App* zsh = app.add_subcommand("help-zsh-completion", "Print the zsh completion script");
  zsh->group("");
  zsh->callback([&app] { fmt::print("{}", render_zsh_completion(app)); });
  CLI::App* fish = app.add_subcommand("help-fish-completion", "Print the fish completion script");
  fish->group("");
  fish->callback([&app] { fmt::print("{}", render_fish_completion(app)); });
}

}  // namespace kleak
