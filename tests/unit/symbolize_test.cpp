// Kallsyms parsing and address resolution, on lines cut from a 6.18 x86_64 /proc/kallsyms
// (tests/fixtures/kallsyms/kallsyms.txt) plus invented module and BPF lines.
#include <chrono>
#include <cstdint>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "kleak/error.h"
#include "kleak/symbolize.h"

namespace kleak {
namespace {

const std::string kDir = std::string(KLEAK_FIXTURES) + "/kallsyms/";

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string& fixture_text() {
  static const std::string text = read_text(kDir + "kallsyms.txt");
  return text;
}

const Kallsyms& fixture() {
  static const Kallsyms k = Kallsyms::parse(fixture_text());
  return k;
}

// Address of the first line naming `name` in kallsyms text (test-side lookup, independent of the
// code under test).
uint64_t addr_of(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string addr, type, sym;
    if (fields >> addr >> type >> sym && sym == name) return std::stoull(addr, nullptr, 16);
  }
  ADD_FAILURE() << name << " is not in the fixture";
  return 0;
}

uint64_t at(const std::string& name) { return addr_of(fixture_text(), name); }

TEST(Kallsyms, FixtureKeepsOneEntryPerTextAddress) {
  ASSERT_FALSE(fixture_text().empty()) << "fixture missing: " << kDir;
  // 456 text lines (t T w W) at 448 distinct addresses; D/R/B/d/r/b lines are left out.
  EXPECT_EQ(fixture().size(), 448u);
}

TEST(Kallsyms, ResolvesReturnAddressesFromARealStack) {
  // Frames of a page allocation by a pipe write, as the kernel printed them on this box.
  struct {
    const char* func;
    uint64_t off;
  } stack[] = {{"__alloc_frozen_pages_noprof", 0x26b}, {"alloc_pages_mpol", 0x86},
               {"alloc_pages_noprof", 0x4c},          {"anon_pipe_write", 0x1a8},
               {"vfs_write", 0x398},                  {"ksys_write", 0xba},
               {"do_syscall_64", 0x71},               {"entry_SYSCALL_64_after_hwframe", 0x76}};
  for (const auto& s : stack) {
    Frame f = fixture().resolve(at(s.func) + s.off);
    EXPECT_EQ(f.func, s.func);
    EXPECT_EQ(f.offset, s.off);
    EXPECT_EQ(f.module, "");
    EXPECT_EQ(f.addr, at(s.func) + s.off);
  }
  EXPECT_EQ(fixture().resolve(at("anon_pipe_write") + 0x1a8).text(), "anon_pipe_write+0x1a8");
}

TEST(Kallsyms, CallEndingAFunctionStaysInIt) {
  // A return address right past the last instruction (a call to a noreturn function) equals the
  // next symbol's start: the lookup uses addr - 1, the offset is the function's size.
  uint64_t start = at("anon_pipe_write");
  uint64_t next = at("__pfx_fifo_pipe_write");  // padding of the function that follows
  ASSERT_GT(next, start);
  Frame f = fixture().resolve(next);
  EXPECT_EQ(f.func, "anon_pipe_write");
  EXPECT_EQ(f.offset, next - start);
}

TEST(Kallsyms, FunctionStartIsNotPaddingOfThePreviousOne) {
  // An exact function address (kprobe-style frame): addr - 1 is in the __pfx_ padding, so the
  // function itself is reported at +0x0.
  Frame f = fixture().resolve(at("vfs_write"));
  EXPECT_EQ(f.func, "vfs_write");
  EXPECT_EQ(f.offset, 0u);
}

TEST(Kallsyms, EqualAddressesKeepTheKernelsChoiceButNeverAMarker) {
  // ffffffff81000000 holds srso_alias_untrain_ret, _stext, _text and __pi__text.
  Frame f = fixture().resolve(0xffffffff81000005);
  EXPECT_EQ(f.func, "srso_alias_untrain_ret");
  EXPECT_EQ(f.offset, 5u);
  // common_interrupt_return and __irqentry_text_end share an address.
  EXPECT_EQ(fixture().resolve(at("common_interrupt_return") + 0x10).func,
            "common_interrupt_return");

  // A marker or padding listed first still gives way to the function.
  Kallsyms k = Kallsyms::parse(
      "ffffffff81000000 T _stext\n"
      "ffffffff81000000 T __pfx_startup_64\n"
      "ffffffff81000000 T startup_64\n"
      "ffffffff81000000 T secondary_startup_64\n"
      "ffffffff81000100 T __pfx_next_fn\n");
  EXPECT_EQ(k.size(), 2u);
  EXPECT_EQ(k.resolve(0xffffffff81000020).func, "startup_64");
}

TEST(Kallsyms, AddressBeforeTheFirstSymbolIsUnknown) {
  Frame f = fixture().resolve(0xffffffff80ffffff);
  EXPECT_FALSE(f.known());
  EXPECT_EQ(f.text(), "0xffffffff80ffffff");
  EXPECT_FALSE(fixture().resolve(0x1234).known());
  EXPECT_FALSE(fixture().resolve(0).known());
  EXPECT_EQ(fixture().resolve(0).text(), "0x0");
}

TEST(Kallsyms, AddressesPastTheEndOfTextAreUnknown) {
  // Past __entry_text_end, _etext and _einittext nothing is code of the symbol before.
  EXPECT_FALSE(fixture().resolve(at("__entry_text_end") + 0x20).known());
  EXPECT_FALSE(fixture().resolve(at("_etext") + 0x10).known());
  EXPECT_FALSE(fixture().resolve(0xffffffff82400010).known());  // .rodata (D __start_rodata)
  EXPECT_FALSE(fixture().resolve(at("_einittext") + 0x100).known());
  // The last init function before _einittext still resolves.
  EXPECT_EQ(fixture().resolve(at("use_tpause_delay") + 0x8).func, "use_tpause_delay");
}

TEST(Kallsyms, FarBeyondASymbolIsUnknown) {
  // srso_alias_return_thunk is followed by ~1 MiB of alignment before the next symbol.
  uint64_t thunk = at("srso_alias_return_thunk");
  ASSERT_GT(at("__pfx_abort") - thunk, Kallsyms::kMaxSymbolSize);
  EXPECT_EQ(fixture().resolve(thunk + 0x4).func, "srso_alias_return_thunk");
  EXPECT_FALSE(fixture().resolve(thunk + Kallsyms::kMaxSymbolSize + 0x10).known());
  // The last symbol of all (leaky's init) and of a region (the ftrace trampoline) get a tail.
  uint64_t init = at("leaky_init");
  EXPECT_EQ(fixture().resolve(init + 0x20).func, "leaky_init");
  EXPECT_FALSE(fixture().resolve(init + Kallsyms::kMaxTailSize + 1).known());
  uint64_t tramp = at("ftrace_trampoline");
  EXPECT_EQ(fixture().resolve(tramp + 0x80).text(), "ftrace_trampoline+0x80 [__builtin__ftrace]");
  EXPECT_FALSE(fixture().resolve(tramp + Kallsyms::kMaxTailSize + 1).known());
}

TEST(Kallsyms, WeakSymbolsAreText) {
  EXPECT_EQ(fixture().resolve(at("abort") + 0x5).text(), "abort+0x5");  // W, 7 bytes long
}

TEST(Kallsyms, ModuleSymbols) {
  // virtio_balloon's lines are listed out of address order, as module symbol tables are.
  Frame f = fixture().resolve(0xffffffffc0a000f0 + 0x3c);
  EXPECT_EQ(f.func, "fill_balloon");
  EXPECT_EQ(f.offset, 0x3cu);
  EXPECT_EQ(f.module, "virtio_balloon");
  EXPECT_EQ(f.text(), "fill_balloon+0x3c [virtio_balloon]");
  EXPECT_EQ(fixture().resolve(0xffffffffc0a008a0).func, "virtballoon_probe");
  // Module aliases: the first listed wins (leaky_init over init_module).
  EXPECT_EQ(fixture().resolve(0xffffffffc0a10250).text(), "leaky_init+0x10 [leaky]");
  EXPECT_EQ(fixture().resolve(0xffffffffc0a01004).text(),
            "virtio_balloon_driver_init+0x4 [virtio_balloon]");
  EXPECT_EQ(fixture().resolve(0xffffffffc0a10110 + 0x42).text(), "leaky_write+0x42 [leaky]");
}

TEST(Kallsyms, BpfProgramsResolveInTheBpfModule) {
  Frame f = fixture().resolve(0xffffffffc0001170 + 0x5c);
  EXPECT_EQ(f.func, "bpf_prog_2a1b8f9c0d3e4f56_kleak_page_alloc");
  EXPECT_EQ(f.module, "bpf");
  // The next program starts where this one ends.
  EXPECT_EQ(fixture().resolve(0xffffffffc00012f8 + 0x10).func,
            "bpf_prog_0f4e2d9a7c6b5e31_kleak_vmap_area");
}

TEST(Kallsyms, SkipsJunkLines) {
  Kallsyms k = Kallsyms::parse(
      "\n"
      "garbage\n"
      "zzzzzzzzzzzzzzzz T not_hex\n"
      "ffffffff81000000\n"
      "ffffffff81000000 T\n"
      "ffffffff81000000 TT two_letter_type\n"
      "ffffffff81000000 t open_bracket\t[mod\n"
      "ffffffff81000000 t extra_field\t[mod] extra\n"
      "1ffffffff81000000 T seventeen_digits\n"
      "0xffffffff81000000 T prefixed\n"
      "ffffffff81001000 T good_one\r\n"
      "ffffffff81002000 t good_two\t[mod]\n"
      "ffffffff81003000 D data_symbol\n"
      "ffffffff81003100 b bss_symbol\t[mod]\n"
      "ffffffff81004000 T last");  // no trailing newline
  EXPECT_EQ(k.size(), 3u);
  EXPECT_EQ(k.resolve(0xffffffff81001010).text(), "good_one+0x10");
  // good_two's extent ends at `last` (the data symbols in between are not text).
  EXPECT_EQ(k.resolve(0xffffffff81003010).text(), "good_two+0x1010 [mod]");
  EXPECT_EQ(k.resolve(0xffffffff81004001).func, "last");
  EXPECT_FALSE(k.resolve(0xffffffff81000010).known());
}

TEST(Kallsyms, ZeroAddressesAreDropped) {
  Kallsyms k = Kallsyms::parse(read_text(kDir + "kallsyms_restricted.txt"));
  EXPECT_EQ(k.size(), 0u);
  EXPECT_FALSE(k.resolve(0xffffffff81000005).known());
}

TEST(Kallsyms, LoadRefusesHiddenAddresses) {
  try {
    Kallsyms::load(kDir + "kallsyms_restricted.txt");
    FAIL() << "expected kleak::Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("kallsyms_restricted.txt"), std::string::npos) << msg;
    EXPECT_NE(msg.find("zero"), std::string::npos) << msg;
    EXPECT_NE(msg.find("kptr_restrict"), std::string::npos) << msg;
    EXPECT_NE(msg.find("root"), std::string::npos) << msg;
    EXPECT_EQ(e.exit_code(), kExitFailure);
  }
}

TEST(Kallsyms, LoadRefusesMissingAndEmptyFiles) {
  try {
    Kallsyms::load(kDir + "no-such-file");
    FAIL() << "expected kleak::Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("no-such-file"), std::string::npos) << msg;
    EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
  }
  EXPECT_THROW(Kallsyms::load("/dev/null"), Error);
}

TEST(Kallsyms, LoadReadsTheFixture) {
  Kallsyms k = Kallsyms::load(kDir + "kallsyms.txt");
  EXPECT_EQ(k.size(), fixture().size());
  EXPECT_EQ(k.resolve(at("do_anonymous_page") + 0x31e).text(), "do_anonymous_page+0x31e");
}

TEST(Kallsyms, ResolveStackStopsAtTheFirstZero) {
  std::vector<uint64_t> ips = {at("alloc_pages_noprof") + 0x4c, at("anon_pipe_write") + 0x1a8,
                               0, at("vfs_write") + 0x398};
  std::vector<Frame> frames = fixture().resolve_stack(ips);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].text(), "alloc_pages_noprof+0x4c");
  EXPECT_EQ(frames[1].text(), "anon_pipe_write+0x1a8");
  EXPECT_TRUE(fixture().resolve_stack({}).empty());
}

