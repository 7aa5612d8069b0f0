// JSON renderer: the stable machine format. Field names are a contract (docs/output.md "JSON report" documents them).
#include <nlohmann/json.hpp>

#include "kleak/kind.h"
#include "kleak/render.h"

namespace kleak {

namespace {

using nlohmann::json;

json groups(const std::vector<StackGroup>& gs) {
  json stacks = json::array();
  for (const auto& g : gs) {
    json comms = json::array();
    for (const auto& [c, n] : g.comms) comms.push_back({{"comm", c}, {"count", n}});
    stacks.push_back({
        {"kind", g.kind},
        {"category", g.category},
        {"meminfo_line", g.meminfo_line ? json(meminfo_part_name(*g.meminfo_line)) : json(nullptr)},
        {"bytes", g.bytes},
        {"bytes_req", g.bytes_req},
        {"count", g.count},
        {"cache", g.cache ? json(*g.cache) : json(nullptr)},
        {"oldest_age_s", g.oldest_age_s},
        {"comms", comms},
        {"frames", frame_texts(g)},
        {"trimmed_frames", g.trimmed},
        {"stack_ids", g.stack_ids},
        {"allocs", g.allocs},
        {"frees", g.frees},
        {"alloc_bytes", g.alloc_bytes},
        {"free_bytes", g.free_bytes},
        {"group", g.group},
        {"context", g.context.empty() ? json(nullptr) : json(g.context)},
        {"verdict", g.verdict.empty() ? json(nullptr) : json(g.verdict)},
        {"growth_bytes_per_min", g.growth_bytes_per_s * 60},
        {"grew_fraction", g.grew_fraction},
        {"series", g.series},
        {"unseen_frees", g.unseen_frees},
        {"unconfirmed_why", g.unconfirmed_why.empty() ? json(nullptr) : json(g.unconfirmed_why)},
    });
    // Only for merged caches: the other names SLUB merged into `cache`.
    if (!g.cache_aliases.empty()) stacks.back()["aliases"] = g.cache_aliases;
  }
  return stacks;
}

// The counts by name (counts.h): the one place their JSON keys are made.
template <typename K>
json by_name(const std::map<K, uint64_t>& counts) {
  json o = json::object();
  for (const auto& [what, n] : counts) o[std::string(count_name(what))] = n;
  return o;
}

json events_by_kind(const Report& r) {
  json o = json::object();
  for (const auto& [kind, causes] : r.events_by_kind) {
    json& k = o[std::string(kind_name(kind))] = json::object();
    for (const auto& [cause, n] : causes) k[std::string(cause_name(cause))] = n;
  }
  return o;
}

}  // namespace

std::string render_json(const Report& r) {
  json j;
  j["schema"] = "kleak.report/1";
  j["kernel"] = r.kernel;
  j["duration_s"] = r.duration_s;
  j["filter"] = r.filter.empty() ? json(nullptr) : json(r.filter);
  j["sources"] = r.sources;
  j["attach_mode"] = r.attach_mode;
  j["bpf_variant"] = r.bpf_variant;
  j["dropped"] = by_name(r.dropped);
  j["events"] = by_name(r.events);
  j["events_by_kind"] = events_by_kind(r);
  j["missed_frees"] = r.missed_frees;
  // Frees kleak did not see, and the growth it therefore cannot confirm (verdict.h).
  j["unseen_frees"] = r.unseen_frees;
  j["unconfirmed"] = {{"bytes", r.unconfirmed_bytes}, {"groups", r.unconfirmed_groups}};
  j["min_growth_bytes_per_min"] = r.min_growth_bytes_per_s * 60;
  if (r.cost) {
    const SelfCost& c = *r.cost;
    j["cost"] = {{"bpf_cpu_pct", c.bpf_cpu_pct}, {"bpf_measured_by", c.bpf_measured_by},
                 {"process_cpu_pct", c.process_cpu_pct}, {"maps_bytes", c.maps_bytes}, {"rss_bytes", c.rss_bytes}};
    if (c.max_cpu_pct > 0) {
      json actions = json::array(), rates = json::array();
      rates.push_back({0.0, c.sample_every_start});
      for (const auto& a : c.actions) {
        actions.push_back({{"t_s", a.t_s}, {"action", budget_action_name(a.what)}, {"cpu_pct", a.cpu_pct},
                           {"sample_every", a.sample_every}, {"family", a.family.empty() ? json(nullptr) : json(a.family)}});
        if (a.what != BudgetAction::What::detach) rates.push_back({a.t_s, a.sample_every});
      }
      j["budget"] = {{"max_cpu_pct", c.max_cpu_pct}, {"actions", actions}, {"sample_every_over_time", rates},
                     {"detached", c.detached}};
    }
  }
  j["warnings"] = r.warnings;
  j["total_bytes"] = r.total_bytes;
  j["total_count"] = r.total_count;
  j["groups_total"] = r.groups_total;
  j["full_stacks"] = r.full_stacks;
  json by = json::array();
  for (GroupBy g : r.by) by.push_back(std::string(group_by_name(g)));
  j["by"] = by;
  j["sort"] = r.sort;
  j["sample_every"] = r.sample_every;
  j["sample_achieved"] = {{"seen", r.sample_seen}, {"kept", r.sample_kept}};
  j["sample_times_s"] = r.sample_times_s;
  j["stack_reuse"] = {{"max_run", r.stack_reuse.max_run},   {"walked", r.stack_reuse.walked},
                      {"reused", r.stack_reuse.reused},     {"checked", r.stack_reuse.checked},
                      {"changed", r.stack_reuse.changed},   {"suspect", r.stack_reuse.suspect}};
  auto summaries = [](const std::map<std::string, Summary>& m) {
    json o = json::object();
    for (const auto& [k, s] : m) o[k] = {{"bytes", s.bytes}, {"count", s.count}};
    return o;
  };
  j["user_memory"] = summaries(r.user_memory);
  j["backing"] = summaries(r.backing);
  j["user_memory_untracked"] = {{"bytes", r.user_untracked.bytes}, {"count", r.user_untracked.count}};
  j["stacks"] = groups(r.stacks);
  j["churn"] = groups(r.churn);
  j["churn_total"] = r.churn_total;
  json rec = json::array();
  for (const auto& row : r.reconciliation)
    rec.push_back({{"line", meminfo_part_name(row.line)},
                   {"label", row.label},
                   {"moved_kb", row.moved_kb},
                   {"explained_kb", row.explained_kb},
                   {"unexplained_kb", row.moved_kb - row.explained_kb},
                   {"categories", row.categories},
                   {"partial", row.partial}});
  j["reconciliation"] = rec;
  j["reconciliation_note"] =
      r.reconciliation_caveat.empty() ? r.reconciliation_note : r.reconciliation_caveat + " " + r.reconciliation_note;
  json cats = json::object();
  for (const auto& [k, v] : r.by_category) cats[std::string(category_name(k))] = {{"bytes", v.bytes}, {"count", v.count}};
  j["by_category"] = cats;
  // comm and cache names are raw kernel bytes: a 15-byte comm can cut a UTF-8 character.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace kleak
