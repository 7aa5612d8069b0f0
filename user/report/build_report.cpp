#include "kleak/build_report.h"

#include <fmt/format.h>

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <set>

#include "kleak/cgroup.h"
#include "kleak/filter.h"
#include "kleak/reconcile.h"
#include "kleak/symbolize.h"

namespace kleak {

namespace {

// The box this process runs on, for live reports ("Linux 6.18.0 x86_64").
std::string this_kernel() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return std::string(u.sysname) + " " + u.release + " " + u.machine;
}

}  // namespace

Report aggregate_all(const Collected& c, const Kallsyms& syms, const Filter& filter,
                     const AggregateOptions& aopts) {
  CgroupNames cgroups = CgroupNames::scan();
  AggregateOptions all = aopts;
  if (!all.cgroups) all.cgroups = &cgroups;
  all.top = SIZE_MAX;
  return aggregate(c, syms, filter, all);
}

Report aggregate_all_streamed(Collected& c, const std::function<void(Collected&, const RecordSink&)>& drain,
                              const Kallsyms& syms, const Filter& filter, const AggregateOptions& aopts,
                              std::vector<AllocRecord>* keep) {
  CgroupNames cgroups = CgroupNames::scan();
  AggregateOptions all = aopts;
  if (!all.cgroups) all.cgroups = &cgroups;
  all.top = SIZE_MAX;
  Aggregation agg(c, filter, all);
  drain(c, [&](std::span<const AllocRecord> batch) {
    agg.add(batch);
    if (keep) keep->insert(keep->end(), batch.begin(), batch.end());
  });
  return agg.finish(syms);
}

void split_churn(Report& r) {
  auto held_end = std::stable_partition(r.stacks.begin(), r.stacks.end(),
                                        [](const StackGroup& g) { return g.count > 0; });
  r.churn.assign(std::make_move_iterator(held_end), std::make_move_iterator(r.stacks.end()));
  r.stacks.erase(held_end, r.stacks.end());
  std::stable_sort(r.churn.begin(), r.churn.end(), [](const StackGroup& x, const StackGroup& y) {
    return x.alloc_bytes > y.alloc_bytes;
  });
  r.groups_total = r.stacks.size();
  r.churn_total = r.churn.size();
}

Report build_report(const ReportInputs& in) {
  return build_report(in, aggregate_all(*in.collected, *in.syms, *in.filter, in.aopts));
}

Report build_report(const ReportInputs& in, Report all) {
  const Collected& c = *in.collected;
  Report r = std::move(all);
  // The verdicts need every group; --top applies after sorting by them.
  GrowthTracker with_last = in.growth ? *in.growth : GrowthTracker();
  if (in.growth) with_last.add(static_cast<double>(c.now_ns - c.window_start_ns) / 1e9, r, in.ledgers);
  with_last.annotate(r, in.sort, in.min_growth_bytes_per_s);
  split_churn(r);
  if (r.stacks.size() > in.aopts.top) r.stacks.resize(in.aopts.top);
  if (r.churn.size() > in.aopts.top) r.churn.resize(in.aopts.top);
  if (in.meminfo_start && in.meminfo_end) {
    reconcile(r, account(*in.meminfo_start), account(*in.meminfo_end), *in.meminfo_end,
              static_cast<uint64_t>(sysconf(_SC_PAGESIZE)));
    if (!in.filter->is_match_all() || in.filtered_in_kernel)
      r.reconciliation_caveat = "the trace is filtered (--filter, --cgroup, --kinds, ...) but /proc "
                                "moves for the whole box: only the filtered part is explained.";
  } else {
    r.reconciliation_note = "/proc could not be read: no meminfo reconciliation";
  }
  r.cache_aliases = in.cache_aliases;
  for (auto* gs : {&r.stacks, &r.churn})
    for (auto& g : *gs)
      if (auto it = g.cache ? r.cache_aliases.find(*g.cache) : r.cache_aliases.end(); it != r.cache_aliases.end())
        g.cache_aliases = it->second;
  r.sources = in.sources;
  r.attach_mode = in.attach_mode;
  r.bpf_variant = in.bpf_variant;
  r.cost = in.cost;
  r.warnings.insert(r.warnings.end(), in.warnings.begin(), in.warnings.end());
  r.kernel = in.kernel.empty() ? this_kernel() : in.kernel;
  return r;
}

std::string kallsyms_subset(const Kallsyms& syms, const Collected& c) {
  std::set<std::tuple<uint64_t, std::string, std::string>> lines;
  for (const auto& [id, ips] : c.stacks)
    for (uint64_t ip : ips) {
      Frame f = syms.resolve(ip);
      if (f.known()) lines.emplace(f.addr - f.offset, f.func, f.module);
    }
  std::string out;
  for (const auto& [addr, func, module] : lines)
    out += module.empty() ? fmt::format("{:016x} t {}\n", addr, func)
                          : fmt::format("{:016x} t {}\t[{}]\n", addr, func, module);
  return out;
}

}  // namespace kleak
