// The report: a plain value built by aggregate() (report stage), printed by the renderers (render
// stage). Field names here are
// the JSON field names (see render_json.cpp); keep them stable, other tools read them.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kleak/category.h"
#include "kleak/collect.h"
#include "kleak/counts.h"
#include "kleak/frame.h"
#include "kleak/meminfo_part.h"

namespace kleak {

class Kallsyms;
class Filter;

// Outstanding allocations that share a call stack and a kind.
struct StackGroup {
  std::string kind;              // kmalloc, slab, page, vmalloc, percpu
  std::string category;          // classify.h category name
  std::optional<MeminfoPart> meminfo_line;  // the /proc/meminfo part it lands in (none for backing
                                            // pages; set by reconcile(): slab by its cache's reclaimability)
  uint64_t bytes = 0;            // sum of bytes_alloc
  uint64_t bytes_req = 0;        // sum of bytes_req
  uint64_t count = 0;
  double oldest_age_s = 0;
  std::optional<std::string> cache;
  std::vector<std::string> cache_aliases;  // other names SLUB merged into `cache` (slab_aliases.h)
  std::vector<std::pair<std::string, uint64_t>> comms;  // most allocations first, every one
  std::vector<Frame> frames;                            // innermost first
  std::vector<int32_t> stack_ids;                       // BPF stack ids merged in this group
  size_t trimmed = 0;                                   // frames hidden from the top
  // Churn in the window: allocations and frees seen (frees of objects allocated before the
  // window count in their cache's group where the free names the cache).
  uint64_t allocs = 0, frees = 0, alloc_bytes = 0, free_bytes = 0;
  std::map<std::string, std::string> group;  // --by dimension -> value (cgroup, cache, comm, ...)
  std::string context;                       // "irq"/"softirq" when allocated in an interrupt
  // Leak verdict from the samples taken during the window (verdict.h); "" without samples.
  std::string verdict;                       // growing, steady, released, unconfirmed
  double growth_bytes_per_s = 0;             // least-squares slope of outstanding bytes
  double grew_fraction = 0;                  // share of sample intervals in which it grew
  std::vector<uint64_t> series;              // outstanding bytes at each sample
  // Frees of this group's objects kleak did not see: records found still held when their address
  // was allocated again (by stack; Collected::unseen_frees).
  uint64_t unseen_frees = 0;
  std::string unconfirmed_why;  // verdict "unconfirmed": what the kernel's own count says
};

// A group's identity, the same in every report of the same records: kind, category, frames and
// --by values. What aggregate() merges under, what the verdicts follow from sample to sample and
// what kleak diff matches. Defined here once (model/report.cpp).
std::string group_key(std::string_view kind, std::string_view category, std::span<const Frame> frames,
                      const std::map<std::string, std::string>& dims);
inline std::string group_key(const StackGroup& g) { return group_key(g.kind, g.category, g.frames, g.group); }

// The frames as printed, innermost first (JSON's "frames").
std::vector<std::string> frame_texts(const StackGroup& g);

// --by: how outstanding allocations are grouped.
enum class GroupBy { stack, callsite, cache, comm, pid, cgroup };
std::vector<GroupBy> parse_group_by(std::string_view list);  // "cgroup,cache"; usage_error
std::string_view group_by_name(GroupBy g);

class CgroupNames;

// A line that stands for many records: user pages, backing pages.
struct Summary {
  uint64_t bytes = 0;
  uint64_t count = 0;
};

// --max-cpu: one thing the budget did (session/budget.h decides).
struct BudgetAction {
  enum class What { raise_sampling, lower_sampling, detach } what = What::raise_sampling;
  double t_s = 0;             // seconds into the window
  double cpu_pct = 0;         // kleak's cost over the interval before it acted, % of one CPU
  uint32_t sample_every = 1;  // the sampling rate from then on
  std::string family;         // detach: the family detached
};
std::string_view budget_action_name(BudgetAction::What w);  // "raise_sampling", ...

// What kleak itself cost the box over the window, and what --max-cpu did about it.
struct SelfCost {
  double window_s = 0;
  double bpf_cpu_pct = 0;        // kleak's programs, % of one CPU over the window
  std::string bpf_measured_by;   // "kernel run time" or "estimate from event counts"; "" = unknown
  double process_cpu_pct = 0;    // kleak's own process (user + system)
  double bpf_cpu_s = 0, process_cpu_s = 0;  // the same as seconds (metrics: counters)
  uint64_t maps_bytes = 0;       // kleak's BPF maps (memlock of each, /proc/self/fdinfo)
  uint64_t rss_bytes = 0;        // kleak's resident memory
  double max_cpu_pct = 0;        // --max-cpu; 0 = no budget
  uint32_t sample_every_start = 1;  // the rate the window began with (--sample)
  std::vector<BudgetAction> actions;
  std::vector<std::string> detached;  // families the budget detached
};

struct Report {
  std::string kernel;
  double duration_s = 0;
  std::string filter;                        // canonical filter text, "" = none
  std::map<std::string, std::string> sources;      // event -> "attached" or the reason
  std::map<std::string, std::string> attach_mode;  // event -> raw_tp/tracepoint/kprobe
  std::string bpf_variant;  // which task helpers the programs were loaded with ("" = not known)
  // Named at the edges by counts.h's tables (JSON "dropped", "events", "events_by_kind").
  std::map<Loss, uint64_t> dropped;                // losses only
  std::map<EventCount, uint64_t> events;           // allocs_seen, frees_seen, ...
  std::map<kleak_kind, std::map<kleak_cause, uint64_t>> events_by_kind;  // kind -> cause -> n
  uint64_t missed_frees = 0;     // frees that could not be seen: each may be a fake leak below
  std::vector<std::string> warnings;
  std::optional<SelfCost> cost;  // live traces only (not kept in recordings)

