// Leak or churn? Outstanding memory at the end of a window is not yet a leak: a busy cache holds
// memory too. The tracer samples every group's outstanding bytes during the window; this turns
// the samples into a verdict per group and a growth rate.
//
// Rule (documented in the README): with the samples of a group (bytes at t0..tn, a group absent
// from a sample holds 0 then),
//   slope      = least-squares bytes per second over the samples,
//   grew       = the fraction of intervals in which the bytes went up,
//   growing    : slope > 0, grew >= 0.5 and the last sample is the highest seen (within 5%),
//   released   : the last sample is below half of the highest seen,
//   steady     : everything else.
// --sort growth (the default) puts growing groups first, by slope, then the rest by bytes.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "kleak/report.h"

namespace kleak {

enum class SortBy { growth, bytes, count, age };
SortBy parse_sort(std::string_view s);  // usage_error on anything else

class GrowthTracker {
 public:
  static constexpr size_t kMaxSamples = 120;  // the most recent ones, on long traces

  // One sample: every group of `r` (aggregate with top = all) at `t_s` seconds into the window.
  void add(double t_s, const Report& r);
  size_t samples() const { return times_.size(); }
  // State, for recordings.
  const std::vector<double>& times() const { return times_; }
  const std::map<std::string, std::map<size_t, uint64_t>>& series() const { return series_; }
  static GrowthTracker restore(std::vector<double> times,
                               std::map<std::string, std::map<size_t, uint64_t>> series) {
    GrowthTracker t;
    t.times_ = std::move(times);
    t.series_ = std::move(series);
    return t;
  }
  // Sets verdict, growth rate and grew fraction on every group of `r`, and sorts r.stacks.
  void annotate(Report& r, SortBy sort) const;

 private:
  std::vector<double> times_;
  std::map<std::string, std::map<size_t, uint64_t>> series_;  // identity -> sample -> bytes
};

// Sorting alone, for reports without samples (replays, tests).
void sort_groups(std::vector<StackGroup>& groups, SortBy sort);

}  // namespace kleak
