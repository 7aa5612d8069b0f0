// The one output writer (output_file.h), the bounded reader (bounded_read.h) and the recording
// integrity check (recording.h), on files in a scratch directory.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fixture_file.h"
#include "kleak/bounded_read.h"
#include "kleak/error.h"
#include "kleak/output_file.h"
#include "kleak/recording.h"

namespace kleak {
namespace {

namespace fs = std::filesystem;

using test::Scratch;

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t entries(const fs::path& d) {
  size_t n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(d)) ++n;
  return n;
}

TEST(OutputFile, WritesMode0600WhateverTheUmask) {
  Scratch s;
  mode_t old = umask(0);
  write_file_atomically(s / "r", "report\n");
  umask(old);
  struct stat st{};
  ASSERT_EQ(stat((s / "r").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(slurp(s / "r"), "report\n");
  EXPECT_EQ(entries(s.dir), 1u);  // no temporary file left
}

// The temporary files in `dir`, backdated past the age a fresh one is left alone for.
std::vector<fs::path> temps_backdated(const fs::path& dir) {
  std::vector<fs::path> t;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".kleak-tmp-") != std::string::npos) {
      timespec old[2] = {{time(nullptr) - 3600, 0}, {time(nullptr) - 3600, 0}};
      utimensat(AT_FDCWD, e.path().c_str(), old, 0);
      t.push_back(e.path());
    }
  return t;
}

// Issue 23: a writer killed before its rename left .NAME.kleak-tmp-* behind for good. The next
// write of NAME removes it, and leaves a temporary file alone while its writer lives.
TEST(OutputFile, TemporaryFilesOfKilledWritersAreRemovedByTheNextWrite) {
  Scratch s;
  pid_t pid = fork();
  if (pid == 0) {
    AtomicFile f(s / "r");
    f.write("half a report");
    raise(SIGKILL);
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(st));
  ASSERT_EQ(temps_backdated(s.dir).size(), 1u) << "the killed writer's temporary file";
  {
    AtomicFile live(s / "r");  // a writer still at work on the same target
    live.write("in progress");
    auto temps = temps_backdated(s.dir);
    ASSERT_EQ(temps.size(), 1u) << "the killed writer's file is gone, the live one's is there";
    write_file_atomically(s / "r", "whole\n");
    EXPECT_TRUE(fs::exists(temps[0])) << "a live writer's temporary file was removed";
    write_file_atomically(s / "other", "x");  // another target's writes leave r's alone
    EXPECT_TRUE(fs::exists(temps[0]));
  }
  EXPECT_EQ(slurp(s / "r"), "whole\n");
  EXPECT_EQ(entries(s.dir), 2u);  // r and other, no temporary file
}

TEST(OutputFile, UncommittedLeavesThePreviousFileAndNoTemporary) {
  Scratch s;
  write_file_atomically(s / "r", "previous");
  {
    AtomicFile f(s / "r");
    f.write("half a new rep");
  }  // an exception, or a crash, before commit()
  EXPECT_EQ(slurp(s / "r"), "previous");
  EXPECT_EQ(entries(s.dir), 1u);
}

TEST(OutputFile, RefusesSymlinksUnlessForced) {
  Scratch s;
  write_file_atomically(s / "victim", "keep");
  fs::create_symlink(s / "victim", s / "link");
  try {
    write_file_atomically(s / "link", "report");
    FAIL() << "a symlink was written through";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitUsage);
    EXPECT_NE(std::string(e.what()).find("symlink"), std::string::npos) << e.what();
  }
  EXPECT_EQ(slurp(s / "victim"), "keep");
  EXPECT_THROW(check_output_path(s / "link"), Error);
  OutputOptions force;
  force.force = true;
  write_file_atomically(s / "link", "report", force);
  EXPECT_EQ(slurp(s / "victim"), "report");
  EXPECT_TRUE(fs::is_symlink(s / "link"));
}

TEST(OutputFile, ErrorsNameThePathAndTheErrno) {
  try {
    write_file_atomically("/nonexistent-dir/r", "x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot write /nonexistent-dir/r: No such file or directory");
    EXPECT_EQ(e.exit_code(), kExitUsage);
  }
  try {
    write_file_atomically("/dev/full", "x");  // a device is written in place, never renamed over
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot write /dev/full: No space left on device");
  }
}

TEST(BoundedRead, RefusesDevicesFifosAndFilesOverTheCap) {
  Scratch s;
  for (const char* dev : {"/dev/zero", "/dev/urandom"}) {
    auto r = try_read_bounded(dev, 1 << 20, "a kallsyms file");
    EXPECT_FALSE(r.text);
    EXPECT_TRUE(r.refused);
    EXPECT_NE(r.error.find("a character device"), std::string::npos) << r.error;
  }
  ASSERT_EQ(mkfifo((s / "fifo").c_str(), 0600), 0);
  auto f = try_read_bounded(s / "fifo", 1 << 20, "x");  // must not block waiting for a writer
  EXPECT_TRUE(f.refused);
  write_file_atomically(s / "big", std::string(5000, 'x'));
  try {
    read_bounded(s / "big", 4096, "a meminfo snapshot");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("larger than 4 KiB, the cap for a meminfo snapshot"), std::string::npos);
  }
  EXPECT_EQ(read_bounded(s / "big", 5000, "x").size(), 5000u);
  // /proc files say size 0: the cap applies to what is read.
  auto live = try_read_bounded("/proc/self/maps", 10, "x");
  EXPECT_TRUE(live.refused);
  EXPECT_TRUE(try_read_bounded("/proc/meminfo", 1 << 20, "x").text);
}

