// libFuzzer target: parse_meminfo, then the whole accounting over the parsed fields.
// fuzz-links: kleak_meminfo (the stage library that holds what it fuzzes; CMakeLists.txt reads this line)
#include "accounting_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = kleak::fuzz::as_text(data, size);
  kleak::Meminfo m = kleak::parse_meminfo(text);
  for (const auto& [key, value] : m.fields) {
    FUZZ_CHECK(!key.empty());
    FUZZ_CHECK(value >= 0 && value <= (std::int64_t{1} << 56));
  }
  kleak::Snapshot s;
  s.files["meminfo"] = std::string(text);
  kleak::fuzz::check_accounting(s);
  return 0;
}
