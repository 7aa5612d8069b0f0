// `kleak hunt`: watch /proc (no BPF) for --watch, then trace only the families whose memory lands
// in what grows for --duration, and answer in one screen (hunt.h).
#include <signal.h>
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include <fmt/format.h>

#include "session/cache_aliases.h"
#include "cli/hunt_trace.h"
#include "cli/view_options.h"
#include "kleak/commands.h"
#include "kleak/duration.h"
#include "kleak/error.h"
#include "kleak/hunt.h"
#include "kleak/kind.h"
#include "kleak/output_file.h"
#include "kleak/privileges.h"
#include "kleak/probe.h"
#include "kleak/readiness.h"
#include "kleak/signals.h"

namespace kleak {
namespace {

struct HuntOptions {
  std::string watch = "60s";
  std::string duration = "30s";
  std::string min_growth = "256k";  // per minute
  std::string format = "text";
  std::string output;
  std::string record;
  size_t top = 3;
  bool force = false;
  std::optional<int> ready_fd;
};

std::string kernel_text() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return std::string(u.sysname) + " " + u.release + " " + u.machine;
}

Accounting account_now() {
  Snapshot s = collect_snapshot(DirProcSource::live(), static_cast<int64_t>(time(nullptr)));
  if (!s.files.count("meminfo")) throw Error("cannot read /proc/meminfo: " + s.unreadable["meminfo"]);
  return account(s);
}

// Why this kernel's slab events name no cache ("" where they do): 5.10's kmem_cache_alloc
// tracepoint carries neither the struct kmem_cache nor a name, and a cache filter there would find
// nothing. Asked of the plan `kleak trace --kinds slab` would attach, without loading anything.
std::string slab_caches_unknown() {
  KernelOffer offer = probe_kernel(KernelProbe{}, /*may_mount=*/true);
  auto plans = plan_families([&](const EventSpec& e) { return offer.facts(e); }, std::nullopt, kind_bit(KLEAK_KIND_SLAB));
  return cache_filter_unsupported(plans, offer);
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Samples every few seconds (at least 10 samples, at most 5 s apart, at least 1 s) until the
// watch ends or a signal comes: then what was watched is reported and nothing is traced.
WatchResult watch_proc(std::chrono::nanoseconds watch, double min_kb, const SlabAliases& aliases, bool& interrupted) {
  using namespace std::chrono;
  auto every = std::clamp<nanoseconds>(watch / 10, seconds(1), seconds(5));
  fmt::print(stderr, "kleak: watching /proc for {} (a sample every {}; no BPF loaded)\n", format_duration(watch),
             format_duration(every));
  BlockedSignals signals{SIGINT, SIGTERM, SIGHUP};
  Watcher w;
  auto t0 = steady_clock::now();
  w.add(0, account_now());
  for (int n = 1;; ++n) {
    auto due = t0 + std::min<nanoseconds>(every * n, watch);
    auto left = due - steady_clock::now();
    if (left > nanoseconds(0) && signals.wait(duration_cast<nanoseconds>(left)) != 0) {
      interrupted = true;
      break;
    }
    w.add(since(t0), account_now());
    if (every * n >= watch) break;
  }
  return w.result(min_kb, aliases);
}

int run_hunt(const HuntOptions& o) {
  const HuntFormat& format = find_format(hunt_formats(), o.format, "hunt");
  auto watch = parse_duration(o.watch);
  parse_duration(o.duration);  // checked now, not after the watch
  double min_kb = parse_rate_kb(o.min_growth);
  OutputOptions out_opts;
  out_opts.force = o.force;
  OutputSink out(o.output, out_opts);
  out.check();
  if (!o.record.empty()) check_output_path(o.record, out_opts);
  if (o.ready_fd) check_ready_fd(*o.ready_fd);
  check_privileges();  // before the watch: a box that cannot trace says so at once
  const SlabAliases aliases = live_slab_aliases();

  HuntReport hr;
  hr.kernel = kernel_text();
  hr.top = o.top == 0 ? SIZE_MAX : o.top;
  bool interrupted = false;
  hr.watch = watch_proc(watch, min_kb, aliases, interrupted);
  int rc = kExitOk;
  if (hr.watch.any_growing() && !interrupted) {
    TracePlan plan = plan_trace(hr.watch, slab_caches_unknown());
    if (!plan.empty()) {
      hr.command_line = plan.command_line(o.duration);
      fmt::print(stderr, "kleak: tracing only {}: {}\n", plan.kinds(), hr.command_line);
      HuntTraceRequest req{o.duration, plan.kinds_mask(), plan.cache_flag(), plan.trace_filter(), o.record, o.force,
                           o.ready_fd};
      Accounting before = account_now();
      Report r;
      rc = trace_for_hunt(req, r);
      Accounting after = account_now();
      hr.trace = std::move(r);
      hr.plan = std::move(plan);
      explain(hr, before, after);
    } else {
      hr.plan = std::move(plan);
    }
  }
  out.write(format.render(hr));
  return rc;
}

}  // namespace

void register_hunt_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<HuntOptions>();
  CLI::App* cmd = app.add_subcommand(
      "hunt",
      "Watch /proc for what grows (no BPF), then trace only the allocation families that explain it and "
      "name the growing stacks");
  cmd->add_option("-w,--watch", o->watch, "How long to watch /proc before tracing: 20s, 1m (default 60s)")
      ->type_name("D");
  cmd->add_option("-d,--duration", o->duration, "How long to trace what grows (default 30s)")->type_name("D");
  cmd->add_option("--min-growth", o->min_growth,
                  "A line grows when it rises in most samples and at least this fast, per minute (default 256k)")
      ->type_name("RATE");
  cmd->add_option("--format", o->format, "Output format: text (one screen) or json");
  cmd->add_option("-o,--output", o->output, "Write the answer to FILE (mode 0600) instead of stdout")->type_name("FILE");
  cmd->add_option("--record", o->record, "Also keep the trace in FILE for `kleak report FILE`")->type_name("FILE");
  cmd->add_option("-n,--top", o->top, "Growing stacks shown per line in text (default 3; 0 = all)")
      ->check(top_validator())
      ->type_name("N");
  cmd->add_flag("--force", o->force, "Write -o/--record even where FILE is a symlink or another user's file");
  cmd->add_option("--ready-fd", o->ready_fd,
                  "When the trace attaches (after the watch), write one JSON line to file descriptor N and close "
                  "it, as `kleak trace --ready-fd` does")
      ->type_name("N");
  cmd->callback([o, &exit_code] { exit_code = run_hunt(*o); });
}

}  // namespace kleak
