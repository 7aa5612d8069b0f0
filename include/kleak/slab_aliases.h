// SLUB cache merging: which slab cache names are one kmem_cache.
//
// SLUB merges caches of the same object size and compatible flags. /sys/kernel/slab/<name> of a
// mergeable cache is a symlink to a shared directory named by its size and flags (`:0000056`,
// `:A-0001152`), and every name merged into it links there too. The kernel's kmem_cache->name, what
// the tracepoints (and so BPF) and /proc/slabinfo report, is the name of the cache created first:
// on the 6.18 dev box damon_region, file_lock_ctx, Acpi-Parse, ... all link to :0000056 and are
// reported as `ftrace_event_field`; UNIX and UNIX-STREAM are reported as `signal_cache`.
//
// Parsing is a pure function of a listing (name -> link target) and the slabinfo names, so the
// tests run on fixtures; read_slab_aliases() is the one reader of the live /sys/kernel/slab.
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kleak/cache_name.h"  // describe_cache, for hunt's notes

namespace kleak {

struct SlabAliases {
  // Every name known (sysfs entries that are not the `:...` shared directories, and every
  // slabinfo name) -> the name the kernel reports for its kmem_cache (itself when not merged).
  std::map<std::string, std::string, std::less<>> merged;
  // Reported name -> the other names merged into it, sorted; only caches that have some.
  std::map<std::string, std::vector<std::string>, std::less<>> aliases;

  bool empty() const { return merged.empty(); }
  // The reported name of `name`; "" when no cache has that name.
  std::string merged_name(std::string_view name) const;
  // The other names sharing `reported`'s kmem_cache (empty when not merged).
  const std::vector<std::string>& aliases_of(std::string_view reported) const;
};

// `ls`-like listing of /sys/kernel/slab, one entry a line: `name` for a directory, `name target`
// for a symlink (what `find /sys/kernel/slab -mindepth 1 -maxdepth 1 -printf '%f %l\n'` prints).
// Blank lines are skipped. The fixtures are in this form.
std::map<std::string, std::string> parse_slab_listing(std::string_view text);

// `entries`: /sys/kernel/slab name -> symlink target ("" for a directory); `reported`: the names
// /proc/slabinfo lists (each is a kmem_cache->name). A group of names linking to one target is one
// cache, reported under the group's name that slabinfo lists; a group with no such name (slabinfo
// unreadable) is left out, since which name the kernel reports cannot be told from sysfs alone.
SlabAliases resolve_slab_aliases(const std::map<std::string, std::string>& entries,
                                 const std::vector<std::string>& reported);

// The live box: /sys/kernel/slab (`sys_slab`) and the slabinfo text. Empty when the directory
// cannot be read (no SLUB sysfs): then names are taken as they are.
SlabAliases read_slab_aliases(std::string_view slabinfo_text,
                              const std::filesystem::path& sys_slab = "/sys/kernel/slab");

// What a cache name given by the user selects.
struct CacheSelection {
  std::string reported;              // the name BPF and slabinfo see
  std::vector<std::string> sharing;  // every other name merged with it (the user's one included)
  bool renamed = false;              // `reported` differs from what the user typed
};

// Resolves a user's cache name: an alias selects its merged cache; kleak's own names of the
// kmalloc size classes (`kmalloc-1024`) are kept, the kernel's spelling `kmalloc-1k` becomes
// kleak's. Throws kleak::usage_error naming the cache when no cache has that name (only when
// `aliases` is not empty: without sysfs and slabinfo nothing can be checked).
CacheSelection select_cache(const SlabAliases& aliases, std::string_view name);


}  // namespace kleak
