// `kleak trace`: options -> settings, then attach -> wait -> drain -> aggregate -> render.
// SIGINT/SIGTERM end the window early and still print the report; the programs are detached
// before the final drain, so the last report is a consistent snapshot.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/view_options.h"
#include "kleak/attach.h"
#include "kleak/bounded_read.h"
#include "kleak/cgroup.h"
#include "kleak/commands.h"
#include "kleak/duration.h"
#include "kleak/error.h"
#include "kleak/filter.h"
#include "kleak/kind.h"
#include "kleak/meminfo.h"
#include "kleak/privileges.h"
#include "kleak/procfs.h"
#include "kleak/reconcile.h"
#include "kleak/report.h"
#include "kleak/symbolize.h"
#include "kleak/build_report.h"
#include "kleak/recording.h"
#include "kleak/output_file.h"
#include "kleak/render.h"
#include "kleak/serve.h"
#include "kleak/signals.h"
#include "kleak/verdict.h"

namespace kleak {

namespace {

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
  std::string btf = "/sys/kernel/btf/vmlinux";
  std::string tracefs;
  std::string kallsyms = "/proc/kallsyms";
  std::string record;
  uint32_t sample = 1;
  uint32_t stack_reuse = KLEAK_DEFAULT_STACK_REUSE;
  uint32_t max_sites = KLEAK_DEFAULT_MAX_SITES;
  std::string serve;
  std::string web_config;  // --web.config.file: TLS and basic auth for --serve
  size_t serve_top = 20;
  std::string cgroup;
  uint32_t max_churn = KLEAK_DEFAULT_MAX_CHURN;
};

// "4096", "4k", "1M", "2G" (binary multiples).
uint64_t parse_size(const std::string& flag, const std::string& text) {
  size_t pos = 0;
  uint64_t v = 0;
  try {
    if (text.empty() || text[0] == '-') throw std::invalid_argument("sign");
    v = std::stoull(text, &pos, 0);
  } catch (const std::exception&) {
    throw usage_error("bad size for " + flag + ": '" + text + "' (use bytes, or a k/M/G suffix)");
  }
  std::string suffix = text.substr(pos);
  uint64_t mul = 1;
  if (suffix == "" ) mul = 1;
  else if (suffix == "k" || suffix == "K" || suffix == "KiB") mul = 1ull << 10;
  else if (suffix == "M" || suffix == "MiB") mul = 1ull << 20;
  else if (suffix == "G" || suffix == "GiB") mul = 1ull << 30;
  else throw usage_error("bad size for " + flag + ": '" + text + "' (use bytes, or a k/M/G suffix)");
  if (v > UINT64_MAX / mul) throw usage_error("size too large for " + flag + ": '" + text + "'");
  return v * mul;
}

// --filter and the shorthands, AND-ed into one filter.
Filter build_filter(const TraceOptions& o) {
  Filter f = Filter::parse(o.view.filter);
  auto add = [&](const std::string& text) { f = conjoin(f, Filter::parse(text)); };
  if (!o.min_size.empty()) add("bytes_req >= " + std::to_string(parse_size("--min-size", o.min_size)));
  if (!o.max_size.empty()) add("bytes_req <= " + std::to_string(parse_size("--max-size", o.max_size)));
  if (o.pid) add("pid == " + std::to_string(*o.pid));
  if (!o.cache.empty()) add("cache == " + filter_quote(o.cache));
  if (!o.kinds.empty()) {
    uint32_t mask = parse_kinds(o.kinds);
    std::string any;
    for (int k = KLEAK_KIND_KMALLOC; k < KLEAK_KIND_MAX; ++k) {
      if (!(mask & kind_bit(static_cast<kleak_kind>(k)))) continue;
      if (!any.empty()) any += " || ";
      any += "kind == " + filter_quote(kind_name(static_cast<kleak_kind>(k)));
    }
    add(any);
  }
  return f;
}

std::optional<AttachMode> parse_attach(const std::string& s) {
  if (s == "auto") return std::nullopt;
  if (s == "raw_tp") return AttachMode::RawTp;
  if (s == "tracepoint") return AttachMode::Tracepoint;
  if (s == "kprobe") return AttachMode::Kprobe;
  throw usage_error("bad --attach '" + s + "' (use auto, raw_tp, tracepoint or kprobe)");
}

// /proc/meminfo and friends at one instant of the live box.
std::optional<Snapshot> meminfo_now() {
  try {
    return collect_snapshot(DirProcSource::live(), static_cast<int64_t>(time(nullptr)));
  } catch (const std::exception&) {
    return std::nullopt;  // the report says reconciliation is unavailable
  }
}


struct LiveReport {
  const Tracer& tracer;
  const Kallsyms& syms;
  const Filter& filter;
  const AggregateOptions& aopts;
  const std::optional<Snapshot>& meminfo_start;
  bool filtered_in_kernel;
  SortBy sort;
  std::vector<std::string> window_warnings = {};  // what happened to the window itself (an overrun)

