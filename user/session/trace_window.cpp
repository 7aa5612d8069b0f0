// One trace window: attach -> wait (interval reports, verdict samples, --serve, maintenance) ->
// detach -> drain -> report. SIGINT/SIGTERM/SIGHUP end the window early and still give the
// report; the programs are detached before the final drain, so it is one consistent snapshot.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "session/budget.h"
#include "session/trace.h"
#include "kleak/bounded_read.h"
#include "kleak/readiness.h"
#include "kleak/build_report.h"
#include "kleak/duration.h"
#include "kleak/journal.h"
#include "kleak/ledger.h"
#include "kleak/meminfo.h"
#include "kleak/privileges.h"
#include "kleak/procfs.h"
#include "kleak/render.h"
#include "kleak/serve.h"
#include "kleak/signals.h"
#include "kleak/symbolize.h"

namespace kleak {

namespace {

// /proc/meminfo and friends at one instant of the live box.
std::optional<Snapshot> meminfo_now() {
  try {
    return collect_snapshot(DirProcSource::live(), static_cast<int64_t>(time(nullptr)));
  } catch (const std::exception&) {
    return std::nullopt;  // the report says reconciliation is unavailable
  }
}

// The kernel's own counts (ledger.h), read at every verdict sample: /proc/meminfo and
// /proc/slabinfo, about 0.3 ms here. Empty where they cannot be read: nothing is confirmed by
// ledger then, and the groups with unseen frees are unconfirmed.
Ledgers ledgers_now() {
  const DirProcSource proc = DirProcSource::live();
  ReadResult m = proc.read("meminfo"), s = proc.read("slabinfo");
  return kernel_ledgers(m.text.value_or(""), s.text.value_or(""));
}

// kleak's own process: CPU time (user + system) so far, and resident memory.
uint64_t self_cpu_ns() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto ns = [](const timeval& t) { return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(t.tv_usec) * 1000; };
  return ns(u.ru_utime) + ns(u.ru_stime);
}

uint64_t self_rss_bytes() {
  BoundedRead statm = try_read_bounded("/proc/self/statm", 4096, "statm");
  unsigned long long size = 0, resident = 0;
  if (!statm.text || std::sscanf(statm.text->c_str(), "%llu %llu", &size, &resident) != 2) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// The bulk-free programs forget slab and kmalloc records: their cost is the slab family's.
std::string cost_family(const std::string& family) { return family == "bulk free" ? "slab" : family; }

std::unique_ptr<HttpServer> start_server(const TraceOptions& o) {
  if (o.serve.empty()) return nullptr;
  WebConfig web = o.web_config.empty() ? WebConfig{} : load_web_config(o.web_config);
  const std::string_view warn = log_prefix(LogLevel::warning);
  for (const auto& w : web.warnings) fmt::print(stderr, "{}kleak: warning: web config: {}\n", warn, w);
  auto server = std::make_unique<HttpServer>(parse_listen_address(o.serve), std::move(web));
  if (auto w = server->exposure_warning(); !w.empty()) fmt::print(stderr, "{}kleak: warning: {}\n", warn, w);
  return server;
}

// Maintenance every 5 s (the first after 1 s): stop tracking pages whose stacks are user
// memory (unless --user-pages), and free stack map entries no allocation refers to.
constexpr uint64_t kGcPeriod = 5'000'000'000ull;
// Wakes are at most 200 ms apart and a report takes well under a second on this box: a
// deadline missed by more than 1 s means the process did not run.
constexpr uint64_t kOverrunNoted = 1'000'000'000ull;
constexpr uint64_t kWake = 200'000'000ull;

// The deadline after `due` for work done every `period`: one period later, or, when the work ran
// past that (a report slower than --interval: a full map on a starved box), one period after it
// ended. Deadlines kept in the past made the loop do that work back to back: no sample was
// served and SIGINT/SIGTERM were never read (measured: --interval 1ms ignored both for 30 s).
uint64_t next_deadline(uint64_t due, uint64_t period, uint64_t ended) {
  return due + period > ended ? due + period : ended + period;
}

class Window {
 public:
  Window(const TraceOptions& o, const TraceConfig& c, std::unique_ptr<HttpServer> server)
      : o_(o), c_(c), server_(std::move(server)) {
    aopts_.top = o.view.groups_shown();  // flame graphs and profiles show every group unless --top
    aopts_.full_stacks = o.view.full_stacks;
    aopts_.user_pages = o.view.user_pages;
    aopts_.by = c.by;
  }

  // Attaches (throws on a refusal) and says so on stderr: scripts and tests wait for that line.
  void open() {
    tracer_ = Tracer::start(c_.bpf, KernelProbe{o_.btf, o_.tracefs}, c_.forced);
    if (server_) server_->attached(true);  // /healthz: 200 from here on
    meminfo_start_ = meminfo_now();
    // Loaded after attach so kleak's own programs are in it (as bpf_prog_* [bpf]) and get
    // trimmed like the rest of the tracer's frames. Once per run: every report reuses it.
    syms_ = Kallsyms::load(o_.kallsyms);
    for (const auto& w : tracer_->warnings())
      fmt::print(stderr, "{}kleak: warning: {}\n", log_prefix(LogLevel::warning), w);
    cpu_at_start_ns_ = self_cpu_ns();
    if (c_.max_cpu_pct > 0) {
      budget_.emplace(c_.max_cpu_pct, c_.bpf.sample_every);
      for (const auto& src : tracer_->sources())
        if (src.mode != AttachMode::None && src.family != "bulk free") families_attached_.insert(src.family);
      measured_ = tracer_->run_time_measured();
      last_family_ns_ = family_ns_since_start();
      last_self_ns_ = self_cpu_ns();
    }
    size_t attached = 0;
    for (const auto& src : tracer_->sources()) attached += src.mode != AttachMode::None;
    fmt::print(stderr, "{}kleak: tracing {} events for {} (Ctrl-C stops and reports)\n", log_prefix(LogLevel::info),
               attached, format_duration(c_.duration));
    schedule();
    announce(attached);
  }

  // Until the deadline or a signal; returns the signal (0: the deadline).
  int run(BlockedSignals& signals, const std::function<void(const Report&)>& each_interval) {
    const bool tty = isatty(STDERR_FILENO);
    int sig = 0;
    for (;;) {
      if (server_) server_->beat();  // /healthz: the loop turns
      if ((sig = signals.poll()) != 0) break;  // even when work is overdue
      uint64_t now = monotonic_ns();
      if (now >= end_) break;
      if (step(now, each_interval)) continue;
      if (tty)
        fmt::print(stderr, "\rkleak: tracing, {} left (Ctrl-C stops and reports)   ",
                   format_duration(std::chrono::seconds((end_ - now + 999999999) / 1000000000)));
      // Wake at least every 200 ms: cheap (a counter read), and map pressure is noticed in time.
      uint64_t wake = std::min<uint64_t>({end_, next_report_, next_gc_, next_sample_, next_budget_, now + kWake});
      if ((sig = signals.wait(std::chrono::nanoseconds(wake - now))) != 0) break;
    }
    if (tty) fmt::print(stderr, "\r\033[K");
    if (sig)
      fmt::print(stderr, "{}kleak: {} received, reporting what was collected\n", log_prefix(LogLevel::info),
                 strsignal(sig));
    if (!sig) note_overrun();
    return sig;
  }

  // Detaches, drains once more and reports.
  TraceResult close(int sig) {
    announce_stopping();
    if (server_) server_->attached(false);  // /healthz: 503 while the last report is made
    tracer_->stop();
    TraceResult res;
    res.signal = sig;
    // The records are kept only for --record: the report never holds them all.
    Collected snap;
    std::vector<AllocRecord> kept;
    if (!o_.record.empty())  // sized as drain() sizes it: a little over the counters' estimate
      kept.reserve(std::min<uint64_t>(tracer_->outstanding_estimate() * 9 / 8 + 4096, o_.max_allocs));
    std::optional<Snapshot> meminfo_end;
    Ledgers ledgers;
    Report all = drain_report(snap, o_.record.empty() ? nullptr : &kept, [&] {
      meminfo_end = meminfo_now();
      ledgers = ledgers_now();
    });
    ReportInputs in = inputs(snap, aopts_, meminfo_end);
    in.ledgers = &ledgers;
    res.report = build_report(in, std::move(all));
    snap.allocs = std::move(kept);
    res.run = recording(std::move(snap), res.report, std::move(meminfo_end));
    res.run.ledgers_end = ledgers;
    return res;
  }

 private:
  void schedule() {
    start_ = tracer_->window_start_ns();
    end_ = start_ + static_cast<uint64_t>(c_.duration.count());
    next_report_ = c_.interval ? start_ + static_cast<uint64_t>(c_.interval->count()) : UINT64_MAX;
    next_gc_ = start_ + 1'000'000'000ull;
    last_gc_ = start_;
    // Verdict samples: at least 10 per window, at most 30 s apart, at every --interval too.
    sample_period_ = std::clamp<uint64_t>(static_cast<uint64_t>(c_.duration.count()) / 10, 200'000'000ull,
                                          30'000'000'000ull);
    if (c_.interval) sample_period_ = std::min<uint64_t>(sample_period_, static_cast<uint64_t>(c_.interval->count()));
    next_sample_ = start_ + sample_period_;
    next_budget_ = budget_ ? start_ + kBudgetPeriod : UINT64_MAX;
    last_budget_ns_ = start_;
    last_served_ns_ = start_;
    if (!server_) return;
    // Scrapes come every few seconds: sample at least every 5 s while serving.
    sample_period_ = std::min<uint64_t>(sample_period_, 5'000'000'000ull);
    next_sample_ = start_ + std::min<uint64_t>(sample_period_, 1'000'000'000ull);
    fmt::print(stderr, "{}kleak: serving {} and /debug/pprof/heap\n", log_prefix(LogLevel::info), metrics_url());
  }

  // Where /metrics is served, as a scraper would write it.
  std::string metrics_url() const {
    ListenAddress la = parse_listen_address(o_.serve);
    std::string host = la.host.find(':') != std::string::npos ? "[" + la.host + "]" : la.host;
    return fmt::format("{}://{}:{}/metrics", server_->tls() ? "https" : "http", host, server_->port());
  }

  // --ready-fd and systemd: every program attached, the listener bound.
  void announce(size_t events) {
    if (auto w = announce_ready(o_.ready_fd, Readiness{events, server_ ? metrics_url() : ""}))
      fmt::print(stderr, "{}kleak: warning: {}\n", log_prefix(LogLevel::warning), *w);
  }

  // The one job that is due, if any: the budget, an interval report, a sample, maintenance.
  bool step(uint64_t now, const std::function<void(const Report&)>& each_interval) {
    if (now >= next_budget_) {
      keep_budget(now);
      next_budget_ = next_deadline(next_budget_, kBudgetPeriod, monotonic_ns());
      return true;
    }
    if (now >= next_report_) {
      Collected c;
      std::optional<Snapshot> meminfo;
      Report all = drain_report(c, nullptr, [&] { meminfo = meminfo_now(); });
      Report r = build_report(inputs(c, aopts_, meminfo), std::move(all));
      if (each_interval) each_interval(r);
      next_report_ = next_deadline(next_report_, static_cast<uint64_t>(c_.interval->count()), monotonic_ns());
      return true;
    }
    if (now >= next_sample_) {
      sample();
      next_sample_ = next_deadline(next_sample_, sample_period_, monotonic_ns());
      return true;
    }
    // Map pressure brings the next maintenance forward: a burst of page cache under a stack
    // variant not yet recognized must not fill the map before the regular pass.
    // Under pressure it runs again after 4x its own cost at the soonest: timed from its start, a
    // pass longer than 200 ms (a full map: measured 50 % of a core, doing nothing else) ran back
    // to back (11.5 % now).
    if (now < next_gc_ && now >= last_gc_ + std::max<uint64_t>(kWake, 4 * gc_cost_) &&
        tracer_->outstanding_estimate() > o_.max_allocs / 2)
      next_gc_ = now;
    if (now >= next_gc_) {
      maintain(now);
      return true;
    }
    return false;
  }

  // A verdict sample, and what --serve publishes until the next one.
  void sample() {
    Collected c;
    Ledgers ledgers;
    Report all = drain_report(c, nullptr, [&] { ledgers = ledgers_now(); });
    growth_.add(static_cast<double>(c.now_ns - start_) / 1e9, all, &ledgers);
    if (!server_) return;
    // What --serve publishes holds every group: the profile is complete and --serve-top picks the
    // exported series from all of them (not from the --top the text report shows). The same
    // aggregation as the sample's: it was made twice (two passes over every record).
    AggregateOptions serve_aopts = aopts_;
    serve_aopts.top = SIZE_MAX;
    Report r = build_report(inputs(c, serve_aopts, std::nullopt), std::move(all));
    uint64_t events = r.events[EventCount::allocs_seen] + r.events[EventCount::frees_seen];
    double dt = static_cast<double>(c.now_ns - last_served_ns_) / 1e9;
    double rate = dt > 0 ? static_cast<double>(events - last_served_events_) / dt : 0;
    last_served_ns_ = c.now_ns;
    last_served_events_ = events;
    MetricsOptions mo;
    mo.top = o_.serve_top;
    BuildInfo bi{KLEAK_VERSION, r.kernel, attach_modes(r)};
    server_->publish({render_metrics(r, mo, bi, rate), render_pprof(r)});
  }

  // What the programs cost per family since they were attached: the kernel's run times, or
  // estimated from the counters.
  std::map<std::string, double> family_ns_since_start() const {
    std::map<std::string, double> out;
    if (measured_) {
      for (const auto& c : tracer_->family_costs()) out[cost_family(c.family)] += static_cast<double>(c.run_time_ns);
      return out;
    }
    return estimate_family_ns(Counters{}, tracer_->counters());
  }

  // --max-cpu, every second: measure the last interval, let the budget decide, carry it out.
  void keep_budget(uint64_t now) {
    std::map<std::string, double> fam = family_ns_since_start(), delta;
    double bpf = 0;
    for (const auto& [f, ns] : fam) {
      double d = std::max(0.0, ns - (last_family_ns_.count(f) ? last_family_ns_.at(f) : 0.0));
      if (d > 0) delta[f] = d;
      bpf += d;
    }
    const uint64_t self = self_cpu_ns();
    const Counters counts = tracer_->counters();
    const uint64_t events = counter_total(counts, KLEAK_ALLOC_SEEN) + counter_total(counts, KLEAK_FREE_SEEN);
    BudgetSample s;
    s.events = static_cast<double>(events - last_events_);
    last_events_ = events;
    s.t_s = static_cast<double>(now - start_) / 1e9;
    s.interval_s = static_cast<double>(now - last_budget_ns_) / 1e9;
    s.bpf_ns = bpf;
    s.self_ns = static_cast<double>(self - last_self_ns_);
    s.family_ns = std::move(delta);
    last_family_ns_ = std::move(fam);
    last_self_ns_ = self;
    last_budget_ns_ = now;
    const size_t detached = tracer_->detached().size();
    const size_t families = families_attached_.size() > detached ? families_attached_.size() - detached : 0;
    auto a = budget_->step(s, tracer_->sample_every(), families);
    if (!a) return;
    if (a->what == BudgetAction::What::detach) {
      tracer_->detach_family(a->family);
      window_warnings_.push_back(fmt::format("{} allocations are not traced from {:.1f} s on: detached to keep --max-cpu "
                                             "{}% ({:.1f}% measured); those still held then are left out",
                                             a->family, a->t_s, c_.max_cpu_pct, a->cpu_pct));
    } else {
      tracer_->set_sample_every(a->sample_every);
    }
    actions_.push_back(*a);
    if (actions_.size() == 1)  // once: the report and the metrics say the rest
      fmt::print(stderr, "{}kleak: budget: {:.1f}% of a CPU is over --max-cpu {}%: {}\n",
                 log_prefix(LogLevel::warning), a->cpu_pct, c_.max_cpu_pct,
                 a->what == BudgetAction::What::detach ? "detaching " + a->family
                                                       : fmt::format("sampling 1 in {} allocations", a->sample_every));
  }

  // What kleak cost so far, for the report's header and the metrics.
  SelfCost self_cost(uint64_t now) const {
    SelfCost c;
    c.window_s = static_cast<double>(now - start_) / 1e9;
    const bool measured = measured_ || tracer_->run_time_measured();
    double bpf = 0;
    if (measured) {
      for (const auto& f : tracer_->family_costs()) bpf += static_cast<double>(f.run_time_ns);
      c.bpf_measured_by = "kernel run time";
    } else {
      for (const auto& [f, ns] : estimate_family_ns(Counters{}, tracer_->counters())) bpf += ns;
      c.bpf_measured_by = "estimate from event counts";
    }
    c.bpf_cpu_s = bpf / 1e9;
    c.process_cpu_s = static_cast<double>(self_cpu_ns() - cpu_at_start_ns_) / 1e9;
    if (c.window_s > 0) {
      c.bpf_cpu_pct = c.bpf_cpu_s / c.window_s * 100;
      c.process_cpu_pct = c.process_cpu_s / c.window_s * 100;
    }
    c.maps_bytes = tracer_->maps_bytes();
    c.rss_bytes = self_rss_bytes();
    c.max_cpu_pct = c_.max_cpu_pct;
    c.sample_every_start = c_.bpf.sample_every ? c_.bpf.sample_every : 1;
    c.actions = actions_;
    c.detached = tracer_->detached();
    return c;
  }

  // last_gc_ is when the last maintenance ended, gc_cost_ what it took.
  void maintain(uint64_t now) {
    if (!o_.view.user_pages) {
      Collected c;
      PageStackIds pages;
      tracer_->drain_into(c, [&](std::span<const AllocRecord> batch) { pages.add(batch); });
      tracer_->skip_stacks(user_memory_stack_ids(pages.ids(), c.stacks, syms_));
    }
    tracer_->gc_stacks();
    last_gc_ = monotonic_ns();
    gc_cost_ = last_gc_ - now;
    next_gc_ = last_gc_ + kGcPeriod;
  }

  // The window's length in the report is measured (drain's clock), never the configured one; a
  // window that ran well past its deadline (kleak was stopped with SIGSTOP, or starved) also
  // holds what was allocated after the deadline, and the report says so.
  void note_overrun() {
    uint64_t stopped = monotonic_ns();
    if (stopped <= end_ + kOverrunNoted) return;
    window_warnings_.push_back(fmt::format(
        "the window ended {:.1f} s after its configured {} (kleak was stopped or starved of CPU): "
        "the report covers {:.1f} s, allocations made after the deadline included",
        static_cast<double>(stopped - end_) / 1e9, format_duration(c_.duration),
        static_cast<double>(stopped - start_) / 1e9));
    fmt::print(stderr, "{}kleak: warning: {}\n", log_prefix(LogLevel::warning), window_warnings_.back());
  }

  // A drain into `c`, every group of it aggregated as the records are read (a batch at a time,
  // never all held); with `keep`, the records appended there too. `after_drain` runs as soon as
  // the maps are read, before the groups are made: what is read of /proc then is of the drain's
  // instant, as when the drain came first.
  Report drain_report(Collected& c, std::vector<AllocRecord>* keep = nullptr,
                      const std::function<void()>& after_drain = {}) const {
    return aggregate_all_streamed(
        c,
        [&](Collected& into, const RecordSink& sink) {
          tracer_->drain_into(into, sink);
          if (after_drain) after_drain();
        },
        syms_, c_.filter, aopts_, keep);
  }

  ReportInputs inputs(const Collected& c, const AggregateOptions& aopts, const std::optional<Snapshot>& end) const {
    ReportInputs in;
    in.collected = &c;
    in.syms = &syms_;
    in.filter = &c_.filter;
    in.aopts = aopts;
    in.growth = &growth_;
    in.sort = c_.sort;
    in.min_growth_bytes_per_s = c_.min_growth_bytes_per_s;
    if (meminfo_start_ && end) {
      in.meminfo_start = &*meminfo_start_;
      in.meminfo_end = &*end;
    }
    in.filtered_in_kernel = c_.cgroup.has_value();
    for (const auto& s : tracer_->sources()) {
      in.sources[s.event] = s.status;
      if (s.mode != AttachMode::None) in.attach_mode[s.event] = std::string(attach_mode_name(s.mode));
    }
    in.warnings = tracer_->warnings();
    in.bpf_variant = tracer_->bpf_variant();
    in.warnings.insert(in.warnings.end(), window_warnings_.begin(), window_warnings_.end());
    in.cache_aliases = c_.cache_aliases;
    in.cost = self_cost(monotonic_ns());
    return in;
  }

  Recording recording(Collected snap, const Report& r, std::optional<Snapshot> meminfo_end) const {
    Recording rec;
    rec.kallsyms = kallsyms_subset(syms_, snap);
    rec.collected = std::move(snap);
    rec.kernel = r.kernel;
    rec.sources = r.sources;
    rec.attach_mode = r.attach_mode;
    rec.bpf_variant = r.bpf_variant;
    rec.cache_aliases = r.cache_aliases;
    rec.warnings = r.warnings;
    rec.meminfo_start = meminfo_start_;
    rec.meminfo_end = std::move(meminfo_end);
    rec.filtered_in_kernel = c_.cgroup.has_value();
    rec.sample_times = growth_.times();
    rec.series = growth_.series();
    rec.ledgers = growth_.ledgers();
    return rec;
  }

  const TraceOptions& o_;
  const TraceConfig& c_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<Tracer> tracer_;
  Kallsyms syms_;
  AggregateOptions aopts_;
  std::optional<Snapshot> meminfo_start_;
  GrowthTracker growth_;
  std::vector<std::string> window_warnings_;  // what happened to the window itself (an overrun)
  // --max-cpu.
  static constexpr uint64_t kBudgetPeriod = 1'000'000'000ull;
  std::optional<Budget> budget_;
  bool measured_ = false;  // the kernel's run times (else estimates from the counters)
  std::map<std::string, double> last_family_ns_;
  uint64_t last_events_ = 0, last_self_ns_ = 0, last_budget_ns_ = 0, next_budget_ = UINT64_MAX, cpu_at_start_ns_ = 0;
  std::vector<BudgetAction> actions_;
  std::set<std::string> families_attached_;  // at open: what a detach can still give up
  uint64_t start_ = 0, end_ = 0, next_report_ = UINT64_MAX, next_gc_ = 0, last_gc_ = 0, gc_cost_ = 0;
  uint64_t sample_period_ = 0, next_sample_ = 0;
  uint64_t last_served_ns_ = 0, last_served_events_ = 0;
};

}  // namespace

TraceResult trace_window(const TraceOptions& o, const std::function<void(const Report&)>& each_interval) {
  // Everything the user typed is checked before anything touches the kernel.
  TraceConfig c = check_trace_options(o);
  Window w(o, c, start_server(o));
  check_privileges();
  BlockedSignals signals{SIGINT, SIGTERM, SIGHUP};  // before attach: a Ctrl-C during load still ends cleanly
  w.open();
  int sig = w.run(signals, each_interval);
  return w.close(sig);
}

}  // namespace kleak
