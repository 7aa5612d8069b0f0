// /proc/slabinfo parser (versions 2.0 and 2.1: SLAB and SLUB print the same columns).
//   slabinfo - version: 2.1
//   # name <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables ... :
//   slabdata <active_slabs> <num_slabs> <sharedavail>
#include "kleak/procfs.h"
#include "procfs/text_util.h"

namespace kleak {

Slabinfo parse_slabinfo(std::string_view text) {
  Slabinfo out;
  text::for_each_line(text, [&](std::string_view line) {
    line = text::trim(line);
    if (line.empty() || line.front() == '#') return;
    if (line.substr(0, 9) == "slabinfo ") {
      auto colon = line.find("version:");
      if (colon != std::string_view::npos) out.version = std::string(text::trim(line.substr(colon + 8)));
      return;
    }
    auto w = text::words(line);
    // name + 5 numbers, then `: tunables a b c : slabdata x y z` (SLAB may add statistics).
    if (w.size() < 6) {
      ++out.skipped_lines;
      return;
    }
    SlabCache c;
    c.name = std::string(w[0]);
    std::uint64_t* head[] = {&c.active_objs, &c.num_objs, &c.objsize, &c.objperslab, &c.pagesperslab};
    for (std::size_t i = 0; i < 5; ++i) {
      auto v = text::parse_u64(w[i + 1]);
      if (!v) {
        ++out.skipped_lines;
        return;
      }
      *head[i] = *v;
    }
    bool slabdata = false;
    for (std::size_t i = 6; i + 2 < w.size(); ++i) {
      if (w[i] != "slabdata") continue;
      auto active = text::parse_u64(w[i + 1]);
      auto total = text::parse_u64(w[i + 2]);
      if (!active || !total) break;
      c.active_slabs = *active;
      c.num_slabs = *total;
      slabdata = true;
      break;
    }
    if (!slabdata) {
      ++out.skipped_lines;
      return;
    }
    out.caches.push_back(std::move(c));
  });
  return out;
}

}  // namespace kleak
