// The /proc parsers (pure functions of text) and DirProcSource, on the fixtures with known answers.
#include "fixture_file.h"
#include "kleak/procfs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>

namespace kleak {
namespace {

namespace fs = std::filesystem;

const fs::path kProc = fs::path(KLEAK_FIXTURES) / "proc";

using test::slurp;

// A scratch directory removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/kleak-procfs-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  void write(const fs::path& rel, const std::string& text) const {
    fs::create_directories((path / rel).parent_path());
    std::ofstream(path / rel, std::ios::binary) << text;
  }
};

// ---- meminfo ----------------------------------------------------------------------------------

TEST(ProcMeminfo, CentosBalloonFixture) {
  Meminfo m = parse_meminfo(slurp(kProc / "centos7-3.10-vmware-balloon/meminfo"));
  EXPECT_EQ(m.skipped_lines, 0u);
  EXPECT_EQ(m.fields.size(), 44u);
  EXPECT_EQ(m.get("MemTotal"), 7994080);
  EXPECT_EQ(m.get("MemFree"), 125256);
  EXPECT_EQ(m.get("Active(anon)"), 693796);
  EXPECT_EQ(m.get("VmallocTotal"), 34359738367);
  EXPECT_EQ(m.get("HugePages_Total"), 0);  // a count, no unit
  EXPECT_EQ(m.get("Hugepagesize"), 2048);
  EXPECT_FALSE(m.get("Percpu"));
  EXPECT_EQ(m.get_or("Percpu", -1), -1);
}

TEST(ProcMeminfo, PartialFixture) {
  Meminfo m = parse_meminfo(slurp(kProc / "centos7-4.19-aarch64-vmallocused0/meminfo.partial"));
  EXPECT_EQ(m.skipped_lines, 0u);
  EXPECT_EQ(m.get("MemTotal"), 1653372);
  EXPECT_EQ(m.get("VmallocUsed"), 0);
  EXPECT_EQ(m.get("VmallocTotal"), 135290290112);
  EXPECT_EQ(m.get("Percpu"), 944);
  EXPECT_FALSE(m.has("Slab"));
}

TEST(ProcMeminfo, BadLinesAreSkippedNotFatal) {
  Meminfo m = parse_meminfo(
      "MemTotal: 100 kB\n"
      "//...elided\n"
      "Weird: 12 MB\n"
      "Huge: 18446744073709551615 kB\n"
      "Neg: -5 kB\n"
      ": 5 kB\n"
      "NoValue:\n"
      "MemTotal: 999 kB\n"  // repeated key: the first one wins
      "\n"
      "  Spaced:   7   kB  \r\n"
      "Last: 3 kB");  // no trailing newline
  EXPECT_EQ(m.get("MemTotal"), 100);
  EXPECT_EQ(m.get("Spaced"), 7);
  EXPECT_EQ(m.get("Last"), 3);
  // Numbers out of range are not "unreadable": they are kept by name, to be reported.
  EXPECT_EQ(m.skipped_lines, 4u);
  EXPECT_EQ(m.out_of_range, (std::vector<std::string>{"Huge: 18446744073709551615", "Neg: -5"}));
  EXPECT_EQ(m.fields.size(), 3u);
  EXPECT_TRUE(parse_meminfo("").fields.empty());
}

// ---- vmallocinfo -------------------------------------------------------------------------------

TEST(ProcVmallocinfo, PartialFixtureFromSeed000) {
  Vmallocinfo v = parse_vmallocinfo(slurp(kProc / "centos7-4.19-aarch64-vmallocused0/vmallocinfo.partial"));
  EXPECT_EQ(v.skipped_lines, 0u);
  ASSERT_EQ(v.areas.size(), 12u);
  std::uint64_t pages = 0, owning = 0, ioremap_bytes = 0;
  for (const auto& a : v.areas) {
    if (a.owns_pages()) {
      pages += *a.pages;
      ++owning;
    }
    if (a.ioremap) ioremap_bytes += a.size_bytes;
  }
  EXPECT_EQ(owning, 10u);
  EXPECT_EQ(pages, 1950u);  // 7800 kB with 4 KiB pages
  EXPECT_EQ(ioremap_bytes, 16384u);
  const VmallocArea& big = v.areas[4];
  EXPECT_EQ(big.size_bytes, 5185536u);
  EXPECT_EQ(big.caller, "load_module+0xe4c/0x1e60");
  EXPECT_EQ(big.function, "load_module");
  EXPECT_EQ(big.module, "");
  EXPECT_EQ(big.pages, 1265u);
  EXPECT_TRUE(big.vmalloc);
  EXPECT_TRUE(big.vpages);
  const VmallocArea& io = v.areas[7];
  EXPECT_TRUE(io.ioremap);
  EXPECT_FALSE(io.owns_pages());
  EXPECT_EQ(io.function, "of_iomap");
  EXPECT_EQ(infer_page_size(v), 4096u);
}

