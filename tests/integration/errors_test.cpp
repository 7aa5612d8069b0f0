// Every way `kleak trace` can be refused ends in one clear line on stderr and a non-zero exit.
#include <gtest/gtest.h>

#include <fstream>

#include "harness.h"

namespace kleak::test {
namespace {

// One line, starting with "kleak: ", containing `what`.
::testing::AssertionResult one_line_error(const RunResult& r, const std::string& what) {
  if (r.err.empty() || r.err.back() != '\n' || r.err.find('\n') != r.err.size() - 1)
    return ::testing::AssertionFailure() << "stderr is not exactly one line: '" << r.err << "'";
  if (r.err.rfind("kleak: ", 0) != 0) return ::testing::AssertionFailure() << "no 'kleak: ' prefix: " << r.err;
  if (r.err.find(what) == std::string::npos)
    return ::testing::AssertionFailure() << "'" << what << "' not in: " << r.err;
  if (!r.out.empty()) return ::testing::AssertionFailure() << "stdout not empty: " << r.out;
  return ::testing::AssertionSuccess();
}

RunResult trace(std::vector<std::string> args) {
  args.insert(args.begin(), {KLEAK_BIN, "trace"});
  return run(args);
}

TEST(Errors, BadDuration) {
  for (const char* d : {"10x", "-5s", "", "1s2", "soon"}) {
    RunResult r = trace({"--duration", d});
    EXPECT_EQ(r.status, 2) << d;
    EXPECT_TRUE(one_line_error(r, "bad duration")) << d;
  }
}

TEST(Errors, BadFilterNamesTheColumn) {
  RunResult r = trace({"--filter", "bytes_req >= && bytes_req <= 512"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(one_line_error(r, "bad filter at column 14"));
  r = trace({"--filter", "size > 5"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(one_line_error(r, "column 1"));
  r = trace({"--filter", "cache == \"dentry"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(one_line_error(r, "bad filter"));
}

TEST(Errors, BadFlagsAndValues) {
  EXPECT_TRUE(one_line_error(trace({"--bogus"}), "--bogus"));
  EXPECT_EQ(trace({"--bogus"}).status, 2);
  EXPECT_TRUE(one_line_error(trace({"--format", "xml"}), "bad --format"));
  EXPECT_TRUE(one_line_error(trace({"--stack-depth", "0"}), "--stack-depth"));
  EXPECT_TRUE(one_line_error(trace({"--kinds", "kmalloc,bogus"}), "bogus"));
  EXPECT_TRUE(one_line_error(trace({"--min-size", "lots"}), "--min-size"));
  EXPECT_TRUE(one_line_error(trace({"--attach", "uprobe"}), "--attach"));
  EXPECT_TRUE(one_line_error(trace({"--filter", "bytes_req > 10 && bytes_req < 5"}), "can match no"));
  EXPECT_TRUE(one_line_error(run({KLEAK_BIN}), "subcommand"));
}

TEST(Errors, UnwritableOutputFailsBeforeTracing) {
  // Exit 2: an output path is input the user gave (error.h, docs/usage.md "Exit status").
  RunResult r = trace({"-o", "/nonexistent-dir/report.txt", "--duration", "1h"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(one_line_error(r, "cannot write /nonexistent-dir/report.txt"));
}

TEST(Errors, NotRoot) {
  if (geteuid() != 0) {
    RunResult r = trace({"--duration", "1s"});
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(one_line_error(r, "missing capabilities"));
    return;
  }
  KLEAK_NEEDS(Setpriv);
  // Drop to nobody with no capabilities, as a real unprivileged user would run it.
  RunResult r = run({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", KLEAK_BIN, "trace", "--duration", "1s"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(one_line_error(
      r, "missing capabilities CAP_BPF, CAP_PERFMON, CAP_SYSLOG, CAP_DAC_READ_SEARCH: kleak trace needs"));
}

TEST(Errors, NoBtf) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  RunResult r = trace({"--btf", "/nonexistent/vmlinux", "--duration", "1s"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(one_line_error(r, "no kernel BTF at /nonexistent/vmlinux"));
}

TEST(Errors, TracefsMissing) {
  // A --tracefs that is not one is refused with the other flags (exit 2), whatever the attach
  // mode: with raw_tp (the default here) it used to be accepted silently.
  for (std::vector<std::string> args : {std::vector<std::string>{"--attach", "tracepoint"}, std::vector<std::string>{}}) {
    args.insert(args.end(), {"--tracefs", "/nonexistent", "--duration", "1s"});
    RunResult r = trace(args);
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(one_line_error(r, "no tracefs at /nonexistent"));
  }
}

TEST(Errors, CacheFilterWhereTheSlabTracepointCarriesNoCacheIsAnError) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  // 5.10's and 6.1's classic kmem_cache_alloc tracepoint has neither struct kmem_cache * nor a
  // name: a cache filter there used to match nothing and print an empty report (exit 0).
  RunResult r = trace({"--attach", "tracepoint", "--cache", "dentry", "--duration", "1s", "--format", "json"});
  if (slab_tracepoint_names_its_cache()) {
    EXPECT_EQ(r.status, 0) << r.err;
  } else {
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(one_line_error(r, "a slab cache filter cannot work with this kernel's kmem:kmem_cache_alloc"));
  }
}

TEST(Errors, FailedLoadSaysWhy) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  // A BTF that holds one type ('int'): the programs' CO-RE relocations find none of theirs, the
  // load fails at once and says so. (A 4-billion-entry map did this before; map sizes are now
  // checked with the other flags, exit 2: Cli.MapSizesAndBtfAreCheckedBeforeTheKernel.)
  std::string btf = ::testing::TempDir() + "kleak-tiny-" + std::to_string(getpid()) + ".btf";
  {
    const uint32_t type[4] = {1, 1u << 24, 4, 32};  // name "int", BTF_KIND_INT, size 4, 32 bits
    const char strings[] = "\0int";                 // plus its NUL: 5 bytes
    const uint32_t header[6] = {0xeB9F | (1u << 16), 24, 0, sizeof type, sizeof type, sizeof strings};
    std::ofstream out(btf, std::ios::binary);
    out.write(reinterpret_cast<const char*>(header), sizeof header);
    out.write(reinterpret_cast<const char*>(type), sizeof type);
    out.write(strings, sizeof strings);
  }
  RunResult r = trace({"--btf", btf, "--duration", "1s"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(one_line_error(r, "failed to load BPF programs"));
  unlink(btf.c_str());
}

TEST(Errors, KprobesAbsentIsAWarningNotAFailure) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  if (std::filesystem::exists("/sys/bus/event_source/devices/kprobe/type"))
    GTEST_SKIP() << "this kernel has kprobes";
  // Forcing kprobes on a kernel without them leaves nothing to attach: a one-line error.
  RunResult r = trace({"--attach", "kprobe", "--duration", "1s"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("kprobes are not available"), std::string::npos) << r.err;
}

// Issue 23: --max-caches 1 exited 0 with only cache_map_full=7656 on the dropped line: a full
// cache map leaves allocations without their cache, an incomplete report, exit 3 as a full
// allocation map is.
// Where the slab event carries no cache (5.10) nothing is kept in the cache map, so it cannot fill:
// the 5.10 lane failed here (stop 28's CI) on that kernel fact.
TEST(Errors, AFullCacheMapIsAnIncompleteReport) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  if (std::string why = slab_cache_filter_refused(); !why.empty()) GTEST_SKIP() << why;
  Tracing t({"--duration", "1h", "--kinds", "slab,kmalloc", "--max-caches", "1"});
  {
    // Sockets, inodes and eventfds: objects of several caches in the window.
    Planter p({"--sockets", "50", "--eventfds", "50"});
  }
  int rc = t.stop();
  EXPECT_EQ(rc, 3) << t.err();
  EXPECT_NE(t.err().find("the cache map (1 entries) was full"), std::string::npos) << t.err();
  EXPECT_NE(t.out().find("cache_map_full="), std::string::npos) << t.out();
}

// Was: a full churn map was counted in BPF and shown nowhere ("dropped: none") while every
// group's allocs/frees in the window undercounted.
TEST(Errors, AFullChurnMapIsNamedAsALoss) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  Tracing t({"--duration", "1h", "--max-churn", "16", "--format", "json"});
  // Fifty processes: each allocates under keys of its own (a churn key holds the tgid), more than
  // 16 even on a quiet guest (the 5.10 lane's idle box did not fill it in 2 s by itself).
  EXPECT_EQ(run({"/bin/sh", "-c", "i=0; while [ $i -lt 50 ]; do /bin/true; i=$((i + 1)); done"}).status, 0);
  ASSERT_EQ(t.stop(), 0) << t.err();
  nlohmann::json j = t.json();
  EXPECT_GT(j["dropped"].value("churn_map_full", 0u), 0u) << j["dropped"].dump();
}

}  // namespace
}  // namespace kleak::test
