// The watch phase of `kleak hunt`: /proc lines over time -> growth, with the trace's own verdict
// rule (verdict.h): each line is a group whose "bytes" are the line's kB, so GrowthTracker fits it
// exactly as it fits a stack.
#include <algorithm>

#include "kleak/hunt.h"

namespace kleak {

namespace {

// The lines a leak can show in: kernel parts and the remainder no counter explains.
bool watched(const Part& p) { return p.group == PartGroup::kKernel || p.group == PartGroup::kUnaccounted; }

StackGroup as_group(const std::string& kind, const std::string& name, int64_t kb) {
  StackGroup g;
  g.kind = kind;
  g.category = name;
  g.bytes = kb > 0 ? static_cast<uint64_t>(kb) * 1024 : 0;
  g.count = 1;  // held: not a churn-only group
  return g;
}

}  // namespace

bool WatchResult::any_growing() const {
  return std::any_of(lines.begin(), lines.end(), [](const WatchedLine& l) { return l.growing; });
}

void Watcher::add(double t_s, const Accounting& a) {
  Report sample;
  auto note = [&](const std::string& kind, const std::string& name, const std::string& label, int64_t kb,
                  std::optional<MeminfoPart> part) {
    StackGroup g = as_group(kind, name, kb);
    auto [it, fresh] = lines_.try_emplace(group_key(g));
    WatchedLine& l = it->second;
    if (fresh) {
      l.kind = kind;
      l.name = name;
      l.part = part;
      l.label = label;
      l.first_kb = times_.empty() ? kb : 0;  // a cache that appears mid-watch held 0 before
    }
    l.last_kb = kb;
    sample.stacks.push_back(std::move(g));
  };
  for (const auto& p : a.parts)
    if (watched(p)) note("part", std::string(meminfo_part_name(p.key)), p.label, p.kb, p.key);
  for (const auto& c : a.slab.caches) note("cache", c.name, "slab cache " + c.name, c.total_kb, std::nullopt);
  // A line missing from this sample (a cache destroyed) holds 0 now.
  for (auto& [key, l] : lines_)
    if (std::none_of(sample.stacks.begin(), sample.stacks.end(),
                     [&](const StackGroup& g) { return group_key(g) == key; }))
      l.last_kb = 0;
  growth_.add(t_s, sample);
  times_.push_back(t_s);
}

WatchResult Watcher::result(double min_kb_per_min, const SlabAliases& aliases) const {
  WatchResult w;
  w.samples = times_.size();
  w.seconds = times_.empty() ? 0 : times_.back() - times_.front();
  w.min_kb_per_min = min_kb_per_min;
  Report r;
  for (const auto& [key, l] : lines_) r.stacks.push_back(as_group(l.kind, l.name, l.last_kb));
  growth_.annotate(r, SortBy::bytes);
  for (const auto& g : r.stacks) {
    WatchedLine l = lines_.at(group_key(g));
    l.rate_kb_per_min = g.growth_bytes_per_s * 60 / 1024;
    l.grew_fraction = g.grew_fraction;
    l.verdict = g.verdict;
    // The trace's verdict also wants the last sample within 5% of the peak; a /proc line is the
    // whole box's, where an unrelated free (a previous tracer's 76 MiB of maps, released by a
    // kworker) dips it below that while a leak goes on (measured in the hunt tests). So: rising in
    // most intervals, fast enough, and not released.
    l.growing = g.grew_fraction >= 0.5 && l.rate_kb_per_min >= min_kb_per_min && g.verdict != "released";
    if (l.kind == "cache") {
      l.aliases = aliases.aliases_of(l.name);
      l.label = "slab cache " + describe_cache(l.name, l.aliases);
    }
    w.lines.push_back(std::move(l));
  }
  std::stable_sort(w.lines.begin(), w.lines.end(), [](const WatchedLine& a, const WatchedLine& b) {
    if (a.growing != b.growing) return a.growing;
    if (a.growing) return a.rate_kb_per_min > b.rate_kb_per_min;
    return a.last_kb > b.last_kb;
  });
  return w;
}

}  // namespace kleak
