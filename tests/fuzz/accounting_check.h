// The accounting invariant the meminfo fuzz targets share.
#pragma once
#include "fuzz_check.h"
#include "kleak/meminfo.h"

namespace kleak::fuzz {

// Whatever went in, the accounting's parts add up to MemTotal exactly, and both renderers cope.
inline void check_accounting(const Snapshot& s) {
  Accounting a = account(s);
  if (a.mem_total_kb) {
    FUZZ_CHECK(a.unaccounted_kb.has_value());
    std::int64_t sum = 0;
    for (const auto& p : a.parts) sum += p.kb;  // each part is at most 2^56 kB: no overflow
    FUZZ_CHECK(sum == *a.mem_total_kb);
  } else {
    FUZZ_CHECK(a.parts.empty());
  }
  FUZZ_CHECK(a.page_size >= 4096);
  render_text(a);
  render_json(a, {.top = 0});
}

}  // namespace kleak::fuzz
