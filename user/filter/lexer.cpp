#include "lexer.h"

#include <fmt/format.h>

#include "kleak/error.h"

namespace kleak::filter {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Quoted text for a message: at most `max` characters, control characters as spaces so the
// message stays on one line.
std::string quoted(std::string_view s, size_t max = 24) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
  }
  if (s.size() > max) out += "...";
  out += "'";
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  std::vector<Token> run() {
    std::vector<Token> out;
    for (;;) {
      while (i_ < src_.size() && is_space(src_[i_])) ++i_;
      if (i_ == src_.size()) break;
      out.push_back(next());
    }
    Token end;
    end.kind = Tok::kEnd;
    end.pos = src_.size();
    out.push_back(std::move(end));
    return out;
  }

 private:
  Token make(Tok kind, size_t len) {
    Token t;
    t.kind = kind;
    t.pos = i_;
    t.text = src_.substr(i_, len);
    i_ += len;
    return t;
  }

  char peek(size_t ahead) const { return i_ + ahead < src_.size() ? src_[i_ + ahead] : '\0'; }

  Token next() {
    char c = src_[i_];
    char d = peek(1);
    if (is_alpha(c)) {
      size_t n = 1;
      while (i_ + n < src_.size() && is_alnum(src_[i_ + n])) ++n;
      return make(Tok::kIdent, n);
    }
    if (is_digit(c) || (c == '-' && is_digit(d))) return number();
    if (c == '"' || c == '\'') return string();
    switch (c) {
      case '=':
        if (d == '=') return make(Tok::kEqEq, 2);
        syntax_error(src_, i_, "unexpected '=' (compare with '==')");
      case '!':
        return d == '=' ? make(Tok::kNe, 2) : make(Tok::kBang, 1);
      case '<':
        return d == '=' ? make(Tok::kLe, 2) : make(Tok::kLt, 1);
      case '>':
        return d == '=' ? make(Tok::kGe, 2) : make(Tok::kGt, 1);
      case '&':
        return d == '&' ? make(Tok::kAndAnd, 2) : make(Tok::kAmp, 1);
      case '|':
        if (d == '|') return make(Tok::kOrOr, 2);
        syntax_error(src_, i_, "unexpected '|' (logical or is '||')");
      case '~':
        return make(Tok::kTilde, 1);
      case '(':
        return make(Tok::kLParen, 1);
      case ')':
        return make(Tok::kRParen, 1);
      default:
        break;
    }
    if (static_cast<unsigned char>(c) >= 0x80)
      syntax_error(src_, i_, "unexpected non-ASCII character");
    syntax_error(src_, i_, fmt::format("unexpected character {}", quoted(src_.substr(i_, 1))));
  }

  Token number() {
    const size_t start = i_;
    size_t j = i_;
    const bool negative = src_[j] == '-';
    if (negative) ++j;
    const bool hex =
        src_[j] == '0' && j + 1 < src_.size() && (src_[j + 1] == 'x' || src_[j + 1] == 'X');
    const unsigned base = hex ? 16 : 10;
    if (hex) j += 2;
    const size_t digits_start = j;
    uint64_t magnitude = 0;
    bool overflow = false;
    for (; j < src_.size(); ++j) {
      int v = hex ? hex_value(src_[j]) : (is_digit(src_[j]) ? src_[j] - '0' : -1);
      if (v < 0) break;
      if (magnitude > (UINT64_MAX - static_cast<uint64_t>(v)) / base) overflow = true;
      magnitude = magnitude * base + static_cast<uint64_t>(v);
    }
    // A number runs to the next operator, space or parenthesis: `4k`, `1.5`, `0x` are errors.
    size_t end = j;
    while (end < src_.size() && (is_alnum(src_[end]) || src_[end] == '.')) ++end;
    const std::string_view text = src_.substr(start, end - start);
    if (j == digits_start || end != j)
      syntax_error(
          src_, start,
          fmt::format("bad number {} (use decimal or 0x hex, without suffixes)", quoted(text)));
    if (overflow || (negative && magnitude > (uint64_t{1} << 63)))
      syntax_error(src_, start, fmt::format("number {} is out of range", quoted(text)));
    Token t = make(Tok::kNumber, end - start);
    t.negative = negative && magnitude != 0;
    t.bits = negative ? (~magnitude + 1) : magnitude;
    t.hex = hex;
    return t;
  }

  // "..." or '...'; inside, \\ \" \' stand for the character after the backslash and any other
  // backslash is kept as is.
  Token string() {
    const size_t start = i_;
    const char quote = src_[i_];
    std::string value;
    size_t j = i_ + 1;
    for (;; ++j) {
      if (j >= src_.size())
        syntax_error(src_, start,
                     fmt::format("unterminated string {}", quoted(src_.substr(start))));
      char c = src_[j];
      if (c == quote) break;
      if (c == '\\' && j + 1 < src_.size() &&
          (src_[j + 1] == '\\' || src_[j + 1] == '"' || src_[j + 1] == '\'')) {
        value += src_[++j];
        continue;
      }
      value += c;
    }
    Token t = make(Tok::kString, j + 1 - start);
    t.str = std::move(value);
    return t;
  }

  std::string_view src_;
  size_t i_ = 0;
};

}  // namespace

std::vector<Token> lex(std::string_view src) { return Lexer(src).run(); }

void syntax_error(std::string_view src, size_t pos, std::string_view what) {
  throw usage_error(
      fmt::format("bad filter at column {}: {} in {}", pos + 1, what, quoted(src, 200)));
}

std::string describe(const Token& t) {
  if (t.kind == Tok::kEnd) return "end of filter";
  return quoted(t.text);
}

}  // namespace kleak::filter
