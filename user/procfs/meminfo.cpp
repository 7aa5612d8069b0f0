// /proc/meminfo parser: `Key:   value [kB]` per line.
#include "kleak/procfs.h"

#include <fmt/format.h>

#include "procfs/text_util.h"

namespace kleak {

std::optional<std::int64_t> Meminfo::get(std::string_view key) const {
  auto it = fields.find(key);
  if (it == fields.end()) return std::nullopt;
  return it->second;
}

std::int64_t Meminfo::get_or(std::string_view key, std::int64_t fallback) const {
  return get(key).value_or(fallback);
}

Meminfo parse_meminfo(std::string_view text) {
  Meminfo out;
  text::for_each_line(text, [&](std::string_view line) {
    line = text::trim(line);
    if (line.empty()) return;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      ++out.skipped_lines;
      return;
    }
    std::string_view key = text::trim(line.substr(0, colon));
    auto w = text::words(line.substr(colon + 1));
    // `value` or `value kB`; anything else is not a meminfo line.
    if (key.empty() || w.empty() || w.size() > 2 || (w.size() == 2 && w[1] != "kB")) {
      ++out.skipped_lines;
      return;
    }
    auto v = text::parse_u64(w[0]);
    if (!v) {
      std::string_view digits = w[0].starts_with('-') ? w[0].substr(1) : w[0];
      bool number = !digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos;
      if (number) out.out_of_range.push_back(fmt::format("{}: {}", key, w[0]));
      else ++out.skipped_lines;
      return;
    }
    // The first occurrence wins: meminfo never repeats a key, a concatenated file might.
    out.fields.emplace(std::string(key), static_cast<std::int64_t>(*v));
  });
  return out;
}

std::vector<std::string> parse_module_names(std::string_view text) {
  std::vector<std::string> out;
  text::for_each_line(text, [&](std::string_view line) {
    auto w = text::words(line);
    if (!w.empty()) out.emplace_back(w[0]);
  });
  return out;
}

}  // namespace kleak
