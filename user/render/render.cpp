// One table of report formats: trace, report and --serve accept and render the same ones.
#include "kleak/render.h"

#include <algorithm>

#include "kleak/error.h"

namespace kleak {

namespace {

constexpr ReportFormat kFormats[] = {
    {"text", render_text, false, false},
    {"json", render_json, false, false},
    {"folded", render_folded, true, false},
    {"pprof", render_pprof, true, true},
    {"svg", render_svg, true, false},
};

}  // namespace

std::span<const ReportFormat> report_formats() { return kFormats; }

std::string report_format_names() {
  std::string out;
  for (size_t i = 0; i < std::size(kFormats); ++i) {
    if (i) out += i + 1 == std::size(kFormats) ? " or " : ", ";
    out += kFormats[i].name;
  }
  return out;
}

const ReportFormat& report_format(std::string_view name) {
  auto it = std::find_if(std::begin(kFormats), std::end(kFormats),
                         [&](const ReportFormat& f) { return f.name == name; });
  if (it == std::end(kFormats))
    throw usage_error("bad --format '" + std::string(name) + "' (use " + report_format_names() + ")");
  return *it;
}

void check_output(const ReportFormat& f, bool to_terminal) {
  if (f.binary && to_terminal)
    throw usage_error("--format " + std::string(f.name) +
                      " is binary: write it with -o FILE or into a pipe, not to a terminal");
}

}  // namespace kleak
