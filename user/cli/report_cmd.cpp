// `kleak report FILE` renders a recording again with any grouping, filter, sort and format,
// without root. `kleak diff A B` compares two recordings group by group (same symbolized
// frames = same group), biggest change first.
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kleak/build_report.h"
#include "kleak/commands.h"
#include "kleak/error.h"
#include "kleak/filter.h"
#include "kleak/recording.h"
#include "kleak/render.h"
#include "kleak/symbolize.h"

namespace kleak {

namespace {

struct ReplayOptions {
  std::string file, file_b;
  std::string filter;
  size_t top = 10;
  bool top_given = false;
  std::string format = "text";
  std::string output;
  std::string by = "stack";
  std::string sort = "growth";
  bool full_stacks = false;
  bool user_pages = false;
};

void add_view_options(CLI::App* cmd, ReplayOptions& o) {
  cmd->add_option("-f,--filter", o.filter, "ftrace-style filter, as for kleak trace");
  cmd->add_option("-n,--top", o.top, "How many groups to show (default 10; folded/pprof/svg: all)")
      ->each([&o](const std::string&) { o.top_given = true; });
  cmd->add_option("--format", o.format, "text (default), json, folded, pprof or svg (diff: text or json)");
  cmd->add_option("-o,--output", o.output, "Write to FILE instead of stdout");
  cmd->add_option("--by", o.by, "stack, callsite, cache, comm, pid, cgroup (commas combine)");
  cmd->add_option("--sort", o.sort, "growth, bytes, count or age");
  cmd->add_flag("--full-stacks", o.full_stacks, "Do not hide allocator and tracer frames");
  cmd->add_flag("--user-pages", o.user_pages, "Show stacks of pages backing user memory");
}

struct Replay {
  Recording rec;
  Kallsyms syms;
  GrowthTracker growth;
};

Replay load(const std::string& path) {
  Replay r{load_recording(path), {}, {}};
  r.syms = Kallsyms::parse(r.rec.kallsyms);
  r.growth = GrowthTracker::restore(r.rec.sample_times, r.rec.series);
  return r;
}

Report replay_report(const Replay& rp, const Filter& filter, const ReplayOptions& o, size_t top) {
  ReportInputs in;
  in.collected = &rp.rec.collected;
  in.syms = &rp.syms;
  in.filter = &filter;
  in.aopts.top = top;
  in.aopts.full_stacks = o.full_stacks;
  in.aopts.user_pages = o.user_pages;
  in.aopts.by = parse_group_by(o.by);
  in.growth = &rp.growth;
  in.sort = parse_sort(o.sort);
  if (rp.rec.meminfo_start && rp.rec.meminfo_end) {
    in.meminfo_start = &*rp.rec.meminfo_start;
    in.meminfo_end = &*rp.rec.meminfo_end;
  }
  in.filtered_in_kernel = rp.rec.filtered_in_kernel;
  in.sources = rp.rec.sources;
  in.attach_mode = rp.rec.attach_mode;
  in.warnings = rp.rec.warnings;
  in.kernel = rp.rec.kernel;
  return build_report(in);
}

void emit(const ReplayOptions& o, const std::string& text) {
  if (o.output.empty()) {
    fwrite(text.data(), 1, text.size(), stdout);
    return;
  }
  std::ofstream out(o.output, std::ios::out | std::ios::trunc | std::ios::binary);
  if (!out) throw Error("cannot write " + o.output + ": " + std::strerror(errno));
  out << text;
  if (!out.flush()) throw Error("writing " + o.output + " failed");
}

void check_format(const ReplayOptions& o) { check_report_format(o.format); }

int run_report(const ReplayOptions& o) {
  check_format(o);
  Filter filter = Filter::parse(o.filter);
  Replay rp = load(o.file);
  Report r = replay_report(rp, filter, o, format_wants_all_groups(o.format) && !o.top_given ? SIZE_MAX : o.top);
  emit(o, render_report(r, o.format));
  return kExitOk;
}

// Groups of both runs by identity; B minus A, biggest change first.
int run_diff(const ReplayOptions& o) {
  if (o.format != "text" && o.format != "json") throw usage_error("bad --format '" + o.format + "' for diff (use text or json)");
  Filter filter = Filter::parse(o.filter);
  Replay a = load(o.file), b = load(o.file_b);
  Report ra = replay_report(a, filter, o, SIZE_MAX), rb = replay_report(b, filter, o, SIZE_MAX);
  struct Row {
    const StackGroup* a = nullptr;
    const StackGroup* b = nullptr;
    int64_t delta_bytes() const {
      return static_cast<int64_t>(b ? b->bytes : 0) - static_cast<int64_t>(a ? a->bytes : 0);
    }
    int64_t delta_count() const {
      return static_cast<int64_t>(b ? b->count : 0) - static_cast<int64_t>(a ? a->count : 0);
    }
  };
  std::map<std::string, Row> rows;
  for (const auto& g : ra.stacks) rows[group_identity(g)].a = &g;
  for (const auto& g : rb.stacks) rows[group_identity(g)].b = &g;
  std::vector<Row> sorted;
  for (auto& [k, row] : rows)
    if (row.delta_bytes() != 0 || row.delta_count() != 0) sorted.push_back(row);
  std::sort(sorted.begin(), sorted.end(), [](const Row& x, const Row& y) {
    return std::llabs(x.delta_bytes()) > std::llabs(y.delta_bytes());
  });
  if (sorted.size() > o.top) sorted.resize(o.top);
  if (o.format == "json") {
    nlohmann::json j;
    j["a"] = o.file;
    j["b"] = o.file_b;
    j["a_total_bytes"] = ra.total_bytes;
    j["b_total_bytes"] = rb.total_bytes;
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& row : sorted) {
      const StackGroup& g = row.b ? *row.b : *row.a;
      arr.push_back({{"kind", g.kind},
                     {"category", g.category},
                     {"frames", g.frames},
                     {"group", g.group},
                     {"a_bytes", row.a ? row.a->bytes : 0},
                     {"b_bytes", row.b ? row.b->bytes : 0},
                     {"delta_bytes", row.delta_bytes()},
                     {"a_count", row.a ? row.a->count : 0},
                     {"b_count", row.b ? row.b->count : 0},
                     {"delta_count", row.delta_count()}});
    }
    j["groups"] = arr;
    emit(o, j.dump(2) + "\n");
    return kExitOk;
  }
  std::string t = fmt::format("kleak diff: {} -> {}\noutstanding kernel memory: {} -> {}\n", o.file, o.file_b,
                              human_bytes(ra.total_bytes), human_bytes(rb.total_bytes));
  int i = 0;
  for (const auto& row : sorted) {
    const StackGroup& g = row.b ? *row.b : *row.a;
    int64_t d = row.delta_bytes();
    t += fmt::format("\n#{} {}{} ({} -> {}), {:+} allocations  [{} {}]\n", ++i, d >= 0 ? "+" : "-",
                     human_bytes(static_cast<uint64_t>(std::llabs(d))), human_bytes(row.a ? row.a->bytes : 0),
                     human_bytes(row.b ? row.b->bytes : 0), row.delta_count(), g.kind, g.category);
    for (const auto& [dim, v] : g.group) t += fmt::format("    {}={}\n", dim, v);
    for (const auto& f : g.frames) t += "    " + f + "\n";
  }
  if (sorted.empty()) t += "\nno group changed.\n";
  emit(o, t);
  return kExitOk;
}

}  // namespace

void register_report_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ReplayOptions>();
  CLI::App* cmd = app.add_subcommand("report", "Render a recording (kleak trace --record) again; no root needed");
  cmd->add_option("file", o->file, "The recording")->required();
  add_view_options(cmd, *o);
  cmd->callback([o, &exit_code] { exit_code = run_report(*o); });

  auto d = std::make_shared<ReplayOptions>();
  CLI::App* dcmd = app.add_subcommand("diff", "Compare two recordings group by group, biggest change first");
  dcmd->add_option("a", d->file, "The earlier recording")->required();
  dcmd->add_option("b", d->file_b, "The later recording")->required();
  add_view_options(dcmd, *d);
  dcmd->callback([d, &exit_code] { exit_code = run_diff(*d); });
}

}  // namespace kleak
