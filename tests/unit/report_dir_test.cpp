// --report-dir (session/report_dir.h) and the journal's priority prefixes (journal.h), on a scratch
// directory: what is refused, how reports are named, kept and pruned, the one line per window.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "session/report_dir.h"
#include "fixture_file.h"
#include "kleak/error.h"
#include "kleak/journal.h"

namespace kleak {
namespace {

namespace fs = std::filesystem;
using std::chrono::system_clock;

using test::Scratch;

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// The message of the usage error check_report_dir throws, "" when it accepts the directory.
std::string refusal(const std::string& dir) {
  try {
    check_report_dir(dir);
    return "";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitUsage);
    return e.what();
  }
}

TEST(ReportDir, RefusesWhatIsNotAPrivateDirectory) {
  Scratch s;
  EXPECT_EQ(refusal(s.dir.string()), "");
  EXPECT_NE(refusal(s / "missing").find("No such file or directory"), std::string::npos);
  std::ofstream(s / "file") << "x";
  EXPECT_NE(refusal(s / "file").find("not a directory"), std::string::npos);
  // A symlink out of its directory: refused, also written with a trailing slash.
  fs::create_directory_symlink("/etc", s / "elsewhere");
  EXPECT_NE(refusal(s / "elsewhere").find("is a symlink to /etc, outside"), std::string::npos);
  EXPECT_NE(refusal(s / "elsewhere/").find("is a symlink to /etc, outside"), std::string::npos);
  fs::create_directory_symlink("..", s / "up");
  EXPECT_NE(refusal(s / "up").find("outside"), std::string::npos);
  // systemd's DynamicUser= layout: /var/lib/kleak -> private/kleak.
  fs::create_directories(s.dir / "private" / "kleak");
  fs::create_directory_symlink("private/kleak", s / "kleak");
  EXPECT_EQ(refusal(s / "kleak"), "");
  ASSERT_EQ(chown((s / "private/kleak").c_str(), 65534, 65534), 0);
  EXPECT_NE(refusal(s / "kleak").find("belongs to uid 65534"), std::string::npos);
}

TEST(ReportDir, NamesSortAsTheWindowsEnded) {
  const auto t = system_clock::from_time_t(1796645400) + std::chrono::milliseconds(7);  // 2026-12-07 12:10:00 UTC
  EXPECT_EQ(report_file_name(t, "text"), "kleak-report-20261207T121000.007Z.txt");
  EXPECT_EQ(report_file_name(t, "json"), "kleak-report-20261207T121000.007Z.json");
  EXPECT_EQ(report_file_name(t, "pprof"), "kleak-report-20261207T121000.007Z.pb.gz");
  EXPECT_LT(report_file_name(t, "text"), report_file_name(t + std::chrono::milliseconds(993), "text"));
  EXPECT_LT(report_file_name(t + std::chrono::hours(9), "text"), report_file_name(t + std::chrono::hours(10), "text"));
}

TEST(ReportDir, KeepsTheNewestAndOnlyItsOwnFiles) {
  Scratch s;
  const auto t0 = system_clock::from_time_t(1796645400);
  std::ofstream(s / "notes.txt") << "not a report";
  fs::create_symlink("/etc/passwd", s / "kleak-report-00000000T000000.000Z.txt");  // not a regular file
  std::vector<std::string> paths;
  for (int i = 0; i < 4; ++i)
    paths.push_back(save_window_report(s.dir.string(), 2, t0 + std::chrono::minutes(10 * i), "text",
                                       fmt::format("report {}\n", i)));
  EXPECT_EQ(names_in(s.dir), (std::vector<std::string>{"kleak-report-00000000T000000.000Z.txt",
                                                        "kleak-report-20261207T123000.000Z.txt",
                                                        "kleak-report-20261207T124000.000Z.txt", "notes.txt"}));
  struct stat st{};
  ASSERT_EQ(stat(paths[3].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  std::ifstream in(paths[3]);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "report 3\n");
  prune_reports(s.dir.string(), 1);
  EXPECT_FALSE(fs::exists(paths[2]));
  EXPECT_TRUE(fs::exists(paths[3]));
}

TEST(ReportDir, OneLinePerWindow) {
  Report r;
  r.duration_s = 600;
  StackGroup steady, growing;
  steady.bytes = 5 << 20;
  steady.verdict = "steady";
  steady.frames = {Frame{0x1, "steady_fn", 0x10, "", {}}};
  growing.bytes = 3 << 20;
  growing.verdict = "growing";
  growing.frames = {Frame{0x1, "leaky_alloc", 0x12, "", {}}, Frame{0x2, "caller\x1b", 0x4, "mod", {}},
                    Frame{0x3, "third", 0x1, "", {}}, Frame{0x4, "fourth", 0x1, "", {}}};
  r.stacks = {steady, growing};
  const auto end = system_clock::from_time_t(1796645400);
  std::string line = window_line(r, end, "/var/lib/kleak/x.txt");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.rfind("window 2026-12-07 12:00:00-12:10:00 UTC: 1 group growing, top 3.0 MiB at leaky_alloc+0x12 <- ", 0), 0u)
      << line;
  EXPECT_NE(line.find("\\x1b"), std::string::npos) << "a symbol's control bytes are escaped: " << line;
  EXPECT_EQ(line.find("fourth"), std::string::npos) << "three frames at most: " << line;
  EXPECT_TRUE(line.ends_with("; report /var/lib/kleak/x.txt")) << line;
  r.stacks.clear();
  EXPECT_EQ(window_line(r, end, "/r"), "window 2026-12-07 12:00:00-12:10:00 UTC: 0 groups growing; report /r");
}

TEST(Journal, PrefixesOnlyTheStreamJournalStreamNames) {
  Scratch s;
  int fd = open((s / "stderr").c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  struct stat st{};
  ASSERT_EQ(fstat(fd, &st), 0);
  const std::string mine = fmt::format("{}:{}", st.st_dev, st.st_ino);
  EXPECT_TRUE(fd_is_journal_stream(fd, mine.c_str()));
  EXPECT_FALSE(fd_is_journal_stream(fd, fmt::format("{}:{}", st.st_dev, st.st_ino + 1).c_str()));
  EXPECT_FALSE(fd_is_journal_stream(fd, (mine + "x").c_str()));
  EXPECT_FALSE(fd_is_journal_stream(fd, ""));
  EXPECT_FALSE(fd_is_journal_stream(fd, nullptr));
  close(fd);
}

}  // namespace
}  // namespace kleak
