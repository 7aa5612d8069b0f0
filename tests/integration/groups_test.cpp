// Who holds it: --cgroup, --by and churn, against allocations planted on the real kernel. The
// dentry case reproduces the seeds' story (002): a container's dentries growing, found with one
// command instead of a SystemTap script counting d_alloc against d_free.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "harness.h"

namespace kleak::test {
namespace {

using nlohmann::json;

TEST(Groups, CgroupKeepsOnlyTheTasksInside) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  ScopedCgroup cg;
  Tracing t({"--duration", "1h", "--format", "json", "--top", "1000", "--cgroup", cg.path(), "--by",
             "cgroup,stack"});
  std::map<std::string, std::string> inside;
  {
    Planter in({"--eventfds", "300"}, cg.path());
    Planter out({"--eventfds", "200"});
    inside = in.values;
    ASSERT_EQ(t.stop(), 0) << t.err();
  }
  json r = t.json();
  std::string want = "/" + std::filesystem::path(cg.path()).filename().string();
  // Every group holding memory is the cgroup's (frees of objects from before the window, done
  // by tasks inside, form groups of their own with nothing outstanding).
  for (const auto& s : r["stacks"])
    if (s["count"] != 0) EXPECT_EQ(s["group"]["cgroup"], want) << s.dump();
  Found f = find_stacks(r, "kmalloc", "do_eventfd");
  EXPECT_TRUE(within(static_cast<double>(f.count), 300, 0.10)) << r.dump(1).substr(0, 3000);
  EXPECT_TRUE(within(static_cast<double>(f.bytes), std::stod(inside.at("eventfd_bytes_alloc")), 0.10));
}

// The churn counts are exact: every allocation of the window is counted once in its group,
// whether its call site's remembered group matched (the fast path, one process after the other
// at the same site) or not (the second process's first allocations there), and every free of one
// found. Two planters, one after the other, through do_eventfd's kmalloc; all released inside
// the window, so their groups are in the churn view with nothing outstanding.
TEST(Groups, ChurnCountsEachAllocationOfTheWindowOnce) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  Tracing t({"--duration", "1h", "--format", "json", "--top", "100000", "--kinds", "kmalloc",
             "--filter", "comm == \"kleak-planter\""});
  const uint64_t a = 700, b = 300;
  for (uint64_t n : {a, b}) {
    Planter p({"--eventfds", std::to_string(n)});
    p.release();
  }
  ASSERT_EQ(t.stop(), 0) << t.err();
  json r = t.json();
  uint64_t allocs = 0, frees = 0, held = 0;
  for (const char* list : {"stacks", "churn"})
    for (const auto& s : r[list]) {
      // struct eventfd_ctx's kmalloc, called from do_eventfd itself (not the fd table or the
      // slab's own metadata, which it may also cause).
      if (s["frames"].empty() || s["frames"][0].get<std::string>().rfind("do_eventfd+", 0) != 0) continue;
      allocs += s["allocs"].get<uint64_t>();
      frees += s["frees"].get<uint64_t>();
      held += s["count"].get<uint64_t>();
    }
  EXPECT_EQ(allocs, a + b) << r["churn"].dump(1).substr(0, 4000);
  EXPECT_EQ(frees, a + b) << r["churn"].dump(1).substr(0, 4000);
  EXPECT_EQ(held, 0u);
}

// N negative dentries: stat() of missing short names in a fresh directory.
void negative_dentries(const std::string& dir, int n) {
  struct stat st {};
  for (int i = 0; i < n; ++i) stat((dir + "/m" + std::to_string(i)).c_str(), &st);
}

uint64_t dentry_count(const json& r, uint64_t* frees = nullptr, uint64_t* allocs = nullptr) {
  // A dentry group that holds nothing at the end is in the churn view, not among the holders.
  for (const char* list : {"stacks", "churn"})
    for (const auto& s : r[list])
      if (s["group"]["cache"] == "dentry") {
        if (frees) *frees = s["frees"];
        if (allocs) *allocs = s["allocs"];
        return s["count"];
      }
  return 0;
}

