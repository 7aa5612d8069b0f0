// One entry point for every report format, so trace and report accept the same ones.
#include "kleak/render.h"
#include "kleak/error.h"

namespace kleak {

void check_report_format(const std::string& format) {
  if (format != "text" && format != "json" && format != "folded" && format != "pprof" && format != "svg")
    throw usage_error("bad --format '" + format + "' (use text, json, folded, pprof or svg)");
}

bool format_wants_all_groups(const std::string& format) {
  return format == "folded" || format == "pprof" || format == "svg";
}

std::string render_report(const Report& r, const std::string& format) {
  if (format == "json") return render_json(r);
  if (format == "folded") return render_folded(r);
  if (format == "pprof") return render_pprof(r);
  if (format == "svg") return render_svg(r);
  return render_text(r);
}

}  // namespace kleak