TEST(ProcVmallocinfo, ModulesNumaUnpurgedAndVmap) {
  Vmallocinfo v = parse_vmallocinfo(
      "0xffffc9008a003000-0xffffc900ca004000 1073745920 kmem_alloc+0x13/0x30 [kmem_test] pages=262144 vmalloc vpages N0=262144\n"
      "0x000000000274963d-0x00000000810e27a5   20480 unpurged vm_area\n"
      "0x000000006052a88a-0x0000000090293fb5   20480 irq_init_percpu_irqstack+0xca/0x100 vmap\n"
      "0xffffc90000000000-0xffffc90000002000    8192 vm_map_ram\n"
      "0x0000000037e3c1cf-0x00000000a58f69cf 2097152 pcpu_get_vm_areas+0x0/0x1050 vmalloc\n"
      "garbage line\n"
      "0x1-0x2 notanumber foo\n");
  EXPECT_EQ(v.skipped_lines, 2u);
  ASSERT_EQ(v.areas.size(), 5u);
  EXPECT_EQ(v.areas[0].module, "kmem_test");
  EXPECT_EQ(v.areas[0].function, "kmem_alloc");
  EXPECT_EQ(v.areas[0].pages, 262144u);
  EXPECT_TRUE(v.areas[1].unpurged);
  EXPECT_EQ(v.areas[1].caller, "");
  EXPECT_TRUE(v.areas[2].vmap);
  EXPECT_EQ(v.areas[2].function, "irq_init_percpu_irqstack");
  EXPECT_TRUE(v.areas[3].vm_map_ram);
  EXPECT_EQ(v.areas[3].caller, "");
  EXPECT_TRUE(v.areas[4].vmalloc);
  EXPECT_FALSE(v.areas[4].owns_pages());
  EXPECT_EQ(infer_page_size(v), 4096u);
}

TEST(ProcVmallocinfo, PageSizeInference) {
  // 64 KiB pages: 4 pages + a guard page.
  Vmallocinfo v = parse_vmallocinfo(
      "0x1000-0x2000 327680 a+0x1/0x2 pages=4 vmalloc\n"
      "0x1000-0x2000 131072 b+0x1/0x2 pages=1 vmalloc\n");
  EXPECT_EQ(infer_page_size(v), 65536u);
  EXPECT_FALSE(infer_page_size(parse_vmallocinfo("0x1-0x2 8192 ioremap\n")));
}

TEST(ProcVmallocinfo, FirecrackerFixture) {
  Vmallocinfo v = parse_vmallocinfo(slurp(kProc / "firecracker-6.18-x86_64/vmallocinfo"));
  EXPECT_EQ(v.skipped_lines, 0u);
  EXPECT_EQ(v.areas.size(), 3627u);
  std::uint64_t pages = 0, unpurged = 0;
  for (const auto& a : v.areas) {
    if (a.owns_pages()) pages += *a.pages;
    if (a.unpurged) ++unpurged;
  }
  EXPECT_EQ(pages * 4, 14268u);  // kB
  EXPECT_EQ(unpurged, 3392u);
  EXPECT_EQ(infer_page_size(v), 4096u);
}

// ---- slabinfo ----------------------------------------------------------------------------------

TEST(ProcSlabinfo, FirecrackerFixture) {
  Slabinfo s = parse_slabinfo(slurp(kProc / "firecracker-6.18-x86_64/slabinfo"));
  EXPECT_EQ(s.version, "2.1");
  EXPECT_EQ(s.skipped_lines, 0u);
  ASSERT_EQ(s.caches.size(), 235u);
  auto it = std::find_if(s.caches.begin(), s.caches.end(), [](const SlabCache& c) { return c.name == "ext4_inode_cache"; });
  ASSERT_NE(it, s.caches.end());
  EXPECT_EQ(it->active_objs, 29554u);
  EXPECT_EQ(it->num_objs, 29554u);
  EXPECT_EQ(it->objsize, 1128u);
  EXPECT_EQ(it->objperslab, 14u);
  EXPECT_EQ(it->pagesperslab, 4u);
  EXPECT_EQ(it->active_slabs, 2111u);
  EXPECT_EQ(it->num_slabs, 2111u);
  std::uint64_t pages = 0;
  for (const auto& c : s.caches) pages += c.num_slabs * c.pagesperslab;
  EXPECT_EQ(pages * 4, 65120u);  // kB
}

