// Cache names as the user types them -> the merged caches BPF sees (slab_aliases.h), for trace
// and hunt on the live box.
#pragma once
#include "kleak/filter.h"
#include "kleak/slab_aliases.h"

namespace kleak {

// /sys/kernel/slab with /proc/slabinfo; empty when either cannot be read (then names are used as
// typed, as before).
SlabAliases live_slab_aliases();

// `f` with every exact cache name replaced by the cache it selects. Says on stderr, once per
// name, which merged cache an alias selects and which other caches share it. An unknown name is
// a usage_error (a filter on it would silently find nothing).
Filter resolve_cache_aliases(const Filter& f, const SlabAliases& aliases);

}  // namespace kleak
