// Leak verdicts from samples of outstanding bytes per group (rule in verdict.h).
#include "kleak/verdict.h"

#include <algorithm>
#include <cmath>

#include "kleak/error.h"

namespace kleak {

SortBy parse_sort(std::string_view s) {
  if (s == "growth") return SortBy::growth;
  if (s == "bytes") return SortBy::bytes;
  if (s == "count") return SortBy::count;
  if (s == "age") return SortBy::age;
  throw usage_error("bad --sort '" + std::string(s) + "' (use growth, bytes, count or age)");
}

void GrowthTracker::add(double t_s, const Report& r) {
  if (times_.size() >= kMaxSamples) {
    // A long trace keeps the most recent samples only: memory stays bounded.
    times_.erase(times_.begin());
    for (auto it = series_.begin(); it != series_.end();) {
      std::map<size_t, uint64_t> shifted;
      for (auto [i, b] : it->second)
        if (i > 0) shifted.emplace(i - 1, b);
      if (shifted.empty()) {
        it = series_.erase(it);
      } else {
        it->second = std::move(shifted);
        ++it;
      }
    }
  }
  size_t i = times_.size();
  times_.push_back(t_s);
  for (const auto& g : r.stacks) series_[group_key(g)][i] += g.bytes;
}

namespace {

int verdict_rank(const std::string& v) { return v == "growing" ? 0 : v == "steady" ? 1 : v.empty() ? 1 : 2; }

}  // namespace

void sort_groups(std::vector<StackGroup>& groups, SortBy sort) {
  std::stable_sort(groups.begin(), groups.end(), [&](const StackGroup& a, const StackGroup& b) {
    // Groups that hold nothing (churn only) come after every group that holds memory.
    if ((a.bytes == 0) != (b.bytes == 0)) return a.bytes != 0;
    switch (sort) {
      case SortBy::growth:
        if (verdict_rank(a.verdict) != verdict_rank(b.verdict)) return verdict_rank(a.verdict) < verdict_rank(b.verdict);
        if (a.verdict == "growing" && a.growth_bytes_per_s != b.growth_bytes_per_s)
          return a.growth_bytes_per_s > b.growth_bytes_per_s;
        return a.bytes > b.bytes;
      case SortBy::bytes: return a.bytes > b.bytes;
      case SortBy::count: return a.count > b.count;
      case SortBy::age: return a.oldest_age_s > b.oldest_age_s;
    }
    return false;
  });
}

void GrowthTracker::annotate(Report& r, SortBy sort) const {
  r.sample_times_s = times_;
  const size_t n = times_.size();
  for (auto& g : r.stacks) {
    g.series.assign(n, 0);
    auto it = series_.find(group_key(g));
    if (it != series_.end())
      for (auto [i, b] : it->second) g.series[i] = b;
    if (n < 2) continue;
    double mt = 0, mb = 0;
    for (size_t i = 0; i < n; ++i) {
      mt += times_[i];
      mb += static_cast<double>(g.series[i]);
    }
    mt /= static_cast<double>(n);
    mb /= static_cast<double>(n);
    double num = 0, den = 0;
    size_t up = 0;
    uint64_t peak = 0;
    for (size_t i = 0; i < n; ++i) {
      num += (times_[i] - mt) * (static_cast<double>(g.series[i]) - mb);
      den += (times_[i] - mt) * (times_[i] - mt);
      if (i > 0 && g.series[i] > g.series[i - 1]) ++up;
      peak = std::max(peak, g.series[i]);
    }
    g.growth_bytes_per_s = den > 0 ? num / den : 0;
    g.grew_fraction = static_cast<double>(up) / static_cast<double>(n - 1);
    uint64_t last = g.series.back();
    if (static_cast<double>(last) < 0.5 * static_cast<double>(peak))
      g.verdict = "released";
    else if (g.growth_bytes_per_s > 0 && g.grew_fraction >= 0.5 &&
             static_cast<double>(last) >= 0.95 * static_cast<double>(peak))
      g.verdict = "growing";
    else
      g.verdict = "steady";
  }
  sort_groups(r.stacks, sort);
  switch (sort) {
    case SortBy::growth: r.sort = "growth"; break;
    case SortBy::bytes: r.sort = "bytes"; break;
    case SortBy::count: r.sort = "count"; break;
    case SortBy::age: r.sort = "age"; break;
  }
}

}  // namespace kleak
