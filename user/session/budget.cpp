// --max-cpu (budget.h).
#include "session/budget.h"

#include <algorithm>
#include <charconv>
#include <thread>

#include "kleak/error.h"
#include "kleak/kind.h"

namespace kleak {

// The cost of one event at rate r is f + v / r: a fixed part (the program runs for every event,
// drawn or not) and a part that sampling divides. Two intervals at two rates give both, and so
// the least kleak can cost at the highest rate: when even that is over the budget, raising
// further only wastes seconds (measured on the pipe loop: 1 in 4096 still cost 11% of a CPU,
// 20 s of raises before the page family went), and the costliest family is detached now.
double Budget::best_cpu_pct(const BudgetSample& s, uint32_t every) const {
  const double c2 = s.ns_per_event(), c1 = before_raise_;
  const double r1 = raised_from_, r2 = every;
  if (c1 <= 0 || c2 <= 0 || r1 <= 0 || r2 <= r1 || s.interval_s <= 0) return 0;
  const double v = std::max(0.0, (c1 - c2) / (1 / r1 - 1 / r2));
  const double f = std::max(0.0, c2 - v / r2);
  const double events_per_ns = s.events / (s.interval_s * 1e9);
  return ((f + v / kMaxSampleEvery) * events_per_ns + s.self_ns / (s.interval_s * 1e9)) * 100;
}

std::optional<BudgetAction> Budget::step(const BudgetSample& s, uint32_t every, size_t families) {
  const double cpu = s.cpu_pct();
  if (settling_) {  // the last action took effect partway through this interval
    settling_ = false;
    return std::nullopt;
  }
  BudgetAction a;
  a.t_s = s.t_s;
  a.cpu_pct = cpu;
  a.sample_every = every;
  if (cpu > max_) {
    calm_ = 0;
    // Within a tenth of the budget a family is not given up for good on one second's projection
    // (measured: kmalloc went at 5.1% for 5%); a raise is tried instead.
    const bool hopeless = every >= kMaxSampleEvery || (best_cpu_pct(s, every) > max_ && cpu > 1.1 * max_);
    if (hopeless && families > 1 && !s.family_ns.empty()) {
      a.what = BudgetAction::What::detach;
      a.family = std::max_element(s.family_ns.begin(), s.family_ns.end(),
                                  [](const auto& x, const auto& y) { return x.second < y.second; })
                     ->first;
      before_raise_ = 0;
    } else if (every < kMaxSampleEvery) {
      a.what = BudgetAction::What::raise_sampling;
      a.sample_every = std::min<uint64_t>(kMaxSampleEvery, uint64_t{every} * (cpu > 2 * max_ ? 4 : 2));
      before_raise_ = s.ns_per_event();
      raised_from_ = every;
    } else {
      return std::nullopt;  // nothing left to give up: the report says the budget was exceeded
    }
    settling_ = true;
    return a;
  }
  before_raise_ = 0;
  // Three calm seconds at under half the budget: sample more again, down to --sample.
  calm_ = cpu < 0.5 * max_ ? calm_ + 1 : 0;
  if (calm_ < 3 || every <= floor_) return std::nullopt;
  calm_ = 0;
  a.what = BudgetAction::What::lower_sampling;
  a.sample_every = std::max(floor_, every / 2);
  settling_ = true;
  return a;
}

double parse_max_cpu(const std::string& text) {
  std::string_view v = text;
  if (!v.empty() && v.back() == '%') v.remove_suffix(1);
  double pct = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), pct);
  const double most = 100.0 * std::max(1u, std::thread::hardware_concurrency());
  if (ec != std::errc() || p != v.data() + v.size() || !(pct > 0) || pct > most)
    throw usage_error("bad --max-cpu '" + text + "' (percent of one CPU, above 0: 5%, 0.5%, 150%)");
  return pct;
}

std::map<std::string, double> estimate_family_ns(const Counters& before, const Counters& after) {
  // ns per event, measured on the dev box (tools/bench.sh, 2026-11-30): an allocation tracked
  // 225 ns on average with stack reuse, one filtered or sampled out ~60 ns, a free 74 ns.
  constexpr double kTracked = 225, kOther = 60, kFree = 74;
  std::map<std::string, double> out;
  auto d = [&](int kind, int cause) {
    return static_cast<double>(counter(after, kind, cause) - counter(before, kind, cause));
  };
  for (int k = KLEAK_KIND_KMALLOC; k < KLEAK_KIND_MAX; ++k) {
    double tracked = d(k, KLEAK_ALLOC_TRACKED), seen = d(k, KLEAK_ALLOC_SEEN), frees = d(k, KLEAK_FREE_SEEN);
    double ns = tracked * kTracked + std::max(0.0, seen - tracked) * kOther + frees * kFree;
    if (ns > 0) out[std::string(kind_name(static_cast<kleak_kind>(k)))] = ns;
  }
  return out;
}

}  // namespace kleak
