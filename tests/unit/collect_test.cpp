// Collect stage: the frees of a churn group are derived from its allocations in the window and
// its records still outstanding (the BPF free path only deletes the record).
#include <gtest/gtest.h>

#include <cstring>

#include "kleak/collect.h"

namespace kleak {
namespace {

AllocRecord rec(uint64_t key, int32_t stack, uint32_t tgid, const char* comm, uint64_t bytes) {
  AllocRecord r;
  r.key = key;
  r.a.stack_id = stack;
  r.a.tgid = tgid;
  r.a.bytes_alloc = bytes;
  r.a.kind = KLEAK_KIND_KMALLOC;
  std::strncpy(r.a.comm, comm, sizeof r.a.comm - 1);
  return r;
}

std::pair<kleak_churn_key, kleak_churn> group_of(const AllocRecord& r, uint64_t allocs, uint64_t bytes) {
  kleak_churn_key k{};
  kleak_churn_key_of(&k, &r.a);
  kleak_churn v{};
  v.allocs = allocs;
  v.alloc_bytes = bytes;
  return {k, v};
}

TEST(Collect, FreesAreAllocationsMinusWhatIsStillHeld) {
  std::vector<AllocRecord> allocs = {rec(1, 7, 100, "cat", 64), rec(2, 7, 100, "cat", 64),
                                     rec(3, 9, 200, "dd", 512)};
  std::vector<std::pair<kleak_churn_key, kleak_churn>> churn = {
      group_of(allocs[0], 10, 640),  // 10 allocated, 2 still held: 8 freed
      group_of(allocs[2], 1, 512),   // the one allocated is held: none freed
  };
  // Same stack, another process: a group of its own, everything freed.
  auto other = rec(4, 7, 101, "cat", 64);
  churn.push_back(group_of(other, 5, 320));
  derive_window_frees(allocs, churn);
  EXPECT_EQ(churn[0].second.frees, 8u);
  EXPECT_EQ(churn[0].second.free_bytes, 512u);
  EXPECT_EQ(churn[1].second.frees, 0u);
  EXPECT_EQ(churn[1].second.free_bytes, 0u);
  EXPECT_EQ(churn[2].second.frees, 5u);
  EXPECT_EQ(churn[2].second.free_bytes, 320u);
}

TEST(Collect, PreWindowFreesAreLeftAsCountedAndNothingGoesNegative) {
  std::vector<AllocRecord> allocs = {rec(1, 7, 100, "cat", 64), rec(2, 7, 100, "cat", 64)};
  std::vector<std::pair<kleak_churn_key, kleak_churn>> churn;
  // A record inserted after its churn group was read: more held than counted.
  churn.push_back(group_of(allocs[0], 1, 64));
  kleak_churn_key pre{};
  pre.stack_id = KLEAK_STACK_PREWINDOW;
  pre.cache = 0xffff888000001000ull;
  pre.kind = KLEAK_KIND_SLAB;
  kleak_churn pv{};
  pv.frees = 42;
  churn.emplace_back(pre, pv);
  derive_window_frees(allocs, churn);
  EXPECT_EQ(churn[0].second.frees, 0u);
  EXPECT_EQ(churn[0].second.free_bytes, 0u);
  EXPECT_EQ(churn[1].second.frees, 42u);
}

}  // namespace
}  // namespace kleak