  uint64_t total_bytes = 0;      // kernel memory outstanding, counted once (stacks below + rest)
  uint64_t total_count = 0;
  uint64_t groups_total = 0;     // holding groups before --top
  std::vector<StackGroup> stacks;  // groups holding memory at the end, sorted, at most --top
  // Groups that allocated and freed in the window but hold nothing at its end: the churn view
  // (most bytes allocated first, at most --top), never among the holders above.
  std::vector<StackGroup> churn;
  uint64_t churn_total = 0;        // churn groups before --top
  std::map<std::string, Summary> user_memory;  // category -> summary (not kernel leaks)
  std::map<std::string, Summary> backing;      // category -> pages under objects counted above
  Summary user_untracked;  // allocated under stacks recognized as user memory, counted not tracked
  // Every group (before --top), by category, and slab objects by cache: what reconcile() reads.
  std::map<Category, Summary, CategoryNameOrder> by_category;  // printed in name order
  std::map<std::string, Summary> slab_by_cache;  // kmalloc and slab objects but large ones, by cache
  // The kmalloc and slab objects among by_category's other categories (a pipe's pipe_inode_info,
  // a socket's sk): their memory is in Slab, so they are in slab_by_cache too, and reconcile()
  // takes them off their category's own line (pipe and socket pages are unaccounted).
  std::map<Category, Summary, CategoryNameOrder> objects_by_category;
  // SLUB merged caches: reported name -> the other names sharing it (from /sys/kernel/slab when
  // traced; kept in recordings). What each group's cache_aliases is taken from.
  std::map<std::string, std::vector<std::string>> cache_aliases;

  // How /proc/meminfo moved during the window next to what the trace explains (reconcile.h).
  struct ReconcileRow {
    MeminfoPart line = MeminfoPart::unaccounted;  // JSON: its meminfo_part_name()
    std::string label;  // for people
    int64_t moved_kb = 0;      // end - start
    int64_t explained_kb = 0;  // outstanding bytes of the categories that land in this line
    std::vector<std::string> categories;
    bool partial = false;      // user memory: counted, not tracked, after its stacks are known
  };
  std::vector<ReconcileRow> reconciliation;
  std::string reconciliation_note;  // why there is none, or what to keep in mind
  std::string reconciliation_caveat;  // the trace is filtered but /proc is the whole box's
  bool full_stacks = false;
  bool user_pages_shown = false;
  std::vector<GroupBy> by{GroupBy::stack};
  std::vector<double> sample_times_s;  // when the verdict samples were taken
  double min_growth_bytes_per_s = 0;   // --min-growth: growth below it does not rank first
  // Growing groups whose growth the kernel's own counts do not show (verdict "unconfirmed"),
  // before --top: what they hold may already be free.
  uint64_t unconfirmed_bytes = 0, unconfirmed_groups = 0;
  uint64_t unseen_frees = 0;  // frees kleak did not see (found when the address came back)
  uint32_t sample_every = 1;           // --sample N: counts and bytes are scaled by N
  // --sample: allocations seen and those that passed the address test. Objects recycled at one
  // address are always or never sampled, so the rate achieved can differ from 1 in N.
  uint64_t sample_seen = 0, sample_kept = 0;
  std::string sort = "bytes";

