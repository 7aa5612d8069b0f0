// The command line's own defects, on the stored golden recordings (no root, no BPF needed):
// each test here failed before the fix it names.
#include <gtest/gtest.h>

#include "harness.h"

namespace kleak::test {
namespace {

using nlohmann::json;

const std::string kPipes = std::string(KLEAK_GOLDEN) + "/pipes.kleak";

RunResult kleak(std::vector<std::string> args) {
  args.insert(args.begin(), KLEAK_BIN);
  return run(args);
}

TEST(Cli, UnknownCommandIsNamed) {
  // Was: "A subcommand is required".
  RunResult r = kleak({"foo"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err.rfind("kleak: unknown command 'foo' (commands: trace", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
}

// Was: "A subcommand is required" for both.
TEST(Cli, UnknownOptionIsNamed) {
  for (std::string opt : {"--bogus", "-V", "--bogus=1"}) {
    RunResult r = kleak({opt, "trace"});
    EXPECT_EQ(r.status, 2) << opt;
    EXPECT_EQ(r.err.rfind("kleak: unknown option '" + opt + "' (before a command only --help and --version", 0), 0u)
        << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  }
}

// Was: "kleak 0.1.0" only. The first line stays what scripts read (deploy/container/build.sh).
TEST(Cli, VersionCommand) {
  RunResult r = kleak({"version"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("kleak 0.1.0\n  commit:     ", 0), 0u) << r.out;
  for (const char* field : {"\n  build date: 20", "\n  compiler:   ", "\n  libbpf:     v"})
    EXPECT_NE(r.out.find(field), std::string::npos) << field << " in " << r.out;
  EXPECT_EQ(kleak({"--version"}).out, r.out);
}

TEST(Cli, VersionAsJson) {
  RunResult r = kleak({"--version", "--format", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["version"], "0.1.0");
  EXPECT_EQ(j["libbpf"].get<std::string>().rfind("v1.", 0), 0u) << j;
  EXPECT_EQ(j["build_date"].get<std::string>().size(), std::string("2026-12-07T14:00:00Z").size()) << j;
  EXPECT_FALSE(j["compiler"].get<std::string>().empty());
  // Built from a git checkout (the lanes have no git: there the commit is only non-empty).
  RunResult head = run({"/bin/sh", "-c", std::string("git -C ") + KLEAK_SOURCE_DIR + " rev-parse --short=12 HEAD"});
  if (head.status == 0 && !head.out.empty())
    EXPECT_EQ(j["commit"].get<std::string>().rfind(head.out.substr(0, 12), 0), 0u) << j << " " << head.out;
  EXPECT_EQ(kleak({"version", "--format", "json"}).out, r.out);
  RunResult bad = kleak({"--version", "--format", "yaml"});
  EXPECT_EQ(bad.status, 2);
  EXPECT_EQ(bad.err, "kleak: bad --format 'yaml' for version (use text or json)\n");
}

// Every subcommand's --format goes through one table (format_table.h): a format the command
// cannot produce is one line naming the ones it can, exit 2, before anything is read or traced.
// Was: meminfo and hunt said CLI11's "--format: svg not in {text,json}".
TEST(Cli, AFormatACommandCannotProduceIsOneLineInEveryCommand) {
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::vector<Case> cases = {
      {{"meminfo", "--format", "svg"}, "kleak: bad --format 'svg' for meminfo (use text or json)\n"},
      {{"meminfo", "--watch", "1s", "--format", "pprof"}, "kleak: bad --format 'pprof' for meminfo --watch (use text or json)\n"},
      {{"hunt", "--format", "folded"}, "kleak: bad --format 'folded' for hunt (use text or json)\n"},
      {{"doctor", "--format", "svg"}, "kleak: bad --format 'svg' for doctor (use text or json)\n"},
      {{"diff", kPipes, kPipes, "--format", "pprof"}, "kleak: bad --format 'pprof' for diff (use text or json)\n"},
      {{"report", kPipes, "--format", "yaml"}, "kleak: bad --format 'yaml' (use text, json, folded, pprof or svg)\n"},
  };
  for (const auto& c : cases) {
    RunResult r = kleak(c.args);
    EXPECT_EQ(r.status, 2) << c.args[0];
    EXPECT_EQ(r.err, c.err);
    EXPECT_EQ(r.out, "");
  }
}

// Was: trace's durations and files were TEXT where hunt's were D and FILE.
TEST(Cli, HelpNamesValuesTheSameInEveryCommand) {
  for (std::string sub : {"trace", "hunt", "meminfo", "report", "diff", "doctor", "version"}) {
    RunResult r = kleak({sub, "--help"});
    ASSERT_EQ(r.status, 0) << sub;
    for (const char* generic : {" TEXT", " D ", " INT", " UINT", " FLOAT"})
      EXPECT_EQ(r.out.find(generic), std::string::npos) << sub << " --help says" << generic << ":\n" << r.out;
  }
  for (std::string sub : {"trace", "hunt"}) {
    std::string help = kleak({sub, "--help"}).out;
    EXPECT_NE(help.find("-d,--duration DURATION"), std::string::npos) << help;
    EXPECT_NE(help.find("-o,--output FILE"), std::string::npos) << help;
    EXPECT_NE(help.find("--record FILE"), std::string::npos) << help;
  }
}

TEST(Cli, HelpEndsWithExamplesAndExitCodes) {
  RunResult r = kleak({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("Examples:\n  kleak doctor "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Exit status: 0 success; 1 the box refused"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Privileges: trace and hunt need root or CAP_BPF, CAP_PERFMON"), std::string::npos) << r.out;
}

TEST(Cli, NegativeTopIsRefused) {
  // Was: accepted, and --top -3 showed everything (trace then ran its default 30 s).
  for (auto cmd : {std::vector<std::string>{"report", kPipes, "--top", "-3"},
                   std::vector<std::string>{"trace", "--top", "-3", "--duration", "1h"}}) {
    RunResult r = kleak(cmd);
    EXPECT_EQ(r.status, 2) << cmd[0];
    EXPECT_NE(r.err.find("--top"), std::string::npos) << r.err;
  }
}

TEST(Cli, TopZeroShowsEveryGroupAsInMeminfo) {
  // Was: report --top 0 showed none, trace --top 0 was refused, meminfo --top 0 showed all.
  RunResult r = kleak({"report", kPipes, "--format", "json", "--top", "0"});
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_GT(j["stacks"].size(), 10u);
  EXPECT_EQ(j["stacks"].size(), j["groups_total"].get<size_t>());
}

TEST(Cli, BinaryFormatIsNotWrittenToATerminal) {
  KLEAK_NEEDS(HostOnly);
  // Was: gzip bytes on the terminal. script(1) gives kleak a terminal as stdout.
  RunResult r = run({"/usr/bin/script", "-qec", std::string(KLEAK_BIN) + " report " + kPipes + " --format pprof",
                     "/dev/null"});
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("kleak: --format pprof is binary"), std::string::npos) << r.out;
  // Into a pipe it is written as before.
  r = kleak({"report", kPipes, "--format", "pprof"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out.substr(0, 2), "\x1f\x8b");
}

TEST(Cli, ReportJsonNamesItsSchema) {
  RunResult r = kleak({"report", kPipes, "--format", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["schema"], "kleak.report/1");
}

TEST(Cli, ChurnOnlyGroupsAreNotAmongTheHolders) {
  // Was: "#2 0 B in 0 allocations ... comm " in the top holders of a quiet trace.
  RunResult r = kleak({"report", kPipes, "--format", "json", "--top", "0"});
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  for (const auto& g : j["stacks"]) EXPECT_GT(g["count"].get<uint64_t>(), 0u) << g.dump();
  ASSERT_FALSE(j["churn"].empty());
  for (const auto& g : j["churn"]) {
    EXPECT_EQ(g["count"].get<uint64_t>(), 0u);
    EXPECT_GT(g["allocs"].get<uint64_t>() + g["frees"].get<uint64_t>(), 0u);
  }
  r = kleak({"report", kPipes, "--top", "0"});
  EXPECT_EQ(r.out.find(" 0 B in 0 allocations"), std::string::npos);
  EXPECT_NE(r.out.find("\nchurn: "), std::string::npos);
}

TEST(Cli, GroupHeaderSaysACategoryNamedAsItsKindOnce) {
  // Was: "[slab slab -> slab_unreclaimable cache=...]".
  RunResult r = kleak({"report", kPipes, "--top", "0"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("[slab slab"), std::string::npos);
  EXPECT_NE(r.out.find("[slab -> slab_"), std::string::npos);
}

// Issue 23: hunt and meminfo took --top -1 and a 30-digit --top (as "all"); trace and report
// refused the first. Every --top is now the same whole number, 0 (all) to 10^9.
TEST(Cli, TopIsTheSameWholeNumberInEveryCommand) {
  const std::string huge = "123456789012345678901234567890";
  for (auto cmd : {std::vector<std::string>{"hunt", "--top", "-1"}, {"hunt", "--top", huge},
                   {"meminfo", "--top", "-1"}, {"meminfo", "--top", huge}, {"report", kPipes, "--top", huge},
                   {"trace", "--top", huge, "--duration", "1h"}}) {
    std::vector<std::string> argv{"/usr/bin/timeout", "-s", "KILL", "60", KLEAK_BIN};
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    RunResult r = run(argv);
    EXPECT_EQ(r.status, 2) << cmd[0] << " " << cmd[cmd.size() - 1] << ": " << r.err;
    EXPECT_NE(r.err.find("--top"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

// Issue 23: `trace --help > /dev/full` exited 0 (CLI11 prints help through std::cout, and only
// the normal path checked stdout).
TEST(Cli, HelpThatCannotBeWrittenIsAnError) {
  for (std::string args : {"trace --help", "--help", "--version"}) {
    RunResult r = run({"/bin/sh", "-c", std::string(KLEAK_BIN) + " " + args + " > /dev/full"});
    EXPECT_EQ(r.status, 2) << args << ": " << r.err;
    EXPECT_NE(r.err.find("writing to stdout failed"), std::string::npos) << r.err;
  }
  EXPECT_EQ(run({"/bin/sh", "-c", std::string(KLEAK_BIN) + " trace --help > /dev/null"}).status, 0);
}

// Issue 23: map sizes of 0 or beyond what a kernel creates, and an empty --btf, reached libbpf
// and came back as its errors with exit 1; other bad sizes were exit 2 at once.
TEST(Cli, MapSizesAndBtfAreCheckedBeforeTheKernel) {
  for (auto cmd : {std::vector<std::string>{"--max-churn", "0"}, {"--max-allocs", "4000000000"},
                   {"--max-caches", "0"}, {"--max-sites", "4000000000"}, {"--max-churn", "4000000000"},
                   {"--btf", ""}}) {
    std::vector<std::string> argv{"/usr/bin/timeout", "-s", "KILL", "60", KLEAK_BIN, "trace", "--duration", "1s"};
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    RunResult r = run(argv);
    EXPECT_EQ(r.status, 2) << cmd[0] << " '" << cmd[1] << "': " << r.err;
    EXPECT_NE(r.err.find(cmd[0]), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.find("libbpf"), std::string::npos) << r.err;
  }
}

// Issue 23: under `ulimit -v 20M`, "internal error: std::bad_alloc": what ran out, and the limit.
TEST(Cli, OutOfMemorySaysWhatRanOut) {
  RunResult r = run({"/bin/sh", "-c", "ulimit -v 20480 && exec \"$0\" report \"$1\"", KLEAK_BIN, kPipes});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("kleak: out of memory"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("address space limit of 20 MiB"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace kleak::test
