#include "kleak/kind.h"

#include <fmt/format.h>

#include <array>
#include <utility>

#include "kleak/error.h"

namespace kleak {
namespace {

// From abi.h's KLEAK_KINDS, the one list of kinds BPF and C++ share.
constexpr std::pair<kleak_kind, std::string_view> kKinds[] = {
#define KLEAK_KIND_NAME_(kind, name, value) {KLEAK_KIND_##kind, #name},
    KLEAK_KINDS(KLEAK_KIND_NAME_)
#undef KLEAK_KIND_NAME_
};
static_assert(std::size(kKinds) == KLEAK_KIND_MAX - 1, "KLEAK_KIND_MAX is one past the last kind");

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<kleak_kind> kind_from_name(std::string_view name) noexcept {
  for (const auto& [kind, kind_text] : kKinds)
    if (kind_text == name) return kind;
  return std::nullopt;
}

std::string_view kind_name(kleak_kind kind) noexcept {
  if (kind == KLEAK_KIND_NONE) return "none";
  for (const auto& [k, name] : kKinds)
    if (k == kind) return name;
  return "unknown";
}

uint32_t parse_kinds(std::string_view list) {
  auto bad = [&](std::string_view why) {
    return usage_error(fmt::format("bad kind list '{}': {}", list, why));
  };
  if (trim(list).empty())
    throw bad("empty (use a comma-separated list of kmalloc, slab, page, vmalloc, percpu)");
  uint32_t mask = 0;
  for (std::string_view rest = list;;) {
    const size_t comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    if (item.empty()) throw bad("empty name between commas");
    const std::optional<kleak_kind> kind = kind_from_name(item);
    if (!kind)
      throw bad(fmt::format("unknown kind '{}' (use kmalloc, slab, page, vmalloc, percpu)", item));
    mask |= kind_bit(*kind);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return mask;
}

std::string kinds_to_string(uint32_t mask) {
  std::string out;
  for (const auto& [kind, name] : kKinds) {
    if ((mask & kind_bit(kind)) == 0) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

}  // namespace kleak
