// gzip streams (zlib, windowBits 15 + 16: a gzip wrapper, mtime 0): recordings and pprof profiles
// are written with gzip(); gunzip() reads a whole small stream back (tests, a served profile).
// Reading a recording does not use gunzip(): it inflates on demand under caps (recording.cpp).
#pragma once
#include <string>
#include <string_view>

namespace kleak {

// `data` compressed at zlib's default level (6). The same bytes always give the same stream.
std::string gzip(std::string_view data);

// The one gzip member in `gz`, decompressed whole; an Error when it is not gzip, is damaged or
// ends early. For trusted or small input: nothing caps what it inflates to.
std::string gunzip(std::string_view gz);

}  // namespace kleak
