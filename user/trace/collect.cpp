// Collect stage: what the drain computes from the maps it read, as pure functions of them.
#include "kleak/collect.h"

#include <cstring>
#include <map>

namespace kleak {

void derive_window_frees(const std::vector<AllocRecord>& allocs,
                         std::vector<std::pair<kleak_churn_key, kleak_churn>>& churn) {
  auto key_less = [](const kleak_churn_key& a, const kleak_churn_key& b) {
    return std::memcmp(&a, &b, sizeof a) < 0;
  };
  std::map<kleak_churn_key, std::pair<uint64_t, uint64_t>, decltype(key_less)> held(key_less);
  for (const auto& r : allocs) {
    kleak_churn_key k{};
    kleak_churn_key_of(&k, &r.a);
    auto& h = held[k];
    h.first += 1;
    h.second += r.a.bytes_alloc;
  }
  for (auto& [k, v] : churn) {
    if (k.stack_id == KLEAK_STACK_PREWINDOW) continue;
    auto it = held.find(k);
    uint64_t n = it == held.end() ? 0 : it->second.first;
    uint64_t b = it == held.end() ? 0 : it->second.second;
    v.frees += v.allocs > n ? v.allocs - n : 0;
    v.free_bytes += v.alloc_bytes > b ? v.alloc_bytes - b : 0;
  }
}

}  // namespace kleak
