// `kleak trace` against the real kernel: the planter holds known kernel allocations while the
// tracer runs; the JSON report must name the right functions with the right bytes and counts,
// and forget what was released before the window ended.
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "harness.h"

namespace kleak::test {
namespace {

using nlohmann::json;

// The planter's allocations all come from one process; the system's own churn does not matter.
json trace_while_planted(const std::vector<std::string>& trace_args,
                         const std::vector<std::string>& plant_args, bool release_first,
                         std::map<std::string, std::string>* planted = nullptr,
                         int* exit_status = nullptr, const std::vector<std::string>& env = {}) {
  std::vector<std::string> args{"--duration", "2m", "--format", "json", "--top", "1000"};
  args.insert(args.end(), trace_args.begin(), trace_args.end());
  Tracing t(args, {}, KLEAK_BIN, env);
  {
    Planter p(plant_args);
    if (planted) *planted = p.values;
    if (release_first) p.release();
    int st = t.stop();
    if (exit_status) *exit_status = st;
    else EXPECT_EQ(st, 0) << t.err();
  }
  return json::parse(t.out());
}

TEST(Trace, FilledPipesAreTheTopPageHolder) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  std::map<std::string, std::string> planted;
  json r = trace_while_planted({}, {"--pipes", "300", "--fill", "60000"}, false, &planted);
  double want = std::stod(planted.at("pipe_page_bytes"));
  Found f = find_stacks(r, "page", pipe_write_function());
  EXPECT_TRUE(within(static_cast<double>(f.bytes), want, 0.10)) << r.dump(1).substr(0, 4000);
  // The pipe pages must be the biggest kernel page holder in the window.
  const json* top_page = nullptr;
  for (const auto& s : r["stacks"])
    if (s["kind"] == "page") {
      top_page = &s;
      break;
    }
  ASSERT_NE(top_page, nullptr);
  std::string first = (*top_page)["frames"][0];
  EXPECT_EQ(first.rfind(pipe_write_function() + "+", 0), 0u) << first;
  EXPECT_EQ((*top_page)["category"], "pipe");
  EXPECT_EQ(r["sources"]["kmem:mm_page_alloc"], "attached");
  EXPECT_EQ(r["dropped"]["alloc_map_full"], 0);
}

TEST(Trace, ReleasedBeforeTheWindowEndsIsGone) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  std::map<std::string, std::string> planted;
  json r = trace_while_planted({}, {"--pipes", "300", "--fill", "60000", "--resized-pipes", "300"},
                               true, &planted);
  double planted_bytes = std::stod(planted.at("pipe_page_bytes"));
  Found pages = find_stacks(r, "page", pipe_write_function());
  EXPECT_LT(static_cast<double>(pages.bytes), 0.05 * planted_bytes) << r.dump(1).substr(0, 4000);
  Found resized = find_stacks(r, "kmalloc", "pipe_resize_ring");
  EXPECT_LT(resized.count, 15u);
  EXPECT_GT(r["events"]["frees_matched"].get<uint64_t>(), 300u * 15);
}

TEST(Trace, SizeFilterKeepsExactlyThePlantedKmallocs) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  std::map<std::string, std::string> planted;
  json r = trace_while_planted({"--filter", "bytes_req >= 256 && bytes_req <= 512"},
                               {"--resized-pipes", "400"}, false, &planted);
  Found f = find_stacks(r, "kmalloc", "pipe_resize_ring");
  EXPECT_TRUE(within(static_cast<double>(f.count), 400, 0.10)) << r.dump(1).substr(0, 4000);
  EXPECT_EQ(f.bytes_req, f.count * 320);
  EXPECT_EQ(f.bytes, f.count * 512);
  // Nothing outside the size range is reported.
  for (const auto& s : r["stacks"]) {
    uint64_t n = s["count"], req = s["bytes_req"];
    EXPECT_GE(req, 256 * n) << s.dump();
    EXPECT_LE(req, 512 * n) << s.dump();
    EXPECT_NE(s["kind"], "page") << s.dump();
  }
  EXPECT_EQ(r["filter"], "bytes_req >= 256 && bytes_req <= 512");
}

