// Prometheus text format for a report. Cardinality is bounded: per category (a fixed set), per
// loss cause (a fixed set) and the top N groups by growth, labelled by rank.
#include <fmt/format.h>

#include "kleak/serve.h"

namespace kleak {

namespace {

// Label values escape backslash, double quote and newline.
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
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

}  // namespace

std::string render_metrics(const Report& r, const MetricsOptions& opts, double events_per_s) {
  std::string o;
  family(o, "kleak_window_seconds", "gauge", "Length of the traced window so far.");
  o += fmt::format("kleak_window_seconds {}\n", r.duration_s);
  family(o, "kleak_outstanding_bytes", "gauge",
         "Kernel memory allocated during the window and still held, by meminfo category.");
  for (const auto& [cat, s] : r.by_category)
    o += fmt::format("kleak_outstanding_bytes{{category=\"{}\"}} {}\n", label(cat), s.bytes);
  family(o, "kleak_outstanding_allocations", "gauge", "Allocations made during the window and still held, by category.");
  for (const auto& [cat, s] : r.by_category)
    o += fmt::format("kleak_outstanding_allocations{{category=\"{}\"}} {}\n", label(cat), s.count);
  family(o, "kleak_dropped_total", "counter", "Events kleak could not account for, by cause.");
  for (const auto& [cause, n] : r.dropped)
    o += fmt::format("kleak_dropped_total{{cause=\"{}\"}} {}\n", label(cause), n);
  family(o, "kleak_events_total", "counter", "Allocation and free events seen and what became of them.");
  for (const auto& [what, n] : r.events)
    o += fmt::format("kleak_events_total{{event=\"{}\"}} {}\n", label(what), n);
  family(o, "kleak_events_per_second", "gauge", "Allocation and free events per second over the last interval.");
  o += fmt::format("kleak_events_per_second {:.1f}\n", events_per_s);
  family(o, "kleak_stack_outstanding_bytes", "gauge",
         "The top groups by growth (rank 1 = fastest growing), outstanding bytes.");
  std::string series;
  size_t rank = 0;
  for (const auto& g : r.stacks) {
    if (++rank > opts.top) break;
    std::string labels = fmt::format(
        "rank=\"{}\",kind=\"{}\",category=\"{}\",top_frame=\"{}\",verdict=\"{}\",cache=\"{}\"", rank, label(g.kind),
        label(g.category), label(g.frames.empty() ? "" : g.frames.front().text()), label(g.verdict),
        label(g.cache.value_or("")));
    for (const auto& [d, v] : g.group) labels += fmt::format(",{}=\"{}\"", d, label(v));
    o += fmt::format("kleak_stack_outstanding_bytes{{{}}} {}\n", labels, g.bytes);
    series += fmt::format("kleak_stack_growth_bytes_per_second{{{}}} {}\n", labels, g.growth_bytes_per_s);
  }
  family(o, "kleak_stack_growth_bytes_per_second", "gauge", "The same groups' growth rate (least squares over the samples).");
  o += series;
  return o;
}

}  // namespace kleak
