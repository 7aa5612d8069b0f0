// libFuzzer target: kleak::parse_duration (include/kleak/duration.h). Contract checked:
// format_duration() text reads back to the same value.
// fuzz-links: kleak_model (the stage library that holds what it fuzzes; CMakeLists.txt reads this line)
#include "fuzz_check.h"
#include "kleak/duration.h"
#include "kleak/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = kleak::fuzz::as_text(data, size);
  std::chrono::nanoseconds d{};
  try {
    d = kleak::parse_duration(text, /*allow_zero=*/true);
  } catch (const kleak::Error& e) {
    FUZZ_CHECK(e.exit_code() == kleak::kExitUsage);
    return 0;
  }
  FUZZ_CHECK(d.count() >= 0);
  FUZZ_CHECK(kleak::parse_duration(kleak::format_duration(d), true) == d);
  return 0;
}
