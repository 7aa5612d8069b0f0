// kleak diff: the groups of two reports matched by identity, B minus A, biggest change first.
#include "kleak/diff.h"

#include <algorithm>
#include <cstdlib>
#include <map>

namespace kleak {

ReportDiff diff_reports(const Report& ra, const Report& rb, std::string a_name, std::string b_name,
                        size_t top) {
  struct Pair {
    const StackGroup* a = nullptr;
    const StackGroup* b = nullptr;
  };
  std::map<std::string, Pair> pairs;
  for (const auto& g : ra.stacks) pairs[group_key(g)].a = &g;
  for (const auto& g : rb.stacks) pairs[group_key(g)].b = &g;
  ReportDiff d;
  d.a = std::move(a_name);
  d.b = std::move(b_name);
  d.a_total_bytes = ra.total_bytes;
  d.b_total_bytes = rb.total_bytes;
  for (const auto& [k, p] : pairs) {
    GroupDiffRow row;
    row.group = p.b ? *p.b : *p.a;
    row.a_bytes = p.a ? p.a->bytes : 0;
    row.a_count = p.a ? p.a->count : 0;
    row.b_bytes = p.b ? p.b->bytes : 0;
    row.b_count = p.b ? p.b->count : 0;
    if (row.delta_bytes() != 0 || row.delta_count() != 0) d.rows.push_back(std::move(row));
  }
  std::sort(d.rows.begin(), d.rows.end(), [](const GroupDiffRow& x, const GroupDiffRow& y) {
    return std::llabs(x.delta_bytes()) > std::llabs(y.delta_bytes());
  });
  if (d.rows.size() > top) d.rows.resize(top);
  return d;
}

}  // namespace kleak
