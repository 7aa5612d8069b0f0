// libFuzzer target: loading a --save snapshot (JSON), the accounting over it, and the save/load
// round trip.
// fuzz-links: kleak_meminfo (the stage library that holds what it fuzzes; CMakeLists.txt reads this line)
#include "accounting_check.h"
#include "kleak/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  kleak::Snapshot s;
  try {
    s = kleak::snapshot_from_json(kleak::fuzz::as_text(data, size));
  } catch (const kleak::Error& e) {
    FUZZ_CHECK(e.exit_code() == kleak::kExitUsage);
    return 0;
  }
  kleak::fuzz::check_accounting(s);
  // Strings that parsed are valid UTF-8, so saving and loading again gives the same snapshot.
  FUZZ_CHECK(kleak::snapshot_from_json(kleak::snapshot_to_json(s)) == s);
  auto a = kleak::account(s);
  kleak::render_diff_text(kleak::diff_accountings(a, a));
  return 0;
}
