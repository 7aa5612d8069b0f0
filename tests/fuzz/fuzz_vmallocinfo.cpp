// libFuzzer target: parse_vmallocinfo and infer_page_size, then the accounting with it.
// fuzz-links: kleak_meminfo (the stage library that holds what it fuzzes; CMakeLists.txt reads this line)
#include "accounting_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = kleak::fuzz::as_text(data, size);
  kleak::Vmallocinfo v = kleak::parse_vmallocinfo(text);
  for (const auto& a : v.areas) {
    FUZZ_CHECK(a.function.size() <= a.caller.size());
    FUZZ_CHECK(!a.owns_pages() || *a.pages > 0);
  }
  if (auto ps = kleak::infer_page_size(v)) FUZZ_CHECK(*ps >= 4096 && (*ps & (*ps - 1)) == 0);
  kleak::Snapshot s;
  s.files["meminfo"] = "MemTotal: 1000000 kB\nMemFree: 1000 kB\nKernelStack: 64 kB\nVmallocUsed: 0 kB\n";
  s.files["vmallocinfo"] = std::string(text);
  kleak::fuzz::check_accounting(s);
  return 0;
}
