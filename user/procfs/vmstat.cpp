// /proc/vmstat parser: `name value` per line.
#include "kleak/procfs.h"
#include "procfs/text_util.h"

namespace kleak {

std::optional<std::int64_t> Vmstat::get(std::string_view key) const {
  auto it = fields.find(key);
  if (it == fields.end()) return std::nullopt;
  return it->second;
}

Vmstat parse_vmstat(std::string_view text) {
  Vmstat out;
  text::for_each_line(text, [&](std::string_view line) {
    auto w = text::words(line);
    if (w.empty()) return;
    std::optional<std::uint64_t> v;
    if (w.size() == 2) v = text::parse_u64(w[1]);
    if (!v) {
      ++out.skipped_lines;
      return;
    }
    out.fields.emplace(std::string(w[0]), static_cast<std::int64_t>(*v));
  });
  return out;
}

}  // namespace kleak
