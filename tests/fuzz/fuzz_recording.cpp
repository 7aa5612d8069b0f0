// libFuzzer target: kleak::load_recording (include/kleak/recording.h). Contract checked: any
// bytes are a recording or a kleak usage error (exit 2), never a crash, a hang or an allocation
// the file's size does not justify. zlib reads bytes that are not gzip as they are, so plain
// inputs reach the parser directly.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "fuzz_check.h"
#include "kleak/error.h"
#include "kleak/recording.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/kleak-fuzz-recording-" + std::to_string(getpid());
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    kleak::Recording r = kleak::load_recording(path);
    // What loaded must be consistent with what the file held.
    FUZZ_CHECK(r.collected.allocs.size() * (sizeof(kleak_alloc) + 8) <= size);
    FUZZ_CHECK(r.collected.sample_every >= 1);
  } catch (const kleak::Error& e) {
    FUZZ_CHECK(e.exit_code() == kleak::kExitUsage);
  }
  return 0;
}
