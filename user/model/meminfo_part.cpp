#include "kleak/meminfo_part.h"

namespace kleak {

std::optional<MeminfoPart> meminfo_part_from_name(std::string_view name) {
  for (size_t i = 0; i < kMeminfoPartNames.size(); ++i)
    if (kMeminfoPartNames[i] == name) return static_cast<MeminfoPart>(i);
  return std::nullopt;
}

}  // namespace kleak
