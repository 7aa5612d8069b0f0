// `kleak report FILE` renders a recording again with any grouping, filter, sort and format,
// without root. `kleak diff A B` compares two recordings group by group (same symbolized
// frames = same group), biggest change first.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/view_options.h"
#include "kleak/build_report.h"
#include "kleak/commands.h"
#include "kleak/diff.h"
#include "kleak/error.h"
#include "kleak/filter.h"
#include "kleak/output_file.h"
#include "kleak/recording.h"
#include "kleak/render.h"
#include "kleak/symbolize.h"

namespace kleak {

namespace {

struct ReplayOptions {
  std::string file, file_b;
  ViewOptions view;
};

struct Replay {
  Recording rec;
  Kallsyms syms;
  GrowthTracker growth;
};

Replay load(const std::string& path) {
  Replay r{load_recording(path), {}, {}};
  r.syms = Kallsyms::parse(r.rec.kallsyms);
  r.growth = GrowthTracker::restore(r.rec.sample_times, r.rec.series, r.rec.ledgers);
  return r;
}

Report replay_report(const Replay& rp, const Filter& filter, const ViewOptions& o, size_t top) {
  ReportInputs in;
  in.collected = &rp.rec.collected;
  in.syms = &rp.syms;
  in.filter = &filter;
  in.aopts.top = top;
  in.aopts.full_stacks = o.full_stacks;
  in.aopts.user_pages = o.user_pages;
  in.aopts.by = parse_group_by(o.by);
  in.growth = &rp.growth;
  in.ledgers = rp.rec.ledgers_end.empty() ? nullptr : &rp.rec.ledgers_end;
  in.sort = parse_sort(o.sort);
  in.min_growth_bytes_per_s = min_growth_bytes_per_s(o);
  if (rp.rec.meminfo_start && rp.rec.meminfo_end) {
    in.meminfo_start = &*rp.rec.meminfo_start;
    in.meminfo_end = &*rp.rec.meminfo_end;
  }
  in.filtered_in_kernel = rp.rec.filtered_in_kernel;
  in.sources = rp.rec.sources;
  in.attach_mode = rp.rec.attach_mode;
  in.bpf_variant = rp.rec.bpf_variant;
  in.cache_aliases = rp.rec.cache_aliases;
  in.warnings = rp.rec.warnings;
  in.kernel = rp.rec.kernel;
  return build_report(in);
}

void emit(const ViewOptions& o, const std::string& text) {
  if (o.output.empty()) return write_stdout(text);
  OutputOptions oo;
  oo.force = o.force;
  write_file_atomically(o.output, text, oo);
}

int run_report(const ReplayOptions& o) {
  const ReportFormat& format = report_format(o.view.format);
  check_view_output(o.view);
  Filter filter = Filter::parse(o.view.filter);
  Replay rp = load(o.file);
  Report r = replay_report(rp, filter, o.view, o.view.groups_shown());
  emit(o.view, format.render(r));
  return kExitOk;
}

// Groups of both runs by identity; B minus A, biggest change first.
int run_diff(const ReplayOptions& o) {
  const DiffFormat& format = diff_format(o.view.format);
  Filter filter = Filter::parse(o.view.filter);
  Replay a = load(o.file), b = load(o.file_b);
  Report ra = replay_report(a, filter, o.view, SIZE_MAX), rb = replay_report(b, filter, o.view, SIZE_MAX);
  size_t top = o.view.top == 0 ? SIZE_MAX : o.view.top;
  emit(o.view, format.render(diff_reports(ra, rb, o.file, o.file_b, top)));
  return kExitOk;
}

}  // namespace

void register_report_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ReplayOptions>();
  CLI::App* cmd = app.add_subcommand("report", "Render a recording (kleak trace --record) again; no root needed");
  cmd->add_option("file", o->file, "The recording")->required();
  add_view_options(cmd, o->view, "text (default), json, folded (flamegraph.pl/speedscope), pprof (gzipped "
                                 "profile.proto: use -o), svg (a flame graph)");
  cmd->callback([o, &exit_code] { exit_code = run_report(*o); });

  auto d = std::make_shared<ReplayOptions>();
  CLI::App* dcmd = app.add_subcommand("diff", "Compare two recordings group by group, biggest change first");
  dcmd->add_option("a", d->file, "The earlier recording")->required();
  dcmd->add_option("b", d->file_b, "The later recording")->required();
  add_view_options(dcmd, d->view, "text (default) or json");
  dcmd->callback([d, &exit_code] { exit_code = run_diff(*d); });
}

}  // namespace kleak
