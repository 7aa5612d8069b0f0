// Leak verdicts from samples of outstanding bytes per group (rule in verdict.h).
#include "kleak/verdict.h"

#include <fmt/format.h>

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

namespace {

// A long trace keeps the most recent samples only: memory stays bounded.
void shift_out_first(Series& s) {
  for (auto it = s.begin(); it != s.end();) {
    std::map<size_t, uint64_t> shifted;
    for (auto [i, b] : it->second)
      if (i > 0) shifted.emplace(i - 1, b);
    if (shifted.empty()) {
      it = s.erase(it);
    } else {
      it->second = std::move(shifted);
      ++it;
    }
  }
}

// The least-squares slope (bytes per second), how many standard errors it stands from zero,
// and the fraction of intervals that went up.
struct Fit {
  double slope = 0;
  double t = 0;  // slope / its standard error; infinite on a perfect line
  double grew = 0;
};

// The slope's standard errors from zero, from the residuals around the fitted line.
double t_stat(const std::vector<double>& t, const std::vector<uint64_t>& y, double mt, double my, double slope,
              double den) {
  const size_t n = t.size();
  if (n < 3 || den <= 0) return 0;
  double rss = 0;
  for (size_t i = 0; i < n; ++i) {
    const double r = static_cast<double>(y[i]) - (my + slope * (t[i] - mt));
    rss += r * r;
  }
  const double se = std::sqrt(rss / static_cast<double>(n - 2) / den);
  if (se <= 1e-9 * std::max(1.0, std::fabs(my))) return slope > 0 ? INFINITY : (slope < 0 ? -INFINITY : 0);
  return slope / se;
}

Fit fit(const std::vector<double>& t, const std::vector<uint64_t>& y) {
  const size_t n = t.size();
  Fit f;
  if (n < 2) return f;
  double mt = 0, my = 0;
  for (size_t i = 0; i < n; ++i) {
    mt += t[i];
    my += static_cast<double>(y[i]);
  }
  mt /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double num = 0, den = 0;
  size_t up = 0;
  for (size_t i = 0; i < n; ++i) {
    num += (t[i] - mt) * (static_cast<double>(y[i]) - my);
    den += (t[i] - mt) * (t[i] - mt);
    if (i > 0 && y[i] > y[i - 1]) ++up;
  }
  f.slope = den > 0 ? num / den : 0;
  f.t = t_stat(t, y, mt, my, f.slope, den);
  f.grew = static_cast<double>(up) / static_cast<double>(n - 1);
  return f;
}

// Growth must stand out from the group's own noise: a slope 3 standard errors above zero
// (chance alone gets there about 1 time in 100 with 10 samples). Measured in CI on 6.18: the
// task_structs of 0-2 live children of a shell loop (7,524 B each) ended a 12 s window at their
// peak with 7 of 11 intervals up, "grew" 73 KiB/min and ranked above 18 MB of held pipes.
// Below 4 samples there are too few residuals to judge the noise, and the rule is not applied.
constexpr double kMinSlopeT = 3.0;
bool stands_out(const Fit& f, size_t samples) { return samples < 4 || f.t >= kMinSlopeT; }

// Each sample replaced by the lowest one from it to the end: what the group kept.
std::vector<uint64_t> floor_of(const std::vector<uint64_t>& y) {
  std::vector<uint64_t> f(y);
  for (size_t i = f.size(); i-- > 1;) f[i - 1] = std::min(f[i - 1], f[i]);
  return f;
}

// Verdict, slope and grew fraction of one group from its series.
void judge(StackGroup& g, const std::vector<double>& times) {
  const Fit raw = fit(times, g.series);
  const uint64_t last = g.series.back();
  const uint64_t peak = *std::max_element(g.series.begin(), g.series.end());
  g.growth_bytes_per_s = raw.slope;
  g.grew_fraction = raw.grew;
  if (raw.slope > 0 && raw.grew >= 0.5 && static_cast<double>(last) >= 0.95 * static_cast<double>(peak) &&
      stands_out(raw, g.series.size())) {
    g.verdict = "growing";
    return;
  }
  const Fit kept = fit(times, floor_of(g.series));
  if (kept.slope > 0 && kept.grew >= 0.45 && stands_out(kept, g.series.size())) {
    g.verdict = "growing";
    g.growth_bytes_per_s = kept.slope;
    g.grew_fraction = kept.grew;
    return;
  }
  g.verdict = static_cast<double>(last) < 0.5 * static_cast<double>(peak) ? "released" : "steady";
}

std::string rate_text(double bytes_per_s) {
  double kb = bytes_per_s * 60 / 1024;
  return kb >= 1024 ? fmt::format("{:.1f} MiB/min", kb / 1024) : fmt::format("{:.1f} KiB/min", kb);
}

// The ledger's own slope over the samples it was read at, or nullopt with fewer than two.
std::optional<double> ledger_slope(const std::vector<double>& times, const std::map<size_t, uint64_t>& pts) {
  std::vector<double> t;
  std::vector<uint64_t> y;
  for (auto [i, b] : pts)
    if (i < times.size()) {
      t.push_back(times[i]);
      y.push_back(b);
    }
  if (t.size() < 2) return std::nullopt;
  return fit(t, y).slope;
}

void mark_unconfirmed(StackGroup& g, std::string why) {
  g.verdict = "unconfirmed";
  g.unconfirmed_why = std::move(why);
}

// Without a kernel count, unseen frees on a group's stacks make its growth unconfirmed only
// when they could account for half of it: a stack shared by a real leak and a churn whose
// objects are sometimes freed unseen (a pipe leak among churning pipes: a handful of unseen
// page frees against 5,000 leaked pages) keeps its verdict.
bool unseen_explain_growth(const StackGroup& g, const std::vector<double>& times) {
  if (g.unseen_frees == 0 || g.count == 0 || times.size() < 2) return false;
  const double grown = g.growth_bytes_per_s * (times.back() - times.front());
  const double per_object = static_cast<double>(g.bytes) / static_cast<double>(g.count);
  return static_cast<double>(g.unseen_frees) * per_object >= 0.5 * grown;
}

// The kernel's count of a ledger grows with the live objects plus a per-CPU cache that comes
// and goes: a quarter more than it shows is still confirmed.
constexpr double kLedgerSlack = 1.25;

// Growing groups are held against their ledger: the groups on one ledger together may claim at
// most what it grew. Groups without unseen frees are confirmed first (then the fastest), so a
// real leak beside a churning stack of the same cache keeps its verdict; from the first group the
// count cannot cover on, none is confirmed. Where the kernel keeps
// no count, a growing group whose objects are being freed unseen is unconfirmed.
void confirm(std::vector<StackGroup>& groups, const std::vector<double>& times, const Series& ledgers) {
  std::map<std::string, std::vector<StackGroup*>> on;
  std::map<std::string, double> grew;  // each ledger's own slope, where it was read twice or more
  for (auto& g : groups) {
    if (g.verdict != "growing") continue;
    if (auto why = deferred_free_of(g)) {
      mark_unconfirmed(g, *why);
      continue;
    }
    auto name = ledger_of(g);
    auto it = name ? ledgers.find(*name) : ledgers.end();
    std::optional<double> slope = it != ledgers.end() ? ledger_slope(times, it->second) : std::nullopt;
    if (slope) {
      grew[*name] = *slope;
      on[*name].push_back(&g);
    } else if (unseen_explain_growth(g, times)) {
      mark_unconfirmed(g, fmt::format("{} of its objects were freed where kleak cannot see (their "
                                      "addresses came back), and the kernel keeps no count of it",
                                      g.unseen_frees));
    }
  }
  for (auto& [name, gs] : on) {
    const double count_grew = grew.at(name);
    std::stable_sort(gs.begin(), gs.end(), [](const StackGroup* a, const StackGroup* b) {
      if ((a->unseen_frees == 0) != (b->unseen_frees == 0)) return a->unseen_frees == 0;
      return a->growth_bytes_per_s > b->growth_bytes_per_s;
    });
    double claimed = 0, total = 0;
    for (auto* g : gs) total += g->growth_bytes_per_s;
    bool covered = true;
    for (auto* g : gs) {
      // In order, and none after the first the count cannot cover: skipping it to confirm
      // smaller ones would confirm whichever happen to fit (measured: the page tables of short
      // -lived shells confirmed beside a compiler's that did not fit).
      covered = covered && claimed + g->growth_bytes_per_s <= kLedgerSlack * std::max(0.0, count_grew);
      if (covered) {
        claimed += g->growth_bytes_per_s;
        continue;
      }
      mark_unconfirmed(*g, fmt::format("the kernel's count ({}) grew {}, less than the {} claimed on it{}", name,
                                       rate_text(count_grew), rate_text(total),
                                       g->unseen_frees ? fmt::format("; {} of its objects were freed unseen",
                                                                     g->unseen_frees)
                                                       : ""));
    }
  }
}

// 0: growing fast enough to lead; 1: every other holder; 2: released; 3: unconfirmed.
int rank(const StackGroup& g, double min_growth) {
  if (g.verdict == "growing") return g.growth_bytes_per_s >= min_growth ? 0 : 1;
  if (g.verdict == "released") return 2;
  if (g.verdict == "unconfirmed") return 3;
  return 1;
}

}  // namespace

