#include "kleak/duration.h"

#include <fmt/format.h>

#include <cstdint>
#include <limits>

#include "kleak/error.h"

namespace kleak {
namespace {

__extension__ using u128 = unsigned __int128;

struct Unit {
  std::string_view name;
  int64_t ns;
};

// Largest first: a duration's parts must follow this order.
constexpr Unit kUnits[] = {
    {"d", 86'400'000'000'000}, {"h", 3'600'000'000'000}, {"m", 60'000'000'000},
    {"s", 1'000'000'000},      {"ms", 1'000'000},
};
constexpr std::string_view kUnitList = "ms, s, m, h, d";
constexpr std::string_view kTooLarge = "too large (the limit is about 292 years)";
constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kMillisecond = 1'000'000;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

[[noreturn]] void bad(std::string_view text, std::string_view why) {
  throw usage_error(fmt::format("bad duration '{}': {}", text, why));
}

}  // namespace

std::chrono::nanoseconds parse_duration(std::string_view text, bool allow_zero) {
  if (text.empty()) bad(text, "empty (use e.g. 90s, 10m, 1h30m)");
  if (text[0] == '-') bad(text, "negative durations are not allowed");

  constexpr u128 kLimit = std::numeric_limits<int64_t>::max();
  u128 total = 0;
  size_t next_unit = 0;  // index into kUnits of the largest unit still allowed
  size_t i = 0;
  while (i < text.size()) {
    // <digits>[.<digits>]
    const size_t start = i;
    u128 whole = 0;
    for (; i < text.size() && is_digit(text[i]); ++i) {
      whole = whole * 10 + static_cast<unsigned>(text[i] - '0');
      if (whole > kLimit) bad(text, kTooLarge);
    }
    uint64_t fraction = 0, scale = 1;
    if (i < text.size() && text[i] == '.') {
      const size_t dot = i++;
      for (; i < text.size() && is_digit(text[i]); ++i) {
        if (scale < 1'000'000'000'000'000'000ULL) {  // later digits are below a nanosecond
          fraction = fraction * 10 + static_cast<unsigned>(text[i] - '0');
          scale *= 10;
        }
      }
      if (i == dot + 1) bad(text, "expected digits after '.'");
    }
    const std::string_view number = text.substr(start, i - start);
    if (number.empty()) {
      if (i < text.size() && is_alpha(text[i]))
        bad(text, fmt::format("expected a number before '{}'", text.substr(i, 1)));
      bad(text, fmt::format("unexpected character '{}'", text.substr(i, 1)));
    }

    // <unit>
    const size_t unit_start = i;
    while (i < text.size() && is_alpha(text[i])) ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    int64_t unit_ns = 0;
    if (unit.empty()) {
      if (i == text.size() && start == 0) {
        unit_ns = kSecond;  // a bare number means seconds
      } else if (i == text.size()) {
        bad(text, fmt::format("missing unit after '{}' (use {})", number, kUnitList));
      } else {
        bad(text, fmt::format("unexpected character '{}'", text.substr(i, 1)));
      }
    } else {
      size_t u = 0;
      while (u < std::size(kUnits) && kUnits[u].name != unit) ++u;
      if (u == std::size(kUnits))
        bad(text, fmt::format("unknown unit '{}' (use {})", unit, kUnitList));
      if (u < next_unit)
        bad(text, fmt::format("unit '{}' out of order (write parts from largest to smallest, "
                              "each once, as in 1h30m)",
                              unit));
      next_unit = u + 1;
      unit_ns = kUnits[u].ns;
    }
    total += whole * static_cast<u128>(unit_ns) +
             static_cast<u128>(fraction) * static_cast<u128>(unit_ns) / scale;
    if (total > kLimit) bad(text, kTooLarge);
  }

  if (total == 0 && !allow_zero) bad(text, "must be greater than zero");
  return std::chrono::nanoseconds(static_cast<int64_t>(total));
}

std::string format_duration(std::chrono::nanoseconds d) {
  const int64_t count = d.count();
  if (count == 0) return "0s";
  // The magnitude as unsigned, so INT64_MIN works too.
  uint64_t rest = count < 0 ? ~static_cast<uint64_t>(count) + 1 : static_cast<uint64_t>(count);
  std::string out = count < 0 ? "-" : "";
  for (const Unit& u : kUnits) {
    if (u.ns < kSecond) break;
    const auto ns = static_cast<uint64_t>(u.ns);
    if (rest < ns) continue;
    if (u.ns == kSecond && rest % ns != 0) break;  // seconds with a fraction: below
    out += fmt::format("{}{}", rest / ns, u.name);
    rest %= ns;
  }
  if (rest == 0) return out;
  if (rest >= static_cast<uint64_t>(kSecond)) {  // "1.5s"
    std::string frac = fmt::format("{:09}", rest % kSecond);
    frac.erase(frac.find_last_not_of('0') + 1);
    return out + fmt::format("{}.{}s", rest / kSecond, frac);
  }
  // Below a second: "500ms", or "0.5ms" when not a whole number of milliseconds.
  const uint64_t ms = rest / kMillisecond, sub = rest % kMillisecond;
  if (sub == 0) return out + fmt::format("{}ms", ms);
  std::string frac = fmt::format("{:06}", sub);
  frac.erase(frac.find_last_not_of('0') + 1);
  return out + fmt::format("{}.{}ms", ms, frac);
}

}  // namespace kleak
