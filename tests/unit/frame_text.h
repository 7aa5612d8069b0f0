// Frames written the way the report prints them, for tests: "func+0x1c", "func+0x1c [module]",
// "0xffffffffc0a01234" (unknown) or "[...]" (one of kleak's markers). Only the fixtures are
// written as text: the code under test gets Frame values.
#pragma once
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "kleak/frame.h"

namespace kleak::test {

inline Frame frame(std::string_view s) {
  Frame f;
  if (s.empty() || s.front() == '[') return Frame::make_marker(std::string(s));
  if (s.starts_with("0x")) {
    f.addr = std::stoull(std::string(s.substr(2)), nullptr, 16);
    return f;
  }
  if (size_t sp = s.find(" ["); sp != std::string_view::npos) {
    f.module = std::string(s.substr(sp + 2, s.size() - sp - 3));
    s = s.substr(0, sp);
  }
  size_t plus = s.rfind("+0x");
  f.func = std::string(s.substr(0, plus));
  f.offset = plus == std::string_view::npos ? 0 : std::stoull(std::string(s.substr(plus + 3)), nullptr, 16);
  f.addr = 0xffffffff81000000 + f.offset;
  return f;
}

inline std::vector<Frame> stack(std::initializer_list<std::string_view> frames) {
  std::vector<Frame> out;
  for (auto s : frames) out.push_back(frame(s));
  return out;
}

inline std::vector<Frame> stack(const std::vector<std::string>& frames) {
  std::vector<Frame> out;
  for (const auto& s : frames) out.push_back(frame(s));
  return out;
}

}  // namespace kleak::test
