// --max-cpu PCT: a CPU budget kleak keeps by itself. Every second the trace session measures what
// kleak cost over the last interval (its BPF programs: the kernel's run times where its BPF
// statistics are on, else an estimate from the event counters; plus its own process) and asks
// Budget what to do: raise the sampling rate, lower it again, or detach the costliest family.
// Pure: unit-tested on measurements made by hand.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "kleak/collect.h"
#include "kleak/report.h"

namespace kleak {

struct BudgetSample {
  double t_s = 0;         // seconds into the window
  double interval_s = 0;  // what the costs below cover
  double bpf_ns = 0;      // kleak's programs over the interval
  double self_ns = 0;     // kleak's process (user + system) over the interval
  std::map<std::string, double> family_ns;  // the programs' cost per family
  double events = 0;      // allocation and free events the programs saw in the interval
  double cpu_pct() const { return interval_s > 0 ? (bpf_ns + self_ns) / (interval_s * 1e9) * 100 : 0; }
  // What one event cost: whether a raise helped is judged on this, not on the total, which
  // moves with the workload (measured: a pipe loop still ramping up made 1 in 4 look dearer
  // than 1 in 1, and the first family went at 3 s).
  double ns_per_event() const { return events > 0 ? bpf_ns / events : 0; }
};

// The daemon's budget when --serve is given without --max-cpu: 5% of one CPU.
inline constexpr double kDefaultServeMaxCpuPct = 5;

class Budget {
 public:
  // The most allocations one record may stand for: past 1 in 4096 sampling saves little more
  // (every event still runs its program) and estimates get coarse.
  static constexpr uint32_t kMaxSampleEvery = 4096;

  // `max_cpu_pct` of one CPU; `floor_every`: --sample, the rate it never goes below.
  Budget(double max_cpu_pct, uint32_t floor_every) : max_(max_cpu_pct), floor_(floor_every ? floor_every : 1) {}

  // What to do after this interval at sampling rate `every` with `families` still attached.
  std::optional<BudgetAction> step(const BudgetSample& s, uint32_t every, size_t families);

 private:
  double max_;
  uint32_t floor_;
  int calm_ = 0;             // intervals in a row well under the budget
  bool settling_ = false;    // the interval after an action still holds some time before it
  double before_raise_ = 0;  // ns per event before the last raise; 0 when the last action was not one
  uint32_t raised_from_ = 0;  // the rate before the last raise
  double best_cpu_pct(const BudgetSample& s, uint32_t every) const;
};

// --max-cpu's value: "5%", "5" or "0.5%" of one CPU, above 0 and at most 100 x CPUs. usage_error.
double parse_max_cpu(const std::string& text);

// The programs' cost per family estimated from counter deltas, where the kernel keeps no run
// times: per event, what tools/bench.sh measured on the dev box (bench/README.md).
std::map<std::string, double> estimate_family_ns(const Counters& before, const Counters& after);

}  // namespace kleak