void GrowthTracker::drop_oldest() {
  times_.erase(times_.begin());
  shift_out_first(series_);
  shift_out_first(ledgers_);
}

void GrowthTracker::add(double t_s, const Report& r, const Ledgers* ledgers) {
  if (times_.size() >= kMaxSamples) drop_oldest();
  size_t i = times_.size();
  times_.push_back(t_s);
  for (const auto& g : r.stacks) series_[group_key(g)][i] += g.bytes;
  if (ledgers)
    for (const auto& [name, b] : *ledgers) ledgers_[name][i] = b;
}

void sort_groups(std::vector<StackGroup>& groups, SortBy sort, double min_growth) {
  std::stable_sort(groups.begin(), groups.end(), [&](const StackGroup& a, const StackGroup& b) {
    // Groups that hold nothing (churn only) come after every group that holds memory.
    if ((a.bytes == 0) != (b.bytes == 0)) return a.bytes != 0;
    switch (sort) {
      case SortBy::growth:
        if (rank(a, min_growth) != rank(b, min_growth)) return rank(a, min_growth) < rank(b, min_growth);
        if (rank(a, min_growth) == 0 && a.growth_bytes_per_s != b.growth_bytes_per_s)
          return a.growth_bytes_per_s > b.growth_bytes_per_s;
        return a.bytes > b.bytes;
      case SortBy::bytes: return a.bytes > b.bytes;
      case SortBy::count: return a.count > b.count;
      case SortBy::age: return a.oldest_age_s > b.oldest_age_s;
    }
    return false;
  });
}

void GrowthTracker::annotate(Report& r, SortBy sort, double min_growth) const {
  r.sample_times_s = times_;
  r.min_growth_bytes_per_s = min_growth;
  const size_t n = times_.size();
  for (auto& g : r.stacks) {
    g.series.assign(n, 0);
    auto it = series_.find(group_key(g));
    if (it != series_.end())
      for (auto [i, b] : it->second) g.series[i] = b;
    if (n >= 2) judge(g, times_);
  }
  confirm(r.stacks, times_, ledgers_);
  r.unconfirmed_bytes = r.unconfirmed_groups = 0;
  for (const auto& g : r.stacks)
    if (g.verdict == "unconfirmed") {
      r.unconfirmed_bytes += g.bytes;
      ++r.unconfirmed_groups;
    }
  sort_groups(r.stacks, sort, min_growth);
  switch (sort) {
    case SortBy::growth: r.sort = "growth"; break;
    case SortBy::bytes: r.sort = "bytes"; break;
    case SortBy::count: r.sort = "count"; break;
    case SortBy::age: r.sort = "age"; break;
  }
}

}  // namespace kleak
