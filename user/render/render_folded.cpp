// Folded stacks ("a;b;c 1234"), the input of FlameGraph's flamegraph.pl, inferno and speedscope,
// and the frame path every flame-shaped output shares (render.h).
#include <fmt/format.h>

#include <map>

#include "kleak/render.h"
#include "kleak/text_escape.h"

namespace kleak {

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);  // control characters are valid UTF-8: pprof keeps them exact
      ++i;
      continue;
    }
    // Length and the smallest code point of a well-formed sequence (no overlongs, no
    // surrogates, nothing past U+10FFFF).
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    bool ok = n != 0 && i + n <= s.size();
    uint32_t cp = n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (size_t k = 1; ok && k < n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (ok && n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ok = false;
    if (ok && n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ok = false;
    if (!ok) {
      out += '?';
      ++i;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

std::vector<std::string> flame_path(const Report& r, const StackGroup& g) {
  std::vector<std::string> path;
  path.reserve(1 + g.group.size() + g.frames.size());
  path.push_back("[" + (g.kind.empty() ? "unknown" : g.kind) + "]");
  for (GroupBy by : r.by) {
    if (by == GroupBy::stack || by == GroupBy::callsite) continue;
    std::string name(group_by_name(by));
    auto it = g.group.find(name);
    if (it != g.group.end()) path.push_back(name + "=" + it->second);
  }
  for (auto it = g.frames.rbegin(); it != g.frames.rend(); ++it)
    if (!it->blank()) path.push_back(it->function_name());
  return path;
}

std::string folded_frame(std::string_view name) {
  std::string out = escape_text(name);  // control characters written "\t", "\x1b": a space is left
  for (char& c : out) {
    if (c == ' ') c = '_';
    else if (c == ';') c = ':';
  }
  return out;
}

std::string render_folded(const Report& r) {
  std::map<std::string, uint64_t> lines;
  for (const auto& g : r.stacks) {
    if (g.bytes == 0) continue;
    std::string line;
    for (const auto& f : flame_path(r, g)) {
      if (!line.empty()) line += ';';
      line += folded_frame(f);
    }
    lines[line] += g.bytes;
  }
  std::string out;
  for (const auto& [line, bytes] : lines) out += fmt::format("{} {}\n", line, bytes);
  return out;
}

}  // namespace kleak