TEST(Trace, CacheFilterFindsSocketInodes) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  if (std::string why = slab_cache_filter_refused(); !why.empty()) GTEST_SKIP() << why;
  json r = trace_while_planted({"--filter", "cache == \"sock_inode_cache\""}, {"--sockets", "300"},
                               false);
  uint64_t count = 0;
  for (const auto& s : r["stacks"]) {
    EXPECT_EQ(s["cache"], "sock_inode_cache") << s.dump();
    EXPECT_EQ(s["kind"], "slab");
    count += s["count"].get<uint64_t>();
  }
  // socket(AF_UNIX) allocates one inode per socket; the rest of the box adds a few.
  EXPECT_TRUE(within(static_cast<double>(count), 300, 0.10)) << r.dump(1).substr(0, 4000);
  Found f = find_stacks(r, "slab", "sock_alloc_inode", 3);
  EXPECT_TRUE(within(static_cast<double>(f.count), 300, 0.10)) << r.dump(1).substr(0, 4000);
}

TEST(Trace, EventfdContextsAreKmallocs) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  json r = trace_while_planted({"--kinds", "kmalloc"}, {"--eventfds", "500"}, false);
  Found f = find_stacks(r, "kmalloc", "do_eventfd", 2);
  EXPECT_TRUE(within(static_cast<double>(f.count), 500, 0.10)) << r.dump(1).substr(0, 4000);
  for (const auto& s : r["stacks"]) EXPECT_EQ(s["kind"], "kmalloc");
}

TEST(Trace, BpfMapsShowVmallocAndPercpuMemory) {
  KLEAK_NEEDS(VmallocStacks);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  std::map<std::string, std::string> planted;
  json r = trace_while_planted({"--kinds", "vmalloc,percpu"},
                               {"--vmalloc-map", "4194304", "--vmalloc-maps", "4",
                                "--percpu-map", "512", "--percpu-value", "64"},
                               false, &planted);
  // The vmap areas (value area + header, page aligned, plus a guard page each), once: their
  // backing pages are not traced here (--kinds) and are never added again when they are.
  Found vm = find_stacks(r, "vmalloc", "__bpf_map_area_alloc");
  EXPECT_TRUE(within(static_cast<double>(vm.bytes), std::stod(planted.at("vmap_area_bytes")), 0.10))
      << r.dump(1).substr(0, 4000);
  // Per map: the area itself and, since 1025 page pointers do not fit a page, the vmalloc'ed
  // array of its page pointers (area->pages), both under the same caller.
  EXPECT_GE(vm.count, 4u);
  EXPECT_LE(vm.count, 8u);
  Found pc = find_stacks(r, "percpu", "bpf_map_alloc_percpu");
  EXPECT_TRUE(within(static_cast<double>(pc.count), 512, 0.10)) << r.dump(1).substr(0, 4000);
  EXPECT_TRUE(within(static_cast<double>(pc.bytes), std::stod(planted.at("percpu_bytes_alloc")), 0.10));
}

TEST(Trace, VmallocPagesAreNotCountedTwice) {
  KLEAK_NEEDS(VmallocStacks);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  std::map<std::string, std::string> planted;
  json r = trace_while_planted({}, {"--vmalloc-map", "4194304", "--vmalloc-maps", "4"}, false, &planted);
  Found vm = find_stacks(r, "vmalloc", "__bpf_map_area_alloc");
  EXPECT_TRUE(within(static_cast<double>(vm.bytes), std::stod(planted.at("vmap_area_bytes")), 0.10));
  // The 4 x 1025 pages under the areas are set aside as backing, not listed as stacks.
  EXPECT_EQ(find_stacks(r, "page", "__bpf_map_area_alloc", 8).count, 0u) << r.dump(1).substr(0, 4000);
  // Without memcg kmem accounting the kernel takes them in bulk, untraced: nothing to set aside.
  if (!memcg_kmem_active()) return;
  ASSERT_TRUE(r["backing"].contains("vmalloc_backing")) << r["backing"].dump();
  EXPECT_GE(r["backing"]["vmalloc_backing"]["bytes"].get<double>(),
            0.9 * std::stod(planted.at("vmalloc_page_bytes")));
}