  // --stack-reuse: how often stacks were walked, reused from their call site, and what the
  // checks (walks at a site with a cached stack) found. From the counters, unscaled.
  struct StackReuse {
    uint32_t max_run = 1;   // --stack-reuse N
    uint64_t walked = 0;    // bpf_get_stackid calls
    uint64_t reused = 0;    // allocations that took their site's cached stack id
    uint64_t checked = 0;   // walks that checked a cached id
    uint64_t changed = 0;   // checks that found another stack
    uint64_t suspect = 0;   // reused allocations in runs that ended in a change (upper bound)
  } stack_reuse;
};

struct AggregateOptions {
  std::vector<GroupBy> by{GroupBy::stack};
  const CgroupNames* cgroups = nullptr;  // cgroup ids -> paths (nullptr: "cgroup:<id>")
  size_t top = 10;
  bool full_stacks = false;  // do not trim allocator/plumbing frames
  bool user_pages = false;   // show user-memory pages as stacks too
  std::string kernel;        // Report::kernel: the traced box's "Linux 6.18.0 x86_64"
};

// Filter, group by (kind, trimmed frames), classify, sort. Pure: the kernel is not touched (its
// release and the cgroup names come in `opts`).
Report aggregate(const Collected& snap, const Kallsyms& syms, const Filter& filter,
                 const AggregateOptions& opts);

// aggregate() with the records fed a batch at a time, as the drain reads them (Tracer::drain_into):
// 1 M records are 104 MB, and what this keeps is one bucket per (kind, stack, --by values).
// `snap` is the drain being filled: its caches must name the caches of every batch added (the
// drain reads them first); its churn, stacks, counters and the rest are read at finish().
// `snap`, `filter` and opts.cgroups must outlive this. Batches fed in the drain's order give the
// report aggregate() gives of the same records whole.
class Aggregation {
 public:
  Aggregation(const Collected& snap, const Filter& filter, const AggregateOptions& opts);
  ~Aggregation();
  Aggregation(const Aggregation&) = delete;
  Aggregation& operator=(const Aggregation&) = delete;
  void add(std::span<const AllocRecord> records);
  Report finish(const Kallsyms& syms);  // once

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The distinct stack ids of page records, in the order first seen, fed a batch at a time.
class PageStackIds {
 public:
  void add(std::span<const AllocRecord> records);
  const std::vector<int32_t>& ids() const { return ids_; }

 private:
  std::unordered_set<int32_t> seen_;
  std::vector<int32_t> ids_;
};

// Stack ids of page records whose frames classify as user memory (page cache, anonymous
// faults): the tracer stops tracking them one by one (Tracer::skip_stacks).
std::vector<int32_t> user_memory_stack_ids(const Collected& c, const Kallsyms& syms);
// ... of the given page stack ids (PageStackIds), their frames in `stacks`.
std::vector<int32_t> user_memory_stack_ids(const std::vector<int32_t>& page_stack_ids,
                                           const std::unordered_map<int32_t, std::vector<uint64_t>>& stacks,
                                           const Kallsyms& syms);

// Cache name of a record: the `caches` map for slab records, kmalloc-<size> for small kmalloc.
std::optional<std::string> cache_name(const Collected& snap, const kleak_alloc& a);

// kleak diff: two reports compared group by group (same identity, group_key()); made by
// diff_reports() (diff.h), printed by render_diff() (render.h).
struct GroupDiffRow {
  StackGroup group;  // as in the later report, or the earlier one when it is gone
  uint64_t a_bytes = 0, b_bytes = 0, a_count = 0, b_count = 0;
  int64_t delta_bytes() const { return static_cast<int64_t>(b_bytes) - static_cast<int64_t>(a_bytes); }
  int64_t delta_count() const { return static_cast<int64_t>(b_count) - static_cast<int64_t>(a_count); }
};

struct ReportDiff {
  std::string a, b;  // what the two sides are (file names)
  uint64_t a_total_bytes = 0, b_total_bytes = 0;
  std::vector<GroupDiffRow> rows;  // changed groups, biggest change in bytes first, at most `top`
};

}  // namespace kleak
