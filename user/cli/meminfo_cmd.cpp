// `kleak meminfo`: options -> snapshot(s) -> accounting -> render. Also --save, --diff A B and
// --watch D (samples until SIGINT/SIGTERM, or --samples N).
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/view_options.h"
#include "kleak/commands.h"
#include "kleak/duration.h"
#include "kleak/error.h"
#include "kleak/meminfo.h"
#include "kleak/output_file.h"
#include "kleak/signals.h"

namespace kleak {
namespace {

struct MeminfoOptions {
  std::string proc;  // directory of /proc files or a saved snapshot; "" = the live /proc and /sys
  std::string format = "text";
  std::string output;
  std::size_t top = 10;
  std::string save;
  std::vector<std::string> diff;
  std::string watch;
  std::size_t samples = 0;  // --watch: stop after this many samples (0 = until SIGINT)
  bool force = false;
};

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

OutputOptions output_options(const MeminfoOptions& o) {
  OutputOptions oo;
  oo.force = o.force;
  return oo;
}

// stdout or -o (the first write replaces the file, --watch samples are appended).
OutputSink output(const MeminfoOptions& o) { return OutputSink(o.output, output_options(o)); }

Snapshot take_snapshot(const MeminfoOptions& o) {
  if (!o.proc.empty()) return load_snapshot(o.proc);
  Snapshot s = collect_snapshot(DirProcSource::live(), now_unix());
  if (!s.files.count("meminfo"))
    throw Error(fmt::format("cannot read /proc/meminfo: {}", s.unreadable["meminfo"]));
  return s;
}

void save_snapshot(const Snapshot& s, const std::string& path, const OutputOptions& opts) {
  write_file_atomically(path, snapshot_to_json(s), opts);
}

int run_diff(const MeminfoOptions& o, const RenderOptions& r) {
  const MeminfoDiffFormat& format = find_format(meminfo_diff_formats(), o.format, "meminfo --diff");
  Accounting before = account(load_snapshot(o.diff.at(0)));
  Accounting after = account(load_snapshot(o.diff.at(1)));
  MeminfoDiff d = diff_accountings(before, after);
  OutputSink out = output(o);
  out.check();
  out.write(format.render(d, r));
  return kExitOk;
}

int run_watch(const MeminfoOptions& o, const RenderOptions& r) {
  const WatchFormat& format = find_format(meminfo_watch_formats(), o.format, "meminfo --watch");
  const auto every = parse_duration(o.watch);
  OutputSink out = output(o);
  out.check();
  BlockedSignals signals;
  const Accounting base = account(take_snapshot(o));
  WatchStep step{0, format_duration(every), &base};
  // Nothing is written for an empty step (json's header): -o is replaced at the first sample.
  auto emit = [&] {
    if (std::string text = format.render(step, r); !text.empty()) out.write(text);
  };
  emit();
  for (std::size_t n = 1; o.samples == 0 || n <= o.samples; ++n) {
    if (signals.wait(every) != 0) break;
    Accounting now = account(take_snapshot(o));
    MeminfoDiff d = diff_accountings(base, now);
    step.n = n;
    step.now = &now;
    step.diff = &d;
    emit();
  }
  return kExitOk;
}

int run_meminfo(const MeminfoOptions& o) {
  RenderOptions r;
  r.top = o.top;
  if (!o.diff.empty()) return run_diff(o, r);
  if (!o.watch.empty()) return run_watch(o, r);
  const AccountingFormat& format = find_format(meminfo_formats(), o.format, "meminfo");
  if (!o.save.empty()) check_output_path(o.save, output_options(o));
  OutputSink out = output(o);
  out.check();
  Snapshot s = take_snapshot(o);
  // As for trace: the snapshot and the table are written on their own, each failure named.
  std::vector<std::string> failed;
  if (!o.save.empty()) {
    try {
      save_snapshot(s, o.save, output_options(o));
      fmt::print(stderr, "kleak: snapshot saved to {}\n", o.save);
    } catch (const Error& e) {
      failed.push_back(e.what());
    }
  }
  Accounting a = account(s);
  try {
    out.write(format.render(a, r));
  } catch (const Error& e) {
    failed.push_back(e.what());
  }
  if (!failed.empty()) throw Error(fmt::format("{}", fmt::join(failed, "; ")), kExitUsage);
  return kExitOk;
}

}  // namespace

void register_meminfo_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<MeminfoOptions>();
  CLI::App* sub = app.add_subcommand(
      "meminfo",
      "Account for every kB of MemTotal from /proc: user, kernel (slab, vmalloc, page tables, "
      "stacks, ...), free, and what no counter explains");
  auto* proc = sub->add_option("--proc", o->proc,
                  "Read this directory of /proc files (meminfo, vmallocinfo, slabinfo, vmstat, "
                  "modules, optional sys/), or a --save file, instead of the live /proc")
                   ->type_name("DIR|FILE");
  sub->add_option("--format", o->format, "Output format: text (a table) or json")->capture_default_str();
  sub->add_option("-o,--output", o->output,
                  "Write the output to this file instead of stdout (mode 0600, replaced whole)")
      ->type_name("FILE");
  sub->add_flag("--force", o->force,
                "Write -o/--save even where FILE is a symlink (to where it points) or another user's file");
  sub->add_option("--top", o->top, "How many vmalloc callers, slab caches and diff rows (0 = all)")
      ->check(top_validator())
      ->type_name("N")
      ->capture_default_str();
  auto* save = sub->add_option("--save", o->save,
                               "Also write a snapshot (the raw /proc text, as JSON) to this file, "
                               "for --diff later")
                   ->type_name("FILE");
  auto* diff = sub->add_option("--diff", o->diff,
                               "Compare two snapshots (--save files or /proc directories), "
                               "biggest growth first")
                   ->expected(2)
                   ->type_name("A B");
  auto* watch = sub->add_option("--watch", o->watch,
                                "Sample every DURATION (5s, 1m) and show what grows, until Ctrl-C")
                    ->type_name("DURATION");
  auto* samples = sub->add_option("--samples", o->samples, "With --watch: stop after N samples")
                      ->type_name("N");
  diff->excludes(watch)->excludes(save)->excludes(proc);
  watch->excludes(save);
  samples->needs(watch);
  sub->callback([o, &exit_code] { exit_code = run_meminfo(*o); });
}

}  // namespace kleak
