// SLUB merged caches on the real kernel: the planter's AF_UNIX sockets are allocated from the
// cache /sys/kernel/slab/UNIX-STREAM links to, which the kernel (and BPF) reports under another
// name (signal_cache on the dev box). Before aliases were resolved, `--cache UNIX-STREAM` found
// nothing at all.
#include <gtest/gtest.h>

#include "harness.h"

namespace kleak::test {
namespace {

using nlohmann::json;

// The name the kernel reports for UNIX-STREAM's cache, or "" when it is not merged here.
std::string merged_unix_cache() {
  std::error_code ec;
  auto link = std::filesystem::read_symlink("/sys/kernel/slab/UNIX-STREAM", ec);
  if (ec) return "";
  return link.filename().string();
}

TEST(CacheAliases, AFilterOnAnAliasSelectsTheMergedCache) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  if (merged_unix_cache().empty()) GTEST_SKIP() << "UNIX-STREAM is not a merged cache on this kernel";
  if (std::string why = slab_cache_filter_refused(); !why.empty()) GTEST_SKIP() << why;
  // Only the planter: every fork allocates a signal_struct from the same merged cache.
  Tracing t({"--duration", "60s", "--cache", "UNIX-STREAM", "--filter", "comm == \"kleak-planter\"", "--format",
             "json", "--top", "0"});
  std::string unix_cache;
  uint64_t want = 0;
  {
    Planter p({"--sockets", "200"});
    unix_cache = p.values.at("unix_sock_cache");
    want = p.num("unix_sock_bytes_alloc");
    ASSERT_NE(unix_cache, "UNIX-STREAM");
    ASSERT_EQ(t.stop(), 0) << t.err();
  }
  EXPECT_NE(t.err().find("cache UNIX-STREAM is merged by SLUB into " + unix_cache), std::string::npos) << t.err();
  json j = t.json();
  Found f = find_stacks(j, "slab", "sk_prot_alloc");
  EXPECT_EQ(f.count, 200u) << j["stacks"].dump(1);
  EXPECT_EQ(f.bytes, want);
  for (const auto& s : j["stacks"]) {
    EXPECT_EQ(s["cache"], unix_cache);
    std::vector<std::string> aliases = s.value("aliases", std::vector<std::string>{});
    EXPECT_NE(std::find(aliases.begin(), aliases.end(), "UNIX-STREAM"), aliases.end()) << s.dump();
  }
}

TEST(CacheAliases, TextNamesTheMergedCacheWithItsAliases) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  if (merged_unix_cache().empty()) GTEST_SKIP() << "UNIX-STREAM is not a merged cache on this kernel";
  if (std::string why = slab_cache_filter_refused(); !why.empty()) GTEST_SKIP() << why;
  Tracing t({"--duration", "60s", "--filter", "cache == \"UNIX\" && comm == \"kleak-planter\"", "--top", "1"});
  std::string unix_cache;
  {
    Planter p({"--sockets", "50"});
    unix_cache = p.values.at("unix_sock_cache");
    ASSERT_EQ(t.stop(), 0) << t.err();
  }
  EXPECT_NE(t.out().find("cache=" + unix_cache + " (also "), std::string::npos) << t.out();
  EXPECT_NE(t.out().find("UNIX-STREAM"), std::string::npos) << t.out();
}

TEST(CacheAliases, AnUnknownCacheIsOneLine) {
  for (auto args : std::vector<std::vector<std::string>>{{"--cache", "no_such_cache"},
                                                         {"--filter", "cache == \"no_such_cache\""}}) {
    std::vector<std::string> argv{KLEAK_BIN, "trace", "--duration", "1s"};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult r = run(argv);
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(r.err, "kleak: no slab cache named 'no_such_cache' on this box (not in /proc/slabinfo nor "
                     "/sys/kernel/slab)\n");
  }
}

}  // namespace
}  // namespace kleak::test
