// Text renderer: a header that says what was traced and what was lost, then the top stacks.
#include <fmt/format.h>
#include <functional>

#include <cmath>
#include <set>

#include "kleak/render.h"
#include "kleak/cache_name.h"
#include "kleak/text_escape.h"

namespace kleak {

std::string human_bytes(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.1f} {}", v, units[u]);
}

namespace {

std::string sources_line(const Report& r) {
  // Group events by status so the common case is one short line.
  std::map<std::string, std::vector<std::string>> by_status;
  for (const auto& [ev, st] : r.sources) {
    // A recording may name no mode for an attached event: at() took `kleak report` down with
    // "internal error: map::at".
    auto mode = r.attach_mode.find(ev);
    std::string key = st == "attached"
                          ? "attached (" + (mode == r.attach_mode.end() ? std::string("mode unknown") : mode->second) + ")"
                          : st;
    by_status[escape_text(key)].push_back(escape_text(ev));
  }
  std::string out;
  for (const auto& [st, evs] : by_status) {
    out += fmt::format("  {}: {}\n", st, fmt::join(evs, " "));
  }
  return out;
}

// The rest of the frees seen, each bucket named, so that the events line adds up.
std::string other_frees(const std::function<uint64_t(EventCount)>& ev) {
  std::string o;
  if (uint64_t n = ev(EventCount::frees_of_null)) o += fmt::format(", {} of NULL", n);
  if (uint64_t n = ev(EventCount::frees_batched_unmatched))
    o += fmt::format(", {} batched page frees already seen or not tracked", n);
  if (uint64_t n = ev(EventCount::frees_sampled_out)) o += fmt::format(", {} sampled out", n);
  if (uint64_t n = ev(EventCount::frees_in_bulk)) o += fmt::format("; {} of them in bulk", n);
  return o;
}

// Frees the kernel makes without a tracepoint: which entry points kleak follows, how many it
// still found only when an address came back, and how much memory that leaves unconfirmed.
std::string unseen_frees_line(const Report& r) {
  std::vector<std::string> followed, blind;
  for (const auto& [ev, st] : r.sources) {
    if (ev.find(':') != std::string::npos) continue;  // tracepoints are "category:event"
    auto mode = r.attach_mode.find(ev);  // a recording may name no mode: it is anyone's file
    if (st == "attached") followed.push_back(escape_text(ev) + " (" + escape_text(mode == r.attach_mode.end() ? "?" : mode->second) + ")");
    else blind.push_back(escape_text(ev));
  }
  std::string o;
  if (!followed.empty() || !blind.empty())
    o += fmt::format("bulk frees: {}{}{}\n", followed.empty() ? "none followed" : "followed " + fmt::format("{}", fmt::join(followed, ", ")),
                     blind.empty() ? "" : "; not seen: ", fmt::join(blind, ", "));
  if (r.unseen_frees)
    o += fmt::format("unseen frees: {} objects were found still held when their address was allocated again "
                     "(freed where no tracepoint fires)\n", r.unseen_frees);
  if (r.unconfirmed_groups)
    o += fmt::format("unconfirmed: {} in {} growing groups that the kernel's own counts do not show grow: what "
                     "they hold may already be free (listed last, verdict \"unconfirmed\")\n",
                     human_bytes(r.unconfirmed_bytes), r.unconfirmed_groups);
  return o;
}

// What kleak itself cost, and what --max-cpu did to keep it.
std::string self_cost_lines(const SelfCost& c) {
  std::string o = fmt::format("kleak itself: programs {:.1f}% of a CPU ({}), process {:.1f}%; maps {}, RSS {}\n",
                              c.bpf_cpu_pct, c.bpf_measured_by, c.process_cpu_pct, human_bytes(c.maps_bytes),
                              human_bytes(c.rss_bytes));
  if (c.max_cpu_pct <= 0) return o;
  std::vector<std::string> acts;
  for (const auto& a : c.actions)
    acts.push_back(a.what == BudgetAction::What::detach
                       ? fmt::format("{} detached at {:.1f} s", a.family, a.t_s)
                       : fmt::format("1 in {} from {:.1f} s", a.sample_every, a.t_s));
  o += fmt::format("budget: --max-cpu {}%: {}\n", c.max_cpu_pct,
                   acts.empty() ? std::string("never exceeded, nothing done") : fmt::format("{}", fmt::join(acts, ", ")));
  return o;
}

}  // namespace