TEST(Kallsyms, EmptyTableResolvesNothing) {
  Kallsyms k;
  EXPECT_EQ(k.size(), 0u);
  EXPECT_FALSE(k.resolve(0xffffffff81000000).known());
  EXPECT_EQ(Kallsyms::parse("").size(), 0u);
}

TEST(Kallsyms, IsACopyableValue) {
  Kallsyms copy = fixture();
  EXPECT_EQ(copy.size(), fixture().size());
  EXPECT_EQ(copy.resolve(at("vfs_write") + 0x10), fixture().resolve(at("vfs_write") + 0x10));
}

TEST(Frame, Text) {
  EXPECT_EQ((Frame{0xffffffff8152a1c8, "anon_pipe_write", 0x1a8, ""}).text(),
            "anon_pipe_write+0x1a8");
  EXPECT_EQ((Frame{0xffffffffc0a0012c, "fill_balloon", 0x3c, "virtio_balloon"}).text(),
            "fill_balloon+0x3c [virtio_balloon]");
  EXPECT_EQ((Frame{0xffffffffc0a01234, "", 0, ""}).text(), "0xffffffffc0a01234");
  EXPECT_EQ((Frame{0xffffffff81000000, "_text", 0, ""}).text(), "_text+0x0");
}

// The running kernel, when this process may read its addresses.
std::optional<Kallsyms> live_kallsyms() {
  try {
    return Kallsyms::load();
  } catch (const Error&) {
    return std::nullopt;
  }
}

TEST(KallsymsLive, ResolvesTheRunningKernel) {
  auto k = live_kallsyms();
  if (!k) GTEST_SKIP() << "/proc/kallsyms unreadable or hidden (not root?)";
  EXPECT_GT(k->size(), 10000u);
  std::string text = read_text("/proc/kallsyms");
  uint64_t vfs_write = addr_of(text, "vfs_write");
  EXPECT_EQ(k->resolve(vfs_write + 0x20).text(), "vfs_write+0x20");
}

TEST(KallsymsLive, ResolvesQuickly) {
  auto k = live_kallsyms();
  if (!k) GTEST_SKIP() << "/proc/kallsyms unreadable or hidden (not root?)";
  // 1M return addresses spread over the kernel text. How long it took is recorded, not asserted:
  // a wall-clock bound fails on a busy machine whatever the code does (bench/ measures speed).
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<uint64_t> dist(0xffffffff81000000, 0xffffffff82200000);
  std::vector<uint64_t> ips(1'000'000);
  for (auto& ip : ips) ip = dist(rng);
  size_t known = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t ip : ips) known += k->resolve(ip).known();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(known, ips.size() / 2);
  RecordProperty("resolve_1M_seconds", std::to_string(s));
}

}  // namespace
}  // namespace kleak
