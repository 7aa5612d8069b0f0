// What the BPF side hands to userspace: plain value types, filled by the loader's drain and made
// by hand in unit tests. Nothing here touches the kernel.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "kleak/abi.h"

namespace kleak {

// One outstanding allocation as read from the `allocs` map.
struct AllocRecord {
  uint64_t key = 0;
  kleak_alloc a{};
};

// Per-program statistics from bpf_prog_info.
struct ProgStat {
  std::string event;        // "kmem:kfree"
  bool is_free = false;     // a free handler: each of its misses can invent a leak
  uint64_t recursion_misses = 0;
};

using Counters = std::array<uint64_t, KLEAK_NR_COUNTERS>;

inline uint64_t counter(const Counters& c, int kind, int cause) {
  return c[static_cast<size_t>(kind) * KLEAK_CAUSE_MAX + static_cast<size_t>(cause)];
}

// One cause summed over every kind.
inline uint64_t counter_total(const Counters& c, int cause) {
  uint64_t s = 0;
  for (int k = 0; k < KLEAK_KIND_MAX; ++k) s += counter(c, k, cause);
  return s;
}

// Everything drained from the maps at one instant.
struct Collected {
  std::vector<AllocRecord> allocs;
  std::unordered_map<int32_t, std::vector<uint64_t>> stacks;  // stack id -> return addresses
  std::unordered_map<uint64_t, std::string> caches;           // kmem_cache key -> name
  std::vector<std::pair<kleak_churn_key, kleak_churn>> churn;  // allocs/frees per group
  // Frees kleak did not see, by the stack that allocated the object: records found still held
  // when their address was allocated again (the `unseen` map; KLEAK_ALLOC_REPLACED in total).
  std::unordered_map<int32_t, uint64_t> unseen_frees;
  Counters counters{};
  std::vector<ProgStat> progs;
  uint64_t now_ns = 0;          // CLOCK_MONOTONIC (bpf_ktime_get_ns) at the drain
  uint64_t window_start_ns = 0; // when the programs were attached
  uint64_t dropped_in_drain = 0; // records that could not be read (should stay 0)
  uint32_t sample_every = 1;     // --sample N: 1 in N addresses tracked; scale by N
  uint32_t stack_reuse = 1;      // --stack-reuse N: longest run of allocations per stack walk
};

// Where a drain hands its records, a batch at a time (Tracer::drain_into): 1 M records are 104 MB,
// so the report folds them in as they are read and never holds them all.
using RecordSink = std::function<void(std::span<const AllocRecord>)>;

// The BPF free path only deletes a record, so the frees of a churn group's window allocations
// are derived here: its allocations in the window minus its records still outstanding. Adds
// them to `churn` in place (pre-window groups are left as the free events counted them). Churn
// is read after the records, so an allocation made in between counts as allocated, not freed:
// clamped at 0.
void derive_window_frees(const std::vector<AllocRecord>& allocs,
                         std::vector<std::pair<kleak_churn_key, kleak_churn>>& churn);

// derive_window_frees with the records fed a batch at a time: what it keeps is one count per
// churn group known at construction (at most --max-churn), never the records.
class HeldByChurnGroup {
 public:
  explicit HeldByChurnGroup(const std::vector<std::pair<kleak_churn_key, kleak_churn>>& churn);
  void add(std::span<const AllocRecord> records);
  // Adds the derived frees to the groups of `churn` that were known at construction; a group
  // born after that (during a live drain) keeps the frees BPF counted: none are invented.
  void derive_frees(std::vector<std::pair<kleak_churn_key, kleak_churn>>& churn) const;

 private:
  struct KeyHash {
    size_t operator()(const kleak_churn_key& k) const;
  };
  struct KeyEq {
    bool operator()(const kleak_churn_key& a, const kleak_churn_key& b) const;
  };
  std::unordered_map<kleak_churn_key, std::pair<uint64_t, uint64_t>, KeyHash, KeyEq> held_;  // records, bytes
};

}  // namespace kleak
