// kleak trace --report-dir, as the systemd unit runs it (--serve, a window at a time, restarted):
// each window's report lands in the directory as a private file, the oldest go past
// --keep-reports, and stderr carries one line per window, with journald's priority prefixes
// only when stderr is the stream JOURNAL_STREAM names.
#include <sys/stat.h>

#include <regex>

#include "harness.h"

namespace kleak::test {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/kleak-reports-XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::vector<std::string> reports_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

// One daemon window of 2 s, run to its end. `journal`: stderr is the stream JOURNAL_STREAM names
// (the shell computes its device:inode as systemd would have set it); `journal_env`: a value for
// JOURNAL_STREAM as it is, naming some other stream.
RunResult window(const std::string& dir, const std::string& keep, bool journal, const std::string& journal_env = "") {
  std::string cmd = std::string("exec '") + KLEAK_BIN + "' trace --duration 2s --serve 127.0.0.1:0 --max-cpu 0 " +
                    "--kinds page --format json --report-dir '" + dir + "' --keep-reports " + keep;
  if (journal) cmd = "JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) " + cmd;
  std::vector<std::string> env;
  if (!journal_env.empty()) env.push_back("JOURNAL_STREAM=" + journal_env);
  return run({"/bin/sh", "-c", cmd}, env);
}

// The report path the window line names, after checking that line is the only one of its kind.
std::string reported_path(const RunResult& r, const std::string& prefix) {
  std::string path;
  int windows = 0;
  const std::regex re("^" + prefix + "kleak: window [0-9-]+ [0-9:]+-[0-9:]+ UTC: [0-9]+ groups? growing.*; report (.+)$");
  for (const auto& l : lines_of(r.err)) {
    std::smatch m;
    if (l.find("kleak: window") == std::string::npos) continue;
    ++windows;
    EXPECT_TRUE(std::regex_match(l, m, re)) << l;
    if (m.size() > 1) path = m[1];
  }
  EXPECT_EQ(windows, 1) << r.err;
  return path;
}

void expect_private_report(const std::string& path) {
  struct stat st{};
  ASSERT_EQ(lstat(path.c_str(), &st), 0) << path;
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u) << path;
  std::ifstream in(path);
  nlohmann::json j = nlohmann::json::parse(in);  // the whole report, as --format json writes it
  EXPECT_TRUE(j.contains("stacks") && j.contains("events")) << path;
}

TEST(DaemonReports, EachWindowLeavesItsReportThereAndOneLineOnStderr) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  TempDir d;
  ASSERT_EQ(chmod(d.path.c_str(), 0700), 0);

  RunResult first = window(d.path, "2", false);
  ASSERT_EQ(first.status, 0) << first.err;
  EXPECT_EQ(first.out, "") << "the report goes to the directory, not stdout";
  const std::string p1 = reported_path(first, "");
  for (const auto& l : lines_of(first.err)) EXPECT_EQ(l.rfind("kleak: ", 0), 0u) << "no prefix on a pipe: " << l;
  expect_private_report(p1);
  EXPECT_EQ(reports_in(d.path), std::vector<std::string>{p1});

  // stderr is the journal's stream: every line has a priority, the window's is info.
  RunResult second = window(d.path, "2", true);
  ASSERT_EQ(second.status, 0) << second.err;
  const std::string p2 = reported_path(second, "<6>");
  for (const auto& l : lines_of(second.err)) EXPECT_TRUE(std::regex_search(l, std::regex("^<[346]>kleak: "))) << l;
  expect_private_report(p2);
  EXPECT_EQ(reports_in(d.path), (std::vector<std::string>{p1, p2})) << "both kept under --keep-reports 2";

  // JOURNAL_STREAM inherited but stderr redirected elsewhere: no prefix. --keep-reports 1: only
  // this window's report stays.
  RunResult third = window(d.path, "1", false, "1:1");
  ASSERT_EQ(third.status, 0) << third.err;
  const std::string p3 = reported_path(third, "");
  expect_private_report(p3);
  EXPECT_EQ(reports_in(d.path), std::vector<std::string>{p3});
  EXPECT_LT(p2, p3) << "names sort as the windows ended";
}

// Refusals need no BPF: every one is one line, exit 2, before anything is traced; under the
// journal it is an error (<3>).
TEST(DaemonReports, BadDirectoriesAndCountsAreOneLineAndExit2) {
  TempDir d;
  std::ofstream(d.path + "/file") << "x";
  fs::create_directory_symlink("/etc", d.path + "/elsewhere");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--report-dir", d.path, "--keep-reports", "0"}, "--keep-reports must be at least 1"},
      {{"--report-dir", d.path + "/file"}, "not a directory"},
      {{"--report-dir", d.path + "/missing"}, "No such file or directory"},
      {{"--report-dir", d.path + "/elsewhere"}, "is a symlink to /etc, outside"},
      {{"--keep-reports", "3"}, "--keep-reports needs --report-dir"},
      {{"--report-dir", d.path, "-o", d.path + "/r.txt"}, "cannot be combined"},
  };
  for (const auto& [args, want] : cases) {
    std::vector<std::string> argv{KLEAK_BIN, "trace", "--duration", "1s"};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult r = run(argv);
    EXPECT_EQ(r.status, 2) << want << ": " << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
    EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
  }
  EXPECT_EQ(reports_in(d.path).size(), 2u) << "nothing written";
  std::string cmd = std::string("JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec '") + KLEAK_BIN +
                    "' trace --report-dir '" + d.path + "/file'";
  RunResult j = run({"/bin/sh", "-c", cmd});
  EXPECT_EQ(j.status, 2);
  EXPECT_EQ(j.err.rfind("<3>kleak: --report-dir ", 0), 0u) << j.err;
}

}  // namespace
}  // namespace kleak::test
