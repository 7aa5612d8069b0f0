// Issue 23: strings from another user or a file reach root's terminal escaped (text_escape.h),
// and stay exact in JSON.
#include <gtest/gtest.h>
#include <grp.h>
#include <sys/prctl.h>

#include <fstream>

#include "harness.h"
#include "kleak/recording.h"

namespace kleak::test {
namespace {

using nlohmann::json;

// What any local user can do: set its comm to terminal escapes (OSC 0 retitles the terminal,
// CSI 2J clears it); 12 bytes, under the 15 of a comm.
const std::string kEvilComm = "\x1b]0;PWN\a\x1b[2J";
const std::string kEvilCommShown = "\\x1b]0;PWN\\a\\x1b[2J";

std::string tmp(const std::string& name) { return ::testing::TempDir() + "kleak-" + std::to_string(getpid()) + "-" + name; }

// A process of uid 65534 named `comm` (prctl PR_SET_NAME) that, when told, writes a page into
// each of `pipes` pipes and holds them. Forked, not exec'ed: exec would rename it.
class NobodyWithAComm {
 public:
  NobodyWithAComm(const std::string& comm, int pipes) {
    int go[2], ready[2];
    if (pipe(go) || pipe(ready)) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {  // only system calls from here: the parent has threads
      close(go[1]);
      close(ready[0]);
      if (setgroups(0, nullptr) || setgid(65534) || setuid(65534)) _exit(2);
      prctl(PR_SET_NAME, comm.c_str());
      char c;
      if (read(go[0], &c, 1) != 1) _exit(3);
      static char page[4096];
      for (int i = 0; i < pipes; ++i) {
        int p[2];
        if (pipe(p) || write(p[1], page, sizeof page) != sizeof page) _exit(4);
      }
      if (write(ready[1], "r", 1) != 1) _exit(5);
      for (;;) pause();
    }
    close(go[0]);
    close(ready[1]);
    go_ = go[1];
    ready_ = ready[0];
  }
  ~NobodyWithAComm() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    close(go_);
    close(ready_);
  }
  pid_t pid() const { return pid_; }
  // Returns once the pipes are written.
  bool plant() {
    char c = 'g';
    return write(go_, &c, 1) == 1 && read(ready_, &c, 1) == 1;
  }

 private:
  pid_t pid_ = -1;
  int go_ = -1, ready_ = -1;
};

::testing::AssertionResult no_terminal_controls(const std::string& out) {
  for (size_t i = 0; i < out.size(); ++i) {
    auto c = static_cast<unsigned char>(out[i]);
    if ((c < 0x20 && c != '\n') || c == 0x7f)
      return ::testing::AssertionFailure() << "control byte " << int(c) << " at offset " << i;
  }
  return ::testing::AssertionSuccess();
}

TEST(Escapes, AnUnprivilegedCommCannotDriveRootsTerminal) {
  KLEAK_NEEDS(HostOnly);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  NobodyWithAComm nobody(kEvilComm, 20);
  std::string file = tmp("comm.kleak");
  Tracing t({"--duration", "1h", "--by", "comm", "--kinds", "page", "--pid", std::to_string(nobody.pid()),
             "--record", file});
  ASSERT_TRUE(nobody.plant());
  ASSERT_EQ(t.stop(), 0) << t.err();
  EXPECT_TRUE(no_terminal_controls(t.out())) << t.out();
  EXPECT_NE(t.out().find("comm=" + kEvilCommShown), std::string::npos) << t.out();

  // The recording of it, replayed as text (escaped) and as JSON (exact).
  RunResult text = run({KLEAK_BIN, "report", file, "--by", "comm"});
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_TRUE(no_terminal_controls(text.out)) << text.out;
  EXPECT_NE(text.out.find("comm=" + kEvilCommShown), std::string::npos) << text.out;
  RunResult j = run({KLEAK_BIN, "report", file, "--by", "comm", "--format", "json"});
  ASSERT_EQ(j.status, 0) << j.err;
  bool exact = false;
  const json report = json::parse(j.out);
  for (const auto& s : report["stacks"])
    if (s.contains("group") && s["group"].contains("comm")) exact |= s["group"]["comm"].get<std::string>() == kEvilComm;
  EXPECT_TRUE(exact) << j.out;
  unlink(file.c_str());
}

// A recording is a file anyone may hand to root: its kernel string, symbols (kallsyms lines)
// and comms are shown escaped by `kleak report` and `kleak diff`.
TEST(Escapes, AHostileRecordingIsShownEscaped) {
  KLEAK_NEEDS(HostOnly);
  Recording r;
  r.kernel = "Linux \x1b]0;PWN\a";
  r.kallsyms = "ffffffff81000000 T evil\x1b[2J\x1b[H\nffffffff81000100 T bar\n";
  r.sources["kmem:kmalloc"] = "attached\x1b[31m";
  r.sources["kmem:kfree"] = "attached";  // and no attach_mode for it: was "internal error: map::at"
  r.warnings = {"forged\nkleak: a second line"};
  for (uint64_t i = 0; i < 3; ++i) {
    AllocRecord a;
    a.key = 0x1000 + i;
    a.a.bytes_alloc = 64;
    a.a.stack_id = 1;
    r.collected.allocs.push_back(a);
  }
  r.collected.stacks[1] = {0xffffffff81000010ull, 0xffffffff81000110ull};
  r.collected.now_ns = 2'000'000'000;
  r.collected.window_start_ns = 1'000'000'000;
  std::string file = tmp("hostile-strings.kleak");
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << recording_bytes(r);
  }
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{KLEAK_BIN, "report", file}, {KLEAK_BIN, "report", file, "--format", "folded"},
        {KLEAK_BIN, "report", file, "--format", "svg"}, {KLEAK_BIN, "diff", file, file}}) {
    RunResult res = run(argv);
    ASSERT_EQ(res.status, 0) << argv[1] << " " << argv.back() << ": " << res.err;
    EXPECT_TRUE(no_terminal_controls(res.out)) << argv.back() << ":\n" << res.out;
    EXPECT_TRUE(no_terminal_controls(res.err)) << argv.back() << ":\n" << res.err;
  }
  RunResult text = run({KLEAK_BIN, "report", file});
  EXPECT_NE(text.out.find("evil\\x1b[2J\\x1b[H+0x10"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("\nkleak: a second line"), std::string::npos) << text.out;
  unlink(file.c_str());
}

}  // namespace
}  // namespace kleak::test
