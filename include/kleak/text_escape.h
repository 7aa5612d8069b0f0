// Strings kleak did not write itself (comms, cgroup paths, slab cache names, symbols and module
// names from the kernel, another user or a file) made safe for a terminal and for text formats,
// the way ps and systemctl show them: every control character, invalid UTF-8 byte and Unicode
// direction override is written visibly as a C escape ("\x1b", "\a", "\n", "\xff"), so a comm
// of "\e]0;PWN\a" can neither retitle nor clear root's terminal nor forge a line of a report.
// Printable ASCII and well-formed UTF-8 text are kept as they are; a backslash is kept too (as
// ps does: systemd's cgroup names are full of "\x2d"), so the escaping is for the eyes, not
// reversible. JSON and pprof keep the exact bytes (their encoders escape).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace kleak {

// `s` with nothing a terminal acts on: every control character (C0, DEL, C1), every byte that
// is not part of well-formed UTF-8 and the bidirectional controls (U+202A..U+202E,
// U+2066..U+2069) escaped. The one escaping of text, folded and SVG output.
std::string escape_text(std::string_view s);

// A whole rendered text (a report, an error message) escaped as escape_text does, but for its
// line breaks ('\n'), which are kleak's own: a last line of defence for any field a renderer
// forgot.
std::string escape_lines(std::string_view s);

// escape_text, cut to at most `max` bytes of output (then "..." and how many input bytes were
// left out): for input echoed in a one-line error message.
std::string escape_capped(std::string_view s, size_t max);

// `s` with every invalid UTF-8 sequence replaced by '?': comms and cgroup paths are arbitrary
// bytes and protobuf strings must be UTF-8. Control characters are kept: pprof is exact, as
// JSON is (text formats escape them with escape_text).
std::string sanitize_utf8(std::string_view s);

}  // namespace kleak