std::string kind_and_category(const StackGroup& g) {
  std::string kind = g.kind == "mixed" ? "several kinds" : g.kind;
  if (g.category == g.kind) return kind;  // "slab slab" says slab once
  return kind + " " + (g.category == "mixed" ? "several categories" : g.category);
}

namespace {

// " -> slab_unreclaimable": the meminfo part a group lands in, unless the category says it.
std::string meminfo_line_note(const StackGroup& g) {
  if (!g.meminfo_line) return "";
  const std::string_view line = meminfo_part_name(*g.meminfo_line);
  return line == g.category ? "" : " -> " + std::string(line);
}

}  // namespace

std::string render_text(const Report& r) {
  std::string o;
  // A recording's strings (kernel, filter, warnings, notes) are anyone's: one line each.
  o += fmt::format("kleak trace: {}, window {:.1f} s{}\n", escape_text(r.kernel), r.duration_s,
                   r.filter.empty() ? "" : ", filter: " + escape_text(r.filter));
  o += "sources:\n" + sources_line(r);
  if (!r.bpf_variant.empty()) o += "  programs: " + escape_text(r.bpf_variant) + "\n";
  auto ev = [&](EventCount k) { auto it = r.events.find(k); return it == r.events.end() ? 0 : it->second; };
  o += fmt::format("events: {} allocations seen ({} tracked, {} filtered in kernel), {} frees seen "
                   "({} matched, {} of allocations made before the window or not tracked{})\n",
                   ev(EventCount::allocs_seen), ev(EventCount::allocs_tracked), ev(EventCount::allocs_filtered_in_kernel),
                   ev(EventCount::frees_seen), ev(EventCount::frees_matched), ev(EventCount::frees_of_untracked),
                   other_frees(ev));
  o += unseen_frees_line(r);
  std::vector<std::string> losses;
  for (const auto& [cause, n] : r.dropped)
    if (n) losses.push_back(fmt::format("{}={}", count_name(cause), n));
  o += losses.empty() ? "dropped: none\n" : fmt::format("dropped: {}\n", fmt::join(losses, " "));
  if (r.missed_frees)
    o += fmt::format("WARNING: {} frees were missed (BPF recursion): up to that many allocations "
                     "below may be false leaks\n", r.missed_frees);
  for (const auto& w : r.warnings) o += "warning: " + escape_text(w) + "\n";
  if (r.cost) o += self_cost_lines(*r.cost);

  if (r.stack_reuse.reused) {
    const auto& u = r.stack_reuse;
    auto pct = [](uint64_t a, uint64_t b) { return b ? 100.0 * static_cast<double>(a) / static_cast<double>(b) : 0.0; };
    o += fmt::format("stacks: {} walked, {} reused from their call site (--stack-reuse {}); {} checks found "
                     "another stack {} times ({:.1f}%): at most {} allocations ({:.1f}% of reused) may "
                     "show a sibling stack of their own call site (--stack-reuse 1: exact)\n",
                     u.walked, u.reused, u.max_run, u.checked, u.changed, pct(u.changed, u.checked),
                     u.suspect, pct(u.suspect, u.reused));
  }
  if (r.sample_every > 1) {
    o += fmt::format("sampled: about 1 in {} allocations, drawn at random per allocation with a probability "
                     "proportional to its size; counts and bytes below are estimates, each record weighted by "
                     "1/probability (a group of n tracked allocations is known to about 1/sqrt(n), e.g. +-10% "
                     "at n=100)\n",
                     r.sample_every);
    if (r.sample_kept)
      o += fmt::format("  achieved: {} of {} allocations seen were drawn (1 in {:.0f})\n", r.sample_kept,
                       r.sample_seen, static_cast<double>(r.sample_seen) / static_cast<double>(r.sample_kept));
  }
  o += fmt::format("outstanding kernel memory: {} in {} allocations, {} stacks{}\n",
                   human_bytes(r.total_bytes), r.total_count, r.groups_total,
                   r.groups_total > r.stacks.size() ? fmt::format(" (top {} shown)", r.stacks.size()) : "");
  if (!r.user_memory.empty()) {
    std::vector<std::string> parts;
    for (const auto& [cat, s] : r.user_memory)
      parts.push_back(fmt::format("{} {} ({} pages)", cat, human_bytes(s.bytes), s.count));
    o += fmt::format("user memory, not kernel leaks{}: {}\n",
                     r.user_pages_shown ? "" : " (--user-pages shows its stacks)", fmt::join(parts, ", "));
  }
  if (r.user_untracked.count)
    o += fmt::format("  plus {} pages ({}) allocated under stacks already recognized as user memory: "
                     "counted, not tracked\n", r.user_untracked.count, human_bytes(r.user_untracked.bytes));
  if (!r.backing.empty()) {
    std::vector<std::string> parts;
    for (const auto& [cat, s] : r.backing)
      parts.push_back(fmt::format("{} {} ({} allocations)", cat, human_bytes(s.bytes), s.count));
    o += fmt::format("pages under objects counted above, not added again: {}\n", fmt::join(parts, ", "));
  }
  if (!r.reconciliation.empty()) {
    o += fmt::format("\n/proc/meminfo during the window (kB){:>12}{:>12}{:>13}  explained by\n", "moved",
                     "explained", "unexplained");
    for (const auto& row : r.reconciliation)
      o += fmt::format("  {:<34}{:>+12}{:>+12}{:>+13}  {}{}\n", row.label, row.moved_kb, row.explained_kb,
                       row.moved_kb - row.explained_kb, fmt::join(row.categories, ", "),
                       row.partial ? " (partial: user pages are counted, not tracked)" : "");
    if (!r.reconciliation_caveat.empty()) o += "  note: " + r.reconciliation_caveat + "\n";
  } else if (!r.reconciliation_note.empty() || !r.reconciliation_caveat.empty()) {
    o += "note: " +
         (r.reconciliation_caveat.empty() ? r.reconciliation_note
                                          : r.reconciliation_caveat + " " + r.reconciliation_note) +
         "\n";
  }
  int i = 0;
  for (const auto& g : r.stacks) {
    std::vector<std::string> comms;
    for (const auto& [c, n] : g.comms)  // the 3 busiest (groups carry every comm since pprof labels all)
      if (comms.size() < 3) comms.push_back(fmt::format("{}({})", escape_text(c), n));
    o += fmt::format("\n#{} {} in {} allocations  [{}{}{}]  oldest {:.1f}s ago  comm {}\n", ++i,
                     human_bytes(g.bytes), g.count, kind_and_category(g),
                     meminfo_line_note(g),
                     g.cache ? " cache=" + escape_text(describe_cache(*g.cache, g.cache_aliases)) : "", g.oldest_age_s, fmt::join(comms, " "));
    if (!g.verdict.empty())
      o += fmt::format("    {}{}{}, grew in {:.0f}% of {} samples\n", g.verdict,
                       g.growth_bytes_per_s >= 0 ? " +" : " -",
                       human_bytes(static_cast<uint64_t>(std::abs(g.growth_bytes_per_s) * 60)) + "/min",
                       g.grew_fraction * 100, g.series.size());
    if (!g.unconfirmed_why.empty()) o += "    not confirmed: " + escape_text(g.unconfirmed_why) + "\n";
    if (!g.group.empty()) {
      std::vector<std::string> dims;
      for (const auto& [d, v] : g.group)
        if (d != "callsite") dims.push_back(fmt::format("{}={}", d, escape_text(v)));
      if (!dims.empty()) o += fmt::format("    {}\n", fmt::join(dims, "  "));
    }
    if (g.allocs || g.frees)
      o += fmt::format("    in the window: alloc {} ({}) free {} ({})\n", g.allocs, human_bytes(g.alloc_bytes),
                       g.frees, human_bytes(g.free_bytes));
    if (g.bytes_req != g.bytes)
      o += fmt::format("    requested {} of the {} taken\n", human_bytes(g.bytes_req), human_bytes(g.bytes));
    for (const auto& f : g.frames) o += "    " + escape_text(f.text()) + "\n";
  }
  if (r.stacks.empty()) o += "\nno outstanding kernel allocations match.\n";
  if (r.churn_total) {
    uint64_t allocs = 0, bytes = 0;
    for (const auto& g : r.churn) allocs += g.allocs, bytes += g.alloc_bytes;
    o += fmt::format("\nchurn: {} more groups allocated and freed in the window and hold nothing ({}{} "
                     "allocations, {}; --format json lists them under \"churn\")\n",
                     r.churn_total, r.churn.size() < r.churn_total ? "top " + std::to_string(r.churn.size()) + ": " : "",
                     allocs, human_bytes(bytes));
  }
  // The fields above that come from the kernel or a recording are escaped where they are
  // written; the header's (kernel, filter, warnings, sources) are escaped here, with anything
  // missed: no byte of a report reaches a terminal as a control character.
  return escape_lines(o);
}

}  // namespace kleak