TEST(ProcSlabinfo, MalformedLines) {
  Slabinfo s = parse_slabinfo(
      "slabinfo - version: 2.1\n"
      "# name <active_objs> ...\n"
      "good 10 20 64 64 1 : tunables 0 0 0 : slabdata 1 2 0\n"
      "short 1 2 3\n"
      "nodata 10 20 64 64 1 : tunables 0 0 0\n"
      "bad x 20 64 64 1 : tunables 0 0 0 : slabdata 1 2 0\n"
      "cut 10 20 64 64 1 : tunables 0 0 0 : slabdata 1\n");
  ASSERT_EQ(s.caches.size(), 1u);
  EXPECT_EQ(s.caches[0].name, "good");
  EXPECT_EQ(s.caches[0].num_slabs, 2u);
  EXPECT_EQ(s.skipped_lines, 4u);
  EXPECT_EQ(parse_slabinfo("").version, "");
}

// ---- vmstat, modules ---------------------------------------------------------------------------

TEST(ProcVmstat, FirecrackerFixture) {
  Vmstat v = parse_vmstat(slurp(kProc / "firecracker-6.18-x86_64/vmstat"));
  EXPECT_EQ(v.skipped_lines, 0u);
  EXPECT_EQ(v.get("nr_free_pages"), 1015127);
  EXPECT_EQ(v.get("nr_zspages"), 0);
  EXPECT_EQ(v.get("nr_kernel_stack"), 1464);
  EXPECT_FALSE(v.get("nope"));
  EXPECT_EQ(parse_vmstat("a 1\nb\nc 2 3\nd x\n").skipped_lines, 3u);
}

TEST(ProcModules, Names) {
  auto m = parse_module_names(
      "vmw_balloon 18094 0 - Live 0xffffffffc0453000\n"
      "vmw_vmci 67127 1 vmw_vsock_vmci_transport, Live 0xffffffffc04e7000\n\n");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0], "vmw_balloon");
  EXPECT_EQ(m[1], "vmw_vmci");
}

// ---- DirProcSource -----------------------------------------------------------------------------

TEST(DirProcSource, CopiedDirectoryWithSys) {
  TempDir d;
  d.write("meminfo", "MemTotal: 1 kB\n");
  d.write("sys/module/vmw_balloon/refcnt", "0\n");
  d.write("sys/bus/virtio/drivers/virtio_balloon/virtio3/features", "0010\n");
  DirProcSource src = DirProcSource::copy(d.path);
  EXPECT_TRUE(src.has_sysfs());
  EXPECT_EQ(src.read("meminfo").text, "MemTotal: 1 kB\n");
  ReadResult missing = src.read("vmallocinfo");
  EXPECT_FALSE(missing.text);
  EXPECT_EQ(missing.error, "No such file or directory");
  EXPECT_TRUE(src.exists("/sys/module/vmw_balloon"));
  EXPECT_FALSE(src.exists("/sys/module/virtio_balloon"));
  EXPECT_EQ(src.list("/sys/bus/virtio/drivers/virtio_balloon"), std::vector<std::string>{"virtio3"});
  EXPECT_TRUE(src.list("/sys/nothing").empty());
  EXPECT_EQ(src.read("/sys/bus/virtio/drivers/virtio_balloon/virtio3/features").text, "0010\n");
  EXPECT_EQ(src.describe(), d.path.string());
}

TEST(DirProcSource, CopyWithoutSys) {
  DirProcSource src = DirProcSource::copy(kProc / "centos7-3.10-vmware-balloon");
  EXPECT_FALSE(src.has_sysfs());
  EXPECT_FALSE(src.exists("/sys/module/vmw_balloon"));
  ASSERT_TRUE(src.read("meminfo").text);
}

TEST(DirProcSource, LiveProc) {
  DirProcSource src = DirProcSource::live();
  EXPECT_EQ(src.describe(), "/proc");
  ReadResult r = src.read("meminfo");
  ASSERT_TRUE(r.text) << r.error;
  Meminfo m = parse_meminfo(*r.text);
  EXPECT_EQ(m.skipped_lines, 0u);
  EXPECT_GT(m.get_or("MemTotal", 0), 0);
  EXPECT_TRUE(src.read("sys/kernel/osrelease").text);
  EXPECT_TRUE(src.exists("/sys/module"));
}

}  // namespace
}  // namespace kleak

TEST(Zoneinfo, PerCpuListCountsAreSummed) {
  std::string text =
      "Node 0, zone   Normal\n  pages free     1000\n        min      10\n  pagesets\n"
      "    cpu: 0\n              count:    12\n              high:     3473\n"
      "    cpu: 1\n              count:    30\n              high:     3473\n"
      "Node 0, zone  Movable\n  pagesets\n    cpu: 0\n              count: 0\n";
  EXPECT_EQ(kleak::parse_zoneinfo_pcp_pages(text), 42);
  EXPECT_EQ(kleak::parse_zoneinfo_pcp_pages("Node 0, zone DMA\n  pages free 3\n"), std::nullopt);
  EXPECT_EQ(kleak::parse_zoneinfo_pcp_pages("count: 5\n"), std::nullopt);  // not indented
}
