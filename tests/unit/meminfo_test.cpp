// `kleak meminfo`: accounting on the fixtures with known answers, on this machine's /proc,
// snapshots (save/load), diff ranking, balloon evidence, and the subcommand end to end.
#include "kleak/meminfo.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "kleak/commands.h"
#include "kleak/error.h"

namespace kleak {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kProc = fs::path(KLEAK_FIXTURES) / "proc";

std::int64_t sum_parts(const Accounting& a) {
  std::int64_t s = 0;
  for (const auto& p : a.parts) s += p.kb;
  return s;
}

bool any_contains(const std::vector<std::string>& v, std::string_view needle) {
  for (const auto& s : v)
    if (s.find(needle) != std::string::npos) return true;
  return false;
}

std::string meminfo_text(const std::vector<std::pair<std::string, std::int64_t>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) out += k + ": " + std::to_string(v) + " kB\n";
  return out;
}

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/kleak-meminfo-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path write(const fs::path& rel, const std::string& text) const {
    fs::create_directories((path / rel).parent_path());
    std::ofstream(path / rel, std::ios::binary) << text;
    return path / rel;
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---- fixtures with known answers ---------------------------------------------------------------

TEST(MeminfoAccount, CentosVmwareBalloonKnownAnswer) {
  Snapshot s = load_snapshot(kProc / "centos7-3.10-vmware-balloon");
  Accounting a = account(s);
  // The fixtures README: MemTotal - MemFree - (Slab + VmallocUsed + PageTables + KernelStack +
  // HardwareCorrupted + Bounce) - (Active + Inactive + Unevictable + HugePages_Total*Hugepagesize)
  ASSERT_TRUE(a.unaccounted_kb);
  EXPECT_EQ(*a.unaccounted_kb, 5125296);
  Meminfo m = parse_meminfo(s.files.at("meminfo"));
  auto f = [&](const char* k) { return m.get_or(k, 0); };
  EXPECT_EQ(*a.unaccounted_kb,
            f("MemTotal") - f("MemFree") -
                (f("Slab") + f("VmallocUsed") + f("PageTables") + f("KernelStack") + f("HardwareCorrupted") + f("Bounce")) -
                (f("Active") + f("Inactive") + f("Unevictable") + f("HugePages_Total") * f("Hugepagesize")));
  EXPECT_EQ(a.mem_total_kb, 7994080);
  EXPECT_EQ(sum_parts(a), 7994080);
  EXPECT_EQ(a.part_kb(MeminfoPart::unaccounted), 5125296);
  EXPECT_EQ(a.parts.front().key, MeminfoPart::unaccounted);  // biggest first
  EXPECT_EQ(a.part_kb(MeminfoPart::free), 125256);
  EXPECT_EQ(a.part_kb(MeminfoPart::user_anon), 693796 + 717156);
  EXPECT_EQ(a.part_kb(MeminfoPart::user_file), 488424 + 496804);
  EXPECT_EQ(a.part_kb(MeminfoPart::slab_reclaimable), 86720);
  EXPECT_EQ(a.part_kb(MeminfoPart::slab_unreclaimable), 56500);
  EXPECT_EQ(a.part_kb(MeminfoPart::hugetlb), 0);
  // No vmallocinfo: falls back to VmallocUsed, and says so.
  EXPECT_EQ(a.vmalloc.source, "VmallocUsed");
  EXPECT_EQ(a.part_kb(MeminfoPart::vmalloc), 191584);
  EXPECT_TRUE(any_contains(a.notes, "vmalloc taken from VmallocUsed"));
  EXPECT_TRUE(any_contains(a.missing, "no slabinfo"));
  EXPECT_FALSE(a.balloon.checked);
  EXPECT_NE(a.unaccounted_explanation.find("alloc_pages"), std::string::npos);
  EXPECT_NE(a.unaccounted_explanation.find("cannot be told"), std::string::npos);
  EXPECT_NE(a.unaccounted_explanation.find("vmware-toolbox-cmd"), std::string::npos);
}

TEST(MeminfoAccount, PartialAarch64VmallocUsedZero) {
  Snapshot s = load_snapshot(kProc / "centos7-4.19-aarch64-vmallocused0");
  EXPECT_EQ(s.partial, (std::set<std::string>{"meminfo", "vmallocinfo"}));
  Accounting a = account(s);
  ASSERT_TRUE(a.unaccounted_kb);
  EXPECT_EQ(sum_parts(a), 1653372);
  EXPECT_EQ(a.vmalloc.source, "vmallocinfo");
  EXPECT_EQ(a.vmalloc.owned_kb, 7800);  // 1950 pages
  EXPECT_EQ(a.part_kb(MeminfoPart::vmalloc), 7800);
  EXPECT_TRUE(a.vmalloc.vmalloc_used_zero);
  EXPECT_EQ(a.vmalloc.owning_areas, 10u);
  ASSERT_FALSE(a.vmalloc.callers.empty());
  EXPECT_EQ(a.vmalloc.callers[0].function, "load_module");
  EXPECT_EQ(a.vmalloc.callers[0].kb, 7748);
  EXPECT_EQ(a.vmalloc.callers[0].areas, 6u);
  ASSERT_EQ(a.vmalloc.excluded.size(), 1u);
  EXPECT_EQ(a.vmalloc.excluded[0].kind, "ioremap");
  EXPECT_EQ(a.vmalloc.excluded[0].virtual_bytes, 16384u);
  EXPECT_EQ(a.page_size, 4096u);
  EXPECT_EQ(a.page_size_from, "vmallocinfo");
  // MemTotal - MemFree - (Active + Inactive) - vmalloc - Percpu
  EXPECT_EQ(*a.unaccounted_kb, 1653372 - 942324 - (261400 + 118008) - 7800 - 944);
  EXPECT_EQ(a.part_kb(MeminfoPart::user_lru), 261400 + 118008);
  EXPECT_TRUE(any_contains(a.notes, "hard-code VmallocUsed to 0"));
  EXPECT_TRUE(any_contains(a.missing, "meminfo is an excerpt"));
  EXPECT_TRUE(any_contains(a.missing, "vmallocinfo is an excerpt"));
  EXPECT_TRUE(any_contains(a.missing, "Slab, PageTables, KernelStack"));
  std::string text = render_text(a);
  EXPECT_NE(text.find("Missing from this snapshot"), std::string::npos);
}

TEST(MeminfoAccount, Firecracker618StacksCountedOnce) {
  Accounting a = account(load_snapshot(kProc / "firecracker-6.18-x86_64"));
  EXPECT_EQ(a.kernel_release, "6.18.44-fc-v445");
  EXPECT_EQ(sum_parts(a), 24682416);
  EXPECT_EQ(a.vmalloc.owned_kb, 14268);
  // 94 kernel_clone + 1 fork_idle stacks (1520 kB) in vmallocinfo; KernelStack says 1492 kB.
  EXPECT_EQ(a.vmalloc.stack_overlap_kb, 1492);
  EXPECT_EQ(a.part_kb(MeminfoPart::vmalloc), 14268 - 1492);
  EXPECT_EQ(a.part_kb(MeminfoPart::kernel_stack), 1492);
  EXPECT_EQ(a.part_kb(MeminfoPart::percpu), 976);
  EXPECT_EQ(a.part_kb(MeminfoPart::balloon), 0);
  EXPECT_EQ(a.part_kb(MeminfoPart::zsmalloc), 0);
  // 19288 kB of it are free pages on the per-CPU lists (zoneinfo pagesets), which MemFree omits.
  EXPECT_EQ(a.part_kb(MeminfoPart::free_pcp), 19288);
  EXPECT_EQ(a.unaccounted_kb, 33684 - 19288);
  ASSERT_EQ(a.slab.caches.size(), 235u);
  EXPECT_EQ(a.slab.slabinfo_total_kb, 65120);
  EXPECT_EQ(a.slab.caches[0].name, "ext4_inode_cache");
  EXPECT_EQ(a.slab.caches[0].total_kb, 2111 * 4 * 4);
  EXPECT_EQ(a.slab.caches[0].active_kb, 29554 * 1128 / 1024);
  EXPECT_EQ(a.slab.caches[0].reclaimable, true);  // no sysfs: guessed from the name
  EXPECT_TRUE(a.slab.caches[0].reclaimable_guessed);
  ASSERT_FALSE(a.vmalloc.callers.empty());
  EXPECT_EQ(a.vmalloc.callers[0].function, "htab_map_alloc");
  bool unpurged = false;
  for (const auto& e : a.vmalloc.excluded) unpurged |= e.kind == "unpurged" && e.areas == 3392;
  EXPECT_TRUE(unpurged);
}

TEST(MeminfoAccount, LiveProcAddsUpToMemTotal) {
  Snapshot s = collect_snapshot(DirProcSource::live(), 1);
  ASSERT_TRUE(s.files.count("meminfo"));
  EXPECT_TRUE(s.sysfs);
  Accounting a = account(s);
  ASSERT_TRUE(a.mem_total_kb);
  ASSERT_TRUE(a.unaccounted_kb);
  EXPECT_EQ(sum_parts(a), *a.mem_total_kb);
  EXPECT_EQ(parse_meminfo(s.files.at("meminfo")).get("MemTotal"), a.mem_total_kb);
  EXPECT_TRUE(a.part_kb(MeminfoPart::free));
  EXPECT_TRUE(a.part_kb(MeminfoPart::kernel_stack));
  EXPECT_TRUE(a.part_kb(MeminfoPart::page_tables));
  if (geteuid() == 0) {
    EXPECT_EQ(a.vmalloc.source, "vmallocinfo");
    EXPECT_FALSE(a.slab.caches.empty());
    // sysfs answers reclaimability where /sys/kernel/slab exists.
    if (fs::exists("/sys/kernel/slab/dentry")) {
      bool found = false;
      for (const auto& c : a.slab.caches)
        if (c.name == "dentry") found = c.reclaimable == true && !c.reclaimable_guessed;
      EXPECT_TRUE(found);
    }
  }
  // The JSON says the same.
  json j = json::parse(render_json(a));
  EXPECT_EQ(j["unaccounted_kb"], *a.unaccounted_kb);
  std::int64_t sum = 0;
  for (const auto& p : j["parts"]) sum += p["kb"].get<std::int64_t>();
  EXPECT_EQ(sum, j["mem_total_kb"].get<std::int64_t>());
}

// ---- synthetic cases ---------------------------------------------------------------------------

Snapshot synthetic(std::string meminfo) {
  Snapshot s;
  s.source = "synthetic";
  s.files["meminfo"] = std::move(meminfo);
  return s;
}

TEST(MeminfoAccount, NegativeRemainderIsReportedNotClamped) {
  Accounting a = account(synthetic(meminfo_text({{"MemTotal", 1000}, {"MemFree", 600}, {"Active", 300},
                                                 {"Inactive", 200}, {"Unevictable", 0}, {"Slab", 50}})));
  ASSERT_TRUE(a.unaccounted_kb);
  EXPECT_EQ(*a.unaccounted_kb, -150);
  EXPECT_EQ(sum_parts(a), 1000);
  EXPECT_EQ(a.parts.back().key, MeminfoPart::unaccounted);
  EXPECT_NE(a.unaccounted_explanation.find("negative"), std::string::npos);
  EXPECT_NE(render_text(a).find("-150"), std::string::npos);
}

// Issue 12: values out of range were dropped silently while the table said "add up to it
// exactly". They are now listed under Missing and the table no longer claims exactness.
TEST(MeminfoAccount, OutOfRangeValuesAreReportedNotDropped) {
  std::string text = meminfo_text({{"MemTotal", 1000}, {"Active", 300}, {"Inactive", 200}, {"Unevictable", 0}}) +
                     "MemFree: 18446744073709551615 kB\nSlab: -50 kB\n";
  Meminfo m = parse_meminfo(text);
  EXPECT_EQ(m.out_of_range.size(), 2u);
  Accounting a = account(synthetic(text));
  EXPECT_FALSE(a.exact);
  EXPECT_TRUE(any_contains(a.missing, "MemFree: 18446744073709551615"));
  EXPECT_TRUE(any_contains(a.missing, "Slab: -50"));
  std::string t = render_text(a);
  EXPECT_EQ(t.find("add up to it exactly"), std::string::npos) << t;
  EXPECT_NE(t.find("out of range"), std::string::npos) << t;
  EXPECT_FALSE(json::parse(render_json(a))["exact"].get<bool>());
  // MemTotal itself out of range: nothing can be accounted, and the value is named.
  Accounting huge = account(synthetic("MemTotal: 100000000000000000000000 kB\nMemFree: 5 kB\n"));
  EXPECT_FALSE(huge.mem_total_kb);
  EXPECT_TRUE(any_contains(huge.missing, "MemTotal: 100000000000000000000000"));
  // A clean meminfo still says it is exact.
  EXPECT_TRUE(account(synthetic(meminfo_text({{"MemTotal", 1000}, {"MemFree", 600}}))).exact);
}

TEST(MeminfoAccount, NoMemTotal) {
  Accounting a = account(synthetic("MemFree: 5 kB\n"));
  EXPECT_FALSE(a.mem_total_kb);
  EXPECT_FALSE(a.unaccounted_kb);
  EXPECT_TRUE(a.parts.empty());
  EXPECT_TRUE(any_contains(a.missing, "no MemTotal"));
  EXPECT_NE(render_text(a).find("MemTotal is unknown"), std::string::npos);
  EXPECT_TRUE(json::parse(render_json(a))["unaccounted_kb"].is_null());
  Accounting none = account(Snapshot{});
  EXPECT_TRUE(any_contains(none.missing, "no meminfo"));
}

TEST(MeminfoAccount, VmallocUsedZeroWithoutVmallocinfo) {
  Snapshot s = synthetic(meminfo_text({{"MemTotal", 1000}, {"MemFree", 100}, {"VmallocUsed", 0}}));
  s.files["kernel-release"] = "4.19.26-00780-gfdd0789195dd";
  Accounting a = account(s);
  EXPECT_EQ(a.vmalloc.source, "none");
  EXPECT_TRUE(a.vmalloc.vmalloc_used_zero);
  EXPECT_FALSE(a.part_kb(MeminfoPart::vmalloc));
  EXPECT_TRUE(any_contains(a.missing, "hard-code it to 0"));
  EXPECT_EQ(a.unaccounted_kb, 900);
  // A 5.3+ kernel that reads 0 simply has no vmalloc pages.
  s.files["kernel-release"] = "5.10.0";
  EXPECT_EQ(account(s).vmalloc.source, "VmallocUsed");
}

TEST(MeminfoAccount, HugetlbAndNewCounters) {
  Snapshot s = synthetic(meminfo_text({{"MemTotal", 100000}, {"MemFree", 1000}, {"HugePages_Total", 10},
                                       {"Hugepagesize", 2048}, {"KReclaimable", 700}, {"SReclaimable", 500},
                                       {"SUnreclaim", 100}, {"SecPageTables", 30}, {"Zswap", 40},
                                       {"Unaccepted", 50}, {"Balloon", 60}}));
  Accounting a = account(s);
  EXPECT_EQ(a.part_kb(MeminfoPart::hugetlb), 20480);
  EXPECT_EQ(a.part_kb(MeminfoPart::kernel_misc_reclaimable), 200);
  EXPECT_EQ(a.part_kb(MeminfoPart::sec_page_tables), 30);
  EXPECT_EQ(a.part_kb(MeminfoPart::zswap), 40);
  EXPECT_EQ(a.part_kb(MeminfoPart::unaccepted), 50);
  EXPECT_EQ(a.part_kb(MeminfoPart::balloon), 60);
  EXPECT_EQ(sum_parts(a), 100000);
  // Hugetlb (all sizes) wins over HugePages_Total x Hugepagesize when the kernel prints it.
  s.files["meminfo"] += "Hugetlb: 1050624 kB\n";
  EXPECT_EQ(account(s).part_kb(MeminfoPart::hugetlb), 1050624);
  // zsmalloc pages from vmstat replace Zswap when larger (one pool, counted once).
  s.files["vmstat"] = "nr_zspages 100\n";
  Accounting z = account(s);
  EXPECT_EQ(z.part_kb(MeminfoPart::zsmalloc), 400);
  EXPECT_FALSE(z.part_kb(MeminfoPart::zswap));
}

TEST(MeminfoBalloon, ModulesAndSysfsEvidence) {
  Snapshot s = load_snapshot(kProc / "centos7-3.10-vmware-balloon");
  s.files["modules"] = "vmw_balloon 18094 0 - Live 0xffffffffc0453000\nvmw_vmci 67127 1 - Live 0x0\n";
  Accounting a = account(s);
  EXPECT_TRUE(a.balloon.checked);
  ASSERT_EQ(a.balloon.drivers.size(), 1u);
  EXPECT_EQ(a.balloon.drivers[0], "vmw_balloon (in /proc/modules)");
  EXPECT_NE(a.unaccounted_explanation.find("balloon driver is present: vmw_balloon"), std::string::npos);
  EXPECT_EQ(a.unaccounted_kb, 5125296);  // evidence changes the words, never the figures

  s.files.erase("modules");
  s.sysfs = true;
  s.sys["/sys/module/vmw_balloon"] = "";
  EXPECT_EQ(account(s).balloon.drivers, std::vector<std::string>{"vmw_balloon (/sys/module/vmw_balloon)"});

  s.sys.clear();
  Accounting none = account(s);
  EXPECT_TRUE(none.balloon.drivers.empty());
  EXPECT_NE(none.unaccounted_explanation.find("No balloon driver is loaded"), std::string::npos);
}

TEST(MeminfoBalloon, VirtioDeflateOnOomDecidesWhetherBalloonIsInsideMemTotal) {
  Snapshot s = synthetic(meminfo_text({{"MemTotal", 10000}, {"MemFree", 1000}, {"Balloon", 4000}}));
  s.sysfs = true;
  s.sys["/sys/bus/virtio/drivers/virtio_balloon"] = "";
  s.sys["/sys/bus/virtio/drivers/virtio_balloon/virtio0/features"] = "0110010100";  // bit 2 set
  Accounting in = account(s);
  EXPECT_EQ(in.part_kb(MeminfoPart::balloon), 4000);
  EXPECT_FALSE(in.balloon.outside_memtotal);
  EXPECT_EQ(in.balloon.drivers, std::vector<std::string>{"virtio_balloon (bound to virtio0)"});
  EXPECT_EQ(in.unaccounted_kb, 5000);

  s.sys["/sys/bus/virtio/drivers/virtio_balloon/virtio0/features"] = "0100010100";  // no DEFLATE_ON_OOM
  Accounting out = account(s);
  EXPECT_TRUE(out.balloon.outside_memtotal);
  EXPECT_FALSE(out.part_kb(MeminfoPart::balloon));
  EXPECT_EQ(out.unaccounted_kb, 9000);
  EXPECT_TRUE(any_contains(out.notes, "not a part of MemTotal"));
}

TEST(MeminfoBalloon, CollectedFromCopiedSysfs) {
  TempDir d;
  d.write("meminfo", meminfo_text({{"MemTotal", 100}, {"MemFree", 10}}));
  d.write("modules", "virtio_balloon 1 0 - Live 0x0\n");
  d.write("sys/bus/virtio/drivers/virtio_balloon/virtio2/features", "0010\n");
  d.write("sys/kernel/slab/dentry/reclaim_account", "1\n");
  d.write("slabinfo", "slabinfo - version: 2.1\ndentry 1 1 192 21 1 : tunables 0 0 0 : slabdata 1 1 0\n");
  Snapshot s = load_snapshot(d.path);
  EXPECT_TRUE(s.sysfs);
  EXPECT_EQ(s.sys.at("/sys/bus/virtio/drivers/virtio_balloon/virtio2/features"), "0010");
  EXPECT_EQ(s.sys.at("/sys/kernel/slab/dentry/reclaim_account"), "1");
  Accounting a = account(s);
  EXPECT_EQ(a.balloon.drivers.size(), 2u);
  ASSERT_EQ(a.slab.caches.size(), 1u);
  EXPECT_EQ(a.slab.caches[0].reclaimable, true);
  EXPECT_FALSE(a.slab.caches[0].reclaimable_guessed);
}

// ---- snapshots ---------------------------------------------------------------------------------

TEST(MeminfoSnapshot, JsonRoundTrip) {
  Snapshot s = load_snapshot(kProc / "centos7-4.19-aarch64-vmallocused0");
  s.taken_at = 1700000000;
  s.sysfs = true;
  s.sys["/sys/module/vmw_balloon"] = "";
  Snapshot back = snapshot_from_json(snapshot_to_json(s));
  EXPECT_EQ(back, s);
  EXPECT_EQ(account(back).unaccounted_kb, account(s).unaccounted_kb);

  TempDir d;
  auto file = d.write("snap.json", snapshot_to_json(s));
  Snapshot loaded = load_snapshot(file);
  EXPECT_EQ(loaded.files, s.files);
  EXPECT_NE(loaded.source.find("snap.json"), std::string::npos);
}

TEST(MeminfoSnapshot, BadInputIsAUsageError) {
  for (std::string bad : {"", "{", "[]", "{\"schema\": \"other\"}", "{\"schema\": \"kleak.meminfo.snapshot/1\"}",
                          "{\"schema\": \"kleak.meminfo.snapshot/1\", \"files\": {\"meminfo\": 5}}"}) {
    try {
      snapshot_from_json(bad);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), kExitUsage) << bad;
    }
  }
  TempDir d;
  EXPECT_THROW(load_snapshot(d.path / "nope"), Error);
  EXPECT_THROW(load_snapshot(d.path), Error);  // a directory without meminfo
}

