// Collect stage: what the drain computes from the maps it read, as pure functions of them.
#include "kleak/collect.h"

#include <cstring>
#include <map>
#include <vector>

namespace kleak {

void derive_window_frees(const std::vector<AllocRecord>& allocs,
                         std::vector<std::pair<kleak_churn_key, kleak_churn>>& churn) {
  // Indexed by the churn groups (at most --max-churn), not by the records (up to --max-allocs):
  // each record is one lookup, and a drain without churn groups costs nothing here.
  auto key_less = [](const kleak_churn_key& a, const kleak_churn_key& b) {
    return std::memcmp(&a, &b, sizeof a) < 0;
  };
  std::map<kleak_churn_key, size_t, decltype(key_less)> group(key_less);
  for (size_t i = 0; i < churn.size(); ++i)
    if (churn[i].first.stack_id != KLEAK_STACK_PREWINDOW) group.emplace(churn[i].first, i);
  if (group.empty()) return;
  std::vector<std::pair<uint64_t, uint64_t>> held(churn.size());  // records, bytes still held
  for (const auto& r : allocs) {
    kleak_churn_key k{};
    kleak_churn_key_of(&k, &r.a);
    auto it = group.find(k);
    if (it == group.end()) continue;
    held[it->second].first += kleak_weight(&r.a);  // churn counts are weighted in BPF too
    held[it->second].second += r.a.bytes_alloc * kleak_weight(&r.a);
  }
  for (const auto& [k, i] : group) {
    kleak_churn& v = churn[i].second;
    auto [n, b] = held[i];
    v.frees += v.allocs > n ? v.allocs - n : 0;
    v.free_bytes += v.alloc_bytes > b ? v.alloc_bytes - b : 0;
  }
}

}  // namespace kleak