TEST(Groups, DentryGrowthByCacheAndItsChurn) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  if (std::string why = slab_cache_filter_refused(); !why.empty()) GTEST_SKIP() << why;
  const int n = 4000;
  std::string dir = ::testing::TempDir() + "kleak-dentries-" + std::to_string(getpid());
  std::filesystem::create_directory(dir);
  {
    Tracing t({"--duration", "1h", "--format", "json", "--top", "1000", "--by", "cache"});
    negative_dentries(dir, n);
    ASSERT_EQ(t.stop(), 0) << t.err();
    uint64_t count = dentry_count(t.json());
    EXPECT_GE(count, static_cast<uint64_t>(n)) << t.out().substr(0, 3000);
    EXPECT_TRUE(within(static_cast<double>(count), n, 0.10)) << t.out().substr(0, 3000);
  }
  // The filter keeps exactly that growth, under d_alloc.
  std::string dir2 = dir + "-2";
  std::filesystem::create_directory(dir2);
  {
    Tracing t({"--duration", "1h", "--format", "json", "--top", "1000", "--filter", "cache == \"dentry\""});
    negative_dentries(dir2, n);
    ASSERT_EQ(t.stop(), 0) << t.err();
    json r = t.json();
    uint64_t total = 0, under_d_alloc = 0;
    for (const auto& s : r["stacks"]) {
      EXPECT_EQ(s["cache"], "dentry");
      total += s["count"].get<uint64_t>();
      for (const auto& f : s["frames"])
        if (f.get<std::string>().find("d_alloc") != std::string::npos) {
          under_d_alloc += s["count"].get<uint64_t>();
          break;
        }
    }
    EXPECT_TRUE(within(static_cast<double>(under_d_alloc), n, 0.10)) << r.dump(1).substr(0, 3000);
    EXPECT_TRUE(within(static_cast<double>(total), n, 0.10));
  }
  // Deleting the directory frees them: the outstanding count falls, the frees show as churn.
  std::string dir3 = dir + "-3";
  std::filesystem::create_directory(dir3);
  {
    Tracing t({"--duration", "1h", "--format", "json", "--top", "1000", "--by", "cache"});
    negative_dentries(dir3, n);
    std::filesystem::remove(dir3);
    usleep(300000);  // dentries are freed after an RCU grace period
    ASSERT_EQ(t.stop(), 0) << t.err();
    uint64_t frees = 0, allocs = 0;
    uint64_t count = dentry_count(t.json(), &frees, &allocs);
    EXPECT_LT(count, static_cast<uint64_t>(n / 10)) << t.out().substr(0, 3000);
    EXPECT_GE(allocs, static_cast<uint64_t>(n));
    EXPECT_GE(frees, static_cast<uint64_t>(0.9 * n));
  }
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(dir2);
}

TEST(Groups, CallsiteGroupsPipeResizeKmallocs) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  Tracing t({"--duration", "1h", "--format", "json", "--top", "1000", "--by", "callsite", "--kinds", "kmalloc"});
  {
    Planter p({"--resized-pipes", "300"});
    ASSERT_EQ(t.stop(), 0) << t.err();
  }
  json r = t.json();
  uint64_t count = 0;
  for (const auto& s : r["stacks"])
    if (s["group"]["callsite"].get<std::string>().rfind("pipe_resize_ring+", 0) == 0) count += s["count"].get<uint64_t>();
  EXPECT_TRUE(within(static_cast<double>(count), 300, 0.10)) << r.dump(1).substr(0, 3000);
}

TEST(Groups, BadByAndCgroupAreOneLineErrors) {
  RunResult r = run({KLEAK_BIN, "trace", "--by", "stack,color"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("bad --by 'color'"), std::string::npos) << r.err;
  r = run({KLEAK_BIN, "trace", "--cgroup", "no/such/cgroup-here"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("no such cgroup"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace kleak::test
