// Filter::matches(): a walk over the parsed nodes; no allocation per record.
#include "ast.h"

namespace kleak::filter {
namespace {

// Matches one character class starting at pattern[p] == '['. On a well-formed class sets `end`
// to just past its ']' and returns whether `c` is in it; returns false with end = npos when the
// class is not terminated.
bool match_class(std::string_view pat, size_t p, char c, size_t& end) {
  size_t q = p + 1;
  bool negate = false;
  if (q < pat.size() && (pat[q] == '!' || pat[q] == '^')) {
    negate = true;
    ++q;
  }
  bool found = false;
  // A ']' right after '[' (or '[!') is a member, not the end.
  for (bool first = true; q < pat.size() && (first || pat[q] != ']'); first = false) {
    unsigned char lo = static_cast<unsigned char>(pat[q]);
    unsigned char hi = lo;
    if (q + 2 < pat.size() && pat[q + 1] == '-' && pat[q + 2] != ']') {
      hi = static_cast<unsigned char>(pat[q + 2]);
      q += 3;
    } else {
      q += 1;
    }
    unsigned char uc = static_cast<unsigned char>(c);
    if (lo <= uc && uc <= hi) found = true;
  }
  if (q >= pat.size()) {
    end = std::string_view::npos;
    return false;
  }
  end = q + 1;
  return found != negate;
}

bool eval(const Filter::Impl& f, uint32_t index, const FilterFields& r);

struct Evaluator {
  const Filter::Impl& f;
  const FilterFields& r;

  bool operator()(const NumCmp& c) const {
    const Number v = fields()[c.field].number(r);
    if (c.op == NumOp::kBitAnd) return (v.bits & c.value.bits) != 0;
    const int cmp = compare(v, c.value);
    switch (c.op) {
      case NumOp::kEq:
        return cmp == 0;
      case NumOp::kNe:
        return cmp != 0;
      case NumOp::kLt:
        return cmp < 0;
      case NumOp::kLe:
        return cmp <= 0;
      case NumOp::kGt:
        return cmp > 0;
      case NumOp::kGe:
        return cmp >= 0;
      case NumOp::kBitAnd:
        break;
    }
    return false;
  }

  bool operator()(const StrCmp& c) const {
    const std::string_view v = fields()[c.field].string(r);
    switch (c.op) {
      case StrOp::kEq:
        return v == c.value;
      case StrOp::kNe:
        return v != c.value;
      case StrOp::kGlob:
        return glob_match(c.value, v);
    }
    return false;
  }

  bool operator()(const Logic& l) const {
    for (uint32_t k = l.first; k < l.first + l.count; ++k)
      if (eval(f, f.kids[k], r) != l.is_and) return !l.is_and;
    return l.is_and;
  }

  bool operator()(const Not& n) const { return !eval(f, n.child, r); }
};

bool eval(const Filter::Impl& f, uint32_t index, const FilterFields& r) {
  return std::visit(Evaluator{f, r}, f.nodes[index]);
}

}  // namespace

bool glob_match(std::string_view pat, std::string_view text) noexcept {
  constexpr size_t npos = std::string_view::npos;
  size_t p = 0, s = 0;
  size_t star_p = npos, star_s = 0;  // where to resume after the last '*'
  while (s < text.size()) {
    if (p < pat.size()) {
      const char c = pat[p];
      if (c == '*') {
        star_p = ++p;
        star_s = s;
        continue;
      }
      if (c == '?') {
        ++p;
        ++s;
        continue;
      }
      size_t end = npos;
      if (c == '[' && match_class(pat, p, text[s], end)) {
        p = end;
        ++s;
        continue;
      }
      if (c == text[s] && (c != '[' || end == npos)) {  // an unterminated '[' is literal
        ++p;
        ++s;
        continue;
      }
    }
    if (star_p == npos) return false;
    p = star_p;
    s = ++star_s;
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

size_t glob_unterminated_class(std::string_view pat) noexcept {
  for (size_t p = 0; p < pat.size(); ++p) {
    if (pat[p] != '[') continue;
    size_t end = 0;
    match_class(pat, p, '\0', end);
    if (end == std::string_view::npos) return p;
    p = end - 1;
  }
  return std::string_view::npos;
}

}  // namespace kleak::filter

namespace kleak {

bool Filter::matches(const FilterFields& r) const noexcept {
  return impl_ == nullptr || filter::eval(*impl_, impl_->root, r);
}

}  // namespace kleak
