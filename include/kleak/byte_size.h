// Sizes as users type them on the command line: `4096`, `4k`, `1M`, `1.5M`, `2GiB` (--min-size,
// --max-size, --min-growth's bytes per minute). One grammar for every option that takes bytes.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace kleak {

// Grammar: decimal digits with an optional fraction, then an optional unit: k, K or KiB (1024),
// M or MiB (1024^2), G or GiB (1024^3); nothing = bytes. No sign, exponent, hex or spaces.
// nullopt on anything else.
std::optional<double> parse_bytes_real(std::string_view text);

// The same grammar, for a whole number of bytes: nullopt also when the value is a fraction of a
// byte ("0.5") or above UINT64_MAX. Exact for every uint64_t written in digits.
std::optional<uint64_t> parse_bytes(std::string_view text);

}  // namespace kleak
