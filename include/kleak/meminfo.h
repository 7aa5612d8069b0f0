// `kleak meminfo`: a snapshot of /proc that accounts for every kB of MemTotal.
//
//   collect_snapshot(ProcSource)  ->  Snapshot (raw text of the files read; saved as JSON)
//   account(Snapshot)             ->  Accounting (parts that add up to MemTotal exactly, the
//                                     remainder named `unaccounted`, vmalloc and slab detail)
//   diff_accountings(a, b)        ->  MeminfoDiff (every part, slab cache and vmalloc caller,
//                                     biggest growth first)
//   render_*                      ->  text or JSON (the --format tables: meminfo_formats() ...)
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kleak/format_table.h"
#include "kleak/meminfo_part.h"
#include "kleak/procfs.h"
#include "kleak/snapshot.h"

namespace kleak {

// ---- snapshot ---------------------------------------------------------------------------------

// Snapshot (what was read, as raw text) and its JSON: kleak/snapshot.h (model).

// Reads every file `kleak meminfo` uses. Missing or unreadable files are recorded in
// `unreadable`, never thrown: the accounting says what is missing.
Snapshot collect_snapshot(const ProcSource& source, std::int64_t taken_at);

// A file written by --save, or a directory of /proc files. Throws kleak::usage_error when
// `path` is neither, or when it holds no meminfo.
Snapshot load_snapshot(const std::filesystem::path& path);

// ---- accounting -------------------------------------------------------------------------------

enum class PartGroup { kFree, kUser, kKernel, kUnaccounted };
std::string_view part_group_name(PartGroup g);  // "free", "user", "kernel", "unaccounted"

// One additive part of MemTotal.
struct Part {
  MeminfoPart key = MeminfoPart::unaccounted;  // named by meminfo_part_name(): "free", "user_anon", ...
  std::string label;  // for people: "slab, unreclaimable"
  PartGroup group = PartGroup::kKernel;
  std::int64_t kb = 0;
  std::string from;   // the counters it comes from: "SUnreclaim", "Active(anon) + Inactive(anon)"
};

// A figure shown for context that is already inside the parts and is not added again.
struct InfoLine {
  std::string key;
  std::string label;
  std::int64_t kb = 0;
};

struct VmallocCaller {
  std::string function;  // "load_module"; the raw address when no symbol was printed
  std::string module;    // "" when built in
  std::int64_t kb = 0;   // pages owned
  std::uint64_t areas = 0;
  std::uint64_t virtual_bytes = 0;
};

// vmalloc areas that own no RAM, by kind ("ioremap", "vmap", "vm_map_ram", "unpurged", "other").
struct VmallocExcluded {
  std::string kind;
  std::uint64_t areas = 0;
  std::uint64_t virtual_bytes = 0;
};

struct VmallocAccount {
  std::string source = "none";  // "vmallocinfo", "VmallocUsed" or "none"
  std::int64_t kb = 0;          // the vmalloc part of MemTotal
  std::int64_t owned_kb = 0;    // pages owned by vmallocinfo areas (before the stack overlap)
  std::uint64_t owning_areas = 0;
  std::optional<std::int64_t> vmalloc_used_kb;  // the VmallocUsed line
  bool vmalloc_used_zero = false;  // VmallocUsed reads 0 although vmalloc memory exists/may exist
  std::int64_t stack_overlap_kb = 0;  // thread stacks in vmallocinfo that KernelStack counts
  std::vector<VmallocExcluded> excluded;
  std::vector<VmallocCaller> callers;  // every caller, biggest first
};

struct SlabCacheUsage {
  std::string name;
  std::uint64_t active_objs = 0;
  std::uint64_t num_objs = 0;
  std::uint64_t objsize = 0;
  std::int64_t active_kb = 0;  // active objects x object size
  std::int64_t total_kb = 0;   // slabs x pages per slab x page size: what the cache holds
  std::optional<bool> reclaimable;  // nullopt: not known
  bool reclaimable_guessed = false;  // from the cache name, no sysfs to ask
};

struct SlabAccount {
  std::optional<std::int64_t> slabinfo_total_kb;  // sum of total_kb; nullopt without slabinfo
  std::vector<SlabCacheUsage> caches;             // every cache, biggest total_kb first
};

struct BalloonEvidence {
  bool checked = false;               // /proc/modules or sysfs could be looked at
  std::vector<std::string> drivers;   // "vmw_balloon (in /proc/modules)", ...
  std::optional<std::int64_t> reported_kb;  // the Balloon: line
  // virtio_balloon without DEFLATE_ON_OOM takes inflated pages out of MemTotal itself, so they
  // are not a part of it.
  bool outside_memtotal = false;
};

struct Accounting {
  std::string source;
  std::int64_t taken_at = 0;
  std::string kernel_release;        // "" when unknown
  std::uint64_t page_size = 4096;
  std::string page_size_from;        // "vmallocinfo", "slabinfo" or "assumed"
  std::optional<std::int64_t> mem_total_kb;
  // Additive parts, biggest first, `unaccounted` included: their kb add up to MemTotal exactly.
  // Empty when MemTotal is unknown.
  std::vector<Part> parts;
  // False when meminfo had values kleak could not use (out of range, unreadable lines): the
  // remainder then holds them too, and the table does not claim the parts are exact.
  bool exact = true;
  std::optional<std::int64_t> unaccounted_kb;  // MemTotal - every other part; may be negative
  std::string user_formula;                    // which counters make user memory, and why
  std::vector<InfoLine> breakdown;             // inside the parts, not added again
  VmallocAccount vmalloc;
  SlabAccount slab;
  BalloonEvidence balloon;
  std::string unaccounted_explanation;  // a plain sentence of what usually lives there
  std::vector<std::string> notes;       // what was done where the counters disagree or lie
  std::vector<std::string> missing;     // what the snapshot lacks and what that costs

