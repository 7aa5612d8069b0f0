// Collect stage: what the drain computes from the maps it read, as pure functions of them.
#include "kleak/collect.h"

#include <cstring>
#include <vector>

namespace kleak {

size_t HeldByChurnGroup::KeyHash::operator()(const kleak_churn_key& k) const {
  // The key has no padding hole (abi.h checks it): six words, mixed.
  uint64_t w[sizeof k / 8];
  std::memcpy(w, &k, sizeof k);
  uint64_t h = 0;
  for (uint64_t v : w) h = (h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2))) * 0xff51afd7ed558ccdull;
  return static_cast<size_t>(h);
}

bool HeldByChurnGroup::KeyEq::operator()(const kleak_churn_key& a, const kleak_churn_key& b) const {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

HeldByChurnGroup::HeldByChurnGroup(const std::vector<std::pair<kleak_churn_key, kleak_churn>>& churn) {
  // Indexed by the churn groups (at most --max-churn), not by the records (up to --max-allocs):
  // each record is one lookup, and a drain without churn groups costs nothing here.
  held_.reserve(churn.size());
  for (const auto& [k, v] : churn)
    if (k.stack_id != KLEAK_STACK_PREWINDOW) held_.try_emplace(k, 0, 0);
}

void HeldByChurnGroup::add(std::span<const AllocRecord> records) {
  if (held_.empty()) return;
  for (const auto& r : records) {
    kleak_churn_key k{};
    kleak_churn_key_of(&k, &r.a);
    auto it = held_.find(k);
    if (it == held_.end()) continue;
    it->second.first += kleak_weight(&r.a);  // churn counts are weighted in BPF too
    it->second.second += r.a.bytes_alloc * kleak_weight(&r.a);
  }
}

void HeldByChurnGroup::derive_frees(std::vector<std::pair<kleak_churn_key, kleak_churn>>& churn) const {
  for (auto& [k, v] : churn) {
    if (k.stack_id == KLEAK_STACK_PREWINDOW) continue;
    auto it = held_.find(k);
    if (it == held_.end()) continue;
    auto [n, b] = it->second;
    v.frees += v.allocs > n ? v.allocs - n : 0;
    v.free_bytes += v.alloc_bytes > b ? v.alloc_bytes - b : 0;
  }
}

void derive_window_frees(const std::vector<AllocRecord>& allocs,
                         std::vector<std::pair<kleak_churn_key, kleak_churn>>& churn) {
  HeldByChurnGroup held(churn);
  held.add(allocs);
  held.derive_frees(churn);
}

}  // namespace kleak
