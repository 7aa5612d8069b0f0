// How /proc/meminfo moved during the window next to what the trace explains. The rule of
// counting once holds here too: backing pages explain nothing on their own (the object above
// them does), so a slab leak explains Slab growth through its objects, a vmalloc leak explains
// VmallocUsed through its area (less the guard page).
#include "kleak/reconcile.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

namespace kleak {

std::optional<MeminfoPart> meminfo_line_for(Category c, bool reclaimable_slab) {
  using P = MeminfoPart;
  switch (c) {
    case Category::slab: return reclaimable_slab ? P::slab_reclaimable : P::slab_unreclaimable;
    case Category::kmalloc_large: return P::slab_unreclaimable;  // counted in SUnreclaim since 5.x
    case Category::vmalloc: return P::vmalloc;
    case Category::percpu: return P::percpu;
    case Category::page_tables: return P::page_tables;
    case Category::kernel_stack: return P::kernel_stack;
    case Category::user_anon: return P::user_anon;
    case Category::page_cache: return P::user_file;
    case Category::balloon: return P::balloon;
    case Category::slab_backing:
    case Category::kmalloc_large_backing:
    case Category::vmalloc_backing:
    case Category::percpu_backing: return std::nullopt;
    case Category::pipe:
    case Category::socket:
    case Category::page_direct:
    case Category::unknown: return P::unaccounted;
  }
  return P::unaccounted;
}

namespace {

bool slab_reclaimable(const Snapshot& snap, const std::string& cache) {
  if (cache.find("-rcl-") != std::string::npos) return true;
  auto it = snap.sys.find("/sys/kernel/slab/" + cache + "/reclaim_account");
  return it != snap.sys.end() && it->second == "1";
}

}  // namespace

void reconcile(Report& r, const Accounting& start, const Accounting& end,
               const Snapshot& end_snapshot, uint64_t page_size) {
  std::map<MeminfoPart, Report::ReconcileRow> rows;  // in name order, as the rows are sorted from
  for (const auto& p : end.parts) {
    // Free pages on the per-CPU lists are free memory too: one "free" row for both.
    const MeminfoPart key = p.key == MeminfoPart::free_pcp ? MeminfoPart::free : p.key;
    auto& row = rows[key];
    row.line = key;
    row.label = key == MeminfoPart::free ? "free (MemFree + per-CPU lists)" : p.label;
    row.moved_kb += p.kb - start.part_kb(p.key).value_or(0);
  }
  auto explain = [&](std::optional<MeminfoPart> line, const std::string& category, int64_t bytes) {
    if (!line) return;
    // A balloon the kernel does not report (no Balloon: line) is unaccounted memory.
    const MeminfoPart key = rows.count(*line) ? *line : MeminfoPart::unaccounted;
    auto& row = rows[key];
    row.line = key;
    row.explained_kb += bytes / 1024;
    if (std::find(row.categories.begin(), row.categories.end(), category) == row.categories.end())
      row.categories.push_back(category);
  };
  int64_t total = 0;
  for (const auto& [cat, sum] : r.by_category) {
    if (cat == Category::slab) continue;  // by cache, below
    int64_t bytes = static_cast<int64_t>(sum.bytes);
    if (auto o = r.objects_by_category.find(cat); o != r.objects_by_category.end()) {
      bytes -= static_cast<int64_t>(o->second.bytes);  // in Slab: by cache, below
      if (o->second.count == sum.count) continue;      // objects only: nothing of this line
    }
    if (cat == Category::vmalloc) bytes -= static_cast<int64_t>(page_size * sum.count);  // guard pages
    const auto line = meminfo_line_for(cat, false);
    if (line) total += bytes;
    explain(line, std::string(category_name(cat)), bytes);
  }
  for (const auto& [cache, sum] : r.slab_by_cache) {
    const auto line = meminfo_line_for(Category::slab, slab_reclaimable(end_snapshot, cache));
    total += static_cast<int64_t>(sum.bytes);
    explain(line, "slab", static_cast<int64_t>(sum.bytes));
  }
  for (auto& g : r.stacks) {
    if (g.category == "mixed") continue;  // a --by group of several categories: no one line
    auto cat = category_from_name(g.category).value_or(Category::unknown);
    // A kmalloc or slab object is in Slab whatever stack it is under (a socket's sk, a pipe's
    // pipe_inode_info); large kmallocs are counted in SUnreclaim too.
    if ((g.kind == "kmalloc" || g.kind == "slab") && cat != Category::kmalloc_large) cat = Category::slab;
    const auto line = meminfo_line_for(cat, g.cache && slab_reclaimable(end_snapshot, *g.cache));
    g.meminfo_line = !line || rows.count(*line) ? line : MeminfoPart::unaccounted;
  }
  if (rows.count(MeminfoPart::free)) {
    rows[MeminfoPart::free].explained_kb = -total / 1024;
    rows[MeminfoPart::free].categories = {"everything traced"};
  }
  for (auto& [key, row] : rows) {
    row.partial = key == MeminfoPart::user_anon || key == MeminfoPart::user_file;
    if (row.moved_kb == 0 && row.explained_kb == 0) continue;
    r.reconciliation.push_back(row);
  }
  std::sort(r.reconciliation.begin(), r.reconciliation.end(), [](const auto& a, const auto& b) {
    return std::max(std::llabs(a.moved_kb), std::llabs(a.explained_kb)) >
           std::max(std::llabs(b.moved_kb), std::llabs(b.explained_kb));
  });
  r.reconciliation_note =
      "moved = meminfo at the end minus at the start of the window; explained = memory the trace "
      "saw allocated in the window and still held, in the line it lands in (backing pages once, "
      "under their objects). Slab lines move by whole slab pages, so they lag or lead their "
      "objects; user lines are partial because user pages are counted, not tracked, once their "
      "stacks are known.";
}

}  // namespace kleak