  std::optional<std::int64_t> part_kb(MeminfoPart key) const;
};

Accounting account(const Snapshot& snapshot);

// ---- diff -------------------------------------------------------------------------------------

struct DiffRow {
  std::string kind;  // "part", "slab" or "vmalloc"
  std::string name;  // part key, cache name, or "caller [module]"
  std::int64_t before_kb = 0;
  std::int64_t after_kb = 0;
  std::int64_t delta_kb = 0;
};

struct MeminfoDiff {
  std::string before_source;
  std::string after_source;
  std::int64_t seconds = 0;       // after.taken_at - before.taken_at; 0 when unknown
  std::vector<DiffRow> rows;      // rows that changed, biggest growth first, biggest shrink last
  std::vector<std::string> notes;
};

MeminfoDiff diff_accountings(const Accounting& before, const Accounting& after);

// ---- rendering --------------------------------------------------------------------------------

struct RenderOptions {
  std::size_t top = 10;  // vmalloc callers, slab caches, diff rows (0 = all)
};

std::string render_text(const Accounting& a, const RenderOptions& opt = {});
// Stable field names; the remainder is `unaccounted_kb`.
std::string render_json(const Accounting& a, const RenderOptions& opt = {});
std::string render_diff_text(const MeminfoDiff& d, const RenderOptions& opt = {});
std::string render_diff_json(const MeminfoDiff& d, const RenderOptions& opt = {});

// One step of `meminfo --watch`: its header (n == 0: what is sampled, the first sample) or
// sample n, diffed against the first.
struct WatchStep {
  std::size_t n = 0;
  std::string every;                  // the sampling period as shown: "5s"
  const Accounting* base = nullptr;   // the first sample
  const Accounting* now = nullptr;    // n > 0: this sample
  const MeminfoDiff* diff = nullptr;  // n > 0: base -> now
};
// text: a header, then each sample's growth table; json: one compact object per sample (JSON
// lines, the diff's fields plus "sample" and "unaccounted_kb"), nothing for the header.
std::string render_watch_text(const WatchStep& w, const RenderOptions& opt = {});
std::string render_watch_json(const WatchStep& w, const RenderOptions& opt = {});

// The --format tables of the three documents (format_table.h): text and json each.
using AccountingFormat = DocFormat<Accounting, const RenderOptions&>;
using MeminfoDiffFormat = DocFormat<MeminfoDiff, const RenderOptions&>;
using WatchFormat = DocFormat<WatchStep, const RenderOptions&>;
std::span<const AccountingFormat> meminfo_formats();
std::span<const MeminfoDiffFormat> meminfo_diff_formats();
std::span<const WatchFormat> meminfo_watch_formats();

}  // namespace kleak
