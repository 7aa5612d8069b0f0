// The count name tables (counts.h): every enum value has one name, each name reads back to its
// value, and a count that sums a BPF counter carries that counter's name (abi.h's KLEAK_CAUSES).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "kleak/counts.h"
#include "kleak/meminfo_part.h"

namespace kleak {
namespace {

template <typename E, size_t N, typename FromName>
void expect_unique_names_that_round_trip(const std::array<CountName<E>, N>& rows, FromName from_name) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < N; ++i) {
    const E value = static_cast<E>(i);
    const std::string_view name = count_name(value);
    EXPECT_FALSE(name.empty()) << i;
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
    EXPECT_EQ(from_name(name), value) << name;
    EXPECT_EQ(rows[i].value, value) << name;
  }
  EXPECT_EQ(from_name("no_such_count"), std::nullopt);
}

TEST(CountNames, EveryLossHasAUniqueNameThatReadsBack) {
  expect_unique_names_that_round_trip(kLosses, loss_from_name);
}

TEST(CountNames, EveryEventCountHasAUniqueNameThatReadsBack) {
  expect_unique_names_that_round_trip(kEventCounts, event_count_from_name);
}

TEST(CountNames, EveryCauseHasAUniqueNameThatReadsBack) {
  std::set<std::string_view> names;
  for (int c = 0; c < KLEAK_CAUSE_MAX; ++c) {
    const auto cause = static_cast<kleak_cause>(c);
    EXPECT_TRUE(names.insert(cause_name(cause)).second) << cause_name(cause);
    EXPECT_EQ(cause_from_name(cause_name(cause)), cause);
  }
  EXPECT_EQ(cause_from_name("unknown"), std::nullopt);
}

// The names reports have always printed (docs/output.md): a rename here changes the JSON and the
// metrics, which other tools read.
TEST(CountNames, TheNamesReportsPrint) {
  EXPECT_EQ(count_name(Loss::alloc_map_full), "alloc_map_full");
  EXPECT_EQ(count_name(Loss::drain_incomplete), "drain_incomplete");
  EXPECT_EQ(count_name(Loss::free_recursion_misses), "free_recursion_misses");
  EXPECT_EQ(count_name(EventCount::frees_rescued_from_recursion), "frees_rescued_from_recursion");
  EXPECT_EQ(count_name(EventCount::outstanding_records), "outstanding_records");
  EXPECT_EQ(cause_name(KLEAK_ALLOC_FILTERED), "allocs_filtered_in_kernel");
  EXPECT_EQ(kLosses.size(), 9u);
  EXPECT_EQ(kEventCounts.size(), 15u);
}

// A count that sums a counter has the counter's name (also a static_assert in counts.h).
TEST(CountNames, CountsOfACounterShareItsName) {
  for (const auto& row : kLosses)
    if (row.cause != kNoCause) EXPECT_EQ(row.name, cause_name(static_cast<kleak_cause>(row.cause)));
  for (const auto& row : kEventCounts)
    if (row.cause != kNoCause) EXPECT_EQ(row.name, cause_name(static_cast<kleak_cause>(row.cause)));
}

// The meminfo parts (meminfo_part.h): the JSON's "parts"[].key, "reconciliation"[].line and a
// group's "meminfo_line".
TEST(CountNames, EveryMeminfoPartHasAUniqueNameThatReadsBack) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kMeminfoPartNames.size(); ++i) {
    const auto part = static_cast<MeminfoPart>(i);
    EXPECT_TRUE(names.insert(meminfo_part_name(part)).second) << meminfo_part_name(part);
    EXPECT_EQ(meminfo_part_from_name(meminfo_part_name(part)), part);
  }
  EXPECT_EQ(meminfo_part_from_name("slab_"), std::nullopt);
  EXPECT_EQ(meminfo_part_name(MeminfoPart::slab_unreclaimable), "slab_unreclaimable");
  EXPECT_EQ(meminfo_part_name(MeminfoPart::unaccounted), "unaccounted");
  EXPECT_TRUE(is_slab_part(MeminfoPart::slab_reclaimable));
  EXPECT_FALSE(is_slab_part(MeminfoPart::vmalloc));
}

}  // namespace
}  // namespace kleak
