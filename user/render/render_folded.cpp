// Folded stacks ("a;b;c 1234"), the input of FlameGraph's flamegraph.pl, inferno and speedscope,
// and the frame path every flame-shaped output shares (render.h).
#include <fmt/format.h>

#include <map>

#include "kleak/render.h"
#include "kleak/text_escape.h"

namespace kleak {

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
