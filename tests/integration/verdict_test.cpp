// Leak or churn, live: one planter leaks a filled pipe every 100 ms, another holds 50 MB of
// pipes all along. Ranked by growth, the small leaker comes first, verdict growing; the big
// holder is steady.
#include <gtest/gtest.h>

#include "harness.h"

namespace kleak::test {
namespace {

using nlohmann::json;

TEST(Verdict, ASlowLeakRanksAboveABigSteadyHolder) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  Tracing t({"--duration", "6s", "--format", "json", "--top", "20", "--by", "pid,stack", "--kinds", "page"});
  std::string holder_pid, leaker_pid;
  {
    Planter holder({"--pipes", "850", "--fill", "60000"});  // 52 MB
    Planter leaker({"--pipes", "0", "--leak-every", "100", "--leak-pipes-max", "1000"});
    holder_pid = holder.values.at("pid");
    leaker_pid = leaker.values.at("pid");
    EXPECT_EQ(t.wait(), 0) << t.err();
  }
  json r = t.json();
  ASSERT_FALSE(r["stacks"].empty());
  EXPECT_EQ(r["sort"], "growth");
  EXPECT_GE(r["sample_times_s"].size(), 10u);
  const json& first = r["stacks"][0];
  EXPECT_EQ(first["group"]["pid"], leaker_pid) << r["stacks"].dump(1).substr(0, 3000);
  EXPECT_EQ(first["verdict"], "growing");
  EXPECT_GT(first["growth_bytes_per_min"].get<double>(), 0.5 * 60 * 10 * 61440);  // ~10 pipes/s
  bool holder_seen = false;
  for (const auto& s : r["stacks"])
    if (s["group"]["pid"] == holder_pid && s["bytes"].get<uint64_t>() > 50'000'000) {
      holder_seen = true;
      EXPECT_EQ(s["verdict"], "steady") << s.dump();
    }
  EXPECT_TRUE(holder_seen) << r["stacks"].dump(1).substr(0, 3000);
}

}  // namespace
}  // namespace kleak::test
