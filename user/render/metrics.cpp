// Prometheus text format for a report, following Prometheus' naming and semantics:
//  - counters (_total) are the BPF counters of the run: they only count up (a restart resets
//    them, which rate() handles); current state (outstanding records, map fill) is a gauge;
//  - kernel, user and backing memory are separate families, so sum() of each means one thing;
//  - a stack's series is named by stack_id, a hash of what makes its group: the same stack keeps
//    its series whatever its rank, and cardinality stays bounded by --serve-top (by growth).
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "kleak/category.h"
#include "kleak/hash.h"
#include "kleak/render.h"

namespace kleak {

namespace {

// Label values escape backslash, double quote and newline, and must be UTF-8: one comm of
// invalid UTF-8 (any user can set one) made Prometheus reject every scrape ("invalid UTF-8
// label value"), so invalid sequences become '?'. Otherwise exact: control characters included.
std::string label(std::string_view v) {
  std::string out;
  for (char c : sanitize_utf8(v)) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void family(std::string& o, const char* name, const char* type, const char* help) {
  o += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// Report::events entries that describe the present, not a count of events: they go down.
// Report::events that are gauges, not counters: printed on their own or not at all.
bool is_gauge(EventCount e) { return e == EventCount::outstanding_records || e == EventCount::records_filtered_out; }

template <typename K>
uint64_t count_of(const std::map<K, uint64_t>& counts, K what) {
  auto it = counts.find(what);
  return it == counts.end() ? 0 : it->second;
}

enum class Memory { kernel, user, backing };
Memory memory_of(Category c) {
  if (is_user_memory(c)) return Memory::user;
  if (is_backing(c)) return Memory::backing;
  return Memory::kernel;
}

void by_category(std::string& o, const Report& r, Memory which, const char* bytes_name, const char* count_name,
                 const char* what) {
  family(o, bytes_name, "gauge", fmt::format("{} allocated during the window and still held, by category.", what).c_str());
  for (const auto& [cat, s] : r.by_category)
    if (memory_of(cat) == which) o += fmt::format("{}{{category=\"{}\"}} {}\n", bytes_name, label(category_name(cat)), s.bytes);
  family(o, count_name, "gauge", fmt::format("{} allocations still held, by category.", what).c_str());
  for (const auto& [cat, s] : r.by_category)
    if (memory_of(cat) == which) o += fmt::format("{}{{category=\"{}\"}} {}\n", count_name, label(category_name(cat)), s.count);
}

// The exported stacks: fastest growing first, then most bytes, at most `top`.
std::vector<const StackGroup*> top_by_growth(const Report& r, size_t top) {
  std::vector<const StackGroup*> v;
  for (const auto& g : r.stacks) v.push_back(&g);
  std::stable_sort(v.begin(), v.end(), [](const StackGroup* a, const StackGroup* b) {
    if (a->growth_bytes_per_s != b->growth_bytes_per_s) return a->growth_bytes_per_s > b->growth_bytes_per_s;
    return a->bytes > b->bytes;
  });
  if (v.size() > top) v.resize(top);
  return v;
}

}  // namespace

std::string stack_id(const StackGroup& g) {
  uint64_t h = fnv1a<uint64_t>(g.kind);
  h = fnv1a<uint64_t>(std::string_view("\0", 1), h);
  h = fnv1a<uint64_t>(g.category, h);
  for (const auto& f : g.frames) h = fnv1a<uint64_t>("\n" + f.text(), h);
  for (const auto& [d, v] : g.group) h = fnv1a<uint64_t>("\t" + d + "=" + v, h);
  return fmt::format("{:012x}", h >> 16);
}

std::string attach_modes(const Report& r) {
  std::set<std::string> modes;
  for (const auto& [event, mode] : r.attach_mode) modes.insert(mode);
  return fmt::format("{}", fmt::join(modes, ","));
}

// What kleak itself costs (the client libraries' process_* names for its process), and what
// --max-cpu did.
static void self_cost_metrics(std::string& o, const SelfCost& c, uint32_t sample_every) {
  family(o, "process_cpu_seconds_total", "counter", "kleak's process: user and system CPU time since the window began.");
  o += fmt::format("process_cpu_seconds_total {}\n", c.process_cpu_s);
  family(o, "process_resident_memory_bytes", "gauge", "kleak's process: resident memory.");
  o += fmt::format("process_resident_memory_bytes {}\n", c.rss_bytes);
  family(o, "kleak_bpf_cpu_seconds_total", "counter",
         "CPU time kleak's BPF programs ran (the kernel's run time, or estimated from the event counts: see measured_by).");
  o += fmt::format("kleak_bpf_cpu_seconds_total{{measured_by=\"{}\"}} {}\n", label(c.bpf_measured_by), c.bpf_cpu_s);
  family(o, "kleak_bpf_maps_bytes", "gauge", "Memory of kleak's BPF maps.");
  o += fmt::format("kleak_bpf_maps_bytes {}\n", c.maps_bytes);
  family(o, "kleak_sample_every", "gauge", "The sampling rate in force: 1 in this many allocations is tracked.");
  o += fmt::format("kleak_sample_every {}\n", sample_every);
  if (c.max_cpu_pct <= 0) return;
  family(o, "kleak_budget_max_cpu_ratio", "gauge", "--max-cpu as a ratio of one CPU.");
  o += fmt::format("kleak_budget_max_cpu_ratio {}\n", c.max_cpu_pct / 100);
  family(o, "kleak_budget_actions_total", "counter", "What --max-cpu did to stay under budget, by action.");
  std::map<std::string_view, uint64_t> n{{"raise_sampling", 0}, {"lower_sampling", 0}, {"detach", 0}};
  for (const auto& a : c.actions) ++n[budget_action_name(a.what)];
  for (const auto& [what, count] : n) o += fmt::format("kleak_budget_actions_total{{action=\"{}\"}} {}\n", what, count);
}

std::string render_metrics(const Report& r, const MetricsOptions& opts, const BuildInfo& build,
                           double events_per_s) {
  std::string o;
  family(o, "kleak_build_info", "gauge", "Always 1; the labels say which kleak traces which kernel, and how.");
  o += fmt::format("kleak_build_info{{version=\"{}\",kernel=\"{}\",attach_mode=\"{}\"}} 1\n", label(build.version),
                   label(build.kernel), label(build.attach_mode));
  family(o, "kleak_window_seconds", "gauge", "Length of the traced window so far.");
  o += fmt::format("kleak_window_seconds {}\n", r.duration_s);
  by_category(o, r, Memory::kernel, "kleak_kernel_outstanding_bytes", "kleak_kernel_outstanding_allocations",
              "Kernel memory");
  by_category(o, r, Memory::user, "kleak_user_outstanding_bytes", "kleak_user_outstanding_allocations",
              "User memory (process anonymous pages, page cache) tracked until its stacks were recognized,");
  by_category(o, r, Memory::backing, "kleak_backing_outstanding_bytes", "kleak_backing_outstanding_allocations",
              "Pages under objects already counted in kleak_kernel_outstanding_bytes (not to be added),");
  family(o, "kleak_dropped_total", "counter", "Events kleak could not account for, by cause.");
  for (const auto& [cause, n] : r.dropped)
    if (cause != Loss::drain_incomplete)
      o += fmt::format("kleak_dropped_total{{cause=\"{}\"}} {}\n", label(count_name(cause)), n);
  // Not losses of kleak's: the kernel freed these where no tracepoint fires (bulk frees, RCU
  // batches, sheaves), and kleak found out when the address came back. Kept out of
  // kleak_dropped_total so that KleakEventsDropped means a real loss.
  family(o, "kleak_unseen_frees_total", "counter",
         "Frees kleak did not see, found when the object's address was allocated again.");
  o += fmt::format("kleak_unseen_frees_total {}\n", r.unseen_frees);
  family(o, "kleak_unconfirmed_bytes", "gauge",
         "Bytes held by growing groups whose growth the kernel's own counts do not show (may be freed).");
  o += fmt::format("kleak_unconfirmed_bytes {}\n", r.unconfirmed_bytes);
  if (r.cost) self_cost_metrics(o, *r.cost, r.sample_every);
  family(o, "kleak_last_drain_incomplete_records", "gauge",
         "Records the last read of the BPF maps could not read whole (per read, not cumulative).");
  o += fmt::format("kleak_last_drain_incomplete_records {}\n", count_of(r.dropped, Loss::drain_incomplete));
  family(o, "kleak_events_total", "counter", "Allocation and free events seen and what became of them.");
  for (const auto& [what, n] : r.events)
    if (!is_gauge(what)) o += fmt::format("kleak_events_total{{event=\"{}\"}} {}\n", label(count_name(what)), n);
  family(o, "kleak_outstanding_records", "gauge", "Allocation records held in the BPF map now (its fill).");
  o += fmt::format("kleak_outstanding_records {}\n", count_of(r.events, EventCount::outstanding_records));
  family(o, "kleak_events_per_second", "gauge", "Allocation and free events per second over the last interval.");
  o += fmt::format("kleak_events_per_second {:.1f}\n", events_per_s);
  family(o, "kleak_groups", "gauge", "Groups (stacks) holding memory now; the per-stack series below show --serve-top of them.");
  o += fmt::format("kleak_groups {}\n", r.groups_total);
  family(o, "kleak_growing_stacks", "gauge", "Groups whose verdict is growing (outstanding bytes rose through the window).");
  o += fmt::format("kleak_growing_stacks {}\n",
                   std::count_if(r.stacks.begin(), r.stacks.end(), [](auto& g) { return g.verdict == "growing"; }));

  std::string bytes, count, growth, growing;
  for (const StackGroup* g : top_by_growth(r, opts.top)) {
    std::string labels = fmt::format("stack_id=\"{}\",kind=\"{}\",category=\"{}\",top_frame=\"{}\"", stack_id(*g),
                                     label(g->kind), label(g->category), label(g->frames.empty() ? "" : g->frames.front().text()));
    for (const auto& [d, v] : g->group) labels += fmt::format(",{}=\"{}\"", d, label(v));
    bytes += fmt::format("kleak_stack_outstanding_bytes{{{}}} {}\n", labels, g->bytes);
    count += fmt::format("kleak_stack_outstanding_allocations{{{}}} {}\n", labels, g->count);
    growth += fmt::format("kleak_stack_growth_bytes_per_second{{{}}} {}\n", labels, g->growth_bytes_per_s);
    growing += fmt::format("kleak_stack_growing{{{}}} {}\n", labels, g->verdict == "growing" ? 1 : 0);
  }
  family(o, "kleak_stack_outstanding_bytes", "gauge",
         "Outstanding bytes of the --serve-top fastest growing stacks; stack_id names the stack across scrapes.");
  o += bytes;
  family(o, "kleak_stack_outstanding_allocations", "gauge", "The same stacks' outstanding allocations.");
  o += count;
  family(o, "kleak_stack_growth_bytes_per_second", "gauge", "The same stacks' growth rate (least squares over the samples).");
  o += growth;
  family(o, "kleak_stack_growing", "gauge", "1 when the stack's verdict is growing, else 0.");
  o += growing;
  return o;
}

}  // namespace kleak
