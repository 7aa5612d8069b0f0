#include "kleak/frame.h"

#include <fmt/format.h>

namespace kleak {

std::string Frame::text() const {
  if (marker) return *marker;
  if (!known()) return fmt::format("0x{:x}", addr);
  if (module.empty()) return fmt::format("{}+0x{:x}", func, offset);
  return fmt::format("{}+0x{:x} [{}]", func, offset, module);
}

std::string Frame::function_name() const {
  if (!known()) return text();
  return module.empty() ? func : func + " [" + module + "]";
}

std::string_view base_name(std::string_view func) noexcept {
  size_t dot = func.find('.');
  return dot == std::string_view::npos ? func : func.substr(0, dot);
}

int frames_text_compare(std::span<const Frame> a, std::span<const Frame> b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (int c = a[i].text().compare(b[i].text())) return c;
  return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
}

}  // namespace kleak
