// Text and JSON renderers for `kleak meminfo` and `kleak meminfo --diff`.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "kleak/meminfo.h"
#include "kleak/text_escape.h"

namespace kleak {
namespace {

using nlohmann::json;

std::string human(std::int64_t kb) {
  double v = static_cast<double>(kb < 0 ? -kb : kb);
  const char* unit = "KiB";
  for (const char* u : {"MiB", "GiB", "TiB"}) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  return fmt::format("{}{:.1f} {}", kb < 0 ? "-" : "", v, unit);
}

double percent(std::int64_t kb, std::optional<std::int64_t> total) {
  if (!total || *total <= 0) return 0;
  return std::round(static_cast<double>(kb) * 10000.0 / static_cast<double>(*total)) / 100.0;
}

std::string dump(const json& j) {
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::size_t limit(std::size_t n, const RenderOptions& opt) {
  return opt.top == 0 ? n : std::min(n, opt.top);
}

// A space wrap() never breaks at.
constexpr char kNbsp = '\x01';

// Word-wraps `text` at `width` columns; lines after the first start with `indent`.
std::string wrap(std::string_view text, std::size_t width = 100, std::string_view indent = "") {
  std::string out;
  std::string line;
  bool fresh = true;  // no word on this line yet
  while (!text.empty()) {
    auto sp = text.find(' ');
    std::string_view word = text.substr(0, sp);
    text = sp == std::string_view::npos ? std::string_view() : text.substr(sp + 1);
    if (word.empty()) continue;
    if (!fresh && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line.assign(indent);
      fresh = true;
    }
    if (!fresh) line += ' ';
    line += word;
    fresh = false;
  }
  out += line + "\n";
  std::replace(out.begin(), out.end(), kNbsp, ' ');
  return out;
}

void list(std::string& out, std::string_view title, const std::vector<std::string>& items) {
  if (items.empty()) return;
  out += fmt::format("\n{}:\n", title);
  for (const auto& s : items) out += "  - " + wrap(s, 96, "    ");
}

}  // namespace

namespace {

std::string text_unescaped(const Accounting& a, const RenderOptions& opt) {
  std::string out;
  out += fmt::format("kleak meminfo: {}", a.source);
  if (!a.kernel_release.empty()) out += fmt::format(", kernel {}", a.kernel_release);
  out += fmt::format(", page size {} ({})\n", a.page_size,
                     a.page_size_from == "assumed" ? "assumed" : "from " + a.page_size_from);
  if (!a.mem_total_kb) {
    out += "MemTotal is unknown: no accounting possible.\n";
    list(out, "Missing", a.missing);
    list(out, "Notes", a.notes);
    return out;
  }
  out += fmt::format("MemTotal {} kB ({}). {}\n\n", *a.mem_total_kb, human(*a.mem_total_kb),
                     a.exact ? "The parts below add up to it exactly, biggest first."
                             : "The parts below add up to it, biggest first, but meminfo values kleak could not "
                               "use are inside unaccounted (see Missing).");
  out += fmt::format("  {:>12}  {:>10}  {:>7}  {:<11} {:<38} {}\n", "kB", "size", "%", "group", "part", "from");
  std::vector<std::string> zero;
  for (const auto& p : a.parts) {
    if (p.kb == 0 && p.group != PartGroup::kUnaccounted) {
      zero.push_back(p.label);
      continue;
    }
    out += fmt::format("  {:>12}  {:>10}  {:>6.2f}%  {:<11} {:<38} {}\n", p.kb, human(p.kb),
                       percent(p.kb, a.mem_total_kb), part_group_name(p.group), p.label, p.from);
  }
  out += fmt::format("  {:>12}\n  {:>12}  {:>10}  {:>6.2f}%  {:<11} {}\n", "------------", *a.mem_total_kb,
                     human(*a.mem_total_kb), 100.0, "", "MemTotal");
  if (!zero.empty()) {
    std::string z = "at 0 kB:";
    for (std::size_t i = 0; i < zero.size(); ++i) z += (i ? ", " : " ") + zero[i];
    out += "  " + wrap(z, 100, "    ");
  }

  out += "\n" + wrap(fmt::format("Unaccounted: {} kB, {:.2f}% of MemTotal. {}", *a.unaccounted_kb,
                                 percent(*a.unaccounted_kb, a.mem_total_kb), a.unaccounted_explanation));
  out += "\n" + wrap("How user memory is counted: " + a.user_formula);
  if (!a.breakdown.empty()) {
    std::string b = "Inside the parts, not added again:";
    for (const auto& l : a.breakdown) b += fmt::format(" {}{}{}{}kB;", l.label, kNbsp, l.kb, kNbsp);
    b.back() = '.';
    out += wrap(b, 100, "  ");
  }

  const VmallocAccount& v = a.vmalloc;
  std::string vm = fmt::format("vmalloc: {} kB", v.kb);
  if (v.source == "vmallocinfo") {
    vm += fmt::format(" from /proc/vmallocinfo ({} areas own {} kB", v.owning_areas, v.owned_kb);
    if (v.stack_overlap_kb) vm += fmt::format("; {} kB of it thread stacks, left to KernelStack", v.stack_overlap_kb);
    vm += ")";
  } else if (v.source == "VmallocUsed") {
    vm += " from VmallocUsed (no vmallocinfo)";
  } else {
    vm += " (cannot be measured from this snapshot)";
  }
  if (v.vmalloc_used_kb && v.source != "VmallocUsed")
    vm += fmt::format(". VmallocUsed reads {} kB{}", *v.vmalloc_used_kb,
                      v.vmalloc_used_zero ? " (hard-coded to 0 on kernels 4.9 to 5.2)" : "");
  out += "\n" + wrap(vm + ".", 100, "  ");
  if (!v.excluded.empty()) {
    std::string x = "left out, they own no memory:";
    for (const auto& e : v.excluded)
      x += fmt::format(" {} {} area{} {} of address space;", e.kind, e.areas, e.areas == 1 ? "" : "s",
                       human(static_cast<std::int64_t>(e.virtual_bytes / 1024)));
    x.back() = '.';
    out += "  " + wrap(x, 100, "    ");
  }
  if (!v.callers.empty()) {
    out += fmt::format("  top vmalloc callers by memory owned:\n  {:>12}  {:>6}  {}\n", "kB", "areas", "caller [module]");
    for (std::size_t i = 0; i < limit(v.callers.size(), opt); ++i) {
      const auto& c = v.callers[i];
      out += fmt::format("  {:>12}  {:>6}  {}{}\n", c.kb, c.areas, c.function,
                         c.module.empty() ? "" : " [" + c.module + "]");
    }
  }

  const SlabAccount& s = a.slab;
  if (!s.caches.empty()) {
    out += fmt::format("\nslab caches, biggest first (of {}):\n  {:>12}  {:>12}  {:>21}  {:>7}  {:<9}  {}\n",
                       s.caches.size(), "slabs kB", "active kB", "objects active/total", "objsize",
                       "reclaim", "cache");
    for (std::size_t i = 0; i < limit(s.caches.size(), opt); ++i) {
      const auto& c = s.caches[i];
      std::string rec = !c.reclaimable ? "?" : (*c.reclaimable ? "yes" : "no");
      if (c.reclaimable_guessed) rec += " (name)";
      out += fmt::format("  {:>12}  {:>12}  {:>21}  {:>7}  {:<10}  {}\n", c.total_kb, c.active_kb,
                         fmt::format("{}/{}", c.active_objs, c.num_objs), c.objsize, rec, c.name);
    }
  }
  if (!a.balloon.drivers.empty() || (a.balloon.reported_kb && *a.balloon.reported_kb > 0)) {
    out += "\nballoon:";
    for (const auto& d : a.balloon.drivers) out += " " + d + ";";
    if (a.balloon.reported_kb) out += fmt::format(" Balloon: {} kB", *a.balloon.reported_kb);
    if (out.back() == ';') out.pop_back();
    out += "\n";
  }
  list(out, "Notes", a.notes);
  list(out, "Missing from this snapshot", a.missing);
  return out;
}

}  // namespace

// Slab cache names and vmalloc callers come from the kernel or a snapshot file: escaped whole
// (text_escape.h).
std::string render_text(const Accounting& a, const RenderOptions& opt) {
  return escape_lines(text_unescaped(a, opt));
}

std::string render_json(const Accounting& a, const RenderOptions& opt) {
  json j;
  j["schema"] = "kleak.meminfo/1";
  j["source"] = a.source;
  j["taken_at"] = a.taken_at;
  j["kernel_release"] = a.kernel_release;
  j["page_size"] = a.page_size;
  j["page_size_from"] = a.page_size_from;
  j["mem_total_kb"] = a.mem_total_kb ? json(*a.mem_total_kb) : json(nullptr);
  j["unaccounted_kb"] = a.unaccounted_kb ? json(*a.unaccounted_kb) : json(nullptr);
  j["unaccounted_percent"] = a.unaccounted_kb ? json(percent(*a.unaccounted_kb, a.mem_total_kb)) : json(nullptr);
  j["unaccounted_explanation"] = a.unaccounted_explanation;
  j["user_formula"] = a.user_formula;
  j["parts"] = json::array();
  for (const auto& p : a.parts)
    j["parts"].push_back({{"key", meminfo_part_name(p.key)},
                          {"label", p.label},
                          {"group", part_group_name(p.group)},
                          {"kb", p.kb},
                          {"percent", percent(p.kb, a.mem_total_kb)},
                          {"from", p.from}});
  j["breakdown_kb"] = json::object();
  for (const auto& b : a.breakdown) j["breakdown_kb"][b.key] = b.kb;

  const VmallocAccount& v = a.vmalloc;
  json vj = {{"source", v.source},
             {"kb", v.kb},
             {"owned_kb", v.owned_kb},
             {"owning_areas", v.owning_areas},
             {"vmalloc_used_kb", v.vmalloc_used_kb ? json(*v.vmalloc_used_kb) : json(nullptr)},
             {"vmalloc_used_zero", v.vmalloc_used_zero},
             {"stack_overlap_kb", v.stack_overlap_kb},
             {"callers_total", v.callers.size()}};
  vj["excluded"] = json::array();
  for (const auto& e : v.excluded)
    vj["excluded"].push_back({{"kind", e.kind}, {"areas", e.areas}, {"virtual_bytes", e.virtual_bytes}});
  vj["top_callers"] = json::array();
  for (std::size_t i = 0; i < limit(v.callers.size(), opt); ++i) {
    const auto& c = v.callers[i];
    vj["top_callers"].push_back({{"function", c.function},
                                 {"module", c.module},
                                 {"kb", c.kb},
                                 {"areas", c.areas},
                                 {"virtual_bytes", c.virtual_bytes}});
  }
  j["vmalloc"] = std::move(vj);

  const SlabAccount& s = a.slab;
  json sj = {{"slabinfo_total_kb", s.slabinfo_total_kb ? json(*s.slabinfo_total_kb) : json(nullptr)},
             {"caches_total", s.caches.size()}};
  sj["top_caches"] = json::array();
  for (std::size_t i = 0; i < limit(s.caches.size(), opt); ++i) {
    const auto& c = s.caches[i];
    sj["top_caches"].push_back({{"name", c.name},
                                {"active_objs", c.active_objs},
                                {"num_objs", c.num_objs},
                                {"objsize", c.objsize},
                                {"active_kb", c.active_kb},
                                {"total_kb", c.total_kb},
                                {"reclaimable", c.reclaimable ? json(*c.reclaimable) : json(nullptr)},
                                {"reclaimable_guessed", c.reclaimable_guessed}});
  }
  j["slab"] = std::move(sj);
  j["balloon"] = {{"checked", a.balloon.checked},
                  {"drivers", a.balloon.drivers},
                  {"reported_kb", a.balloon.reported_kb ? json(*a.balloon.reported_kb) : json(nullptr)},
                  {"outside_memtotal", a.balloon.outside_memtotal}};
  j["notes"] = a.notes;
  j["missing"] = a.missing;
  j["exact"] = a.exact;
  return dump(j);
}

namespace {

std::string diff_text_unescaped(const MeminfoDiff& d, const RenderOptions& opt) {
  std::string out = fmt::format("kleak meminfo --diff: {} -> {}", d.before_source, d.after_source);
  if (d.seconds) out += fmt::format(" ({} s apart)", d.seconds);
  out += "\n";
  if (d.rows.empty()) {
    out += "nothing changed.\n";
  } else {
    out += fmt::format("  {:>12}  {:>12}  {:>12}  {:<8} {}\n", "delta kB", "before kB", "after kB", "kind", "name");
    auto row = [&](const DiffRow& r) {
      out += fmt::format("  {:>+12}  {:>12}  {:>12}  {:<8} {}\n", r.delta_kb, r.before_kb, r.after_kb, r.kind, r.name);
    };
    // Biggest growth first; the biggest shrinks close the table.
    std::size_t grow = 0;
    while (grow < d.rows.size() && d.rows[grow].delta_kb > 0) ++grow;
    std::size_t shown_grow = limit(grow, opt);
    std::size_t shrink = d.rows.size() - grow;
    std::size_t shown_shrink = limit(shrink, opt);
    for (std::size_t i = 0; i < shown_grow; ++i) row(d.rows[i]);
    std::size_t hidden = (grow - shown_grow) + (shrink - shown_shrink);
    if (hidden) out += fmt::format("  {:>12}  ({} smaller changes not shown; --top 0 shows all)\n", "...", hidden);
    for (std::size_t i = d.rows.size() - shown_shrink; i < d.rows.size(); ++i) row(d.rows[i]);
  }
  list(out, "Notes", d.notes);
  return out;
}

}  // namespace

// Slab cache names and vmalloc callers come from the kernel or a snapshot file: escaped whole
// (text_escape.h).
std::string render_diff_text(const MeminfoDiff& d, const RenderOptions& opt) {
  return escape_lines(diff_text_unescaped(d, opt));
}

std::string render_diff_json(const MeminfoDiff& d, const RenderOptions&) {
  json j;
  j["schema"] = "kleak.meminfo.diff/1";
  j["before"] = d.before_source;
  j["after"] = d.after_source;
  j["seconds"] = d.seconds;
  j["rows"] = json::array();
  for (const auto& r : d.rows)
    j["rows"].push_back({{"kind", r.kind},
                         {"name", r.name},
                         {"before_kb", r.before_kb},
                         {"after_kb", r.after_kb},
                         {"delta_kb", r.delta_kb}});
  j["notes"] = d.notes;
  return dump(j);
}

std::string render_watch_text(const WatchStep& w, const RenderOptions& opt) {
  if (w.n == 0)
    return fmt::format(
        "kleak meminfo --watch {}: sampling {} every {}; growth since the first sample, biggest "
        "first. Ctrl-C stops.\nfirst sample: MemTotal {} kB, unaccounted {} kB\n",
        w.every, w.base->source, w.every, w.base->mem_total_kb.value_or(0), w.base->unaccounted_kb.value_or(0));
  return fmt::format("\n--- sample {} (unaccounted now {} kB) ---\n", w.n, w.now->unaccounted_kb.value_or(0)) +
         render_diff_text(*w.diff, opt);
}

std::string render_watch_json(const WatchStep& w, const RenderOptions& opt) {
  if (w.n == 0) return "";
  auto j = json::parse(render_diff_json(*w.diff, opt));
  j["sample"] = w.n;
  j["unaccounted_kb"] = w.now->unaccounted_kb ? json(*w.now->unaccounted_kb) : json(nullptr);
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::span<const AccountingFormat> meminfo_formats() {
  static constexpr AccountingFormat kFormats[] = {{"text", render_text}, {"json", render_json}};
  return kFormats;
}

std::span<const MeminfoDiffFormat> meminfo_diff_formats() {
  static constexpr MeminfoDiffFormat kFormats[] = {{"text", render_diff_text}, {"json", render_diff_json}};
  return kFormats;
}

std::span<const WatchFormat> meminfo_watch_formats() {
  static constexpr WatchFormat kFormats[] = {{"text", render_watch_text}, {"json", render_watch_json}};
  return kFormats;
}

}  // namespace kleak
