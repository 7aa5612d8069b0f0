// One table of report formats: trace, report and --serve accept and render the same ones
// (the mechanism every subcommand's --format shares: format_table.h).
#include "kleak/render.h"

#include "kleak/error.h"
#include "kleak/format_table.h"

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

std::string report_format_names() { return format_names(report_formats()); }

const ReportFormat& report_format(std::string_view name) { return find_format(report_formats(), name, ""); }

void check_output(const ReportFormat& f, bool to_terminal) {
  if (f.binary && to_terminal)
    throw usage_error("--format " + std::string(f.name) +
                      " is binary: write it with -o FILE or into a pipe, not to a terminal");
}

}  // namespace kleak
