// Kernel ledgers: the kernel's own count of a kind of memory, sampled beside the groups so that
// a group's claimed growth can be held against it (verdict.h: unconfirmed).
//   "slab:<cache>"  /proc/slabinfo active_objs x objsize of that cache
//   "PageTables", "KernelStack", "VmallocUsed", "Percpu"  /proc/meminfo, in bytes
// SLUB's active_objs counts the objects not on a partial slab's free list, so objects sitting
// free in per-CPU slabs and sheaves count as used: it moves with the live objects plus a per-CPU
// cache of bounded size. Over a window's samples its slope is what the cache really grew.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "kleak/report.h"

namespace kleak {

using Ledgers = std::map<std::string, uint64_t>;

// Pure: the ledgers in the text of /proc/meminfo and /proc/slabinfo (either may be empty).
Ledgers kernel_ledgers(std::string_view meminfo, std::string_view slabinfo);

// The ledger that counts a group's memory, or nullopt where the kernel keeps no count of it
// (pages taken straight from the page allocator, pipe buffers, balloons: "unaccounted").
std::optional<std::string> ledger_of(const StackGroup& g);

// Why kleak cannot see a group's objects freed although the kernel is done with them, for the
// slab caches whose objects the kernel frees in deferred batches or keeps in a pool of its own
// with no event (vmap_area: a freed vmalloc area's descriptor waits for the lazy purge, then on
// 6.9+ goes to a per-node pool); nullopt for every other group.
std::optional<std::string> deferred_free_of(const StackGroup& g);

}  // namespace kleak
