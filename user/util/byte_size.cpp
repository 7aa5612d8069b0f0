#include "kleak/byte_size.h"

#include <limits>

namespace kleak {
namespace {

struct Parsed {
  uint64_t whole = 0;      // the digits before the point
  uint64_t frac = 0;       // the digits after it, as a whole number over frac_den
  uint64_t frac_den = 1;   // 10^(digits after the point)
  uint64_t unit = 1;
};

std::optional<uint64_t> unit_of(std::string_view u) {
  if (u.empty()) return 1;
  if (u == "k" || u == "K" || u == "KiB") return uint64_t{1} << 10;
  if (u == "M" || u == "MiB") return uint64_t{1} << 20;
  if (u == "G" || u == "GiB") return uint64_t{1} << 30;
  return std::nullopt;
}

bool digit(char c) { return c >= '0' && c <= '9'; }

std::optional<Parsed> parse(std::string_view text) {
  Parsed p;
  size_t i = 0;
  for (; i < text.size() && digit(text[i]); ++i) {
    const uint64_t d = static_cast<uint64_t>(text[i] - '0');
    if (p.whole > (std::numeric_limits<uint64_t>::max() - d) / 10) return std::nullopt;
    p.whole = p.whole * 10 + d;
  }
  if (i == 0) return std::nullopt;  // no digits: "", "k", "-1", ".5"
  if (i < text.size() && text[i] == '.') {
    const size_t first = ++i;
    for (; i < text.size() && digit(text[i]); ++i) {
      if (i - first == 18) return std::nullopt;  // more precision than anyone types
      p.frac = p.frac * 10 + static_cast<uint64_t>(text[i] - '0');
      p.frac_den *= 10;
    }
    if (i == first) return std::nullopt;  // "1."
  }
  auto unit = unit_of(text.substr(i));
  if (!unit) return std::nullopt;
  p.unit = *unit;
  return p;
}

}  // namespace

std::optional<double> parse_bytes_real(std::string_view text) {
  auto p = parse(text);
  if (!p) return std::nullopt;
  const long double v = static_cast<long double>(p->whole) +
                        static_cast<long double>(p->frac) / static_cast<long double>(p->frac_den);
  return static_cast<double>(v * p->unit);
}

std::optional<uint64_t> parse_bytes(std::string_view text) {
  auto p = parse(text);
  if (!p) return std::nullopt;
  if (p->whole > std::numeric_limits<uint64_t>::max() / p->unit) return std::nullopt;
  const uint64_t whole = p->whole * p->unit;
  // The fraction's bytes: frac * unit / frac_den, which must be whole (< 10^18 * 2^30: 128 bits).
  const unsigned __int128 part = static_cast<unsigned __int128>(p->frac) * p->unit;
  if (part % p->frac_den != 0) return std::nullopt;  // a fraction of a byte
  const auto extra = static_cast<uint64_t>(part / p->frac_den);
  if (whole > std::numeric_limits<uint64_t>::max() - extra) return std::nullopt;
  return whole + extra;
}

}  // namespace kleak
