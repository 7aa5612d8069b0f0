// SLUB merged caches (slab_aliases.h) on a listing of this 6.18 box's /sys/kernel/slab, the cache
// filter resolved through them, and how reports name a merged cache.
#include "fixture_file.h"
#include "kleak/slab_aliases.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "session/cache_aliases.h"
#include "kleak/build_report.h"
#include "kleak/error.h"
#include "kleak/filter.h"
#include "kleak/render.h"
#include "kleak/symbolize.h"

namespace kleak {
namespace {

namespace fs = std::filesystem;
const fs::path kDir = fs::path(KLEAK_FIXTURES) / "slab" / "firecracker-6.18-x86_64";

using test::slurp;

SlabAliases fixture() {
  std::vector<std::string> names;
  for (auto& c : parse_slabinfo(slurp(kDir / "slabinfo")).caches) names.push_back(c.name);
  return resolve_slab_aliases(parse_slab_listing(slurp(kDir / "listing")), names);
}

TEST(SlabAliases, ParsesTheListing) {
  auto entries = parse_slab_listing("dentry\ndamon_region :0000056\n\n:0000056\n");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries["dentry"], "");
  EXPECT_EQ(entries["damon_region"], ":0000056");
}

// The issue: damon_region and ftrace_event_field both link to :0000056; the kernel reports
// ftrace_event_field (the name slabinfo lists).
TEST(SlabAliases, AnAliasNamesItsMergedCache) {
  SlabAliases a = fixture();
  EXPECT_EQ(a.merged_name("damon_region"), "ftrace_event_field");
  EXPECT_EQ(a.merged_name("ftrace_event_field"), "ftrace_event_field");
  EXPECT_EQ(a.aliases_of("ftrace_event_field"),
            (std::vector<std::string>{"Acpi-Parse", "btrfs_inode_defrag", "damon_region", "fanotify_mnt_event",
                                      "file_lock_ctx", "xfs_extfree_intent"}));
  EXPECT_EQ(a.merged_name("UNIX-STREAM"), "signal_cache");
  EXPECT_EQ(a.aliases_of("signal_cache"), (std::vector<std::string>{"UNIX", "UNIX-STREAM"}));
  // Caches of their own, and a shared directory that only its own cache links to.
  EXPECT_EQ(a.merged_name("dentry"), "dentry");
  EXPECT_TRUE(a.aliases_of("dentry").empty());
  EXPECT_EQ(a.merged_name("files_cache"), "files_cache");
  EXPECT_TRUE(a.aliases_of("files_cache").empty());
  EXPECT_EQ(a.merged_name(":0000056"), "");
  EXPECT_EQ(a.merged_name("no_such_cache"), "");
}

// Without slabinfo the reported name of a group cannot be told: the group is left out rather
// than guessed.
TEST(SlabAliases, AGroupWithoutASlabinfoNameIsLeftOut) {
  SlabAliases a = resolve_slab_aliases(parse_slab_listing("a :0000056\nb :0000056\nc\n"), {});
  EXPECT_EQ(a.merged_name("a"), "");
  EXPECT_EQ(a.merged_name("c"), "c");
  a = resolve_slab_aliases(parse_slab_listing("a ../slab/:0000056\nb :0000056\n"), {"b"});
  EXPECT_EQ(a.merged_name("a"), "b");
}

TEST(SlabAliases, SelectCache) {
  SlabAliases a = fixture();
  CacheSelection s = select_cache(a, "damon_region");
  EXPECT_EQ(s.reported, "ftrace_event_field");
  EXPECT_TRUE(s.renamed);
  EXPECT_EQ(s.sharing, (std::vector<std::string>{"Acpi-Parse", "btrfs_inode_defrag", "damon_region",
                                                 "fanotify_mnt_event", "file_lock_ctx", "xfs_extfree_intent"}));
  s = select_cache(a, "dentry");
  EXPECT_EQ(s.reported, "dentry");
  EXPECT_FALSE(s.renamed);
  // kleak names kmalloc records by size in bytes; the kernel's `kmalloc-1k` is kleak's kmalloc-1024.
  s = select_cache(a, "kmalloc-1k");
  EXPECT_EQ(s.reported, "kmalloc-1024");
  EXPECT_TRUE(s.renamed);
  EXPECT_EQ(select_cache(a, "kmalloc-1024").reported, "kmalloc-1024");
  try {
    select_cache(a, "no_such_cache");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitUsage);
    EXPECT_NE(std::string(e.what()).find("no slab cache named 'no_such_cache'"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
  // Nothing known (no sysfs, no slabinfo): names are used as typed.
  EXPECT_EQ(select_cache(SlabAliases{}, "anything").reported, "anything");
}

// The issue's defect: `--filter 'cache == "damon_region"'` found nothing, since BPF and the
// records only ever carry ftrace_event_field.
TEST(SlabAliases, AFilterOnAnAliasSelectsTheMergedCache) {
  SlabAliases a = fixture();
  Filter f = resolve_cache_aliases(Filter::parse(R"(cache == "damon_region" && bytes_req > 8)"), a);
  FilterFields r;
  r.cache = "ftrace_event_field";
  r.bytes_req = 56;
  r.kind = "slab";
  EXPECT_TRUE(f.matches(r));
  EXPECT_EQ(f.prefilter().cache, "ftrace_event_field");
  // Globs and `cache == ""` are left as written.
  Filter g = resolve_cache_aliases(Filter::parse(R"(cache ~ "damon*" || cache == "")"), a);
  EXPECT_EQ(g.to_string(), R"(cache ~ "damon*" || cache == "")");
  EXPECT_THROW(resolve_cache_aliases(Filter::parse(R"(cache != "nope")"), a), Error);
}

StackGroup merged_group() {
  StackGroup g;
  g.kind = "slab";
  g.category = "slab";
  g.meminfo_line = MeminfoPart::slab_unreclaimable;
  g.bytes = g.bytes_req = 1152;
  g.count = 1;
  g.cache = "signal_cache";
  g.cache_aliases = {"UNIX", "UNIX-STREAM"};
  return g;
}

TEST(SlabAliases, ReportsNameTheMergedCacheWithItsAliases) {
  Report r;
  r.stacks.push_back(merged_group());
  StackGroup plain = merged_group();
  plain.cache = "dentry";
  plain.cache_aliases.clear();
  r.stacks.push_back(plain);
  std::string text = render_text(r);
  EXPECT_NE(text.find("cache=signal_cache (also UNIX, UNIX-STREAM)]"), std::string::npos) << text;
  EXPECT_NE(text.find("cache=dentry]"), std::string::npos) << text;
  auto j = nlohmann::json::parse(render_json(r));
  EXPECT_EQ(j["stacks"][0]["cache"], "signal_cache");
  EXPECT_EQ(j["stacks"][0]["aliases"], nlohmann::json({"UNIX", "UNIX-STREAM"}));
  EXPECT_FALSE(j["stacks"][1].contains("aliases"));
}

// build_report gives each group the aliases of its cache.
TEST(SlabAliases, BuildReportAttachesAliasesToGroups) {
  Collected c;
  c.window_start_ns = 1'000'000'000;
  c.now_ns = 2'000'000'000;
  c.caches[0xabc] = "signal_cache";
  AllocRecord rec;
  rec.key = 1;
  rec.a.kind = KLEAK_KIND_SLAB;
  rec.a.stack_id = 1;
  rec.a.bytes_req = rec.a.bytes_alloc = 1152;
  rec.a.cache = 0xabc;
  rec.a.ts_ns = 1'500'000'000;
  std::strncpy(rec.a.comm, "t", sizeof rec.a.comm - 1);
  c.allocs.push_back(rec);
  c.stacks[1] = {0xffffffff81200010ull};
  Kallsyms syms = Kallsyms::parse("ffffffff81200000 T sk_prot_alloc\nffffffff81300000 T _etext\n");
  Filter all;
  ReportInputs in;
  in.collected = &c;
  in.syms = &syms;
  in.filter = &all;
  in.cache_aliases = {{"signal_cache", {"UNIX", "UNIX-STREAM"}}};
  Report r = build_report(in);
  ASSERT_EQ(r.stacks.size(), 1u);
  EXPECT_EQ(r.stacks[0].cache, "signal_cache");
  EXPECT_EQ(r.stacks[0].cache_aliases, (std::vector<std::string>{"UNIX", "UNIX-STREAM"}));
}

}  // namespace
}  // namespace kleak
