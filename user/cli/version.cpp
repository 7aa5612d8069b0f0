// `kleak version [--format text|json]` (and `kleak --version`, main.cpp sends it here).
#include "kleak/version.h"

#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "kleak/error.h"
#include "kleak/format_table.h"

namespace kleak {

namespace {

std::string version_text(const BuildInfo& b) {
  return fmt::format("kleak {}\n  commit:     {}\n  build date: {}\n  compiler:   {}\n  libbpf:     {}\n", b.version,
                     b.commit, b.date, b.compiler, b.libbpf);
}

std::string version_json(const BuildInfo& b) {
  return nlohmann::json{{"version", b.version}, {"commit", b.commit}, {"build_date", b.date},
                        {"compiler", b.compiler}, {"libbpf", b.libbpf}}
             .dump(2) + "\n";
}

// version's --format table (format_table.h).
std::span<const DocFormat<BuildInfo>> version_formats() {
  static constexpr DocFormat<BuildInfo> kFormats[] = {{"text", version_text}, {"json", version_json}};
  return kFormats;
}

}  // namespace

std::string render_version(const BuildInfo& b, std::string_view format) {
  return find_format(version_formats(), format, "version").render(b);
}

void register_version_command(CLI::App& app, const BuildInfo& b) {
  auto format = std::make_shared<std::string>("text");
  CLI::App* cmd = app.add_subcommand("version", "Print kleak's version, commit, build date, compiler and libbpf");
  cmd->add_option("--format", *format, "text (default) or json")->type_name("FORMAT");
  cmd->callback([format, b] { fmt::print("{}", render_version(b, *format)); });
}

}  // namespace kleak