TEST(Trace, ClassicTracepointsGiveTheSameAnswer) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  std::map<std::string, std::string> planted;
  json r = trace_while_planted({"--attach", "tracepoint"}, {"--pipes", "200", "--fill", "60000"},
                               false, &planted);
  EXPECT_EQ(r["attach_mode"]["kmem:mm_page_alloc"], "tracepoint");
  Found f = find_stacks(r, "page", pipe_write_function());
  EXPECT_TRUE(within(static_cast<double>(f.bytes), std::stod(planted.at("pipe_page_bytes")), 0.10))
      << r.dump(1).substr(0, 4000);
}

TEST(Trace, FullMapIsReportedAndFailsTheRun) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  int status = 0;
  json r = trace_while_planted({"--max-allocs", "64"}, {"--pipes", "100"}, false, nullptr, &status);
  EXPECT_EQ(status, 3);
  EXPECT_GT(r["dropped"]["alloc_map_full"].get<uint64_t>(), 0u);
}

// Counts loaded BPF programs and maps whose names are kleak's.
uint64_t kleak_objects_loaded() {
  RunResult r = run({"/bin/sh", "-c",
                     "{ bpftool prog show; bpftool map show; bpftool link show; } | "
                     "grep -cE 'name (raw_kmalloc|raw_kfree_twin|tp_kmalloc|allocs|counters|caches|sites)( |$)' || true"});
  return std::stoull(r.out.empty() ? "0" : r.out);
}

TEST(Trace, SigtermStillReportsAndLeavesNoProgramBehind) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  KLEAK_NEEDS(Bpftool);
  {
    Tracing t({"--duration", "1h", "--format", "json", "--top", "1000"});
    EXPECT_GT(kleak_objects_loaded(), 0u);
    Planter p({"--pipes", "50", "--fill", "60000"});
    t.signal(SIGTERM);
    EXPECT_EQ(t.wait(), 0) << t.err();
    json r = t.json();
    EXPECT_GT(find_stacks(r, "page", pipe_write_function()).count, 0u);
  }
  // Programs and maps are freed by the kernel after an RCU grace period: give it a moment.
  for (int i = 0; i < 50 && kleak_objects_loaded() > 0; ++i) usleep(100000);
  EXPECT_EQ(kleak_objects_loaded(), 0u);
}

TEST(Trace, KillNineLeavesNoProgramLinkOrMapBehind) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  KLEAK_NEEDS(Bpftool);
  {
    Tracing t({"--duration", "1h"});
    EXPECT_GT(kleak_objects_loaded(), 0u);
    t.signal(SIGKILL);
    EXPECT_EQ(t.wait(), 128 + SIGKILL);
  }
  // The kernel releases programs and maps when their last fd closes; give it a moment.
  for (int i = 0; i < 50 && kleak_objects_loaded() > 0; ++i) usleep(100000);
  EXPECT_EQ(kleak_objects_loaded(), 0u);
}

TEST(Trace, TwoInstancesDoNotInterfere) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  Tracing a({"--duration", "1h", "--format", "json", "--top", "1000"});
  Tracing b({"--duration", "1h", "--format", "json", "--top", "1000"});
  std::map<std::string, std::string> planted;
  {
    Planter p({"--pipes", "100", "--fill", "60000"});
    planted = p.values;
    EXPECT_EQ(a.stop(), 0) << a.err();
    EXPECT_EQ(b.stop(), 0) << b.err();
  }
  double want = std::stod(planted.at("pipe_page_bytes"));
  EXPECT_TRUE(within(static_cast<double>(find_stacks(a.json(), "page", pipe_write_function()).bytes), want, 0.10));
  EXPECT_TRUE(within(static_cast<double>(find_stacks(b.json(), "page", pipe_write_function()).bytes), want, 0.10));
}

}  // namespace
}  // namespace kleak::test

