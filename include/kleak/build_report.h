// The last step before rendering, shared by `kleak trace` (live) and `kleak report` (replay):
// aggregate every group, add the verdicts, sort, cut to --top, reconcile with /proc/meminfo.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kleak/meminfo.h"
#include "kleak/report.h"
#include "kleak/verdict.h"

namespace kleak {

struct ReportInputs {
  const Collected* collected = nullptr;
  const Kallsyms* syms = nullptr;
  const Filter* filter = nullptr;
  AggregateOptions aopts;
  const GrowthTracker* growth = nullptr;  // nullptr: no samples
  const Ledgers* ledgers = nullptr;       // the kernel's counts now, for the last sample
  double min_growth_bytes_per_s = kDefaultMinGrowthBytesPerS;  // --min-growth
  SortBy sort = SortBy::growth;
  const Snapshot* meminfo_start = nullptr;  // both or neither: the reconciliation
  const Snapshot* meminfo_end = nullptr;
  bool filtered_in_kernel = false;
  std::map<std::string, std::string> sources, attach_mode;
  std::string bpf_variant;
  std::vector<std::string> warnings;
  std::string kernel;  // "" = this box's
  std::map<std::string, std::vector<std::string>> cache_aliases;  // Report::cache_aliases
  std::optional<SelfCost> cost;  // live traces: what kleak itself cost
};

// Every group of `c`, cgroups named as of now.
Report aggregate_all(const Collected& c, const Kallsyms& syms, const Filter& filter,
                     const AggregateOptions& aopts);

// Every group of the records a drain hands over a batch at a time, never all held: `drain`
// fills `c` (all but its records) and gives each batch of records to the sink. With `keep`, the
// records are also appended there (a recording needs them; nothing else does).
Report aggregate_all_streamed(Collected& c, const std::function<void(Collected&, const RecordSink&)>& drain,
                              const Kallsyms& syms, const Filter& filter, const AggregateOptions& aopts,
                              std::vector<AllocRecord>* keep = nullptr);

Report build_report(const ReportInputs& in);
// ... from `all`, what aggregate_all (or aggregate_all_streamed) made of in.collected.
Report build_report(const ReportInputs& in, Report all);

// Moves the groups that hold nothing (churn only) from r.stacks to r.churn.
void split_churn(Report& r);

// Lines for Kallsyms::parse that resolve every address in `c`'s stacks exactly as `syms` does:
// what a recording keeps so that it symbolizes the same on another box.
std::string kallsyms_subset(const Kallsyms& syms, const Collected& c);

}  // namespace kleak
