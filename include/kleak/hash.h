// FNV-1a over bytes, 32 or 64 bits: stable names -> stable numbers (flame graph colors, pprof's
// synthetic addresses), the same on every run and every box.
#pragma once
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace kleak {

template <class U>
constexpr U fnv1a_basis() noexcept {
  static_assert(std::is_same_v<U, uint32_t> || std::is_same_v<U, uint64_t>);
  return std::is_same_v<U, uint64_t> ? static_cast<U>(0xcbf29ce484222325ull) : static_cast<U>(2166136261u);
}

// `h`: the hash so far, to hash several pieces as one.
template <class U>
constexpr U fnv1a(std::string_view s, U h = fnv1a_basis<U>()) noexcept {
  constexpr bool wide = std::is_same_v<U, uint64_t>;
  const U prime = wide ? static_cast<U>(0x100000001b3ull) : static_cast<U>(16777619u);
  for (unsigned char c : s) {
    h ^= c;
    h *= prime;
  }
  return h;
}

}  // namespace kleak