namespace kleak::test {
namespace {

// Whether the tracer `pid` has put a stack in its skip_stacks map: its maintenance pass has
// recognized a user-memory stack. Its map ids are read from its own fds (fdinfo's map_id), so
// another kleak on the box does not count.
bool skips_a_stack(pid_t pid) {
  RunResult r = run({"/bin/sh", "-c",
                     "for f in /proc/" + std::to_string(pid) + "/fdinfo/*; do "
                     "id=$(sed -n 's/^map_id:[[:space:]]*//p' $f); [ -n \"$id\" ] || continue; "
                     "bpftool map show id $id | grep -q ' name skip_stacks ' || continue; "
                     "bpftool map dump id $id | grep -q key && echo yes; done"});
  return r.out.find("yes") != std::string::npos;
}

TEST(Trace, PageCacheIsCountedNotTrackedSoItCannotFillTheMap) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  KLEAK_NEEDS(Bpftool);
  // 20000 entries hold 78 MiB of pages; the page cache written below is 4x that. The writer
  // runs in a cgroup of its own so that the rest of a busy box cannot fill the map instead.
  ScopedCgroup cg;
  Tracing t({"--duration", "1h", "--format", "json", "--max-allocs", "20000", "--cgroup", cg.path()});
  // tmpfs: page cache pages and nothing else (a disk filesystem adds buffer heads, which are
  // kernel slab objects and rightly tracked).
  // A fresh file: writing over pages already cached allocates nothing.
  std::string file = "/dev/shm/kleak-pagecache-test-" + std::to_string(getpid());
  unlink(file.c_str());
  auto write_mib = [&](int mib) {
    return run({"/bin/sh", "-c",
                "echo $$ > '" + cg.path() + "/cgroup.procs' && exec /bin/dd if=/dev/zero of=" + file +
                    " bs=1M count=" + std::to_string(mib) + " conv=notrunc status=none"});
  };
  write_mib(16);  // the write path's stacks become known and are recognized at the next
  // maintenance pass: wait for that (at most 30 s), not for its period.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!skips_a_stack(t.pid()) && std::chrono::steady_clock::now() < deadline) usleep(100000);
  ASSERT_TRUE(skips_a_stack(t.pid())) << "no stack recognized as user memory in 30 s";
  EXPECT_EQ(write_mib(320).status, 0);
  int st = t.stop();
  unlink(file.c_str());
  EXPECT_EQ(st, 0) << t.err();
  json r = t.json();
  EXPECT_EQ(r["dropped"]["alloc_map_full"], 0) << r["events_by_kind"].dump();
  EXPECT_GT(r["user_memory_untracked"]["bytes"].get<double>(), 200.0 * 1024 * 1024);
}

}  // namespace
}  // namespace kleak::test

