// libFuzzer target: kleak::Filter::parse (include/kleak/filter.h). Contracts checked: the
// canonical text parses back to an equivalent filter, and every record the filter accepts passes
// its BPF prefilter.
// fuzz-links: kleak_filter (the stage library that holds what it fuzzes; CMakeLists.txt reads this line)
#include <array>
#include <string>

#include "fuzz_check.h"
#include "kleak/error.h"
#include "kleak/filter.h"

namespace {

std::array<kleak::FilterFields, 4> records() {
  std::array<kleak::FilterFields, 4> r{};
  r[0] = {.bytes_req = 256, .bytes_alloc = 256, .pid = 1, .tid = 1, .cache = "dentry", .comm = "bash", .kind = "slab"};
  r[1] = {.bytes_req = 2560, .bytes_alloc = 4096, .gfp_flags = 0x400, .pid = 42, .tid = 43,
          .call_site = 0xffffffff81234567, .cache = "", .comm = "kworker/0:1", .kind = "kmalloc"};
  r[2] = {.bytes_req = 4096, .bytes_alloc = 4096, .order = 0, .migratetype = 1, .comm = "", .kind = "page"};
  r[3] = {.bytes_req = 0, .bytes_alloc = 0, .pid = 0, .comm = "x", .kind = "vmalloc"};
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = kleak::fuzz::as_text(data, size);
  kleak::Filter f;
  try {
    f = kleak::Filter::parse(text);
  } catch (const kleak::Error& e) {
    FUZZ_CHECK(e.exit_code() == kleak::kExitUsage);
    return 0;
  }
  const std::string canonical = f.to_string();
  kleak::Filter again = kleak::Filter::parse(canonical);  // must not throw
  const kleak::BpfPrefilter pre = f.prefilter();
  for (const auto& r : records()) {
    bool m = f.matches(r);
    FUZZ_CHECK(m == again.matches(r));
    if (m) FUZZ_CHECK(!pre.matches_nothing && pre.admits(r));
  }
  return 0;
}
