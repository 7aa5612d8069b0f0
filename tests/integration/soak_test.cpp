// Soak: the heaviest workload we have (pipe create/fill/close churn) plus constant task churn,
// with the tracer on. No crash, bounded RSS, losses reported, planted allocations still right.
// 20 s here; KLEAK_SOAK_SECONDS=600 gives the 10-minute run.
#include <gtest/gtest.h>

#include <fstream>

#include "harness.h"

namespace kleak::test {
namespace {

uint64_t peak_rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string k;
  uint64_t v = 0;
  while (in >> k) {
    if (k == "VmHWM:") {
      in >> v;
      return v;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

TEST(Soak, ChurnAndForksForAWhile) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  int seconds = std::getenv("KLEAK_SOAK_SECONDS") ? std::atoi(std::getenv("KLEAK_SOAK_SECONDS")) : 20;
  Tracing t({"--duration", "1h", "--format", "json", "--top", "1000", "--interval", "5s", "-o",
             ::testing::TempDir() + "kleak-soak.json"});
  std::map<std::string, std::string> planted;
  uint64_t rss_kb = 0;
  {
    Planter p({"--pipes", "300", "--fill", "60000", "--churn-seconds", std::to_string(seconds)});
    planted = p.values;
    // Task churn: a process a millisecond or so, for the whole soak.
    Child forks({"/bin/sh", "-c", "end=$(( $(date +%s) + " + std::to_string(seconds) +
                                      " )); while [ $(date +%s) -lt $end ]; do /bin/true; done"});
    forks.close_stdin();
    EXPECT_EQ(forks.wait(), 0);
    rss_kb = peak_rss_kb(t.pid());
    EXPECT_EQ(t.stop(), 0) << t.err();
  }
  // The last report in the file is the final one.
  std::ifstream in(::testing::TempDir() + "kleak-soak.json");
  std::string all((std::istreambuf_iterator<char>(in)), {});
  auto last = all.rfind("\n{\n");
  nlohmann::json r = nlohmann::json::parse(last == std::string::npos ? all : all.substr(last + 1));
  // Every cause is reported, whatever it counted.
  for (const char* cause : {"alloc_map_full", "stack_collision", "stack_lost", "free_recursion_misses",
                            "bulk_frees_truncated"})
    EXPECT_TRUE(r["dropped"].contains(cause)) << cause;
  // Unseen frees are not losses: they are reported on their own.
  EXPECT_FALSE(r["dropped"].contains("missed_free_address_reused"));
  EXPECT_TRUE(r.contains("unseen_frees"));
  // Every free and every allocation seen ends in exactly one named bucket (6.28 M of 109.7 M
  // frees were in none before).
  expect_events_add_up(r);
  EXPECT_GT(r["events"]["allocs_seen"].get<uint64_t>(), 100000u);
  // The planted pipes are still found, within 2%, under all that churn.
  Found f = find_stacks(r, "page", pipe_write_function());
  EXPECT_TRUE(within(static_cast<double>(f.bytes), std::stod(planted.at("pipe_page_bytes")), 0.02))
      << r["dropped"].dump() << r["stacks"].dump(1).substr(0, 2000);
  // Bounded: the tracer's own peak RSS.
  EXPECT_GT(rss_kb, 0u);
  EXPECT_LT(rss_kb, 300u * 1024) << "kleak peak RSS " << rss_kb << " kB";
  RecordProperty("kleak_peak_rss_kb", std::to_string(rss_kb));
}

}  // namespace
}  // namespace kleak::test
