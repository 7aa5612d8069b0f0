// Visible escaping of untrusted strings (text_escape.h).
#include "kleak/text_escape.h"

#include <fmt/format.h>

#include <cstdint>

namespace kleak {

namespace {

// The length of the well-formed UTF-8 sequence at `s[i]` (no overlongs, no surrogates, nothing
// past U+10FFFF) and its code point; 0 when the bytes there are not one.
size_t utf8_sequence(std::string_view s, size_t i, uint32_t& cp) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  cp = n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
  for (size_t k = 1; k < n; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) return 0;
  if (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) return 0;
  return n;
}

// Code points a terminal acts on: C1 controls (0x9b is CSI on many terminals) and the
// direction overrides that make text display in another order than it reads ("Trojan Source").
bool hidden_code_point(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

void escape_byte(std::string& out, unsigned char c) {
  switch (c) {
    case '\a': out += "\\a"; return;
    case '\b': out += "\\b"; return;
    case '\t': out += "\\t"; return;
    case '\n': out += "\\n"; return;
    case '\v': out += "\\v"; return;
    case '\f': out += "\\f"; return;
    case '\r': out += "\\r"; return;
    default: out += fmt::format("\\x{:02x}", c);
  }
}

std::string escape(std::string_view s, bool keep_newlines) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if ((c >= 0x20 && c != 0x7f) || (c == '\n' && keep_newlines)) out += static_cast<char>(c);
      else escape_byte(out, c);
      ++i;
      continue;
    }
    uint32_t cp = 0;
    size_t n = utf8_sequence(s, i, cp);
    if (n == 0) {
      escape_byte(out, c);
      ++i;
      continue;
    }
    if (hidden_code_point(cp)) {
      for (size_t k = 0; k < n; ++k) escape_byte(out, static_cast<unsigned char>(s[i + k]));
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

}  // namespace

std::string escape_text(std::string_view s) { return escape(s, false); }

std::string escape_lines(std::string_view s) { return escape(s, true); }

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp = 0;
    // ASCII, control characters too (valid UTF-8: pprof keeps them exact), or a whole sequence.
    size_t n = static_cast<unsigned char>(s[i]) < 0x80 ? 1 : utf8_sequence(s, i, cp);
    if (n == 0) {
      out += '?';
      ++i;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

std::string escape_capped(std::string_view s, size_t max) {
  // Escaping at most quadruples a byte: escape no more than could be shown.
  std::string_view head = s.substr(0, max);
  std::string out = escape_text(head);
  if (out.size() <= max && head.size() == s.size()) return out;
  // Cut on a whole escape or character: back up past UTF-8 continuation bytes and a partial "\xNN".
  size_t cut = std::min(out.size(), max);
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) --cut;
  size_t bs = out.rfind('\\', cut == 0 ? 0 : cut - 1);
  if (bs != std::string::npos && cut - bs < 4 && cut < out.size()) cut = bs;
  // How much of the input the shown part covers is not tracked; say how big the input was.
  return out.substr(0, cut) + fmt::format("... ({} bytes)", s.size());
}

}  // namespace kleak
