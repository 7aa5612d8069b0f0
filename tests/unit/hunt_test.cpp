// kleak hunt without the kernel: growth of /proc lines from accountings made by hand, growing
// lines -> families, the equivalent trace command, and the answer on a hand-made trace report.
#include "kleak/hunt.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kleak/filter.h"
#include "kleak/frame.h"
#include "kleak/kind.h"

namespace kleak {
namespace {

Accounting acct(int64_t unaccounted_kb, int64_t vmalloc_kb, int64_t signal_cache_kb, int64_t dentry_kb = 5000) {
  Accounting a;
  a.parts.push_back({MeminfoPart::free, "free", PartGroup::kFree, 1'000'000 - unaccounted_kb, "MemFree"});
  a.parts.push_back({MeminfoPart::unaccounted, "unaccounted", PartGroup::kUnaccounted, unaccounted_kb, ""});
  a.parts.push_back({MeminfoPart::vmalloc, "vmalloc", PartGroup::kKernel, vmalloc_kb, ""});
  a.parts.push_back({MeminfoPart::percpu, "per-CPU allocations", PartGroup::kKernel, 900, "Percpu"});
  a.parts.push_back({MeminfoPart::slab_unreclaimable, "slab, unreclaimable", PartGroup::kKernel, 40'000 + signal_cache_kb, ""});
  SlabCacheUsage c;
  c.name = "signal_cache";
  c.total_kb = signal_cache_kb;
  a.slab.caches.push_back(c);
  c.name = "dentry";
  c.total_kb = dentry_kb;
  a.slab.caches.push_back(c);
  return a;
}

SlabAliases aliases() {
  SlabAliases a;
  a.merged = {{"signal_cache", "signal_cache"}, {"UNIX", "signal_cache"}, {"UNIX-STREAM", "signal_cache"}};
  a.aliases = {{"signal_cache", {"UNIX", "UNIX-STREAM"}}};
  return a;
}

// 11 samples, 2 s apart: unaccounted and signal_cache grow, vmalloc and dentry wobble.
WatchResult watched(bool vmalloc_grows) {
  Watcher w;
  for (int i = 0; i <= 10; ++i) {
    int64_t wobble = (i % 2) ? 300 : 0;
    w.add(2.0 * i, acct(200'000 + 1200 * i, vmalloc_grows ? 10'000 + 2048 * i : 10'000 + wobble, 800 + 100 * i,
                        5000 + wobble));
  }
  return w.result(256, aliases());
}

const WatchedLine* line(const WatchResult& w, std::string_view name) {
  for (const auto& l : w.lines)
    if (l.name == name) return &l;
  return nullptr;
}

TEST(HuntWatch, FitsEachLineWithTheVerdictRule) {
  WatchResult w = watched(false);
  EXPECT_EQ(w.samples, 11u);
  EXPECT_DOUBLE_EQ(w.seconds, 20.0);
  const WatchedLine* u = line(w, "unaccounted");
  ASSERT_NE(u, nullptr);
  EXPECT_TRUE(u->growing);
  EXPECT_NEAR(u->rate_kb_per_min, 1200 * 30, 1);  // 1200 kB per 2 s
  EXPECT_EQ(u->first_kb, 200'000);
  EXPECT_EQ(u->last_kb, 212'000);
  const WatchedLine* s = line(w, "signal_cache");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->growing);
  EXPECT_EQ(s->label, "slab cache signal_cache (also UNIX, UNIX-STREAM)");
  EXPECT_FALSE(line(w, "vmalloc")->growing);
  EXPECT_FALSE(line(w, "dentry")->growing);
  // Free memory is not watched: it moves with every workload.
  EXPECT_EQ(line(w, "free"), nullptr);
  // Growing lines first, fastest first.
  EXPECT_EQ(w.lines[0].name, "unaccounted");
  // Below the threshold a steady rise is not growth.
  Watcher slow;
  for (int i = 0; i <= 10; ++i) slow.add(2.0 * i, acct(200'000 + i, 10'000, 800));
  EXPECT_FALSE(slow.result(256, {}).any_growing());
}

TEST(HuntPlan, GrowingLinesChooseOnlyTheirFamilies) {
  TracePlan p = plan_trace(watched(false));
  EXPECT_EQ(p.kinds(), "slab,page");
  EXPECT_EQ(p.caches.at("slab"), (std::vector<std::string>{"signal_cache"}));
  EXPECT_EQ(p.cache_flag(), "");  // pages are traced too: a filter, not --cache
  EXPECT_EQ(p.filter(), R"((kind == "slab" && cache == "signal_cache") || kind == "page")");
  EXPECT_NE(p.families[0].why.find("signal_cache (also UNIX, UNIX-STREAM) grows"), std::string::npos);
  EXPECT_EQ(p.command_line("10s"),
            R"(kleak trace --duration 10s --kinds slab,page --filter '(kind == "slab" && cache == "signal_cache") || kind == "page"')");
  // The filter parses, and keeps pages and the cache, nothing else.
  Filter f = Filter::parse(p.filter());
  FilterFields slab;
  slab.kind = "slab";
  slab.cache = "signal_cache";
  EXPECT_TRUE(f.matches(slab));
  slab.cache = "dentry";
  EXPECT_FALSE(f.matches(slab));
  FilterFields page;
  page.kind = "page";
  EXPECT_TRUE(f.matches(page));

  EXPECT_EQ(plan_trace(watched(true)).kinds(), "slab,page,vmalloc");
  // What the trace is handed: the same, typed (kleak hunt -> trace_for_hunt).
  EXPECT_EQ(p.kinds_mask(), kind_bit(KLEAK_KIND_SLAB) | kind_bit(KLEAK_KIND_PAGE));
  EXPECT_EQ(p.trace_filter().to_string(), f.to_string());
  EXPECT_EQ(TracePlan{}.trace_filter().to_string(), Filter::match_all().to_string());
}

TEST(HuntPlan, MappingOfEachLine) {
  auto only = [](std::string kind, std::string name) {
    WatchResult w;
    WatchedLine l;
    l.kind = std::move(kind);
    if (l.kind == "part") l.part = meminfo_part_from_name(name);  // as watch_proc sets it
    l.name = l.label = std::move(name);
    l.growing = true;
    w.lines.push_back(l);
    return plan_trace(w);
  };
  EXPECT_EQ(only("part", "unaccounted").kinds(), "page");
  EXPECT_EQ(only("part", "balloon").kinds(), "page");
  EXPECT_EQ(only("part", "vmalloc").kinds(), "vmalloc");
  EXPECT_EQ(only("part", "percpu").kinds(), "percpu");
  EXPECT_EQ(only("part", "kernel_stack").kinds(), "page");
  // Slab grows but no single cache does: every slab and kmalloc allocation.
  TracePlan slab = only("part", "slab_unreclaimable");
  EXPECT_EQ(slab.kinds(), "kmalloc,slab");
  EXPECT_TRUE(slab.caches.empty());
  // One cache alone: --cache, checked in BPF.
  TracePlan dentry = only("cache", "dentry");
  EXPECT_EQ(dentry.command_line("30s"), "kleak trace --duration 30s --kinds slab --cache dentry");
  // kmalloc caches are kleak's kmalloc-<bytes>, whatever the kernel's variant.
  TracePlan km = only("cache", "kmalloc-cg-1k");
  EXPECT_EQ(km.kinds(), "kmalloc");
  EXPECT_EQ(km.cache_flag(), "kmalloc-1024");
  // A line with no allocation event of its own is said, not traced.
  TracePlan z = only("part", "zsmalloc");
  EXPECT_TRUE(z.empty());
  ASSERT_EQ(z.untraceable.size(), 1u);
  EXPECT_EQ(kmalloc_class("kmalloc-96"), "kmalloc-96");
  EXPECT_EQ(kmalloc_class("dma-kmalloc-8k"), "kmalloc-8192");
  EXPECT_EQ(kmalloc_class("kmalloc_buckets"), std::nullopt);
}

StackGroup group(std::string kind, std::string category, std::string line, uint64_t bytes, double rate,
                 std::optional<std::string> cache = std::nullopt) {
  StackGroup g;
  g.kind = std::move(kind);
  g.category = std::move(category);
  g.meminfo_line = meminfo_part_from_name(line);
  g.bytes = bytes;
  g.count = bytes / 4096 + 1;
  g.verdict = "growing";
  g.growth_bytes_per_s = rate;
  g.cache = std::move(cache);
  Frame f;
  f.func = "anon_pipe_write";
  f.offset = 0x1a8;
  f.addr = 0xffffffff81000000ull;
  g.frames = {f};
  g.comms = {{"kleak-planter", g.count}};
  return g;
}

TEST(HuntReport, ExplainsEachGrowingLineAndWhatStaysUnexplained) {
  HuntReport hr;
  hr.kernel = "Linux 6.18 x86_64";
  hr.watch = watched(false);
  hr.plan = plan_trace(hr.watch);
  hr.command_line = hr.plan->command_line("10s");
  Report r;
  r.duration_s = 10;
  r.stacks.push_back(group("page", "pipe", "unaccounted", 9 * 1024 * 1024, 900'000));
  StackGroup sock = group("slab", "slab", "slab_unreclaimable", 500 * 1024, 50'000, "signal_cache");
  sock.cache_aliases = {"UNIX", "UNIX-STREAM"};
  r.stacks.push_back(sock);
  StackGroup steady = group("page", "page_direct", "unaccounted", 4096, 0);
  steady.verdict = "steady";
  r.stacks.push_back(steady);
  hr.trace = r;
  explain(hr, acct(200'000, 10'000, 800), acct(210'240, 10'000, 1800));
  ASSERT_EQ(hr.lines.size(), 3u);  // unaccounted, signal_cache and Slab itself
  const ExplainedLine& u = hr.lines[0];
  EXPECT_EQ(hr.watch.lines[u.line].name, "unaccounted");
  EXPECT_EQ(u.moved_kb, 10'240);
  EXPECT_EQ(u.explained_kb, 9 * 1024);
  ASSERT_EQ(u.stacks.size(), 1u);  // the steady group explains no growth
  EXPECT_NEAR(u.stacks[0].share, 0.9, 1e-9);
  std::string text = render_hunt_text(hr);
  EXPECT_NE(text.find("unaccounted: +10.0 MiB during the trace, 9.0 MiB of it held by 1 growing stacks, "
                      "1.0 MiB unexplained"), std::string::npos) << text;
  EXPECT_NE(text.find("attached: slab"), std::string::npos) << text;
  EXPECT_NE(text.find("attached: page"), std::string::npos) << text;
  EXPECT_NE(text.find("not attached: kmalloc, vmalloc, percpu"), std::string::npos) << text;
  EXPECT_NE(text.find("same trace: kleak trace --duration 10s --kinds slab,page"), std::string::npos) << text;
  EXPECT_NE(text.find("cache=signal_cache (also UNIX, UNIX-STREAM)"), std::string::npos) << text;
  EXPECT_NE(text.find("anon_pipe_write+0x1a8"), std::string::npos) << text;
  auto j = nlohmann::json::parse(render_hunt_json(hr));
  EXPECT_EQ(j["traced"], true);
  EXPECT_EQ(j["attached"].size(), 2u);
  EXPECT_EQ(j["explained"][0]["line"], "unaccounted");
  EXPECT_EQ(j["explained"][0]["unexplained_kb"], 1024);
  EXPECT_EQ(j["explained"][1]["stacks"][0]["aliases"], nlohmann::json({"UNIX", "UNIX-STREAM"}));
}

// 5.10's kmem_cache_alloc tracepoint names no cache: a cache filter would find nothing (and
// `kleak trace` refuses one), so all of slab is traced and the Slab lines carry its stacks.
constexpr const char* kNoCacheNames =
    "a slab cache filter cannot work with this kernel's kmem:kmem_cache_alloc tracepoint: it carries no cache "
    "(no struct kmem_cache * argument, no name field)";

TEST(HuntPlan, AKernelWithoutCacheNamesTracesAllOfSlab) {
  TracePlan p = plan_trace(watched(false), kNoCacheNames);
  EXPECT_EQ(p.kinds(), "slab,page");
  EXPECT_TRUE(p.caches.empty());
  EXPECT_EQ(p.filter(), "");
  EXPECT_EQ(p.command_line("10s"), "kleak trace --duration 10s --kinds slab,page");
  EXPECT_NE(p.families[0].why.find("signal_cache (also UNIX, UNIX-STREAM) grows (every slab allocation"),
            std::string::npos)
      << p.families[0].why;
  // kmalloc caches are still told by size.
  WatchResult w;
  WatchedLine l;
  l.kind = "cache";
  l.name = l.label = "kmalloc-cg-1k";
  l.growing = true;
  w.lines.push_back(l);
  EXPECT_EQ(plan_trace(w, kNoCacheNames).cache_flag(), "kmalloc-1024");
}

TEST(HuntReport, AKernelWithoutCacheNamesExplainsTheSlabLines) {
  HuntReport hr;
  hr.watch = watched(false);
  hr.plan = plan_trace(hr.watch, kNoCacheNames);
  hr.command_line = hr.plan->command_line("10s");
  Report r;
  r.duration_s = 10;
  StackGroup sock = group("slab", "slab", "slab_unreclaimable", 500 * 1024, 50'000);  // no cache
  r.stacks.push_back(sock);
  hr.trace = r;
  explain(hr, acct(200'000, 10'000, 800), acct(210'240, 10'000, 1800));
  std::string text = render_hunt_text(hr);
  EXPECT_NE(text.find("slab caches cannot be told apart: a slab cache filter cannot work"), std::string::npos) << text;
  EXPECT_NE(text.find("slab cache signal_cache (also UNIX, UNIX-STREAM): +1000.0 KiB during the trace; the slab "
                      "stacks are under the Slab lines (no cache names)"),
            std::string::npos)
      << text;
  // The Slab line shows the stack itself instead of pointing at the caches.
  EXPECT_EQ(text.find("see the caches below"), std::string::npos) << text;
  EXPECT_NE(text.find("slab, unreclaimable: +1000.0 KiB during the trace, 500.0 KiB of it held by 1 growing stacks"),
            std::string::npos)
      << text;
  auto j = nlohmann::json::parse(render_hunt_json(hr));
  EXPECT_EQ(j["slab_caches_unknown"], kNoCacheNames);
  hr.plan = plan_trace(hr.watch);
  EXPECT_TRUE(nlohmann::json::parse(render_hunt_json(hr))["slab_caches_unknown"].is_null());
}

TEST(HuntReport, NothingGrowsNothingTraced) {
  HuntReport hr;
  Watcher w;
  for (int i = 0; i <= 10; ++i) w.add(i, acct(200'000, 10'000, 800));
  hr.watch = w.result(256, {});
  std::string text = render_hunt_text(hr);
  EXPECT_NE(text.find("nothing grows faster than +256.0 KiB/min: no BPF was loaded, nothing traced."),
            std::string::npos)
      << text;
  auto j = nlohmann::json::parse(render_hunt_json(hr));
  EXPECT_EQ(j["traced"], false);
  EXPECT_TRUE(j["attached"].empty());
}

}  // namespace
}  // namespace kleak
