#include "session/cache_aliases.h"

#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kleak/journal.h"
#include "kleak/procfs.h"

namespace kleak {

SlabAliases live_slab_aliases() {
  ReadResult slabinfo = DirProcSource::live().read("slabinfo");
  if (!slabinfo.text) return {};
  return read_slab_aliases(*slabinfo.text);
}

Filter resolve_cache_aliases(const Filter& f, const SlabAliases& aliases) {
  std::set<std::string> told;
  return f.rename_caches([&](std::string_view name) {
    if (name.empty()) return std::string();  // cache == "": records without a cache
    CacheSelection s = select_cache(aliases, name);
    const std::string_view info = log_prefix(LogLevel::info);
    if (s.renamed && told.insert(std::string(name)).second) {
      if (s.sharing.empty())
        fmt::print(stderr, "{}kleak: cache {} is reported as {}\n", info, name, s.reported);
      else
        fmt::print(stderr, "{}kleak: cache {} is merged by SLUB into {}: selecting {}, shared by {}\n", info, name,
                   s.reported, s.reported, fmt::join(s.sharing, ", "));
    } else if (!s.sharing.empty() && told.insert(std::string(name)).second) {
      fmt::print(stderr, "{}kleak: cache {} is shared (SLUB merging) with {}: their objects are selected too\n", info,
                 name, fmt::join(s.sharing, ", "));
    }
    return s.reported;
  });
}

}  // namespace kleak
