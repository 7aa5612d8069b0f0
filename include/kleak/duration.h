// Durations as users type them on the command line: `90s`, `10m`, `1h30m`, `1.5s`, `500ms`, `2d`,
// or a bare number of seconds.
#pragma once
#include <chrono>
#include <string>
#include <string_view>

namespace kleak {

// Parses one duration. Grammar: a bare number (seconds), or one or more `<number><unit>` parts
// with units from largest to smallest, each at most once (`1h30m`, `1m30.5s`). A number is
// decimal digits with an optional fraction (`1.5h`); units are d, h, m, s, ms. No sign, no
// spaces. Sub-nanosecond fractions are truncated.
// Throws kleak::usage_error (one line naming the text) on empty, negative, unknown units, junk,
// overflow (more than ~292 years), and zero unless `allow_zero`.
std::chrono::nanoseconds parse_duration(std::string_view text, bool allow_zero = false);

// Short human text that parse_duration() reads back to the same value:
// "1m30s", "10m", "500ms", "2h", "1d2h", "1.5s", "0s". Negative values get a leading '-'.
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace kleak