// ---- diff --------------------------------------------------------------------------------------

Snapshot diff_side(std::int64_t free_kb, std::int64_t sunreclaim, std::uint64_t foo_slabs, std::uint64_t bar_slabs,
                   std::uint64_t vm_pages, std::int64_t taken_at) {
  Snapshot s = synthetic(meminfo_text({{"MemTotal", 1000000}, {"MemFree", free_kb}, {"Active(anon)", 100000},
                                       {"Inactive(anon)", 0}, {"Active(file)", 100000}, {"Inactive(file)", 0},
                                       {"Active", 100000}, {"Inactive", 100000}, {"Unevictable", 0},
                                       {"SReclaimable", 50000}, {"SUnreclaim", sunreclaim}, {"PageTables", 1000},
                                       {"KernelStack", 1000}}));
  s.taken_at = taken_at;
  s.files["slabinfo"] = "slabinfo - version: 2.1\n" +
                        fmt::format("foo 100 100 64 64 1 : tunables 0 0 0 : slabdata {0} {0} 0\n", foo_slabs) +
                        fmt::format("bar 100 100 64 64 1 : tunables 0 0 0 : slabdata {0} {0} 0\n", bar_slabs);
  s.files["vmallocinfo"] =
      fmt::format("0x1-0x2 {} leaky_alloc+0x10/0x40 [leaky] pages={} vmalloc\n", (vm_pages + 1) * 4096, vm_pages) +
      "0x3-0x4 45056 steady+0x1/0x2 pages=10 vmalloc\n";
  return s;
}

