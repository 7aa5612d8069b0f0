// The report value's own vocabulary: --by dimension names.
#include <algorithm>

#include "kleak/error.h"
#include "kleak/report.h"

namespace kleak {

std::string_view budget_action_name(BudgetAction::What w) {
  switch (w) {
    case BudgetAction::What::raise_sampling: return "raise_sampling";
    case BudgetAction::What::lower_sampling: return "lower_sampling";
    case BudgetAction::What::detach: return "detach";
  }
  return "raise_sampling";
}

std::vector<GroupBy> parse_group_by(std::string_view list) {
  std::vector<GroupBy> out;
  while (true) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    static constexpr std::pair<std::string_view, GroupBy> kNames[] = {
        {"stack", GroupBy::stack}, {"callsite", GroupBy::callsite}, {"cache", GroupBy::cache},
        {"comm", GroupBy::comm},   {"pid", GroupBy::pid},           {"cgroup", GroupBy::cgroup}};
    auto it = std::find_if(std::begin(kNames), std::end(kNames), [&](auto& p) { return p.first == item; });
    if (it == std::end(kNames))
      throw usage_error("bad --by '" + std::string(item) + "' (use stack, callsite, cache, comm, pid, cgroup, "
                        "or several joined by commas)");
    if (std::find(out.begin(), out.end(), it->second) == out.end()) out.push_back(it->second);
    if (comma == std::string_view::npos) break;
    list = list.substr(comma + 1);
  }
  return out;
}

std::string_view group_by_name(GroupBy g) {
  switch (g) {
    case GroupBy::stack: return "stack";
    case GroupBy::callsite: return "callsite";
    case GroupBy::cache: return "cache";
    case GroupBy::comm: return "comm";
    case GroupBy::pid: return "pid";
    case GroupBy::cgroup: return "cgroup";
  }
  return "stack";
}

std::string group_key(std::string_view kind, std::string_view category, std::span<const Frame> frames,
                      const std::map<std::string, std::string>& dims) {
  std::string k;
  k.reserve(64 * (frames.size() + 1));
  k += kind;
  k += '\n';
  k += category;
  k += '\n';
  for (const auto& f : frames) {
    k += f.text();
    k += '\n';
  }
  for (const auto& [d, v] : dims) {
    k += d;
    k += '=';
    k += v;
    k += '\n';
  }
  return k;
}

std::vector<std::string> frame_texts(const StackGroup& g) {
  std::vector<std::string> out;
  out.reserve(g.frames.size());
  for (const auto& f : g.frames) out.push_back(f.text());
  return out;
}

}  // namespace kleak
