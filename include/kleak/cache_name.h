// A slab cache named with the caches SLUB merged into it: a model value's text, so the render
// stage (a group's cache= in text reports) and hunt's notes write it alike without the meminfo
// stage, which finds the merged caches (slab_aliases.h).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace kleak {

// "ftrace_event_field (also Acpi-Parse, damon_region, ...)"; `reported` alone when `others` is empty.
std::string describe_cache(std::string_view reported, const std::vector<std::string>& others);

}  // namespace kleak