TEST(MeminfoDiff, RanksGrowthFirstAndShrinksLast) {
  Accounting before = account(diff_side(500000, 50000, 10, 100, 10, 1000));
  Accounting after = account(diff_side(400000, 90000, 10010, 50, 2570, 1300));
  ASSERT_EQ(before.unaccounted_kb, 197920);
  ASSERT_EQ(after.unaccounted_kb, 247680);
  MeminfoDiff d = diff_accountings(before, after);
  EXPECT_EQ(d.seconds, 300);
  std::vector<std::pair<std::string, std::string>> order;
  for (const auto& r : d.rows) order.emplace_back(r.kind, r.name);
  std::vector<std::pair<std::string, std::string>> want = {
      {"part", "unaccounted"},         // +49760
      {"part", "slab_unreclaimable"},  // +40000 (ties: parts first, then by name)
      {"slab", "foo"},                 // +40000
      {"part", "vmalloc"},             // +10240
      {"vmalloc", "leaky_alloc [leaky]"},
      {"slab", "bar"},                 // -200
      {"part", "free"},                // -100000
  };
  EXPECT_EQ(order, want);
  EXPECT_EQ(d.rows[0].before_kb, 197920);
  EXPECT_EQ(d.rows[0].after_kb, 247680);
  EXPECT_EQ(d.rows[0].delta_kb, 49760);
  EXPECT_EQ(d.rows.back().delta_kb, -100000);
  // Rendering keeps the order; --top 1 shows the biggest growth and the biggest shrink.
  std::string text = render_diff_text(d, {.top = 1});
  auto grow = text.find("unaccounted");
  auto shrink = text.find("free");
  ASSERT_NE(grow, std::string::npos);
  ASSERT_NE(shrink, std::string::npos);
  EXPECT_LT(grow, shrink);
  EXPECT_EQ(text.find("leaky_alloc"), std::string::npos);
  EXPECT_NE(text.find("5 smaller changes not shown"), std::string::npos);
  json j = json::parse(render_diff_json(d));
  EXPECT_EQ(j["rows"].size(), 7u);
  EXPECT_EQ(j["rows"][0]["name"], "unaccounted");
  EXPECT_TRUE(diff_accountings(before, before).rows.empty());
}