namespace kleak::test {
namespace {

// --sample draws per allocation: held pages, and an object recycled at one address (a `filp`
// opened and closed 200,000 times, the open loop that address sampling kept 35 of 3.8 M of) are
// both estimated, and about 1 in N allocations are kept.
TEST(Trace, SamplingPerAllocationEstimatesHeldAndRecycledObjects) {
  KLEAK_NEEDS(KmemFreesOnRawTp);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  constexpr int kEvery = 10, kOpens = 200000;
  const std::string self = std::to_string(getpid());
  std::string path = "/tmp/kleak-sample-test-" + std::to_string(getpid());
  { std::ofstream(path) << "x"; }
  Tracing t({"--duration", "2m", "--format", "json", "--top", "100000", "--by", "stack,pid", "--sample",
             std::to_string(kEvery)});
  double planted_bytes = 0;
  {
    Planter p({"--pipes", "500", "--fill", "60000"});
    planted_bytes = std::stod(p.values.at("pipe_page_bytes"));
    for (int i = 0; i < kOpens; ++i) {
      int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      ASSERT_GE(fd, 0);
      close(fd);
    }
    ASSERT_EQ(t.stop(), 0) << t.err();
  }
  unlink(path.c_str());
  json r = t.json();
  EXPECT_EQ(r["sample_every"], kEvery);
  // 7,500 held pages. A page is kept with probability 1/k, k = N * mean / 4096 <= 10 here, so
  // >= 750 records: the weighted sum's relative error is sqrt((k-1)/7500) <= 3.5%; 15% is > 4
  // sigma.
  Found held = find_stacks(r, "page", pipe_write_function());
  EXPECT_TRUE(within(static_cast<double>(held.bytes), planted_bytes, 0.15))
      << held.bytes << " vs " << planted_bytes << "\n" << r.dump(1).substr(0, 3000);
  // The recycled filp: its allocations in the window are estimated from the churn counts (1 in
  // k = N * mean / 192 kept, k ~ 100 with the 4 KiB names_cache beside it: ~2,000 records,
  // error ~2%; 10% allowed), and its frees matched the sampled records: none left outstanding.
  // The filp is named by its stack: 5.10's slab event carries no cache (null there).
  auto is_filp = [](const json& g) {
    if (g["kind"] != "slab" || !(g["cache"].is_null() || g["cache"] == "filp")) return false;
    for (size_t i = 0; i < g["frames"].size() && i < 2; ++i)  // not the LSM blob under it
      if (g["frames"][i].get<std::string>().rfind("alloc_empty_file+", 0) == 0) return true;
    return false;
  };
  uint64_t allocs = 0, outstanding = 0;
  for (const char* list : {"churn", "stacks"})
    for (const auto& g : r[list]) {
      if (!is_filp(g) || g["group"].value("pid", "") != self) continue;
      if (std::string(list) == "churn") allocs += g["allocs"].get<uint64_t>();
      else outstanding += g["count"].get<uint64_t>();
    }
  EXPECT_TRUE(within(static_cast<double>(allocs), kOpens, 0.10)) << allocs << " filp allocations estimated";
  EXPECT_LT(outstanding, kOpens / 100) << outstanding << " filp still outstanding";
  // The rate achieved, over every allocation the box made meanwhile: 1 in N, +-20%.
  double seen = r["sample_achieved"]["seen"], kept = r["sample_achieved"]["kept"];
  ASSERT_GT(kept, 0);
  EXPECT_TRUE(within(seen / kept, kEvery, 0.20)) << r["sample_achieved"].dump();
  EXPECT_GT(r["events_by_kind"]["slab"]["sampled_out"].get<uint64_t>(), 0u);
}

}  // namespace
}  // namespace kleak::test

