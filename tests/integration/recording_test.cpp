// kleak trace --record, kleak report (without root), kleak diff, and hostile recordings.
#include <gtest/gtest.h>

#include <fstream>

#include "harness.h"

namespace kleak::test {
namespace {

using nlohmann::json;

std::string tmp(const std::string& name) { return ::testing::TempDir() + "kleak-" + std::to_string(getpid()) + "-" + name; }

TEST(Recording, ReplaysIdenticallyWithoutRoot) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  KLEAK_NEEDS(Setpriv);
  std::string file = tmp("a.kleak");
  Tracing t({"--duration", "1h", "--format", "json", "--top", "50", "--record", file});
  {
    Planter p({"--pipes", "200", "--resized-pipes", "100"});
    ASSERT_EQ(t.stop(), 0) << t.err();
  }
  json live = t.json();
  // As nobody, with no capabilities: a recording needs no privileges to read.
  chmod(file.c_str(), 0644);
  RunResult r = run({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                     KLEAK_BIN, "report", file, "--format", "json", "--top", "50"});
  ASSERT_EQ(r.status, 0) << r.err;
  json replay = json::parse(r.out);
  EXPECT_EQ(replay["stacks"], live["stacks"]);
  if (replay["stacks"] != live["stacks"]) {  // name the first difference
    for (size_t i = 0; i < std::min(replay["stacks"].size(), live["stacks"].size()); ++i)
      if (replay["stacks"][i] != live["stacks"][i]) {
        for (auto& [k, v] : live["stacks"][i].items())
          if (replay["stacks"][i][k] != v)
            ADD_FAILURE() << "stack " << i << " field " << k << ": live " << v.dump() << " replay "
                          << replay["stacks"][i][k].dump();
        break;
      }
  }
  EXPECT_EQ(replay["sources"], live["sources"]);
  EXPECT_EQ(replay["dropped"], live["dropped"]);
  EXPECT_EQ(replay["reconciliation"], live["reconciliation"]);
  EXPECT_EQ(replay["kernel"], live["kernel"]);
  // Any other view of the same run.
  r = run({KLEAK_BIN, "report", file, "--format", "json", "--filter", "bytes_req >= 256 && bytes_req <= 512",
           "--by", "callsite", "--top", "50"});
  ASSERT_EQ(r.status, 0) << r.err;
  uint64_t resized = 0;
  json view = json::parse(r.out);
  for (const auto& s : view["stacks"])
    if (s["group"]["callsite"].get<std::string>().rfind("pipe_resize_ring+", 0) == 0) resized += s["count"].get<uint64_t>();
  EXPECT_TRUE(within(static_cast<double>(resized), 100, 0.10)) << r.out.substr(0, 3000);
  unlink(file.c_str());
}

TEST(Recording, DiffPutsTheNewHolderFirst) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  std::string a = tmp("before.kleak"), b = tmp("after.kleak");
  {
    Tracing t({"--duration", "1h", "--record", a});
    ASSERT_EQ(t.stop(), 0) << t.err();
  }
  std::map<std::string, std::string> planted;
  {
    Tracing t({"--duration", "1h", "--record", b});
    Planter p({"--pipes", "300"});
    planted = p.values;
    ASSERT_EQ(t.stop(), 0) << t.err();
  }
  RunResult r = run({KLEAK_BIN, "diff", a, b, "--format", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  json d = json::parse(r.out);
  ASSERT_FALSE(d["groups"].empty());
  const json& top = d["groups"][0];
  EXPECT_EQ(top["frames"][0].get<std::string>().rfind(pipe_write_function() + "+", 0), 0u)
      << d.dump(1).substr(0, 2000);
  EXPECT_TRUE(within(top["delta_bytes"].get<double>(), std::stod(planted.at("pipe_page_bytes")), 0.10));
  unlink(a.c_str());
  unlink(b.c_str());
}

TEST(Recording, HostileFilesAreOneLineErrors) {
  std::string f = tmp("hostile.kleak");
  auto check = [&](const std::string& bytes, const std::string& what) {
    {
      std::ofstream out(f, std::ios::binary | std::ios::trunc);
      out << bytes;
    }
    RunResult r = run({KLEAK_BIN, "report", f});
    EXPECT_EQ(r.status, 2) << what << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << what << ": " << r.err;
    EXPECT_EQ(r.err.rfind("kleak: ", 0), 0u) << r.err;
  };
  check("", "empty");
  check("hello world\n", "not a recording");
  check("KLEAK-RECORDING 1\n", "no header");
  check("KLEAK-RECORDING 1\n{\"record_size\": 96, \"records\": 5}\n", "missing fields");
  check("KLEAK-RECORDING 1\n{not json\n", "bad json");
  check(std::string("KLEAK-RECORDING 1\n") + std::string(4096, '\xff'), "garbage");
  RunResult r = run({KLEAK_BIN, "report", "/nonexistent/x.kleak"});
  EXPECT_EQ(r.status, 2);
  unlink(f.c_str());
}

}  // namespace
}  // namespace kleak::test
