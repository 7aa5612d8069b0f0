// libFuzzer target: kleak::Kallsyms::parse (include/kleak/symbolize.h). Contract checked: a
// resolved frame keeps its address and never lies more than kMaxSymbolSize past its symbol.
// fuzz-links: kleak_report (the stage library that holds what it fuzzes; CMakeLists.txt reads this line)
#include <charconv>
#include <cstdint>
#include <vector>

#include "fuzz_check.h"
#include "kleak/symbolize.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = kleak::fuzz::as_text(data, size);
  kleak::Kallsyms k = kleak::Kallsyms::parse(text);
  // Probe at and around the addresses the input names, plus a few fixed ones.
  std::vector<std::uint64_t> probes = {0, 1, 0xffffffff81000000ULL, 0xffffffffc0000000ULL, ~0ULL};
  std::size_t pos = 0;
  while (pos < text.size() && probes.size() < 64) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::uint64_t a = 0;
    auto line = text.substr(pos, end - pos);
    if (std::from_chars(line.data(), line.data() + line.size(), a, 16).ec == std::errc()) {
      for (std::uint64_t d : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{0x10}, kleak::Kallsyms::kMaxSymbolSize + 1})
        probes.push_back(a + d);
    }
    pos = end + 1;
  }
  for (std::uint64_t a : probes) {
    kleak::Frame f = k.resolve(a);
    FUZZ_CHECK(f.addr == a);
    if (f.known()) FUZZ_CHECK(f.offset <= kleak::Kallsyms::kMaxSymbolSize);
    f.text();
  }
  k.resolve_stack(probes);
  return 0;
}
