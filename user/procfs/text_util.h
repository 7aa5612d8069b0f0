// Small text and arithmetic helpers shared by the /proc parsers and the meminfo accounting.
// Private to user/: not a public header.
#pragma once
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

namespace kleak::text {

// Largest value a parser accepts for one number. Far above any real machine (2^56 kB is 64 EiB)
// and low enough that adding a few dozen of them never overflows an int64.
inline constexpr std::uint64_t kMaxValue = std::uint64_t{1} << 56;

inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Calls f(line) for every line, without the '\n'.
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    f(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

// Whitespace-separated words.
inline std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    std::size_t j = i;
    while (j < line.size() && !is_space(line[j])) ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

// A whole word of decimal digits, at most kMaxValue.
inline std::optional<std::uint64_t> parse_u64(std::string_view s, int base = 10) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || ptr != s.data() + s.size() || v > kMaxValue) return std::nullopt;
  return v;
}

// Saturating arithmetic on int64 for sums of values that are each at most kMaxValue.
inline std::int64_t sat_add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r))
    return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
  return r;
}
inline std::int64_t sat_mul(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r))
    return (a < 0) != (b < 0) ? std::numeric_limits<std::int64_t>::min()
                              : std::numeric_limits<std::int64_t>::max();
  return r;
}
// Unsigned products and sums capped at kMaxValue.
inline std::uint64_t cap_mul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r) || r > kMaxValue) return kMaxValue;
  return r;
}
inline std::uint64_t cap_add(std::uint64_t a, std::uint64_t b) {
  std::uint64_t r = 0;
  if (__builtin_add_overflow(a, b, &r) || r > kMaxValue) return kMaxValue;
  return r;
}
// Clamps to [-kMaxValue, kMaxValue], the range every accounted figure lives in.
inline std::int64_t clamp_value(std::int64_t v) {
  constexpr auto m = static_cast<std::int64_t>(kMaxValue);
  return v > m ? m : (v < -m ? -m : v);
}

}  // namespace kleak::text
