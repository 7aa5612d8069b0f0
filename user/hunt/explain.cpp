// The answer of `kleak hunt`: each growing line, the growing stacks of the trace that land in it,
// and what stays unexplained. Text fits one screen; JSON carries everything.
#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "kleak/hunt.h"
#include "kleak/kind.h"
#include "kleak/render.h"
#include "kleak/text_escape.h"

namespace kleak {

namespace {

// Frames per stack in the text answer: the allocator's caller and four more name the code path
// (--format json has every frame).
constexpr size_t kFramesShown = 5;

std::optional<int64_t> line_kb(const Accounting& a, const WatchedLine& l) {
  if (l.kind == "part") return l.part ? a.part_kb(*l.part) : std::nullopt;
  for (const auto& c : a.slab.caches)
    if (c.name == l.name) return c.total_kb;
  return std::nullopt;
}

// Whether the group's memory lands in the line.
bool lands_in(const StackGroup& g, const WatchedLine& l) {
  if (l.kind == "part")
    return l.part && (g.meminfo_line == l.part ||
                      (l.part == MeminfoPart::slab && g.meminfo_line && is_slab_part(*g.meminfo_line)));
  if (!g.cache) return false;
  return *g.cache == l.name || *g.cache == kmalloc_class(l.name).value_or("");
}

std::string rate(double kb_per_min) {
  std::string h = human_bytes(static_cast<uint64_t>(std::abs(kb_per_min) * 1024));
  return (kb_per_min < 0 ? "-" : "+") + h + "/min";
}

std::string kb_text(int64_t kb) { return (kb < 0 ? "-" : "") + human_bytes(static_cast<uint64_t>(std::abs(kb)) * 1024); }

std::string steady_summary(const WatchResult& w) {
  std::vector<std::string> names;
  size_t n = 0;
  for (const auto& l : w.lines) {
    if (l.growing) continue;
    ++n;
    if (names.size() < 6 && l.kind == "part") names.push_back(fmt::format("{} {}", l.name, rate(l.rate_kb_per_min)));
  }
  return fmt::format("{} lines and caches steady (or slower than {}), e.g. {}", n, rate(w.min_kb_per_min),
                     fmt::join(names, ", "));
}

// Where the kernel names no slab cache, a growing cache is explained on the Slab lines (the
// stacks carry no cache): those are answered whether or not they grew as fast as the threshold.
bool slab_lines_stand_in(const HuntReport& hr) {
  if (!hr.plan || hr.plan->slab_caches_unknown.empty()) return false;
  return std::any_of(hr.watch.lines.begin(), hr.watch.lines.end(), [](const WatchedLine& l) {
    return l.growing && l.kind == "cache" && !kmalloc_class(l.name);
  });
}

}  // namespace

void explain(HuntReport& hr, const Accounting& before, const Accounting& after) {
  hr.lines.clear();
  const bool slab_stands_in = slab_lines_stand_in(hr);
  for (size_t i = 0; i < hr.watch.lines.size(); ++i) {
    const WatchedLine& l = hr.watch.lines[i];
    const bool slab_line = l.kind == "part" && l.part && is_slab_part(*l.part);
    if (!l.growing && !(slab_stands_in && slab_line)) continue;
    ExplainedLine e;
    e.line = i;
    auto b = line_kb(before, l), a = line_kb(after, l);
    e.moved_kb = a.value_or(0) - b.value_or(0);
    // The trace's own reconciliation is read after its maps were made (76 MiB of vmalloc by
    // default, measured as "unexplained" vmalloc growth otherwise): preferred where it has the line.
    if (hr.trace)
      for (const auto& row : hr.trace->reconciliation)
        if (l.kind == "part" && row.line == l.part) e.moved_kb = row.moved_kb;
    if (hr.trace) {
      const auto& stacks = hr.trace->stacks;
      for (size_t j = 0; j < stacks.size(); ++j) {
        const StackGroup& g = stacks[j];
        if (g.verdict != "growing" || !lands_in(g, l)) continue;
        double share = e.moved_kb > 0 ? static_cast<double>(g.bytes) / 1024.0 / static_cast<double>(e.moved_kb) : 0;
        e.stacks.push_back({j, share});
        e.explained_kb += static_cast<int64_t>(g.bytes / 1024);
      }
      std::stable_sort(e.stacks.begin(), e.stacks.end(), [&](const Explainer& x, const Explainer& y) {
        return stacks[x.group].growth_bytes_per_s > stacks[y.group].growth_bytes_per_s;
      });
    }
    hr.lines.push_back(std::move(e));
  }
}

namespace {

std::string hunt_text(const HuntReport& hr) {
  const WatchResult& w = hr.watch;
  std::string o = fmt::format("kleak hunt: {}, watched /proc for {:.1f} s ({} samples){}\n", hr.kernel, w.seconds,
                              w.samples, hr.trace ? fmt::format(", traced {:.1f} s", hr.trace->duration_s) : "");
  if (!w.any_growing()) {
    o += fmt::format("nothing grows faster than {}: no BPF was loaded, nothing traced.\n", rate(w.min_kb_per_min));
    return o + steady_summary(w) + "\n";
  }
  o += fmt::format("growing (at least {}, in most samples):\n", rate(w.min_kb_per_min));
  for (const auto& l : w.lines)
    if (l.growing)
      o += fmt::format("  {:<44} {:>14}  now {}, grew in {:.0f}% of samples\n", l.label, rate(l.rate_kb_per_min),
                       kb_text(l.last_kb), l.grew_fraction * 100);
  o += steady_summary(w) + "\n";
  if (hr.plan) {
    for (const auto& f : hr.plan->families) o += fmt::format("attached: {:<8} {}\n", f.family, f.why);
    std::vector<std::string> off;
    if (hr.trace)
      for (int k = KLEAK_KIND_KMALLOC; k < KLEAK_KIND_MAX; ++k) {
        std::string name(kind_name(static_cast<kleak_kind>(k)));
        if (std::none_of(hr.plan->families.begin(), hr.plan->families.end(),
                         [&](const FamilyReason& f) { return f.family == name; }))
          off.push_back(name);
      }
    if (!off.empty()) o += fmt::format("not attached: {} (nothing of theirs grows)\n", fmt::join(off, ", "));
    for (const auto& u : hr.plan->untraceable) o += "not traceable: " + u + "\n";
    if (!hr.plan->slab_caches_unknown.empty())
      o += "slab caches cannot be told apart: " + hr.plan->slab_caches_unknown + "\n";
    o += "same trace: " + hr.command_line + "\n";
  }
  if (!hr.trace) return o;
  const auto& stacks = hr.trace->stacks;
  // One screen: Slab's lines are told by the growing caches when some grow (where the kernel
  // names caches: else by the Slab lines), and a stack shown under one line is named, not
  // repeated, under the next.
  const bool caches_named = !hr.plan || hr.plan->slab_caches_unknown.empty();
  const bool caches_grow = caches_named && std::any_of(w.lines.begin(), w.lines.end(), [](const WatchedLine& l) {
                             return l.growing && l.kind == "cache";
                           });
  std::set<size_t> shown;
  for (const auto& e : hr.lines) {
    const WatchedLine& l = w.lines[e.line];
    if (!caches_named && l.kind == "cache" && !kmalloc_class(l.name)) {
      o += fmt::format("\n{}: {}{} during the trace; the slab stacks are under the Slab lines (no cache names)\n",
                       l.label, e.moved_kb >= 0 ? "+" : "", kb_text(e.moved_kb));
      continue;
    }
    if (caches_grow && l.kind == "part" && l.name.starts_with("slab")) {
      o += fmt::format("\n{}: {}{} during the trace, {} of it held by growing stacks: see the caches below\n",
                       l.label, e.moved_kb >= 0 ? "+" : "", kb_text(e.moved_kb), kb_text(e.explained_kb));
      continue;
    }
    o += fmt::format("\n{}: {}{} during the trace, {} of it held by {} growing stacks, {} unexplained\n", l.label,
                     e.moved_kb >= 0 ? "+" : "", kb_text(e.moved_kb), kb_text(e.explained_kb), e.stacks.size(),
                     kb_text(e.moved_kb - e.explained_kb));
    for (size_t n = 0; n < e.stacks.size() && n < hr.top; ++n) {
      const StackGroup& g = stacks[e.stacks[n].group];
      std::vector<std::string> comms;
      for (const auto& [c, k] : g.comms)
        if (comms.size() < 2) comms.push_back(fmt::format("{}({})", escape_text(c), k));
      o += fmt::format("  {:>3.0f}%  {} {}  {} in {} allocations  [{} {}{}]  comm {}\n", e.stacks[n].share * 100,
                       g.verdict, rate(g.growth_bytes_per_s * 60 / 1024), human_bytes(g.bytes), g.count, g.kind,
                       g.category, g.cache ? " cache=" + describe_cache(*g.cache, g.cache_aliases) : "",
                       fmt::join(comms, " "));
      if (!shown.insert(e.stacks[n].group).second) {
        o += "        (the stack shown above)\n";
        continue;
      }
      auto frames = frame_texts(g);
      for (size_t f = 0; f < frames.size() && f < kFramesShown; ++f) o += "        " + escape_text(frames[f]) + "\n";
      if (frames.size() > kFramesShown) o += fmt::format("        ... {} more frames\n", frames.size() - kFramesShown);
    }
    if (e.stacks.size() > hr.top) o += fmt::format("  ... {} more growing stacks\n", e.stacks.size() - hr.top);
  }
  return o;
}

}  // namespace

// Cache names, comms and symbols come from the kernel (a comm from any user): escaped whole, so
// none reaches a terminal as a control character (text_escape.h).
std::string render_hunt_text(const HuntReport& hr) { return escape_lines(hunt_text(hr)); }

std::string render_hunt_json(const HuntReport& hr) {
  using nlohmann::json;
  json lines = json::array();
  for (const auto& l : hr.watch.lines)
    lines.push_back({{"kind", l.kind}, {"name", l.name}, {"label", l.label}, {"aliases", l.aliases},
                     {"first_kb", l.first_kb}, {"last_kb", l.last_kb}, {"rate_kb_per_min", l.rate_kb_per_min},
                     {"grew_fraction", l.grew_fraction}, {"verdict", l.verdict}, {"growing", l.growing}});
  json j = {{"kernel", hr.kernel},
            {"watch", {{"seconds", hr.watch.seconds}, {"samples", hr.watch.samples},
                       {"min_kb_per_min", hr.watch.min_kb_per_min}, {"lines", lines}}},
            {"traced", hr.trace.has_value()},
            {"command_line", hr.command_line.empty() ? json(nullptr) : json(hr.command_line)}};
  json attached = json::array(), untraceable = json::array();
  if (hr.plan) {
    for (const auto& f : hr.plan->families) attached.push_back({{"family", f.family}, {"why", f.why}});
    untraceable = hr.plan->untraceable;
  }
  j["attached"] = attached;
  j["untraceable"] = untraceable;
  j["slab_caches_unknown"] =
      hr.plan && !hr.plan->slab_caches_unknown.empty() ? json(hr.plan->slab_caches_unknown) : json(nullptr);
  json explained = json::array();
  for (const auto& e : hr.lines) {
    json stacks = json::array();
    for (const auto& x : e.stacks) {
      const StackGroup& g = hr.trace->stacks[x.group];
      stacks.push_back({{"share", x.share}, {"verdict", g.verdict}, {"growth_bytes_per_min", g.growth_bytes_per_s * 60},
                        {"bytes", g.bytes}, {"count", g.count}, {"kind", g.kind}, {"category", g.category},
                        {"cache", g.cache ? json(*g.cache) : json(nullptr)}, {"aliases", g.cache_aliases},
                        {"frames", frame_texts(g)}});
    }
    explained.push_back({{"line", hr.watch.lines[e.line].name}, {"moved_kb", e.moved_kb},
                         {"explained_kb", e.explained_kb}, {"unexplained_kb", e.moved_kb - e.explained_kb},
                         {"stacks", stacks}});
  }
  j["explained"] = explained;
  j["trace"] = hr.trace ? json::parse(render_json(*hr.trace)) : json(nullptr);
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::span<const HuntFormat> hunt_formats() {
  static constexpr HuntFormat kFormats[] = {{"text", render_hunt_text}, {"json", render_hunt_json}};
  return kFormats;
}

}  // namespace kleak
