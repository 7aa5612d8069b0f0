// Kernel ledgers (ledger.h): the kernel's own counts a group's growth is held against.
#include "kleak/ledger.h"

#include "kleak/category.h"
#include "kleak/procfs.h"

namespace kleak {

Ledgers kernel_ledgers(std::string_view meminfo, std::string_view slabinfo) {
  Ledgers out;
  if (!meminfo.empty()) {
    Meminfo m = parse_meminfo(meminfo);
    for (const char* f : {"PageTables", "KernelStack", "VmallocUsed", "Percpu"})
      if (auto kb = m.get(f); kb && *kb >= 0) out[f] = static_cast<uint64_t>(*kb) * 1024;
  }
  if (!slabinfo.empty())
    for (const auto& c : parse_slabinfo(slabinfo).caches) out["slab:" + c.name] = c.active_objs * c.objsize;
  return out;
}

std::optional<std::string> ledger_of(const StackGroup& g) {
  auto cat = category_from_name(g.category);
  if (!cat) return std::nullopt;
  // Slab and small kmalloc objects are counted by their cache; large kmallocs are pages.
  if ((g.kind == "slab" || g.kind == "kmalloc") && g.cache && !g.cache->empty() &&
      *cat != Category::kmalloc_large)
    return "slab:" + *g.cache;
  switch (*cat) {
    case Category::page_tables: return "PageTables";
    case Category::kernel_stack: return "KernelStack";
    case Category::vmalloc: return "VmallocUsed";
    case Category::percpu: return "Percpu";
    default: return std::nullopt;
  }
}

}  // namespace kleak