namespace kleak::test {
namespace {

using nlohmann::json;

// Stack reuse: every file the planter opens comes from one call site (alloc_empty_file's
// kmem_cache_alloc of a `filp`) under four different callers, and the files of one pipe come in
// pairs from two of them. Reused stacks must still put each file under its own caller, exactly.
// `env`: kleak's environment (KLEAK_TASK_HELPERS=probe-read loads the 5.10 variant); `variant`:
// what the report must say was loaded.
void callers_of_one_call_site_stay_apart(const std::vector<std::string>& env, const std::string& variant) {
  const uint64_t pipes = 600, eventfds = 400, sockets = 300;
  // Where the slab event carries no cache (5.10) a cache filter is refused: the planter's slab
  // allocations are traced instead and the files told apart by their stacks below.
  const bool by_cache = slab_cache_filter_refused().empty();
  json r = trace_while_planted(
      {"--filter", by_cache ? "cache == \"filp\" && comm == \"kleak-planter\"" : "comm == \"kleak-planter\"",
       "--kinds", "slab", "--stack-reuse", "64"},
      {"--pipes", std::to_string(pipes), "--fill", "0", "--eventfds", std::to_string(eventfds),
       "--sockets", std::to_string(sockets)},
      false, nullptr, nullptr, env);
  EXPECT_EQ(r["bpf_variant"], variant);
  // Within the first frames (6.18: alloc_empty_file <- alloc_file_pseudo <- create_pipe_files;
  // 6.1 has __alloc_file and alloc_file in between).
  auto count_under = [&](const std::string& func) {
    uint64_t n = 0;
    for (const auto& g : r["stacks"]) {
      bool file = false, under = false;
      for (size_t i = 0; i < g["frames"].size() && i < 7; ++i) {
        std::string fr = g["frames"][i];
        // The filp itself: its allocator's first frames (6.18: alloc_empty_file; 5.10 and 6.1:
        // __alloc_file <- alloc_empty_file), not the LSM blob under it (security_file_alloc).
        file |= i < 2 && fr.rfind("alloc_empty_file+", 0) == 0;
        under |= fr.rfind(func + "+", 0) == 0;
      }
      if (file && under) n += g["count"].get<uint64_t>();
    }
    return static_cast<double>(n);
  };
  std::string dump = r.dump(1).substr(0, 6000);
  // Each caller's count is exact but for the odd file another thread of the planter opens.
  EXPECT_TRUE(within(count_under("create_pipe_files"), 2.0 * pipes, 0.02)) << dump;
  EXPECT_TRUE(within(count_under("alloc_file_clone"), pipes, 0.02)) << dump;
  EXPECT_TRUE(within(count_under("sock_alloc_file"), sockets, 0.02)) << dump;
  EXPECT_TRUE(within(count_under("do_eventfd"), eventfds, 0.02)) << dump;
  // ...and most of them took a reused stack: the shortcut was really taken.
  const json& u = r["stack_reuse"];
  EXPECT_EQ(u["max_run"], 64);
  EXPECT_GT(u["reused"].get<uint64_t>(), u["walked"].get<uint64_t>()) << u.dump();
  EXPECT_GT(u["checked"].get<uint64_t>(), 0u) << u.dump();
}

TEST(Trace, StackReuseKeepsTheCallersOfOneCallSiteApart) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  // The variant this kernel gets by default: 5.10 has no bpf_get_current_task_btf.
  const bool task_btf = libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_FUNC_get_current_task_btf, nullptr) == 1;
  callers_of_one_call_site_stay_apart(
      {}, task_btf ? "task: bpf_get_current_task_btf, syscall: bpf_task_pt_regs"
                   : "task: bpf_get_current_task + bpf_probe_read_kernel, syscall: pt_regs at the task's stack top");
}

// The variant loaded where bpf_get_current_task_btf and bpf_task_pt_regs do not exist (5.10):
// the task read through bpf_probe_read_kernel, the syscall from the pt_regs at its stack top. The
// same files under the same callers, on this kernel too.
TEST(Trace, ProbeReadVariantKeepsTheCallersOfOneCallSiteApart) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  callers_of_one_call_site_stay_apart(
      {"KLEAK_TASK_HELPERS=probe-read"},
      "task: bpf_get_current_task + bpf_probe_read_kernel, syscall: pt_regs at the task's stack top");
}

TEST(Trace, StackReuseOneWalksEveryAllocation) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  json r = trace_while_planted({"--stack-reuse", "1"}, {"--pipes", "200", "--fill", "60000"}, false);
  const json& u = r["stack_reuse"];
  EXPECT_EQ(u["reused"], 0) << u.dump();
  EXPECT_EQ(u["checked"], 0) << u.dump();
  EXPECT_GE(u["walked"].get<uint64_t>(), r["events"]["allocs_tracked"].get<uint64_t>()) << u.dump();
}

