// Leak or churn? Outstanding memory at the end of a window is not yet a leak: a busy cache holds
// memory too. The tracer samples every group's outstanding bytes during the window; this turns
// the samples into a verdict per group and a growth rate.
//
// Rule (documented in docs/how-it-works.md, "Leak or churn?"): with the samples of a group
// (bytes at t0..tn, a group absent from a sample holds 0 then),
//   slope      = least-squares bytes per second over the samples,
//   grew       = the fraction of intervals in which the bytes went up,
//   growing    : slope > 0, grew >= 0.5 and the last sample is the highest seen (within 5%);
//                or the same fit on the group's floor (each sample replaced by the lowest one
//                from it to the end) says it grows: slope > 0 and grew >= 0.45. The floor is
//                what the group kept: another process's burst on the same stack, allocated
//                and freed between two samples, leaves it alone, and a leak under it stays
//                growing (a 59 MB burst made a +145 KB/s leak "released" for good before).
//                Either fit's slope must also stand 3 standard errors above zero (with 4
//                samples or more): a few short-lived objects that happen to peak at the end
//                are noise, not growth.
//   released   : the last sample is below half of the highest seen, and not growing,
//   steady     : everything else.
//   unconfirmed: growing, but the kernel's own count of its memory (ledger.h: its slab cache's
//                objects, PageTables, ...) did not grow as much as the growing groups on it
//                claim; or, where the kernel keeps no count, its stack's objects are being
//                freed where kleak cannot see (their addresses came back while still held).
//                What a group with unseen frees still holds may already be free. Also the
//                caches whose frees the kernel defers with no event (ledger.h deferred_free_of:
//                vmap_area, purged lazily), whatever their count says.
// --sort growth (the default) puts growing groups first, by slope, when they grow at least
// --min-growth; then every other holder by bytes (slower growth too); then the released ones;
// the unconfirmed ones last.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "kleak/ledger.h"
#include "kleak/report.h"

namespace kleak {

enum class SortBy { growth, bytes, count, age };
SortBy parse_sort(std::string_view s);  // usage_error on anything else

// Growth that ranks a group first (--min-growth): 64 KiB/min, about 90 MiB a day. Measured on
// the dev box: the stacks of short-lived processes (VMA tree nodes, page tables) churn at
// 50-280 KB/min, a planted slow leak of resized pipes grows 600 KB/min and more.
inline constexpr double kDefaultMinGrowthBytesPerS = 64.0 * 1024 / 60;

using Series = std::map<std::string, std::map<size_t, uint64_t>>;  // name -> sample -> bytes

class GrowthTracker {
 public:
  static constexpr size_t kMaxSamples = 120;  // the most recent ones, on long traces

  // One sample: every group of `r` (aggregate with top = all) at `t_s` seconds into the window,
  // and the kernel's ledgers at that moment (none: no confirmation by ledger).
  void add(double t_s, const Report& r, const Ledgers* ledgers = nullptr);
  size_t samples() const { return times_.size(); }
  // State, for recordings.
  const std::vector<double>& times() const { return times_; }
  const Series& series() const { return series_; }
  const Series& ledgers() const { return ledgers_; }
  static GrowthTracker restore(std::vector<double> times, Series series, Series ledgers = {}) {
    GrowthTracker t;
    t.times_ = std::move(times);
    t.series_ = std::move(series);
    t.ledgers_ = std::move(ledgers);
    return t;
  }
  // Sets verdict, growth rate and grew fraction on every group of `r`, confirms growth against
  // the ledgers, and sorts r.stacks.
  void annotate(Report& r, SortBy sort, double min_growth_bytes_per_s = kDefaultMinGrowthBytesPerS) const;

 private:
  void drop_oldest();
  std::vector<double> times_;
  Series series_;   // group identity -> sample -> bytes
  Series ledgers_;  // ledger name -> sample -> bytes
};

// Sorting alone, for reports without samples (replays, tests).
void sort_groups(std::vector<StackGroup>& groups, SortBy sort,
                 double min_growth_bytes_per_s = kDefaultMinGrowthBytesPerS);

}  // namespace kleak
