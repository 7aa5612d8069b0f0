// describe_cache (cache_name.h).
#include "kleak/cache_name.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kleak {

std::string describe_cache(std::string_view reported, const std::vector<std::string>& others) {
  if (others.empty()) return std::string(reported);
  return fmt::format("{} (also {})", reported, fmt::join(others, ", "));
}

}  // namespace kleak
