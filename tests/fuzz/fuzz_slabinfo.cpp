// libFuzzer target: parse_slabinfo, then the accounting with it (page size from slabinfo).
// fuzz-links: kleak_meminfo (the stage library that holds what it fuzzes; CMakeLists.txt reads this line)
#include "accounting_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = kleak::fuzz::as_text(data, size);
  kleak::Slabinfo si = kleak::parse_slabinfo(text);
  for (const auto& c : si.caches) FUZZ_CHECK(!c.name.empty());
  kleak::Snapshot s;
  s.files["meminfo"] = "MemTotal: 1000000 kB\nMemFree: 1000 kB\nSlab: 5000 kB\nSReclaimable: 1000 kB\n";
  s.files["slabinfo"] = std::string(text);
  kleak::fuzz::check_accounting(s);
  return 0;
}
