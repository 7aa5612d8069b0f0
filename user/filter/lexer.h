// Internal to user/filter: filter text -> tokens, and the one-line syntax error format.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kleak::filter {

enum class Tok : uint8_t {
  kIdent,
  kNumber,
  kString,
  kEqEq,    // ==
  kNe,      // !=
  kLt,      // <
  kLe,      // <=
  kGt,      // >
  kGe,      // >=
  kAmp,     // &
  kTilde,   // ~
  kAndAnd,  // &&
  kOrOr,    // ||
  kBang,    // !
  kLParen,  // (
  kRParen,  // )
  kEnd,
};

struct Token {
  Tok kind = Tok::kEnd;
  size_t pos = 0;         // byte offset in the source (column - 1)
  std::string_view text;  // the source text of the token ("" for kEnd)
  // kNumber
  uint64_t bits = 0;  // two's complement of the value
  bool negative = false;
  bool hex = false;
  // kString, unescaped
  std::string str;
};

// Splits `src` into tokens ending with one kEnd. Throws kleak::usage_error on characters that
// start no token, bad numbers and unterminated strings.
std::vector<Token> lex(std::string_view src);

// Throws kleak::usage_error:
//   bad filter at column <pos+1>: <what> in '<src>'
[[noreturn]] void syntax_error(std::string_view src, size_t pos, std::string_view what);

// How an error message names a token: "'>='", "'\"abc\"'", "end of filter".
std::string describe(const Token& t);

}  // namespace kleak::filter
