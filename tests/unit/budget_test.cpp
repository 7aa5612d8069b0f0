// --max-cpu: what the budget does with measurements made by hand.
#include <gtest/gtest.h>

#include "session/budget.h"
#include "kleak/error.h"

using namespace kleak;

namespace {

// One second at `cpu_pct` of a CPU over `events` events (ns per event: what a raise is judged on).
BudgetSample at(double t, double cpu_pct, std::map<std::string, double> fam = {}, double events = 1e6) {
  BudgetSample s;
  s.t_s = t;
  s.interval_s = 1;
  s.bpf_ns = cpu_pct / 100 * 1e9;
  s.events = events;
  s.family_ns = std::move(fam);
  return s;
}

}  // namespace

TEST(Budget, RaisesSamplingThenDetachesTheCostliestFamilyWhenRaisingStopsHelping) {
  Budget b(5, 1);
  std::map<std::string, double> fam{{"page", 3e8}, {"kmalloc", 1e7}};
  auto a = b.step(at(1, 31, fam), 1, 5);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->what, BudgetAction::What::raise_sampling);
  EXPECT_EQ(a->sample_every, 4u);  // more than twice over: x4
  EXPECT_FALSE(b.step(at(2, 30, fam), 4, 5));  // settling: that interval began before the change
  // Still over, and the raise bought less than a fifth per event: the per-event cost dominates.
  a = b.step(at(3, 29, fam), 4, 5);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->what, BudgetAction::What::detach);
  EXPECT_EQ(a->family, "page");
}

TEST(Budget, KeepsRaisingWhileItHelpsAndLowersAgainWhenCalm) {
  Budget b(5, 1);
  auto a = b.step(at(1, 8), 1, 3);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->sample_every, 2u);
  EXPECT_FALSE(b.step(at(2, 7), 2, 3));
  a = b.step(at(3, 6), 2, 3);  // 6 < 0.8 x 8: it helped, raise again
  ASSERT_TRUE(a);
  EXPECT_EQ(a->what, BudgetAction::What::raise_sampling);
  EXPECT_EQ(a->sample_every, 4u);
  EXPECT_FALSE(b.step(at(4, 2), 4, 3));  // settling
  EXPECT_FALSE(b.step(at(5, 2), 4, 3));
  EXPECT_FALSE(b.step(at(6, 2), 4, 3));
  a = b.step(at(7, 2), 4, 3);  // three calm intervals under half the budget
  ASSERT_TRUE(a);
  EXPECT_EQ(a->what, BudgetAction::What::lower_sampling);
  EXPECT_EQ(a->sample_every, 2u);
}

// The workload doubled meanwhile: more CPU in all, but far less per event, and what is left per
// event (13 ns fixed, from the two rates) fits the budget at a higher rate: raise, not detach.
TEST(Budget, ARaiseIsJudgedPerEventNotOnTheTotal) {
  Budget b(5, 1);
  std::map<std::string, double> fam{{"slab", 2e8}, {"page", 1e8}};
  ASSERT_TRUE(b.step(at(1, 20, fam, 1e6), 1, 3));  // 200 ns per event: 1 in 4
  EXPECT_FALSE(b.step(at(2, 25, fam, 2e6), 4, 3));
  auto a = b.step(at(3, 12, fam, 2e6), 4, 3);      // 60 ns per event
  ASSERT_TRUE(a);
  EXPECT_EQ(a->what, BudgetAction::What::raise_sampling);
  EXPECT_EQ(a->sample_every, 16u);
}

TEST(Budget, NeverBelowSampleAndNeverTheLastFamily) {
  Budget b(5, 8);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(b.step(at(i, 1), 8, 2)) << i;  // at --sample 8 already
  Budget last(5, 1);
  auto a = last.step(at(1, 50, {{"page", 5e8}}), Budget::kMaxSampleEvery, 1);
  EXPECT_FALSE(a);  // one family left, sampling at its most: nothing more to give up
}

TEST(Budget, ParsesPercentOfOneCpu) {
  EXPECT_DOUBLE_EQ(parse_max_cpu("5%"), 5);
  EXPECT_DOUBLE_EQ(parse_max_cpu("0.5"), 0.5);
  for (const char* bad : {"", "%", "-1%", "0", "five", "5%%", "1e9"}) EXPECT_THROW(parse_max_cpu(bad), kleak::Error) << bad;
}
