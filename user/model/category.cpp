// Category names: the stable JSON strings, beside the enum (kleak/category.h).
#include "kleak/category.h"

#include <array>

namespace kleak {

using C = Category;

namespace {

// Indexed by Category; these are the stable JSON names.
constexpr std::array<std::string_view, kCategoryCount> kNames = {
    "slab",           "kmalloc_large",         "vmalloc",         "percpu",
    "slab_backing",   "kmalloc_large_backing", "vmalloc_backing", "percpu_backing",
    "user_anon",      "page_cache",            "page_tables",     "kernel_stack",
    "pipe",           "socket",                "balloon",         "page_direct",
    "unknown",
};
static_assert([] {
  for (auto n : kNames)
    if (n.empty()) return false;
  return kNames[static_cast<size_t>(C::unknown)] == "unknown" &&
         kNames[static_cast<size_t>(C::page_direct)] == "page_direct";
}());

}  // namespace

bool is_user_memory(Category c) noexcept { return c == C::user_anon || c == C::page_cache; }

bool is_backing(Category c) noexcept {
  return c == C::slab_backing || c == C::kmalloc_large_backing || c == C::vmalloc_backing ||
         c == C::percpu_backing;
}

std::string_view category_name(Category c) noexcept {
  auto i = static_cast<size_t>(c);
  return i < kNames.size() ? kNames[i] : std::string_view("unknown");
}

std::optional<Category> category_from_name(std::string_view name) noexcept {
  for (size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == name) return static_cast<Category>(i);
  return std::nullopt;
}

}  // namespace kleak
