// Growing, steady, released: the verdict rule on samples made by hand.
#include <gtest/gtest.h>

#include "kleak/error.h"
#include "kleak/verdict.h"
#include "frame_text.h"

using namespace kleak;

namespace {

StackGroup group(const std::string& frame, uint64_t bytes) {
  StackGroup g;
  g.kind = "page";
  g.category = "pipe";
  g.frames = {kleak::test::frame(frame)};
  g.bytes = bytes;
  g.count = bytes / 4096;
  return g;
}

Report sample(std::initializer_list<std::pair<const char*, uint64_t>> groups) {
  Report r;
  for (auto [f, b] : groups) r.stacks.push_back(group(f, b));
  return r;
}

}  // namespace

TEST(Verdict, ASmallSteadyLeakRanksAboveABigSteadyCache) {
  GrowthTracker t;
  // "leak": +4 KiB every second; "cache": 50 MiB all along; "burst": came and went.
  for (int i = 0; i < 10; ++i)
    t.add(i, sample({{"leak+0x1", 4096ull * (i + 1)}, {"cache+0x1", 50ull << 20}, {"burst+0x1", i < 5 ? (8ull << 20) : 4096}}));
  Report final = sample({{"cache+0x1", 50ull << 20}, {"leak+0x1", 4096ull * 10}, {"burst+0x1", 4096}});
  t.annotate(final, SortBy::growth);
  ASSERT_EQ(final.stacks.size(), 3u);
  EXPECT_EQ(final.stacks[0].frames[0].text(), "leak+0x1");
  EXPECT_EQ(final.stacks[0].verdict, "growing");
  EXPECT_NEAR(final.stacks[0].growth_bytes_per_s, 4096, 1);
  EXPECT_DOUBLE_EQ(final.stacks[0].grew_fraction, 1.0);
  EXPECT_EQ(final.stacks[1].frames[0].text(), "cache+0x1");
  EXPECT_EQ(final.stacks[1].verdict, "steady");
  EXPECT_EQ(final.stacks[2].verdict, "released");
  EXPECT_EQ(final.stacks[0].series.size(), 10u);
  EXPECT_EQ(final.sort, "growth");
}

TEST(Verdict, GroupsAbsentFromASampleHeldNothingThen) {
  GrowthTracker t;
  t.add(0, sample({}));
  t.add(1, sample({{"late+0x1", 4096}}));
  t.add(2, sample({{"late+0x1", 8192}}));
  Report final = sample({{"late+0x1", 8192}});
  t.annotate(final, SortBy::bytes);
  EXPECT_EQ(final.stacks[0].series, (std::vector<uint64_t>{0, 4096, 8192}));
  EXPECT_EQ(final.stacks[0].verdict, "growing");
}

TEST(Verdict, SortKeysAndBadSort) {
  std::vector<StackGroup> g{group("a+0x1", 10), group("b+0x1", 30), group("c+0x1", 20)};
  g[0].oldest_age_s = 9;
  g[0].count = 100;
  sort_groups(g, SortBy::bytes);
  EXPECT_EQ(g[0].frames[0].text(), "b+0x1");
  sort_groups(g, SortBy::age);
  EXPECT_EQ(g[0].frames[0].text(), "a+0x1");
  sort_groups(g, SortBy::count);
  EXPECT_EQ(g[0].frames[0].text(), "a+0x1");
  EXPECT_THROW(parse_sort("size"), kleak::Error);
}
