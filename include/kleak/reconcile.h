// Classify stage, meminfo side: which /proc/meminfo line each trace category lands in, and how
// the lines moved during the window next to what the trace explains.
#pragma once
#include <optional>
#include <string_view>

#include "kleak/classify.h"
#include "kleak/meminfo.h"
#include "kleak/report.h"

namespace kleak {

// The meminfo part (meminfo.h Part::key) a category's outstanding memory lands in. Slab objects
// go to slab_reclaimable or slab_unreclaimable by their cache; backing pages land in the same
// line as the object above them and are not counted again (nullopt).
std::optional<MeminfoPart> meminfo_line_for(Category c, bool reclaimable_slab);

// Fills r.reconciliation from two accountings of the live /proc (window start and end) and the
// report's per-category totals. `end_snapshot` tells which slab caches are reclaimable.
void reconcile(Report& r, const Accounting& start, const Accounting& end,
               const Snapshot& end_snapshot, uint64_t page_size);

}  // namespace kleak
