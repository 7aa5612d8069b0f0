// The view options' checks (view.h).
#include "session/view.h"

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "kleak/error.h"

namespace kleak {

size_t ViewOptions::groups_shown() const {
  if (top == 0) return SIZE_MAX;
  if (!top_given && report_format(format).all_groups) return SIZE_MAX;
  return top;
}

double parse_rate_kb(const std::string& text, const std::string& option) {
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(text, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  std::string unit = text.substr(pos);
  double mul = unit.empty() ? 1.0 / 1024 : unit == "k" || unit == "K" ? 1 : unit == "M" ? 1024 : unit == "G" ? 1024 * 1024 : -1;
  if (pos == 0 || mul < 0 || !(v >= 0) || !std::isfinite(v))
    throw usage_error("bad " + option + " '" + text + "' (bytes per minute: 4096, 256k, 1M)");
  return v * mul;
}

double min_growth_bytes_per_s(const ViewOptions& o) { return parse_rate_kb(o.min_growth) * 1024 / 60; }

void check_view_output(const ViewOptions& o) {
  check_output(report_format(o.format), o.output.empty() && isatty(STDOUT_FILENO));
}

}  // namespace kleak
