// `kleak hunt`: watch /proc first (no BPF), then trace only the event families whose memory lands
// in the lines that grow, and answer in one screen.
//
//   Watcher::add(t, Accounting)    every few seconds of --watch
//   Watcher::result()              -> WatchResult: each kernel line's and slab cache's growth (the
//                                     verdicts of verdict.h, fitted by the same GrowthTracker)
//   plan_trace(WatchResult)        -> TracePlan: the families (--kinds), the cache filter, why
//   explain(plan, before, after, Report) -> HuntReport: per growing line, the growing stacks that
//                                     explain it and what stays unexplained
//   render_hunt_text / _json
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kleak/format_table.h"
#include "kleak/filter.h"
#include "kleak/meminfo.h"
#include "kleak/report.h"
#include "kleak/slab_aliases.h"
#include "kleak/verdict.h"

namespace kleak {

// One watched line: a kernel part of MemTotal (kleak meminfo's keys) or one slab cache.
struct WatchedLine {
  std::string kind;                  // "part" or "cache"
  std::string name;                  // "unaccounted", "vmalloc", ... or the cache's reported name
  std::optional<MeminfoPart> part;   // kind "part": which one (name is its meminfo_part_name)
  std::string label;                 // "unaccounted", "slab cache signal_cache (also UNIX, UNIX-STREAM)"
  std::vector<std::string> aliases;  // caches: the other names SLUB merged into it
  int64_t first_kb = 0, last_kb = 0;
  double rate_kb_per_min = 0;  // least-squares slope over the samples
  double grew_fraction = 0;
  std::string verdict;         // growing, steady, released (verdict.h)
  bool growing = false;        // rose in at least half the intervals, at least the threshold, not released
};

struct WatchResult {
  double seconds = 0;
  size_t samples = 0;
  double min_kb_per_min = 0;       // the threshold a growing line had to reach
  std::vector<WatchedLine> lines;  // growing lines first, fastest first; then the rest by size
  bool any_growing() const;
};

// Samples of the box's accounting -> growth per line. Only kernel memory is watched (free and
// user memory move with every workload and are not kernel leaks).
class Watcher {
 public:
  void add(double t_s, const Accounting& a);
  size_t samples() const { return growth_.samples(); }
  WatchResult result(double min_kb_per_min, const SlabAliases& aliases) const;

 private:
  GrowthTracker growth_;
  std::map<std::string, WatchedLine> lines_;  // group key -> line, first and last kb
  std::vector<double> times_;
};

// The event families to attach and why.
struct FamilyReason {
  std::string family;  // kind_name(): kmalloc, slab, page, vmalloc, percpu
  std::string why;
};

struct TracePlan {
  std::vector<FamilyReason> families;  // in kind order, each once
  // Families restricted to caches (slab: reported names; kmalloc: kleak's kmalloc-<bytes>);
  // a family not in this map traces everything of its kind.
  std::map<std::string, std::vector<std::string>> caches;
  std::vector<std::string> untraceable;  // growing lines no family explains, with why
  // "" where the kernel's slab events carry the cache; else why not (5.10's kmem_cache_alloc
  // tracepoint): slab is then traced whole and its stacks explain the Slab lines, not a cache.
  std::string slab_caches_unknown;
  std::string kinds() const;             // "slab,page"
  uint32_t kinds_mask() const;           // the same as kind_bit()s (kind.h)
  // `--cache X` when one cache of one family is all that is traced, else "".
  std::string cache_flag() const;
  // The --filter text when more than --kinds and --cache is needed, else "".
  std::string filter() const;
  // filter() as the trace takes it (match_all for ""): what kleak hunt hands the trace.
  Filter trace_filter() const;
  // `kleak trace --duration D --kinds ... [--cache X | --filter '...']`
  std::string command_line(const std::string& duration) const;
  bool empty() const { return families.empty(); }
};

// `slab_caches_unknown`: why this kernel's slab events name no cache, "" where they do
// (cache_filter_unsupported of the live kernel's attach plan).
TracePlan plan_trace(const WatchResult& w, const std::string& slab_caches_unknown = "");

// kleak's name of a kmalloc size-class cache (kmalloc-cg-1k -> kmalloc-1024), nullopt for others.
std::optional<std::string> kmalloc_class(std::string_view cache);

// A growing stack that explains part of a line.
struct Explainer {
  size_t group = 0;  // index into HuntReport::trace->stacks
  double share = 0;  // of the line's growth during the trace (bytes held / kb moved)
};

struct ExplainedLine {
  size_t line = 0;  // index into HuntReport::watch.lines
  int64_t moved_kb = 0;  // during the trace window (its reconciliation; else accountings around it)
  int64_t explained_kb = 0;
  std::vector<Explainer> stacks;  // growing groups landing in this line, fastest first
};

struct HuntReport {
  std::string kernel;
  WatchResult watch;
  std::optional<TracePlan> plan;  // none: nothing grew, nothing traced
  std::string command_line;       // the equivalent kleak trace
  std::optional<Report> trace;
  std::vector<ExplainedLine> lines;  // one per growing line
  size_t top = 3;                    // stacks shown per line (text)
};

// Fills hr.lines from hr.trace and the accountings taken just before and after the trace.
void explain(HuntReport& hr, const Accounting& before, const Accounting& after);

std::string render_hunt_text(const HuntReport& hr);
std::string render_hunt_json(const HuntReport& hr);

// hunt's --format table (format_table.h): text, json.
using HuntFormat = DocFormat<HuntReport>;
std::span<const HuntFormat> hunt_formats();

}  // namespace kleak
