// What `kleak --version` and `kleak version` say: the release, the commit and date it was built
// from, the compiler and the libbpf it runs with (as node_exporter's --version does), in text or
// JSON. main.cpp fills BuildInfo (the generated kleak_build_info.h, libbpf at run time).
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <string_view>

namespace kleak {

struct BuildInfo {
  std::string version;  // "0.1.0"
  std::string commit;   // "1a2b3c4d5e6f", "...-dirty", "unknown"
  std::string date;     // "2026-12-07T14:00:00Z"
  std::string compiler; // "gcc 12.2.0"
  std::string libbpf;   // "v1.1"
};

// `format`: "text" (first line "kleak <version>", what scripts read) or "json"; else usage error.
std::string render_version(const BuildInfo& b, std::string_view format);

// The `version` subcommand, with --format.
void register_version_command(CLI::App& app, const BuildInfo& b);

}  // namespace kleak