  ReportInputs inputs(const Collected& c, const GrowthTracker& growth, const std::optional<Snapshot>& end) const {
    ReportInputs in;
    in.collected = &c;
    in.syms = &syms;
    in.filter = &filter;
    in.aopts = aopts;
    in.growth = &growth;
    in.sort = sort;
    if (meminfo_start && end) {
      in.meminfo_start = &*meminfo_start;
      in.meminfo_end = &*end;
    }
    in.filtered_in_kernel = filtered_in_kernel;
    for (const auto& s : tracer.sources()) {
      in.sources[s.event] = s.status;
      if (s.mode != AttachMode::None) in.attach_mode[s.event] = std::string(attach_mode_name(s.mode));
    }
    in.warnings = tracer.warnings();
    in.bpf_variant = tracer.bpf_variant();
    in.warnings.insert(in.warnings.end(), window_warnings.begin(), window_warnings.end());
    return in;
  }
};

Recording make_recording(const Kallsyms& syms, const Collected& snap, const Report& r,
                         const GrowthTracker& growth, const std::optional<Snapshot>& meminfo_start,
                         const std::optional<Snapshot>& meminfo_end, bool filtered_in_kernel) {
  Recording rec;
  rec.collected = snap;
  rec.kallsyms = kallsyms_subset(syms, snap);
  rec.kernel = r.kernel;
  rec.sources = r.sources;
  rec.attach_mode = r.attach_mode;
  rec.bpf_variant = r.bpf_variant;
  rec.warnings = r.warnings;
  rec.meminfo_start = meminfo_start;
  rec.meminfo_end = meminfo_end;
  rec.filtered_in_kernel = filtered_in_kernel;
  rec.sample_times = growth.times();
  rec.series = growth.series();
  return rec;
}

// --tracefs names a directory that must be a tracefs: checked with the other flags, so a typo is
// not accepted silently when the attach mode chosen does not need tracefs.
// A directory that is there but cannot be looked into (EACCES without CAP_DAC_READ_SEARCH, a
// symlink loop) is the box refusing (exit 1) and says the errno; one that is not there is a typo
// (exit 2).
void check_tracefs_dir(const std::string& dir) {
  std::error_code ec;
  std::string events = (std::filesystem::path(dir) / "events").string();
  if (std::filesystem::is_directory(events, ec)) return;
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
    throw Error(events + ": " + ec.message());
  throw usage_error("no tracefs at " + dir + " (--tracefs: it has no events/ directory)");
}

int run_trace(const TraceOptions& o) {
  // Everything the user typed is checked before anything touches the kernel.
  auto duration = parse_duration(o.duration);
  std::optional<std::chrono::nanoseconds> interval;
  if (!o.interval.empty()) interval = parse_duration(o.interval);
  const ReportFormat& format = report_format(o.view.format);
  check_view_output(o.view);
  if (o.stack_depth < 1 || o.stack_depth > KLEAK_MAX_STACK_DEPTH)
    throw usage_error("--stack-depth must be between 1 and " + std::to_string(KLEAK_MAX_STACK_DEPTH));
  if (o.sample < 1) throw usage_error("--sample must be at least 1");
  if (o.stack_reuse < 1) throw usage_error("--stack-reuse must be at least 1 (1 walks every allocation's stack)");
  if (o.max_sites < 1) throw usage_error("--max-sites must be at least 1");
  if (o.max_allocs < 1 || o.max_stacks < 1 || o.max_caches < 1)
    throw usage_error("map sizes (--max-allocs, --max-stacks, --max-caches) must be at least 1");
  auto forced = parse_attach(o.attach);
  std::vector<GroupBy> by = parse_group_by(o.view.by);
  SortBy sort = parse_sort(o.view.sort);
  std::optional<CgroupTarget> cgroup;
  if (!o.cgroup.empty()) cgroup = resolve_cgroup(o.cgroup);
  Filter filter = build_filter(o);
  BpfPrefilter pre = filter.prefilter();
  if (pre.matches_nothing) throw usage_error("the filter '" + filter.to_string() + "' can match no allocation");

  // Output paths are checked now, so an unwritable or refused path fails before the window,
  // not after; nothing is written (or truncated) until there is something to write.
  OutputOptions out_opts;
  out_opts.force = o.view.force;
  if (!o.view.output.empty()) check_output_path(o.view.output, out_opts);
  if (!o.record.empty()) check_output_path(o.record, out_opts);
  if (!o.tracefs.empty()) check_tracefs_dir(o.tracefs);
  if (!o.kallsyms.starts_with("/proc/")) check_regular_file(o.kallsyms, kCapKallsyms, "a kallsyms file");
  std::unique_ptr<HttpServer> server;
  if (!o.web_config.empty() && o.serve.empty()) throw usage_error("--web.config.file needs --serve");
  if (o.serve_top < 1) throw usage_error("--serve-top must be at least 1");
  if (!o.serve.empty()) {
    WebConfig web = o.web_config.empty() ? WebConfig{} : load_web_config(o.web_config);
    for (const auto& w : web.warnings) fmt::print(stderr, "kleak: warning: web config: {}\n", w);
    server = std::make_unique<HttpServer>(parse_listen_address(o.serve), std::move(web));
    if (auto w = server->exposure_warning(); !w.empty()) fmt::print(stderr, "kleak: warning: {}\n", w);
  }
  check_privileges();

  BpfSettings s;
  s.max_allocs = o.max_allocs;
  s.max_stacks = o.max_stacks;
  s.max_caches = o.max_caches;
  s.stack_depth = o.stack_depth;
  s.kinds_mask = pre.kinds_mask;
  s.min_bytes_req = pre.min_bytes_req;
  s.max_bytes_req = pre.max_bytes_req;
  s.min_bytes_alloc = pre.min_bytes_alloc;
  s.max_bytes_alloc = pre.max_bytes_alloc;
  s.tgid = pre.pid.value_or(0);
  set_self_identity(s);
  s.cache = pre.cache;
  s.max_churn = o.max_churn;
  s.sample_every = o.sample;
  s.stack_reuse = o.stack_reuse;
  s.max_sites = o.max_sites;
  if (cgroup) {
    s.cgroup_id = cgroup->id;
    s.cgroup_level = cgroup->level;
  }

  BlockedSignals signals{SIGINT, SIGTERM, SIGHUP};  // before attach: a Ctrl-C during load still ends cleanly
  KernelProbe probe;
  probe.btf_path = o.btf;
  probe.tracefs = o.tracefs;
  auto tracer = Tracer::start(s, probe, forced);
  std::optional<Snapshot> meminfo_start = meminfo_now();
  // Loaded after attach so kleak's own programs are in it (as bpf_prog_* [bpf]) and get
  // trimmed like the rest of the tracer's frames. Once per run: every report reuses it.
  Kallsyms syms = Kallsyms::load(o.kallsyms);
  for (const auto& w : tracer->warnings()) fmt::print(stderr, "kleak: warning: {}\n", w);
  size_t attached = 0;
  for (const auto& src : tracer->sources()) attached += src.mode != AttachMode::None;
  // One status line, terminal or not: scripts and tests wait for it to know the window is open.
  fmt::print(stderr, "kleak: tracing {} events for {} (Ctrl-C stops and reports)\n", attached,
             format_duration(duration));

  AggregateOptions aopts;
  // Flame graphs and profiles show every group unless --top was given.
  aopts.top = o.view.groups_shown();
  aopts.full_stacks = o.view.full_stacks;
  aopts.user_pages = o.view.user_pages;
  aopts.by = by;
  auto render = [&](const Report& r) { return format.render(r); };

  const bool tty = isatty(STDERR_FILENO);
  const uint64_t start = tracer->window_start_ns();
  const uint64_t end = start + static_cast<uint64_t>(duration.count());
  uint64_t next_report = interval ? start + static_cast<uint64_t>(interval->count()) : UINT64_MAX;
  // Maintenance every 5 s (the first after 1 s): stop tracking pages whose stacks are user
  // memory (unless --user-pages), and free stack map entries no allocation refers to.
  constexpr uint64_t kGcPeriod = 5'000'000'000ull;
  // Wakes are at most 200 ms apart and a report takes well under a second on this box: a
  // deadline missed by more than 1 s means the process did not run.
  constexpr uint64_t kOverrunNoted = 1'000'000'000ull;
  uint64_t next_gc = start + 1'000'000'000ull, last_gc = start;
  // Verdict samples: at least 10 per window, at most 30 s apart, at every --interval too.
  GrowthTracker growth;
  LiveReport live{*tracer, syms, filter, aopts, meminfo_start, cgroup.has_value(), sort};
  // What --serve publishes holds every group: the profile is complete and --serve-top picks the
  // exported series from all of them (not from the --top the text report shows).
  AggregateOptions serve_aopts = aopts;
  serve_aopts.top = SIZE_MAX;
  LiveReport served{*tracer, syms, filter, serve_aopts, meminfo_start, cgroup.has_value(), sort};
  uint64_t sample_period = std::clamp<uint64_t>(static_cast<uint64_t>(duration.count()) / 10,
                                                200'000'000ull, 30'000'000'000ull);
  if (interval) sample_period = std::min<uint64_t>(sample_period, static_cast<uint64_t>(interval->count()));
  uint64_t next_sample = start + sample_period;
  uint64_t last_served_ns = start, last_served_events = 0;
  if (server) {
    // Scrapes come every few seconds: sample at least every 5 s while serving.
    sample_period = std::min<uint64_t>(sample_period, 5'000'000'000ull);
    next_sample = start + std::min<uint64_t>(sample_period, 1'000'000'000ull);
    ListenAddress la = parse_listen_address(o.serve);
    std::string host = la.host.find(':') != std::string::npos ? "[" + la.host + "]" : la.host;
    fmt::print(stderr, "kleak: serving {}://{}:{}/metrics and /debug/pprof/heap\n", server->tls() ? "https" : "http",
               host, server->port());
  }
  std::optional<AtomicFile> interval_file;  // -o with --interval: one file, a report per interval
  int sig = 0;
  for (;;) {
    uint64_t now = monotonic_ns();
    if (now >= end) break;
    if (now >= next_report) {
      Collected c = tracer->drain();
      Report r = build_report(live.inputs(c, growth, meminfo_now()));
      std::string text = render(r) + "\n";
      if (o.view.output.empty()) {
        write_stdout(text);
      } else if (interval_file) {
        interval_file->write(text);
        interval_file->sync();
      } else {
        // The first report replaces the previous file whole; later ones are appended to it.
        interval_file.emplace(o.view.output, out_opts);
        interval_file->write(text);
        interval_file->commit();
      }
      next_report += static_cast<uint64_t>(interval->count());
      continue;
    }
    if (now >= next_sample) {
      Collected c = tracer->drain();
      growth.add(static_cast<double>(c.now_ns - start) / 1e9, aggregate_all(c, syms, filter, aopts));
      if (server) {
        // The current state, as a report of the window so far, for every scrape until the next.
        Report r = build_report(served.inputs(c, growth, std::nullopt));
        uint64_t events = r.events["allocs_seen"] + r.events["frees_seen"];
        double dt = static_cast<double>(c.now_ns - last_served_ns) / 1e9;
        double rate = dt > 0 ? static_cast<double>(events - last_served_events) / dt : 0;
        last_served_ns = c.now_ns;
        last_served_events = events;
        MetricsOptions mo;
        mo.top = o.serve_top;
        BuildInfo bi{KLEAK_VERSION, r.kernel, attach_modes(r)};
        server->publish({render_metrics(r, mo, bi, rate), render_pprof(r)});
      }
      next_sample += sample_period;
      continue;
    }
    // Map pressure brings the next maintenance forward: a burst of page cache under a stack
    // variant not yet recognized must not fill the map before the regular pass.
    if (now < next_gc && now >= last_gc + 200'000'000ull && tracer->outstanding_estimate() > o.max_allocs / 2)
      next_gc = now;
    if (now >= next_gc) {
      last_gc = now;
      if (!o.view.user_pages) {
        Collected c = tracer->drain();
        tracer->skip_stacks(user_memory_stack_ids(c, syms), c.allocs);
      }
      tracer->gc_stacks();
      next_gc = now + kGcPeriod;
      continue;
    }
    if (tty)
      fmt::print(stderr, "\rkleak: tracing, {} left (Ctrl-C stops and reports)   ",
                 format_duration(std::chrono::seconds((end - now + 999999999) / 1000000000)));
    // Wake at least every 200 ms: cheap (a counter read), and map pressure is noticed in time.
    uint64_t wake = std::min<uint64_t>({end, next_report, next_gc, next_sample, now + 200'000'000ull});
    if ((sig = signals.wait(std::chrono::nanoseconds(wake - now))) != 0) break;
  }
  if (tty) fmt::print(stderr, "\r\033[K");
  if (sig) fmt::print(stderr, "kleak: {} received, reporting what was collected\n", strsignal(sig));
  // The window's length in the report is measured (drain's clock), never the configured one; a
  // window that ran well past its deadline (kleak was stopped with SIGSTOP, or starved) also
  // holds what was allocated after the deadline, and the report says so.
  if (uint64_t stopped = monotonic_ns(); !sig && stopped > end + kOverrunNoted) {
    live.window_warnings.push_back(fmt::format(
        "the window ended {:.1f} s after its configured {} (kleak was stopped or starved of CPU): "
        "the report covers {:.1f} s, allocations made after the deadline included",
        static_cast<double>(stopped - end) / 1e9, format_duration(duration),
        static_cast<double>(stopped - start) / 1e9));
    fmt::print(stderr, "kleak: warning: {}\n", live.window_warnings.back());
  }

  tracer->stop();
  Collected snap = tracer->drain();
  std::optional<Snapshot> meminfo_end = meminfo_now();
  Report r = build_report(live.inputs(snap, growth, meminfo_end));
  // Each output is written on its own: a recording lost to a full disk does not take the
  // report with it, nor the other way round. Every failure is named; exit 2 if any failed.
  std::vector<std::string> failed;
  try {
    std::string text = render(r);
    if (o.view.output.empty()) {
      write_stdout(text);
    } else if (interval_file) {
      interval_file->write(text);
      interval_file->sync();
    } else {
      write_file_atomically(o.view.output, text, out_opts);
    }
  } catch (const Error& e) {
    failed.push_back(e.what());
  }
  if (!o.record.empty()) {
    try {
      save_recording(o.record, make_recording(syms, snap, r, growth, meminfo_start, meminfo_end,
                                              cgroup.has_value()),
                     out_opts);
      fmt::print(stderr, "kleak: recorded {} outstanding allocations to {}\n", snap.allocs.size(), o.record);
    } catch (const Error& e) {
      failed.push_back(e.what());
    }
  }
  if (!failed.empty()) throw Error(fmt::format("{}", fmt::join(failed, "; ")), kExitUsage);
  uint64_t lost = r.dropped.count("alloc_map_full") ? r.dropped.at("alloc_map_full") : 0;
  if (lost) {
    fmt::print(stderr,
               "kleak: {} allocations were not tracked because the allocation map ({} entries) "
               "was full; the report is incomplete (raise --max-allocs or narrow --filter)\n",
               lost, o.max_allocs);
    return kExitIncomplete;
  }
  return kExitOk;
}

}  // namespace

void register_trace_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<TraceOptions>();
  CLI::App* cmd = app.add_subcommand(
      "trace", "Trace kernel allocations for a window and report the call stacks still holding memory");
  cmd->add_option("-d,--duration", opts->duration, "How long to trace: 90s, 10m, 1h (default 30s)");
  cmd->add_option("-i,--interval", opts->interval, "Also print a report every D while tracing");
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
                  "While tracing, serve /metrics (Prometheus) and /debug/pprof/heap (pprof) on [HOST]:PORT "
                  "(:9464 = loopback; 0.0.0.0:9464 every interface); with a long --duration, a daemon");
  cmd->add_option("--web.config.file,--web-config", opts->web_config,
                  "TLS and basic auth for --serve: the Prometheus exporter-toolkit web configuration file");
  cmd->add_option("--serve-top", opts->serve_top,
                  "Stacks exported as labelled series, the fastest growing (default 20)");
  cmd->add_option("--sample", opts->sample,
                  "Track about 1 in N allocations, drawn at random per allocation in proportion to its "
                  "size, and weight each record by 1/probability (unbiased estimates): for the busiest boxes");
  cmd->add_option("--stack-reuse", opts->stack_reuse,
                  "Walk a call site's stack once per up to N of its allocations while walks keep finding "
                  "the same stack; 1 walks every one (exact, ~2 us each). The report shows how often a "
                  "check found another stack (default 64)");
  cmd->add_option("--max-sites", opts->max_sites, "Call sites remembered for --stack-reuse (default 16384, LRU)");
  cmd->add_option("--record", opts->record,
                  "Also keep the run in FILE (compressed) for `kleak report FILE` and `kleak diff A B`");
  cmd->add_option("--cgroup", opts->cgroup,
                  "Only tasks in this cgroup v2 or below: a directory (/sys/fs/cgroup/system.slice/x.scope, "
                  "or relative to the cgroup2 root) or a cgroup id; checked in BPF");
  cmd->add_option("--max-churn", opts->max_churn, "Groups counted for alloc/free churn at most (default 65536)");
  cmd->add_option("--max-allocs", opts->max_allocs, "Outstanding allocations tracked at most (default 262144)");
  cmd->add_option("--max-stacks", opts->max_stacks, "Distinct stacks kept at most (default 65536)");
  cmd->add_option("--max-caches", opts->max_caches, "Slab caches named at most (default 4096)");
  cmd->add_option("--attach", opts->attach, "auto, raw_tp, tracepoint or kprobe (default auto)");
  cmd->add_option("--btf", opts->btf, "Kernel BTF file (default /sys/kernel/btf/vmlinux)");
  cmd->add_option("--tracefs", opts->tracefs, "Where tracefs is mounted (default: find or mount it)");
  cmd->add_option("--kallsyms", opts->kallsyms, "Symbol table for kernel frames (default /proc/kallsyms)");
  cmd->callback([opts, &exit_code] { exit_code = run_trace(*opts); });
}

}  // namespace kleak
