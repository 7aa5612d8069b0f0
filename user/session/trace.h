// `kleak trace` and whatever else runs a trace window (kleak hunt): the options as typed, the
// checked config made from them once, and the window itself.
// Code: user/session/trace_config.cpp (options -> TraceConfig, pure but for the cgroup lookup),
// user/session/trace_window.cpp (the window), user/cli/trace_cmd.cpp (the subcommand: outputs).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "session/view.h"
#include "kleak/attach.h"
#include "kleak/cgroup.h"
#include "kleak/filter.h"
#include "kleak/recording.h"
#include "kleak/report.h"
#include "kleak/verdict.h"

namespace kleak {

// What to trace, typed: --filter parsed and --kinds as a mask. The command line's text is parsed
// into it once (parse_selection); kleak hunt hands its own (HuntTraceRequest), never as text.
struct TraceSelection {
  Filter filter;            // --filter (match_all: none)
  uint32_t kinds_mask = 0;  // --kinds: kind_bit()s; 0 = every kind
};

// The flags of `kleak trace`, as typed.
struct TraceOptions {
  ViewOptions view;  // --filter, --top, --format, -o, --by, --sort, --full-stacks, --user-pages
  std::string duration = "30s";
  std::string interval;
  uint32_t stack_depth = KLEAK_DEFAULT_STACK_DEPTH;
  std::string min_size, max_size;
  std::optional<uint32_t> pid;
  std::string cache;
  std::string kinds;
  uint32_t max_allocs = KLEAK_DEFAULT_MAX_ALLOCS;
  uint32_t max_stacks = KLEAK_DEFAULT_MAX_STACKS;
  uint32_t max_caches = KLEAK_DEFAULT_MAX_CACHES;
  std::string attach = "auto";
  std::string bulk_frees = "auto";  // auto: follow bulk frees where the kernel lets kleak; off
  std::string btf = "/sys/kernel/btf/vmlinux";
  std::string tracefs;
  std::string kallsyms = "/proc/kallsyms";
  std::string record;
  uint32_t sample = 1;
  std::string max_cpu;  // --max-cpu PCT of one CPU; "" = none (5% with --serve)
  uint32_t stack_reuse = KLEAK_DEFAULT_STACK_REUSE;
  uint32_t max_sites = KLEAK_DEFAULT_MAX_SITES;
  std::string serve;
  std::string web_config;  // --web.config.file: TLS and basic auth for --serve
  size_t serve_top = 20;
  std::string cgroup;
  uint32_t max_churn = KLEAK_DEFAULT_MAX_CHURN;
  std::string report_dir;               // --report-dir: the window's report to a file there, one line on stderr
  std::optional<uint32_t> keep_reports;  // --keep-reports: how many of them stay (report_dir.h's default)
  std::optional<int> ready_fd;           // --ready-fd: one JSON line there once tracing (readiness.h)
  // Set by a caller that has --filter and --kinds typed (kleak hunt): used instead of the text of
  // view.filter and kinds, which stay "".
  std::optional<TraceSelection> selection;
};

// view.filter and kinds parsed. Throws usage_error (a bad filter or kind list).
TraceSelection parse_selection(const TraceOptions& o);

// "4096", "4k", "1M", "2G" (binary multiples). Throws usage_error naming `flag`.
uint64_t parse_size(const std::string& flag, const std::string& text);

// --filter and the shorthands (--min-size, --max-size, --pid, --cache, --kinds), AND-ed; from
// o.selection where it is set, else from the text (parsed here, once).
Filter build_filter(const TraceOptions& o);

// What the BPF programs are configured with: the kernel side of the filter (its prefilter), the
// map sizes and the sampling. Pure: the one path from the options to the loader, which writes it
// to the object's rodata and map sizes (Tracer::start).
BpfConfig bpf_config(const TraceOptions& o, const BpfPrefilter& pre, const std::optional<CgroupTarget>& cgroup);

// The options checked, every flag parsed, before anything touches the kernel.
struct TraceConfig {
  std::chrono::nanoseconds duration{};
  std::optional<std::chrono::nanoseconds> interval;
  std::optional<AttachMode> forced;  // --attach
  std::vector<GroupBy> by;
  SortBy sort{};
  double min_growth_bytes_per_s = kDefaultMinGrowthBytesPerS;  // --min-growth
  double max_cpu_pct = 0;  // --max-cpu (0 = no budget)
  std::optional<CgroupTarget> cgroup;
  Filter filter;  // cache names resolved to the merged caches BPF sees (cache_aliases.h)
  BpfConfig bpf;
  std::map<std::string, std::vector<std::string>> cache_aliases;  // SLUB merged caches of the box
};
// Throws usage_error (exit 2) or Error with one line; checks -o and --record paths too.
TraceConfig check_trace_options(const TraceOptions& o);

// What a window leaves: the report of its final drain (taken after the programs were detached)
// and the run as `--record` saves it (the drain, the kallsyms lines its stacks need, meminfo at
// both ends, the verdict samples).
struct TraceResult {
  Report report;
  Recording run;
  int signal = 0;  // SIGINT/SIGTERM/SIGHUP that ended the window early, 0 when it ran out
};

// Runs one trace window as `o` says: checks the options, attaches, waits for --duration (or a
// signal), serves --serve while it runs, hands a report to `each_interval` every --interval, then
// detaches and drains. Prints only status lines on stderr, never a report. Throws as
// check_trace_options does, and Error when the kernel refuses.
TraceResult trace_window(const TraceOptions& o,
                         const std::function<void(const Report&)>& each_interval = {});

}  // namespace kleak
