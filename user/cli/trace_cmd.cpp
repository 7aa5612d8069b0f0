// `kleak trace`: a trace window (session/trace_window.cpp), then its report to stdout or -o and the run
// to --record. Exit 3 when the allocation map filled (the report is incomplete).
#include <cstdio>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/hunt_trace.h"
#include "cli/view_options.h"
#include "session/report_dir.h"
#include "session/trace.h"
#include "kleak/commands.h"
#include "kleak/error.h"
#include "kleak/journal.h"
#include "kleak/output_file.h"
#include "kleak/recording.h"
#include "kleak/render.h"

namespace kleak {

namespace {

// The report's destination (OutputSink): stdout, or -o FILE, where with --interval the first
// report replaces the previous file whole and the later ones (the final report too) are appended.
OutputSink report_output(const ViewOptions& v) {
  OutputOptions opts;
  opts.force = v.force;
  return OutputSink(v.output, opts);
}

// --record: the run saved, or the failure's line appended to `failed`.
void save_run(const TraceOptions& o, const TraceResult& res, const OutputOptions& opts,
              std::vector<std::string>& failed) {
  if (o.record.empty()) return;
  try {
    save_recording(o.record, res.run, opts);
    fmt::print(stderr, "{}kleak: recorded {} outstanding allocations to {}\n", log_prefix(LogLevel::info),
               res.run.collected.allocs.size(), o.record);
  } catch (const Error& e) {
    failed.push_back(e.what());
  }
}

// A map filled: allocations or their caches are missing from the report (exit 3). `dropped`
// holds other losses too (stacks not captured), which every report on a busy box has.
bool incomplete(const Report& r) {
  for (Loss cause : {Loss::alloc_map_full, Loss::cache_map_full})
    if (auto it = r.dropped.find(cause); it != r.dropped.end() && it->second > 0) return true;
  return false;
}

// --report-dir: the report to a file there and one line on stderr (the journal), a warning when
// the report is incomplete.
void write_to_report_dir(const TraceOptions& o, const Report& r) {
  const auto end = std::chrono::system_clock::now();
  const std::string path = save_window_report(o.report_dir, o.keep_reports.value_or(kDefaultKeepReports), end,
                                              o.view.format, report_format(o.view.format).render(r));
  fmt::print(stderr, "{}kleak: {}\n", log_prefix(incomplete(r) ? LogLevel::warning : LogLevel::info),
             window_line(r, end, path));
}

// Each output is written on its own: a recording lost to a full disk does not take the report
// with it, nor the other way round. Every failure is named; exit 2 if any failed.
void write_outputs(const TraceOptions& o, const TraceResult& res, OutputSink& out) {
  std::vector<std::string> failed;
  try {
    if (o.report_dir.empty()) out.write(report_format(o.view.format).render(res.report));
    else write_to_report_dir(o, res.report);
  } catch (const Error& e) {
    failed.push_back(e.what());
  }
  save_run(o, res, out.options(), failed);
  if (!failed.empty()) throw Error(fmt::format("{}", fmt::join(failed, "; ")), kExitUsage);
}

// Exit 3, said on stderr, when a map filled: the report is incomplete. The allocation map loses
// allocations; the cache map loses the slab cache of allocations (their cache= and --by cache
// group are unknown), which exited 0 with cache_map_full=7656 on the dropped line only.
int exit_code_of(const Report& r, const TraceOptions& o) {
  auto dropped = [&](Loss cause) { auto it = r.dropped.find(cause); return it == r.dropped.end() ? 0 : it->second; };
  int rc = kExitOk;
  if (uint64_t lost = dropped(Loss::alloc_map_full)) {
    fmt::print(stderr,
               "{}kleak: {} allocations were not tracked because the allocation map ({} entries) "
               "was full; the report is incomplete (raise --max-allocs or narrow --filter)\n",
               log_prefix(LogLevel::warning), lost, o.max_allocs);
    rc = kExitIncomplete;
  }
  if (uint64_t unnamed = dropped(Loss::cache_map_full)) {
    fmt::print(stderr,
               "{}kleak: {} allocations have no slab cache name because the cache map ({} entries) was "
               "full; the report is incomplete (raise --max-caches)\n",
               log_prefix(LogLevel::warning), unnamed, o.max_caches);
    rc = kExitIncomplete;
  }
  return rc;
}

int run_trace(const TraceOptions& o) {
  OutputSink out = report_output(o.view);
  TraceResult res = trace_window(o, [&](const Report& r) {
    out.write(report_format(o.view.format).render(r) + "\n");
  });
  write_outputs(o, res, out);
  return exit_code_of(res.report, o);
}

}  // namespace

int trace_for_hunt(const HuntTraceRequest& req, Report& out) {
  TraceOptions o;
  o.duration = req.duration;
  o.selection = TraceSelection{req.filter, req.kinds_mask};
  o.cache = req.cache;
  o.view.top = 0;  // every group: hunt picks those that explain a line
  o.record = req.record;
  o.view.force = req.force;
  o.ready_fd = req.ready_fd;
  TraceResult res = trace_window(o);
  std::vector<std::string> failed;
  OutputOptions opts;
  opts.force = o.view.force;
  save_run(o, res, opts, failed);
  if (!failed.empty()) throw Error(fmt::format("{}", fmt::join(failed, "; ")), kExitUsage);
  int rc = exit_code_of(res.report, o);
  out = std::move(res.report);
  return rc;
}

void register_trace_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<TraceOptions>();
  CLI::App* cmd = app.add_subcommand(
      "trace", "Trace kernel allocations for a window and report the call stacks still holding memory");
  cmd->add_option("-d,--duration", opts->duration, "How long to trace: 90s, 10m, 1h (default 30s)");
  cmd->add_option("-i,--interval", opts->interval, "Also print a report every DURATION while tracing");
  add_view_options(cmd, opts->view,
                   "text (default), json, folded (flamegraph.pl/speedscope), pprof (gzipped profile.proto: "
                   "use -o), svg (a flame graph)");
  cmd->add_option("--stack-depth", opts->stack_depth, "Kernel frames captured per stack (default 32, max 127)");
  cmd->add_option("--min-size", opts->min_size, "Only allocations requesting at least this many bytes (4096, 4k, 1M)");
  cmd->add_option("--max-size", opts->max_size, "Only allocations requesting at most this many bytes");
  cmd->add_option("-p,--pid", opts->pid, "Only allocations made by this process (tgid)");
  cmd->add_option("--cache", opts->cache, "Only objects of this slab cache (e.g. dentry, kmalloc-512)");
  cmd->add_option("--kinds", opts->kinds, "Only these kinds: kmalloc,slab,page,vmalloc,percpu");
  cmd->add_option("--serve", opts->serve,
                  "While tracing, serve /metrics (Prometheus), /debug/pprof/heap (pprof) and /healthz, /readyz "
                  "(probes) on [HOST]:PORT "
                  "(:9464 = loopback; 0.0.0.0:9464 every interface); with a long --duration, a daemon");
  cmd->add_option("--web.config.file,--web-config", opts->web_config,
                  "TLS and basic auth for --serve: the Prometheus exporter-toolkit web configuration file");
  cmd->add_option("--serve-top", opts->serve_top,
                  "Stacks exported as labelled series, the fastest growing (default 20)");
  cmd->add_option("--sample", opts->sample,
                  "Track about 1 in N allocations, drawn at random per allocation in proportion to its "
                  "size, and weight each record by 1/probability (unbiased estimates): for the busiest boxes");
  cmd->add_option("--max-cpu", opts->max_cpu,
                  "A CPU budget, percent of one CPU (5%): kleak measures what its programs and its process "
                  "cost and raises the sampling rate, then detaches the costliest family, to stay under it "
                  "(default: none; 5% with --serve; 0 = none)")
      ->type_name("PCT");
  cmd->add_option("--stack-reuse", opts->stack_reuse,
                  "Walk a call site's stack once per up to N of its allocations while walks keep finding "
                  "the same stack; 1 walks every one (exact, ~2 us each). The report shows how often a "
                  "check found another stack (default 64)");
  cmd->add_option("--max-sites", opts->max_sites, "Call sites remembered for --stack-reuse (default 16384, LRU)");
  cmd->add_option("--record", opts->record,
                  "Also keep the run in FILE (compressed) for `kleak report FILE` and `kleak diff A B`");
  cmd->add_option("--report-dir", opts->report_dir,
                  "Write each window's report to a file in DIR (named by its end time, 0600) instead of stdout, "
                  "and log one line about it on stderr: for a daemon (the systemd unit: /var/lib/kleak)")
      ->type_name("DIR");
  cmd->add_option("--keep-reports", opts->keep_reports,
                  "With --report-dir: keep the newest N reports there, remove older ones (default 30)")
      ->type_name("N");
  cmd->add_option("--ready-fd", opts->ready_fd,
                  "Once tracing (every program attached, the --serve listener bound), write one JSON line "
                  "{\"ready\":true,\"pid\":..,\"events\":..,\"metrics\":URL} to file descriptor N and close it: "
                  "for scripts and supervisors (under systemd, NOTIFY_SOCKET gets READY=1 as well)")
      ->type_name("N");
  cmd->add_option("--cgroup", opts->cgroup,
                  "Only tasks in this cgroup v2 or below: a directory (/sys/fs/cgroup/system.slice/x.scope, "
                  "or relative to the cgroup2 root) or a cgroup id; checked in BPF");
  cmd->add_option("--max-churn", opts->max_churn, "Groups counted for alloc/free churn at most (default 65536)");
  cmd->add_option("--max-allocs", opts->max_allocs, "Outstanding allocations tracked at most (default 262144)");
  cmd->add_option("--max-stacks", opts->max_stacks, "Distinct stacks kept at most (default 65536)");
  cmd->add_option("--max-caches", opts->max_caches, "Slab caches named at most (default 4096)");
  cmd->add_option("--attach", opts->attach, "auto, raw_tp, tracepoint or kprobe (default auto)");
  cmd->add_option("--bulk-frees", opts->bulk_frees,
                  "auto (default): follow frees that fire no tracepoint (kmem_cache_free_bulk, kfree_rcu "
                  "sheaves) with fentry or kprobes where the kernel allows; off: do not");
  cmd->add_option("--btf", opts->btf, "Kernel BTF file (default /sys/kernel/btf/vmlinux)");
  cmd->add_option("--tracefs", opts->tracefs, "Where tracefs is mounted (default: find or mount it)");
  cmd->add_option("--kallsyms", opts->kallsyms, "Symbol table for kernel frames (default /proc/kallsyms)");
  cmd->callback([opts, &exit_code] { exit_code = run_trace(*opts); });
}

}  // namespace kleak
