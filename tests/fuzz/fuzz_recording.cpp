// libFuzzer target: kleak::parse_recording (include/kleak/recording.h). Contract checked: any
// bytes are a recording or a kleak usage error (exit 2), never a crash, a hang or an allocation
// the input does not justify: what loads is bounded by what the bytes can inflate to (deflate
// expands at most 1032:1) and by the caps (kMaxRecords, kMaxRecordingHeader), and a recording
// that loads writes back to the same content.
// fuzz-links: kleak_meminfo (the stage library that holds what it fuzzes; CMakeLists.txt reads this line)
#include <cstdio>
#include <string>

#include "fuzz_check.h"
#include "kleak/error.h"
#include "kleak/recording.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    kleak::Recording r = kleak::parse_recording(kleak::fuzz::as_text(data, size), "fuzz");
    const std::size_t record = sizeof(kleak::AllocRecord::key) + sizeof(kleak::AllocRecord::a);
    FUZZ_CHECK(r.collected.allocs.size() * record <= size * 1032);
    FUZZ_CHECK(r.collected.allocs.size() <= kleak::kMaxRecords);
    FUZZ_CHECK(r.collected.sample_every >= 1);
    kleak::Recording again = kleak::parse_recording(kleak::recording_bytes(r), "again");
    FUZZ_CHECK(again.collected.allocs.size() == r.collected.allocs.size());
  } catch (const kleak::Error& e) {
    FUZZ_CHECK(e.exit_code() == kleak::kExitUsage);
  }
  return 0;
}
