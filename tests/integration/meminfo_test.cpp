// `kleak meminfo --diff` and the trace's meminfo reconciliation, against known kernel memory held
// by the planter: filled pipes land in no counter (unaccounted), BPF array maps in vmalloc.
#include <gtest/gtest.h>

#include "harness.h"

namespace kleak::test {
namespace {

using nlohmann::json;

int64_t diff_row(const json& diff, const std::string& kind, const std::string& name) {
  for (const auto& r : diff["rows"])
    if (r["kind"] == kind && r["name"] == name) return r["delta_kb"].get<int64_t>();
  return 0;
}

const json* reconcile_row(const json& report, const std::string& line) {
  for (const auto& r : report["reconciliation"])
    if (r["line"] == line) return &r;
  return nullptr;
}

TEST(Meminfo, DiffShowsHeldMemoryInTheRightLine) {
  settle();
  std::string before = ::testing::TempDir() + "kleak-before.json";
  std::string after = ::testing::TempDir() + "kleak-after.json";
  ASSERT_EQ(run({KLEAK_BIN, "meminfo", "--save", before}).status, 0);
  std::map<std::string, std::string> planted;
  {
    Planter p({"--pipes", "1000", "--vmalloc-map", "4194304", "--vmalloc-maps", "4"});  // 61 MiB of pipes: well above the box's noise
    planted = p.values;
    ASSERT_EQ(run({KLEAK_BIN, "meminfo", "--save", after}).status, 0);
  }
  RunResult d = run({KLEAK_BIN, "meminfo", "--diff", before, after, "--format", "json"});
  ASSERT_EQ(d.status, 0) << d.err;
  json diff = json::parse(d.out);
  double pipe_kb = std::stod(planted.at("pipe_page_bytes")) / 1024;
  double vmalloc_kb = std::stod(planted.at("vmalloc_page_bytes")) / 1024;
  // Pipe buffers have no meminfo line of their own: they are the unaccounted remainder.
  EXPECT_TRUE(within(static_cast<double>(diff_row(diff, "part", "unaccounted")), pipe_kb, 0.10)) << d.out;
  EXPECT_TRUE(within(static_cast<double>(diff_row(diff, "part", "vmalloc")), vmalloc_kb, 0.10)) << d.out;
  unlink(before.c_str());
  unlink(after.c_str());
}

TEST(Meminfo, TraceReconcilesPipesAndBpfMapsWithMeminfo) {
  KLEAK_NEEDS(VmallocStacks);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  settle();
  std::vector<std::string> args{"--duration", "2m", "--format", "json", "--top", "1000"};
  Tracing t(args);
  std::map<std::string, std::string> planted;
  int status = 0;
  {
    Planter p({"--pipes", "1000", "--vmalloc-map", "4194304", "--vmalloc-maps", "4"});  // 61 MiB of pipes: well above the box's noise
    planted = p.values;
    status = t.stop();
  }
  ASSERT_EQ(status, 0) << t.err();
  json r = t.json();
  double pipe_kb = std::stod(planted.at("pipe_page_bytes")) / 1024;
  double vmalloc_kb = std::stod(planted.at("vmalloc_page_bytes")) / 1024;
  // Each stack is placed in the meminfo line it lands in...
  EXPECT_TRUE(within(r["by_category"]["pipe"]["bytes"].get<double>() / 1024, pipe_kb, 0.10));
  Found vm = find_stacks(r, "vmalloc", "__bpf_map_area_alloc");
  EXPECT_GT(vm.count, 0u);
  for (const auto& s : r["stacks"])
    if (s["kind"] == "vmalloc" && s["frames"][0].get<std::string>().rfind("__bpf_map_area_alloc+", 0) == 0)
      EXPECT_EQ(s["category"], "vmalloc");
  // ...and the lines' movement during the window matches what the trace explains.
  const json* vrow = reconcile_row(r, "vmalloc");
  ASSERT_NE(vrow, nullptr) << r["reconciliation"].dump(1);
  EXPECT_TRUE(within((*vrow)["explained_kb"].get<double>(), vmalloc_kb, 0.10)) << vrow->dump();
  EXPECT_TRUE(within((*vrow)["moved_kb"].get<double>(), (*vrow)["explained_kb"].get<double>(), 0.10))
      << vrow->dump();
  const json* urow = reconcile_row(r, "unaccounted");
  ASSERT_NE(urow, nullptr) << r["reconciliation"].dump(1);
  EXPECT_GE((*urow)["explained_kb"].get<double>(), 0.9 * pipe_kb) << urow->dump();
  EXPECT_TRUE(within((*urow)["moved_kb"].get<double>(), (*urow)["explained_kb"].get<double>(), 0.10))
      << r["reconciliation"].dump(1);
}

}  // namespace
}  // namespace kleak::test
