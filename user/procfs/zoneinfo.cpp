// /proc/zoneinfo: only the per-CPU page list counts are read (see procfs.h).
#include <charconv>

#include "kleak/procfs.h"

namespace kleak {

std::optional<std::int64_t> parse_zoneinfo_pcp_pages(std::string_view text) {
  std::optional<std::int64_t> total;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    size_t i = line.find_first_not_of(" \t");
    if (i == std::string_view::npos || i == 0) continue;  // pageset fields are indented
    line = line.substr(i);
    if (!line.starts_with("count:")) continue;
    line = line.substr(6);
    line = line.substr(std::min(line.size(), line.find_first_not_of(" \t")));
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), v);
    if (ec != std::errc() || v < 0) continue;
    total = total.value_or(0) + v;
  }
  return total;
}

}  // namespace kleak
