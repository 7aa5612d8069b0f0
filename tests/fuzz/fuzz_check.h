// Shared by the libFuzzer targets in tests/fuzz: a failed invariant aborts, so libFuzzer keeps
// the input as a crash artifact. Build and run them with tools/fuzz.sh.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>


#define FUZZ_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

namespace kleak::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace kleak::fuzz
