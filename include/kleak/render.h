// The formats of the profiling world, rendered from a Report (report.h): folded stacks
// (FlameGraph, inferno, speedscope), a gzipped pprof Profile (go tool pprof, pprof web UIs) and a
// self-contained SVG flame graph. Each covers the groups in Report::stacks (so at most --top of
// them) and weighs them by outstanding bytes (pprof also carries counts and the window's churn).
//
// One frame path per group, outermost first, shared by the folded and SVG renderers:
//   [kind]                      root frame, so kinds separate ("[page]", "[slab]", "[mixed]")
//   dim=value ...               the --by dimensions other than stack and callsite, in --by order
//                               ("cgroup=/demo.scope", "cache=dentry"): the frames of a group
//                               when it is not grouped by stack
//   frames, outermost first     the group's frames with the "+0x.." offset stripped, so the
//                               same function merges; a module stays part of the name:
//                               "leak_init+0x10 [leaky]" -> "leak_init [leaky]"; unknown
//                               addresses ("0xffffffffc0a01234") and kleak's own markers
//                               ("[allocated before the window]") are kept as they are
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kleak/format_table.h"
#include "kleak/report.h"
#include "kleak/text_escape.h"

namespace kleak {

std::string render_text(const Report& r);
std::string render_json(const Report& r);
std::string human_bytes(uint64_t bytes);  // "1.5 MiB"
// "page pipe", "slab" (a category named as its kind once), "several kinds several categories".
std::string kind_and_category(const StackGroup& g);

// Folded stacks: one line per distinct frame path, "f1;f2;...;fn <bytes>\n", frames outermost
// first, lines sorted, identical paths summed, groups with no outstanding bytes left out. Within
// a frame whitespace becomes '_' and ';' becomes ':', so "leak_init [leaky]" is written
// "leak_init_[leaky]". Empty when no group has outstanding bytes.
std::string render_folded(const Report& r);

// A pprof Profile (github.com/google/pprof proto/profile.proto), gzipped, shaped like a Go heap
// profile: sample types alloc_objects/count, alloc_space/bytes, inuse_objects/count,
// inuse_space/bytes (default inuse_space). inuse = outstanding count and bytes; alloc = the
// group's allocations in the window (allocs, alloc_bytes), or the inuse values where allocs is 0.
// One Location per distinct frame text (synthetic address, stable for the same text), one
// Function per function ("anon_pipe_write", "leak_init [leaky]"), one Mapping for
// "[kernel.kallsyms]" and one per module ("[leaky]"). Labels: kind, category, meminfo_line,
// cache, comm (the top one), context, verdict and the --by dimensions.
std::string render_pprof(const Report& r);

// A self-contained SVG flame graph of outstanding bytes (no external resources): outermost frame
// at the bottom, widths proportional to bytes, <title> tooltips (frame, bytes, share), click to
// zoom, "Search" to highlight a regex, colors by kind. FlameGraph's URL parameters work too:
// file.svg?x=<rect x>&y=<rect y> opens zoomed on that frame, ?s=<regex> searched.
std::string render_svg(const Report& r);

// ---- the pieces, for tests and the other renderers

// The frame path of a group, outermost first (see the top of this file), with the bytes as they
// are: folded and SVG escape them (text_escape.h), pprof replaces invalid UTF-8 only.
std::vector<std::string> flame_path(const Report& r, const StackGroup& g);

// One frame written for the folded format: escaped as text is (text_escape.h: "\x1b", "\t"),
// then ' ' -> '_' and ';' -> ':'.
std::string folded_frame(std::string_view name);

// sanitize_utf8 (pprof's and the metrics' strings) is text_escape.h's, beside the one UTF-8 decoder.

// ---- the one table of formats, shared by trace, report and --serve

struct ReportFormat {
  std::string_view name;                   // --format value
  std::string (*render)(const Report&);
  bool all_groups;                         // flame graphs and profiles: no --top cut by default
  bool binary;                             // not for a terminal: write it to a file or a pipe
};
// text, json, folded, pprof (gzipped protobuf), svg; text first (the default).
std::span<const ReportFormat> report_formats();
// The format named `name`, or usage_error naming every format.
const ReportFormat& report_format(std::string_view name);
// "text, json, folded, pprof or svg", for help texts and errors.
std::string report_format_names();
// usage_error when a binary format would go to a terminal (stdout, no -o).
void check_output(const ReportFormat& f, bool to_terminal);

// ---- /metrics: the Prometheus text exposition of a report (metrics.cpp), served by --serve.
struct MetricsOptions {
  size_t top = 20;  // stacks exported as labelled series, by growth: the cardinality bound
};

// What the exported series describe beyond the report: kleak_build_info's labels.
struct BuildInfo {
  std::string version;  // kleak's
  std::string kernel;   // uname -r
  std::string attach_mode;  // "raw_tp", or several joined with ',' when families differ
};

// Prometheus text exposition format (version 0.0.4) of a report. Counters only ever count up
// during a run (the BPF counters); current state is a gauge. Stacks are identified by
// `stack_id`, a hash of what makes the group (kind, category, frames, --by values), so a series
// follows one stack across scrapes whatever its rank.
std::string render_metrics(const Report& r, const MetricsOptions& opts, const BuildInfo& build,
                           double events_per_s);
// The 12 hex digit id of a group: the same stack gets the same id in every report.
std::string stack_id(const StackGroup& g);
// attach_mode of a report as one label value: the distinct modes, sorted, joined with ','.
std::string attach_modes(const Report& r);

// The diff's formats (render stage): text and json.
using DiffFormat = DocFormat<ReportDiff>;
std::span<const DiffFormat> diff_formats();
const DiffFormat& diff_format(std::string_view name);  // usage_error naming text and json otherwise
std::string render_diff(const ReportDiff& d, std::string_view format);

}  // namespace kleak
