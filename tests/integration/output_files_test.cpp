// Issue 12, on the real binary: outputs cannot be turned against root by another user, are never
// lost silently or left half written, and hostile inputs end in one line, quickly.
#include <sys/mount.h>
#include <sys/stat.h>
#include <zlib.h>

#include <chrono>

#include "harness.h"

namespace kleak::test {
namespace {

namespace fs = std::filesystem;

// One line, starting with "kleak: ", containing `what` (stdout may hold a report).
::testing::AssertionResult one_line(const RunResult& r, const std::string& what) {
  if (r.err.empty() || r.err.back() != '\n' || r.err.find('\n') != r.err.size() - 1)
    return ::testing::AssertionFailure() << "stderr is not exactly one line: '" << r.err << "'";
  if (r.err.rfind("kleak: ", 0) != 0) return ::testing::AssertionFailure() << "no 'kleak: ' prefix: " << r.err;
  if (r.err.find(what) == std::string::npos) return ::testing::AssertionFailure() << "'" << what << "' not in: " << r.err;
  return ::testing::AssertionSuccess();
}

// The last stderr line (trace prints a status line first).
std::string last_line(const std::string& err) {
  std::string e = err;
  while (!e.empty() && e.back() == '\n') e.pop_back();
  return e.substr(e.rfind('\n') == std::string::npos ? 0 : e.rfind('\n') + 1);
}

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void put(const std::string& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// A world-writable sticky directory, like /tmp, where uid 65534 can plant things.
struct SharedDir {
  fs::path dir;
  SharedDir() {
    char t[] = "/tmp/kleak-it-XXXXXX";
    dir = mkdtemp(t);
    chmod(dir.c_str(), 01777);
  }
  ~SharedDir() { fs::remove_all(dir); }
  std::string operator/(const std::string& n) const { return (dir / n).string(); }
};

// Runs a shell command as uid 65534 (the attacker), without capabilities.
int as_nobody(const std::string& cmd) {
  return run({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
              "--bounding-set=-all", "/bin/sh", "-c", cmd})
      .status;
}

RunResult kleak(std::vector<std::string> args) {
  args.insert(args.begin(), KLEAK_BIN);
  return run(args);
}

RunResult sh(const std::string& cmd) { return run({"/bin/sh", "-c", cmd}); }

const std::string kQuiet = "pid == 1";  // a trace whose report is small

// A real recording, made once for the tests that read one.
const std::string& recording() {
  static std::string path = [] {
    std::string p = "/tmp/kleak-it-shared-" + std::to_string(getpid()) + ".kleak";
    RunResult r = kleak({"trace", "-d", "1s", "--filter", kQuiet, "--record", p, "-o", "/dev/null"});
    if (r.status != 0) throw std::runtime_error("recording failed: " + r.err);
    return p;
  }();
  return path;
}

TEST(OutputFiles, SymlinkPlantedByAnotherUserIsNotWrittenThrough) {
  KLEAK_NEEDS(HostOnly);
  if (geteuid() != 0) GTEST_SKIP() << "the attack is on root";
  SharedDir d;
  put(d / "victim", "root's file\n");
  chmod((d / "victim").c_str(), 0644);
  ASSERT_EQ(as_nobody("ln -s " + d / "victim" + " " + d / "r && ln -s " + d / "victim" + " " + d / "rec"), 0);
  RunResult r = kleak({"trace", "-d", "1s", "-o", d / "r"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(one_line(r, "refusing to write " + d / "r" + ": it is a symlink"));
  r = kleak({"trace", "-d", "1s", "--record", d / "rec"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(one_line(r, "it is a symlink"));
  r = kleak({"meminfo", "-o", d / "r"});
  EXPECT_EQ(r.status, 2);
  r = kleak({"meminfo", "--save", d / "r"});
  EXPECT_EQ(r.status, 2);
  r = kleak({"report", recording(), "-o", d / "r"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(slurp(d / "victim"), "root's file\n");
}

TEST(OutputFiles, FilePreCreatedByAnotherUserIsNotHandedTheReport) {
  KLEAK_NEEDS(HostOnly);
  if (geteuid() != 0) GTEST_SKIP() << "the attack is on root";
  SharedDir d;
  ASSERT_EQ(as_nobody("echo mine > " + d / "r" + " && chmod 666 " + d / "r"), 0);
  RunResult r = kleak({"trace", "-d", "1s", "-o", d / "r"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(one_line(r, "refusing to replace " + d / "r" + ": it belongs to uid 65534"));
  EXPECT_EQ(slurp(d / "r"), "mine\n");
  // Forced, the file is replaced, not written in place: root's 0600 file, the planted inode untouched.
  r = kleak({"meminfo", "-o", d / "r", "--force"});
  EXPECT_EQ(r.status, 0) << r.err;
  struct stat st{};
  ASSERT_EQ(stat((d / "r").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(OutputFiles, ReportsAndRecordingsAreMode0600) {
  KLEAK_NEEDS(HostOnly);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  SharedDir d;
  RunResult r = sh("umask 0; " + std::string(KLEAK_BIN) + " trace -d 1s --filter '" + kQuiet + "' -o " + d / "out" +
                   " --record " + d / "rec");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* f : {"out", "rec"}) {
    struct stat st{};
    ASSERT_EQ(stat((d / f).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u) << f;
  }
  EXPECT_EQ(sh("umask 0; " + std::string(KLEAK_BIN) + " meminfo -o " + d / "m --save " + d / "s").status, 0);
  for (const char* f : {"m", "s"}) {
    struct stat st{};
    ASSERT_EQ(stat((d / f).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u) << f;
  }
}

TEST(OutputFiles, DevFullOnStdoutAndOnOutputIsAnError) {
  KLEAK_NEEDS(HostOnly);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  std::string k = KLEAK_BIN;
  RunResult r = sh(k + " trace -d 1s --filter '" + kQuiet + "' > /dev/full");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(last_line(r.err), "kleak: writing to stdout failed: No space left on device");
  r = kleak({"trace", "-d", "1s", "--filter", kQuiet, "-o", "/dev/full"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(last_line(r.err), "kleak: cannot write /dev/full: No space left on device");
  for (const std::string& cmd : {k + " meminfo", k + " report " + recording(), k + " diff " + recording() + " " + recording()}) {
    r = sh(cmd + " > /dev/full");
    EXPECT_EQ(r.status, 2) << cmd;
    EXPECT_TRUE(one_line(r, "No space left on device")) << cmd;
    r = sh(cmd + " -o /dev/full");
    EXPECT_EQ(r.status, 2) << cmd;
    EXPECT_TRUE(one_line(r, "cannot write /dev/full: No space left on device")) << cmd;
  }
}

// A recording onto a full filesystem: the previous recording survives whole, no temporary is
// left, the error names the path and the errno, and the report on another filesystem is written.
TEST(OutputFiles, FullFilesystemKeepsThePreviousFileAndTheOtherOutput) {
  KLEAK_NEEDS(HostOnly);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  SharedDir d;
  fs::create_directory(d / "tiny");
  ASSERT_EQ(mount("tmpfs", (d / "tiny").c_str(), "tmpfs", 0, "size=12k"), 0) << strerror(errno);
  put(d / "tiny/x.kleak", "previous recording");
  RunResult r = kleak({"trace", "-d", "1s", "--record", d / "tiny/x.kleak", "-o", d / "report.txt"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(last_line(r.err).find("cannot write " + d / "tiny/x.kleak" + ": No space left on device"), std::string::npos)
      << r.err;
  EXPECT_EQ(slurp(d / "tiny/x.kleak"), "previous recording");
  size_t left = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(d / "tiny")) ++left;
  EXPECT_EQ(left, 1u) << "a temporary file was left behind";
  EXPECT_NE(slurp(d / "report.txt").find("kleak trace:"), std::string::npos) << "the report was lost";
  umount2((d / "tiny").c_str(), MNT_DETACH);
}

TEST(OutputFiles, SigkillDuringTheRunKeepsThePreviousReport) {
  KLEAK_NEEDS(HostOnly);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  SharedDir d;
  put(d / "r", "previous report\n");
  {
    Tracing t({"-d", "1h", "-o", d / "r"});
    t.signal(SIGKILL);
    t.wait();
  }
  EXPECT_EQ(slurp(d / "r"), "previous report\n");
}

// Every input as /dev/zero and /dev/urandom: one line, exit 2, in well under a second each.
TEST(OutputFiles, DevicesAsEveryInputAreRefusedQuickly) {
  KLEAK_NEEDS(HostOnly);
  SharedDir d;
  fs::copy(std::string(KLEAK_FIXTURES) + "/proc/firecracker-6.18-x86_64", d / "proc");
  auto refused = [](std::vector<std::string> args) {
    std::string what;
    for (auto& a : args) what += a + " ";
    if (args[0] == "trace" && geteuid() != 0) return;
    auto t0 = std::chrono::steady_clock::now();
    args.insert(args.begin(), {"/usr/bin/timeout", "10", KLEAK_BIN});
    RunResult r = run(args);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.status, 2) << what << r.err;
    EXPECT_TRUE(one_line(r, "not a regular file")) << what;
    EXPECT_LT(s, 2.0) << what;
  };
  for (std::string dev : {"/dev/zero", "/dev/urandom"}) {
    refused({"trace", "-d", "1s", "--kallsyms", dev});
    refused({"trace", "-d", "1s", "--btf", dev});
    refused({"report", dev});
    refused({"diff", dev, dev});
    refused({"meminfo", "--proc", dev});
    refused({"meminfo", "--diff", dev, d / "proc"});
  }
  for (const char* f : {"meminfo", "vmallocinfo", "zoneinfo", "slabinfo"}) {
    const std::string p = d / (std::string("proc/") + f);
    for (std::string dev : {"/dev/zero", "/dev/urandom"}) {
      fs::remove(p);
      fs::create_symlink(dev, p);
      refused({"meminfo", "--proc", d / "proc"});
    }
    fs::remove(p);
    fs::copy(std::string(KLEAK_FIXTURES) + "/proc/firecracker-6.18-x86_64/" + f, p);
  }
  // A regular file over a cap says which cap.
  std::string big = d / "big";
  ASSERT_EQ(truncate((put(big, ""), big).c_str(), 100ll << 20), 0);
  RunResult r = kleak({"trace", "-d", "1s", "--kallsyms", big});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(one_line(r, "larger than 64 MiB, the cap for a kallsyms file"));
  ASSERT_EQ(truncate(big.c_str(), 300ll << 20), 0);
  r = kleak({"meminfo", "--diff", big, big});
  EXPECT_TRUE(one_line(r, "larger than 256 MiB, the cap for a meminfo snapshot"));
}

// A megabyte of gzip that inflates to a header bigger than its cap: a one-line error naming the cap, bounded memory.
TEST(OutputFiles, GzipBombIsAOneLineErrorInBoundedMemory) {
  KLEAK_NEEDS(HostOnly);
  SharedDir d;
  gzFile g = gzopen((d / "bomb.kleak").c_str(), "wb1");
  ASSERT_TRUE(g);
  gzputs(g, "KLEAK-RECORDING 2\n{\"x\":\"");
  std::string chunk(1 << 20, 'A');
  for (int i = 0; i < 192; ++i) gzwrite(g, chunk.data(), static_cast<unsigned>(chunk.size()));  // 192 MiB of header
  gzclose(g);
  EXPECT_LT(fs::file_size(d / "bomb.kleak"), 8u << 20);
  RunResult r = run({"/usr/bin/time", "-q", "-f", "maxrss_kb=%M", KLEAK_BIN, "report", d / "bomb.kleak"});
  EXPECT_EQ(r.status, 2);
  auto pos = r.err.find("maxrss_kb=");
  ASSERT_NE(pos, std::string::npos) << r.err;
  long rss_kb = std::stol(r.err.substr(pos + 10));
  EXPECT_LT(rss_kb, 400 * 1024) << "RSS " << rss_kb << " kB";
  RunResult plain{r.status, r.out, r.err.substr(0, r.err.find("maxrss_kb="))};
  EXPECT_TRUE(one_line(plain, "the header is longer than 128 MiB, the cap for it")) << plain.err;
}

// Byte flips across a real recording: each is rejected with one line or renders the same report.
TEST(OutputFiles, ByteFlippedRecordingsAreRejectedOrIdentical) {
  KLEAK_NEEDS(HostOnly);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  const std::string good = slurp(recording());
  RunResult base = kleak({"report", recording(), "--format", "json"});
  ASSERT_EQ(base.status, 0) << base.err;
  SharedDir d;
  std::vector<size_t> offsets;
  for (size_t i = 0; i < 20 && i < good.size(); ++i) offsets.push_back(i);
  for (size_t i = 1; i <= 60; ++i) offsets.push_back(good.size() * i / 61);
  for (size_t i = 1; i <= 10; ++i) offsets.push_back(good.size() - i);
  int rejected = 0;
  for (size_t off : offsets) {
    std::string bad = good;
    bad[off] = static_cast<char>(bad[off] ^ 0x20);
    put(d / "bad.kleak", bad);
    RunResult r = kleak({"report", d / "bad.kleak", "--format", "json"});
    // gzip's magic/method/flags (offsets 0-3) and its CRC/length trailer (the last 8 bytes, which
    // kleak 0.1 never read) must be rejected; elsewhere a flip may land on bits nothing reads
    // (MTIME/XFL/OS, the padding after the last deflate block) and then changes nothing.
    if (off < 4 || off >= good.size() - 8) {
      EXPECT_EQ(r.status, 2) << "offset " << off << " of " << good.size() << " was accepted";
    }
    if (r.status == 0) {
      EXPECT_EQ(r.out, base.out) << "offset " << off << " accepted with a different report";
    } else {
      ++rejected;
      EXPECT_EQ(r.status, 2) << off;
      EXPECT_TRUE(one_line(r, "kleak: ")) << off;
    }
  }
}

// The window is measured: stopped past its deadline, the report says how long it really was
// and that allocations after the deadline are in it.
TEST(OutputFiles, StoppedWindowIsMeasuredAndSaid) {
  KLEAK_NEEDS(HostOnly);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  Tracing t({"-d", "1s", "--filter", kQuiet, "--format", "json"});
  auto t0 = std::chrono::steady_clock::now();
  t.signal(SIGSTOP);
  sleep(3);
  t.signal(SIGCONT);
  ASSERT_EQ(t.wait(), 0) << t.err();
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto j = t.json();
  EXPECT_GT(j["duration_s"].get<double>(), 2.9);
  EXPECT_LT(j["duration_s"].get<double>(), wall + 0.5);
  bool said = false;
  for (const auto& w : j["warnings"]) said |= w.get<std::string>().find("after its configured 1s") != std::string::npos;
  EXPECT_TRUE(said) << j["warnings"].dump();
}

}  // namespace
}  // namespace kleak::test
