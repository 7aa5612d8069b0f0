// The view options' checks (view.h).
#include "session/view.h"

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "kleak/byte_size.h"
#include "kleak/error.h"

namespace kleak {

size_t ViewOptions::groups_shown() const {
  if (top == 0) return SIZE_MAX;
  if (!top_given && report_format(format).all_groups) return SIZE_MAX;
  return top;
}

double parse_rate_kb(const std::string& text, const std::string& option) {
  if (auto bytes = parse_bytes_real(text)) return *bytes / 1024;
  throw usage_error("bad " + option + " '" + text + "' (bytes per minute: 4096, 256k, 1M)");
}

double min_growth_bytes_per_s(const ViewOptions& o) { return parse_rate_kb(o.min_growth) * 1024 / 60; }

void check_view_output(const ViewOptions& o) {
  check_output(report_format(o.format), o.output.empty() && isatty(STDOUT_FILENO));
}

}  // namespace kleak