// ---- recordings ----------------------------------------------------------------------------

Recording small_recording() {
  Recording r;
  r.kernel = "Linux test";
  r.kallsyms = "ffffffff81000000 T foo\nffffffff81000100 T bar\n";
  r.sources["kmem:kmalloc"] = "attached";
  for (uint64_t i = 0; i < 3; ++i) {
    AllocRecord a;
    a.key = 0x1000 + i;
    a.a.bytes_alloc = 64 * (i + 1);
    a.a.stack_id = 1;
    r.collected.allocs.push_back(a);
  }
  r.collected.stacks[1] = {0xffffffff81000010ull, 0xffffffff81000110ull};
  r.collected.now_ns = 2'000'000'000;
  r.collected.window_start_ns = 1'000'000'000;
  return r;
}

std::string gzip_of(const std::string& data) {
  uLongf n = compressBound(data.size()) + 64;
  std::string out(n, '\0');
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Issue 12: 5 of 60 byte-flipped recordings were accepted. Now a flip at any offset is either
// rejected (one line, exit 2) or changes nothing the recording says (gzip's mtime/OS bytes).
TEST(Recording, EveryByteFlipIsRejectedOrChangesNothing) {
  const std::string good = recording_bytes(small_recording());
  Recording back = parse_recording(good, "good");
  ASSERT_EQ(recording_bytes(back), good);
  size_t rejected = 0, harmless = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (unsigned char mask : {0x01, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      try {
        Recording r = parse_recording(bad, "bad");
        EXPECT_EQ(recording_bytes(r), good) << "offset " << i << " mask " << int(mask) << " was accepted changed";
        ++harmless;
      } catch (const Error& e) {
        EXPECT_EQ(e.exit_code(), kExitUsage);
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, good.size() * 2);
  // Truncation at every length is rejected too.
  for (size_t n = 0; n < good.size(); ++n) EXPECT_THROW(parse_recording(good.substr(0, n), "cut"), Error) << n;
  // So are bytes after the gzip member.
  EXPECT_THROW(parse_recording(good + good, "twice"), Error);
}

// Issue 23: nlohmann's parse error quotes the token it last read: a 32 KiB header string ending
// in an invalid byte was echoed whole, raw bytes and all, into the one-line error.
TEST(Recording, AHeaderErrorIsCappedAndEscaped) {
  std::string payload = "KLEAK-RECORDING 2\n{\"kernel\": \"" + std::string(32 << 10, 'A') + "\xff\x1b[2J\"}\n";
  try {
    parse_recording(gzip_of(payload), "hostile.kleak");
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_EQ(e.exit_code(), kExitUsage);
    EXPECT_LT(m.size(), 512u) << m.size();
    EXPECT_TRUE(m.starts_with("hostile.kleak is not a valid kleak recording: ")) << m;
    for (unsigned char c : m) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << int(c) << " in " << m;
  }
}

// Found after issue 23: a comm is any bytes its process set, JSON carries UTF-8 only, and dump()
// threw on a churn group's comm of "\xff": --record failed ("internal error: ... type_error.316").
TEST(Recording, ACommThatIsNotUtf8IsRecorded) {
  Recording r = small_recording();
  kleak_churn_key k{};
  std::memcpy(k.comm, "bad\xff\xfe", 5);
  kleak_churn v{};
  v.allocs = 1;
  r.collected.churn.push_back({k, v});
  std::string bytes;
  ASSERT_NO_THROW(bytes = recording_bytes(r));
  Recording back = parse_recording(bytes, "x");
  ASSERT_EQ(back.collected.churn.size(), 1u);
  EXPECT_EQ(std::string(back.collected.churn[0].first.comm), "bad\xef\xbf\xbd\xef\xbf\xbd");  // U+FFFD each
}

TEST(Recording, ContentWithAWrongChecksumIsRejected) {
  std::string payload = "KLEAK-RECORDING 2\n{}\nKLEAK-END crc32=00000000\n";
  try {
    parse_recording(gzip_of(payload), "x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitUsage);
  }
}

TEST(Recording, OldAndUnknownFormatsAreNamed) {
  try {
    parse_recording(gzip_of("KLEAK-RECORDING 1\n{}\n"), "old.kleak");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("recording format 1"), std::string::npos) << e.what();
  }
  try {
    parse_recording(gzip_of("KLEAK-RECORDING 9\n{}\n"), "new.kleak");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("format '9'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_recording("plain text, not gzip", "p"), Error);
}

TEST(Recording, DeepNestingIsCapped) {
  std::string header(100000, '[');
  try {
    parse_recording(gzip_of("KLEAK-RECORDING 2\n" + header + "\n"), "deep");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("deeper than 16 levels"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kleak
