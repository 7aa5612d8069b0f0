// The profiling world's formats, end to end on a live trace: folded for flamegraph.pl, pprof
// read by Go's own pprof, svg flame graphs, and /profile while serving.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <regex>

#include "harness.h"

namespace kleak::test {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string go_binary() {
  for (const char* p : {"/usr/bin/go", "/usr/lib/go/bin/go", "/usr/lib/go-1.19/bin/go"})
    if (std::filesystem::exists(p)) return p;
  return "";
}

TEST(Formats, FoldedPprofAndSvgShowThePlantedStack) {
  KLEAK_NEEDS_KERNEL(5, 11, "on 5.10 no page stack passes through vfs_write;pipe_write (not investigated: tools/qemu/README.md)");
  KLEAK_REQUIRE_BPF_OR_SKIP();
  std::string rec = ::testing::TempDir() + "kleak-formats-" + std::to_string(getpid()) + ".kleak";
  std::map<std::string, std::string> planted;
  {
    Tracing t({"--duration", "1h", "--record", rec});
    Planter p({"--pipes", "300", "--fill", "60000"});
    planted = p.values;
    ASSERT_EQ(t.stop(), 0) << t.err();
  }
  // folded: one line per stack, outermost first, bytes last.
  RunResult f = run({KLEAK_BIN, "report", rec, "--format", "folded"});
  ASSERT_EQ(f.status, 0) << f.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      f.out, m,
      std::regex(R"(^\[page\];[^\n]*;vfs_write;)" + pipe_write_function() + " ([0-9]+)$", std::regex::multiline)))
      << f.out.substr(0, 2000);
  EXPECT_TRUE(within(std::stod(m[1]), std::stod(planted.at("pipe_page_bytes")), 0.10));

  // pprof: Go's pprof reads it and puts the pipe write path on top.
  std::string pb = ::testing::TempDir() + "kleak-" + std::to_string(getpid()) + ".pb.gz";
  RunResult p = run({KLEAK_BIN, "report", rec, "--format", "pprof", "-o", pb});
  ASSERT_EQ(p.status, 0) << p.err;
  std::string bytes = slurp(pb);
  ASSERT_GE(bytes.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0x1f);  // gzip
  EXPECT_EQ(static_cast<unsigned char>(bytes[1]), 0x8b);
  std::string go = go_binary();
  if (go.empty() && std::getenv("KLEAK_REQUIRE_TOOLS")) FAIL() << "go is not installed (tools/install-deps.sh)";
  if (!go.empty()) {
    RunResult top = run({"/usr/bin/env", "HOME=/tmp", "GOCACHE=/tmp/kleak-gocache", go, "tool", "pprof", "-top", pb});
    ASSERT_EQ(top.status, 0) << top.err;
    EXPECT_NE(top.out.find(pipe_write_function()), std::string::npos) << top.out;
  }
  unlink(pb.c_str());

  // svg: a self-contained flame graph naming the frames.
  RunResult s = run({KLEAK_BIN, "report", rec, "--format", "svg"});
  ASSERT_EQ(s.status, 0) << s.err;
  EXPECT_EQ(s.out.rfind("<?xml", 0), 0u);
  EXPECT_NE(s.out.find(pipe_write_function()), std::string::npos);
  unlink(rec.c_str());
}

TEST(Formats, ProfileIsServedWhileTracing) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  Tracing t({"--duration", "1h", "--serve", "127.0.0.1:0", "--max-cpu", "0", "--kinds", "page"});
  const int port = t.metrics_port();
  {
    Planter p({"--pipes", "100"});
    httplib::Client cli("127.0.0.1", port);
    // 503 until kleak's first sample is published: poll for it (at most 30 s), not a fixed sleep.
    auto res = cli.Get("/profile");
    for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
         res && res->status == 503 && std::chrono::steady_clock::now() < end; res = cli.Get("/profile"))
      usleep(100000);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    ASSERT_GE(res->body.size(), 2u);
    EXPECT_EQ(static_cast<unsigned char>(res->body[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>(res->body[1]), 0x8b);
    EXPECT_EQ(t.stop(), 0) << t.err();
  }
}

}  // namespace
}  // namespace kleak::test
