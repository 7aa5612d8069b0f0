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

std::optional<std::string> deferred_free_of(const StackGroup& g) {
  // Measured on 6.18 (CI, Trust.HeldPipes...): a shell loop's forks left 301 vmap_area objects
  // (72 B each, allocated in copy_process for the thread stacks) growing 108 KiB/min in a 12 s
  // window, long after kleak saw every stack vfree'd; the slabinfo count grew with them, because
  // the kernel really keeps them until the purge (lazy_max_pages: 32 MiB of address space per
  // log2 CPU). Their growth is the purge's backlog, bounded, not a leak.
  if (g.kind == "slab" && g.cache && *g.cache == "vmap_area")
    return "the kernel frees the descriptors of freed vmalloc areas (vmap_area) in lazy batches and "
           "keeps them in per-node pools, with no event kleak can follow";
  return std::nullopt;
}

}  // namespace kleak