// ---- rendering ---------------------------------------------------------------------------------

TEST(MeminfoRender, JsonFieldsAreStable) {
  Accounting a = account(load_snapshot(kProc / "firecracker-6.18-x86_64"));
  json j = json::parse(render_json(a, {.top = 3}));
  EXPECT_EQ(j["schema"], "kleak.meminfo/1");
  EXPECT_EQ(j["mem_total_kb"], 24682416);
  EXPECT_EQ(j["unaccounted_kb"], 33684 - 19288);
  for (const char* k : {"source", "taken_at", "kernel_release", "page_size", "page_size_from", "unaccounted_percent",
                        "unaccounted_explanation", "user_formula", "parts", "breakdown_kb", "vmalloc", "slab",
                        "balloon", "notes", "missing"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["vmalloc"]["top_callers"].size(), 3u);
  EXPECT_EQ(j["slab"]["top_caches"].size(), 3u);
  EXPECT_EQ(j["slab"]["caches_total"], 235);
  EXPECT_EQ(j["vmalloc"]["stack_overlap_kb"], 1492);
  EXPECT_EQ(j["breakdown_kb"]["Cached"], 221160);
  for (const auto& p : j["parts"])
    for (const char* k : {"key", "label", "group", "kb", "percent", "from"}) EXPECT_TRUE(p.contains(k)) << k;
}

TEST(MeminfoRender, TextTableBiggestFirstWithPercentages) {
  Accounting a = account(load_snapshot(kProc / "centos7-3.10-vmware-balloon"));
  std::string t = render_text(a);
  EXPECT_NE(t.find("MemTotal 7994080 kB"), std::string::npos);
  auto un = t.find("5125296");
  auto an = t.find("1410952");
  ASSERT_NE(un, std::string::npos);
  ASSERT_NE(an, std::string::npos);
  EXPECT_LT(un, an);
  EXPECT_NE(t.find("64.11%"), std::string::npos);
  EXPECT_NE(t.find("LRU lists"), std::string::npos);
}

// ---- the subcommand ----------------------------------------------------------------------------

int run_cli(const std::string& args) {
  CLI::App app{"kleak"};
  int code = -1;
  register_meminfo_command(app, code);
  app.parse("meminfo " + args, false);
  return code;
}

TEST(MeminfoCommand, FixtureToJsonFile) {
  TempDir d;
  auto out = d.path / "out.json";
  auto snap = d.path / "snap.json";
  EXPECT_EQ(run_cli("--proc " + (kProc / "centos7-3.10-vmware-balloon").string() + " --format json -o " +
                    out.string() + " --save " + snap.string()),
            0);
  json j = json::parse(slurp(out));
  EXPECT_EQ(j["unaccounted_kb"], 5125296);
  // The saved snapshot re-parses to the same answer, and --proc takes it too.
  EXPECT_EQ(account(load_snapshot(snap)).unaccounted_kb, 5125296);
  EXPECT_EQ(run_cli("--proc " + snap.string() + " --format json -o " + out.string()), 0);
  EXPECT_EQ(json::parse(slurp(out))["unaccounted_kb"], 5125296);
}

TEST(MeminfoCommand, DiffAcceptsSnapshotsAndDirectories) {
  TempDir d;
  auto a = d.write("a.json", snapshot_to_json(diff_side(500000, 50000, 10, 100, 10, 1000)));
  auto b = d.write("b.json", snapshot_to_json(diff_side(400000, 90000, 10010, 50, 2570, 1300)));
  auto out = d.path / "diff.json";
  EXPECT_EQ(run_cli("--diff " + a.string() + " " + b.string() + " --format json -o " + out.string()), 0);
  json j = json::parse(slurp(out));
  EXPECT_EQ(j["rows"][0]["name"], "unaccounted");
  EXPECT_EQ(j["rows"][0]["delta_kb"], 49760);
  // Two /proc directories.
  EXPECT_EQ(run_cli("--diff " + (kProc / "centos7-3.10-vmware-balloon").string() + " " +
                    (kProc / "firecracker-6.18-x86_64").string() + " -o " + out.string()),
            0);
  EXPECT_NE(slurp(out).find("MemTotal changed"), std::string::npos);
}

TEST(MeminfoCommand, WatchSamplesUntilCount) {
  TempDir d;
  auto out = d.path / "watch.jsonl";
  EXPECT_EQ(run_cli("--proc " + (kProc / "firecracker-6.18-x86_64").string() +
                    " --watch 10ms --samples 2 --format json -o " + out.string()),
            0);
  std::istringstream lines(slurp(out));
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    json j = json::parse(line);
    EXPECT_EQ(j["sample"], ++n);
    EXPECT_TRUE(j["rows"].empty());  // a static directory does not change
    EXPECT_EQ(j["unaccounted_kb"], 33684 - 19288);
  }
  EXPECT_EQ(n, 2);
}

TEST(MeminfoCommand, UsageErrors) {
  try {  // the one --format error of every subcommand (format_table.h)
    run_cli("--format xml");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitUsage);
    EXPECT_STREQ(e.what(), "bad --format 'xml' for meminfo (use text or json)");
  }
  EXPECT_THROW(run_cli("--diff onlyone"), CLI::ArgumentMismatch);
  EXPECT_THROW(run_cli("--samples 3"), CLI::RequiresError);
  EXPECT_THROW(run_cli("--diff a b --watch 1s"), CLI::ExcludesError);
  try {
    run_cli("--proc /nonexistent/kleak/dir");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitUsage);
  }
  try {
    run_cli("--proc " + (kProc / "firecracker-6.18-x86_64").string() + " --watch banana");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitUsage);
  }
}

}  // namespace
}  // namespace kleak