// A stack map keeps one stack per bucket: a stack whose bucket is taken used to be lost
// ("stack not captured: stack map bucket collision"; CI lost the hunt test's vmalloc stack so).
// With a one-entry stack map every stack but the first collides; the spill map must keep the
// planted ones. Only the cgroup's allocations are walked, so the box's stacks do not compete.
TEST(Trace, StacksWhoseBucketIsTakenAreKeptInTheSpillMap) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  ScopedCgroup cg;
  Tracing t({"--duration", "2m", "--format", "json", "--top", "1000", "--kinds", "kmalloc",
             "--cgroup", cg.path(), "--max-stacks", "1", "--stack-reuse", "1"});
  {
    Planter p({"--eventfds", "500", "--resized-pipes", "300"}, cg.path());
    ASSERT_EQ(t.stop(), 0) << t.err();
  }
  json r = json::parse(t.out());
  Found eventfd = find_stacks(r, "kmalloc", "do_eventfd", 2);
  Found resized = find_stacks(r, "kmalloc", "pipe_resize_ring", 2);
  EXPECT_TRUE(within(static_cast<double>(eventfd.count), 500, 0.10)) << r.dump(1).substr(0, 4000);
  EXPECT_TRUE(within(static_cast<double>(resized.count), 300, 0.10)) << r.dump(1).substr(0, 4000);
  const uint64_t spilled = r["events_by_kind"]["kmalloc"].value("stacks_spilled", 0u);
  EXPECT_GE(spilled, 2u) << r["events_by_kind"].dump();
  // What the cgroup allocated besides (the shell's exec: 30-50 stacks) may collide in the spill
  // map's 4096 buckets too, every allocation of such a stack once (31 in one 5.10 run): far
  // fewer than the spill map keeps. Before it, every walk but the first collided.
  EXPECT_LT(r["dropped"]["stack_collision"].get<uint64_t>(), spilled) << r["dropped"].dump() << r["events_by_kind"].dump();
}

// A free that interrupts the same free program on its CPU (socket inodes freed by an RCU
// callback batch in softirq, while the task's own kmem_cache_free program runs) is skipped by
// the kernel: a lost free, a possible false leak. The twin programs handle those events.
TEST(Trace, FreesThatInterruptTheirOwnProgramAreRescued) {
  KLEAK_NEEDS(KmemFreesOnRawTp);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  Tracing t({"--duration", "2m", "--format", "json", "--top", "5"});
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  uint64_t sockets = 0;
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < 100; ++i, ++sockets) {
      int fd = socket(AF_UNIX, SOCK_STREAM, 0);
      ASSERT_GE(fd, 0);
      close(fd);
    }
  }
  ASSERT_EQ(t.stop(), 0) << t.err();
  json r = json::parse(t.out());
  uint64_t skipped = r["events"]["frees_skipped_in_recursion"].get<uint64_t>();
  uint64_t rescued = r["events"]["frees_rescued_from_recursion"].get<uint64_t>();
  uint64_t lost = r["dropped"]["free_recursion_misses"].get<uint64_t>();
  const std::string counts = std::to_string(sockets) + " sockets; " + r["events"].dump() + r["dropped"].dump();
  EXPECT_GT(skipped, 0u) << counts;
  // Every skipped free is handled by its twin, and none twice. A free is lost only when it
  // interrupts the twin of an interrupt of its primary (three levels deep): measured 0 of
  // 35,000-95,000 in 3 s here. The first version of the twins, which missed interrupts around
  // the primary's body, lost 40-60%; detaching a primary before its twin made the twin handle
  // the RCU frees of that window a second time (up to 3.5% more than skipped).
  EXPECT_LE(rescued, skipped) << counts;
  EXPECT_EQ(lost, skipped - std::min(rescued, skipped)) << counts;
  EXPECT_LE(lost * 100, skipped) << counts;
}

}  // namespace
}  // namespace kleak::test
