// Tokens -> Filter::Impl, by recursive descent:
//   or   := and ('||' and)*
//   and  := unary ('&&' unary)*
//   unary:= '!' unary | '(' or ')' | comparison
//   comparison := FIELD OP LITERAL | LITERAL OP FIELD
// Nested && (and ||) are flattened into one n-ary node, so a long chain is one level deep.
#include <fmt/format.h>

#include <optional>

#include "ast.h"
#include "kleak/error.h"
#include "lexer.h"

namespace kleak::filter {
namespace {

constexpr std::string_view kNumericOps = "==, !=, <, <=, >, >=, &";
constexpr std::string_view kStringOps = "==, !=, ~";
constexpr std::string_view kKindNames = "kmalloc, slab, page, vmalloc, percpu";

bool is_operator(Tok t) {
  switch (t) {
    case Tok::kEqEq:
    case Tok::kNe:
    case Tok::kLt:
    case Tok::kLe:
    case Tok::kGt:
    case Tok::kGe:
    case Tok::kAmp:
    case Tok::kTilde:
      return true;
    default:
      return false;
  }
}

std::optional<NumOp> num_op(Tok t) {
  switch (t) {
    case Tok::kEqEq:
      return NumOp::kEq;
    case Tok::kNe:
      return NumOp::kNe;
    case Tok::kLt:
      return NumOp::kLt;
    case Tok::kLe:
      return NumOp::kLe;
    case Tok::kGt:
      return NumOp::kGt;
    case Tok::kGe:
      return NumOp::kGe;
    case Tok::kAmp:
      return NumOp::kBitAnd;
    default:
      return std::nullopt;
  }
}

std::optional<StrOp> str_op(Tok t) {
  switch (t) {
    case Tok::kEqEq:
      return StrOp::kEq;
    case Tok::kNe:
      return StrOp::kNe;
    case Tok::kTilde:
      return StrOp::kGlob;
    default:
      return std::nullopt;
  }
}

// The operator that gives the same result with its operands swapped: 5 < x  <=>  x > 5.
NumOp mirror(NumOp op) {
  switch (op) {
    case NumOp::kLt:
      return NumOp::kGt;
    case NumOp::kLe:
      return NumOp::kGe;
    case NumOp::kGt:
      return NumOp::kLt;
    case NumOp::kGe:
      return NumOp::kLe;
    default:
      return op;
  }
}

bool is_numeric(const FieldDef& f) { return f.type != FieldType::kString; }

class Parser {
 public:
  explicit Parser(std::string_view src) : src_(src), toks_(lex(src)) {}

  std::shared_ptr<Filter::Impl> run() {
    if (cur().kind == Tok::kEnd) return nullptr;  // empty filter: match everything
    auto impl = std::make_shared<Filter::Impl>();
    impl_ = impl.get();
    impl->root = parse_or(0);
    const Token& t = cur();
    if (t.kind == Tok::kRParen) fail(t, "unmatched ')'");
    if (t.kind != Tok::kEnd)
      fail(t, fmt::format("expected '&&', '||' or end of filter, found {}", describe(t)));
    return impl;
  }

 private:
  const Token& cur() const { return toks_[i_]; }
  const Token& advance() { return toks_[i_++]; }
  [[noreturn]] void fail(const Token& at, std::string_view what) const {
    syntax_error(src_, at.pos, what);
  }

  template <typename T>
  uint32_t add(T node) {
    impl_->nodes.emplace_back(std::in_place_type<T>, std::move(node));
    return static_cast<uint32_t>(impl_->nodes.size() - 1);
  }

  uint32_t add_logic(bool is_and, const std::vector<uint32_t>& children) {
    std::vector<uint32_t> flat;
    for (uint32_t c : children) {
      const auto* l = std::get_if<Logic>(&impl_->nodes[c]);
      if (l && l->is_and == is_and)
        flat.insert(flat.end(), impl_->kids.begin() + l->first,
                    impl_->kids.begin() + l->first + l->count);
      else
        flat.push_back(c);
    }
    const auto first = static_cast<uint32_t>(impl_->kids.size());
    impl_->kids.insert(impl_->kids.end(), flat.begin(), flat.end());
    return add(Logic{is_and, first, static_cast<uint32_t>(flat.size())});
  }

  uint32_t parse_or(int depth) {
    std::vector<uint32_t> children{parse_and(depth)};
    while (cur().kind == Tok::kOrOr) {
      advance();
      children.push_back(parse_and(depth));
    }
    return children.size() == 1 ? children[0] : add_logic(false, children);
  }

  uint32_t parse_and(int depth) {
    std::vector<uint32_t> children{parse_unary(depth)};
    while (cur().kind == Tok::kAndAnd) {
      advance();
      children.push_back(parse_unary(depth));
    }
    return children.size() == 1 ? children[0] : add_logic(true, children);
  }

  void enter(const Token& at, int depth) const {
    if (depth >= kMaxNesting)
      fail(at, fmt::format("nested too deeply (more than {} levels of '(' and '!')", kMaxNesting));
  }

  // `depth` counts the '(' and '!' around this point; "!(" counts once, so the canonical text
  // (which writes `!pid == 1` as `!(pid == 1)`) is never nested deeper than what was parsed.
  uint32_t parse_unary(int depth, bool after_bang = false) {
    const Token& t = cur();
    switch (t.kind) {
      case Tok::kBang: {
        enter(t, depth);
        advance();
        return add(Not{parse_unary(depth + 1, true)});
      }
      case Tok::kLParen: {
        if (!after_bang) enter(t, depth);
        advance();
        uint32_t inner = parse_or(after_bang ? depth : depth + 1);
        const Token& close = cur();
        if (close.kind != Tok::kRParen)
          fail(close,
               fmt::format("expected '&&', '||' or ')' to close the '(' at column {}, found {}",
                           t.pos + 1, describe(close)));
        advance();
        return inner;
      }
      case Tok::kIdent:
        return field_first();
      case Tok::kNumber:
      case Tok::kString:
        return literal_first();
      default: {
        std::string after = i_ > 0 ? fmt::format(" after '{}'", toks_[i_ - 1].text) : "";
        fail(t, fmt::format("expected a field name, '(' or '!'{}, found {}", after, describe(t)));
      }
    }
  }

  uint8_t field_at(const Token& t) const {
    int f = find_field(t.text);
    if (f < 0) fail(t, fmt::format("unknown field '{}' (fields: {})", t.text, field_names()));
    return static_cast<uint8_t>(f);
  }

  // FIELD OP LITERAL
  uint32_t field_first() {
    const uint8_t field = field_at(advance());
    const FieldDef& f = fields()[field];
    const Token& op = cur();
    if (!is_operator(op.kind))
      fail(op, fmt::format("expected an operator ({}) after '{}', found {}",
                           is_numeric(f) ? kNumericOps : kStringOps, f.name, describe(op)));
    advance();
    return comparison(field, op, advance(), false);
  }

  // LITERAL OP FIELD, stored as FIELD OP' LITERAL
  uint32_t literal_first() {
    const Token& lit = advance();
    const Token& op = cur();
    if (!is_operator(op.kind))
      fail(op, fmt::format("expected an operator after {}, found {}", describe(lit), describe(op)));
    if (op.kind == Tok::kTilde)
      fail(op, "the pattern goes right of '~', as in: comm ~ \"kworker*\"");
    advance();
    const Token& ft = cur();
    if (ft.kind != Tok::kIdent)
      fail(ft, fmt::format("expected a field name after '{}', found {}", op.text, describe(ft)));
    const uint8_t field = field_at(advance());
    const FieldDef& f = fields()[field];
    if (is_numeric(f) && lit.kind != Tok::kNumber)
      fail(lit, fmt::format("expected a number to compare with numeric field '{}', found {}",
                            f.name, describe(lit)));
    if (!is_numeric(f) && lit.kind != Tok::kString)
      fail(lit, fmt::format("expected a quoted string to compare with string field '{}', found {}",
                            f.name, describe(lit)));
    return comparison(field, op, lit, true);
  }

  uint32_t comparison(uint8_t field, const Token& op, const Token& value, bool mirrored) {
    const FieldDef& f = fields()[field];
    if (is_numeric(f)) {
      std::optional<NumOp> nop = num_op(op.kind);
      if (!nop)
        fail(op, fmt::format("'{}' does not apply to numeric field '{}' (use {})", op.text, f.name,
                             kNumericOps));
      if (value.kind != Tok::kNumber)
        fail(value,
             fmt::format("expected a number after '{}', found {}", op.text, describe(value)));
      if (value.negative && f.type == FieldType::kUnsigned)
        fail(value,
             fmt::format("'{}' is never negative: expected a number >= 0 after '{}', found {}",
                         f.name, op.text, describe(value)));
      return add(NumCmp{field, mirrored ? mirror(*nop) : *nop, Number{value.bits, value.negative},
                        value.hex});
    }
    std::optional<StrOp> sop = str_op(op.kind);
    if (!sop)
      fail(op, fmt::format("'{}' does not apply to string field '{}' (use {})", op.text, f.name,
                           kStringOps));
    if (value.kind != Tok::kString) {
      std::string hint =
          value.kind == Tok::kIdent ? fmt::format(" (write \"{}\")", value.text) : std::string();
      fail(value, fmt::format("expected a quoted string after '{}', found {}{}", op.text,
                              describe(value), hint));
    }
    if (*sop == StrOp::kGlob) {
      if (glob_unterminated_class(value.str) != std::string_view::npos)
        fail(value, fmt::format("unterminated '[' in pattern {}", describe(value)));
    } else if (f.name == "kind" && !kind_from_name(value.str)) {
      fail(value, fmt::format("unknown kind '{}' (use {})", value.str, kKindNames));
    }
    return add(StrCmp{field, *sop, value.str});
  }

  std::string_view src_;
  std::vector<Token> toks_;
  size_t i_ = 0;
  Filter::Impl* impl_ = nullptr;
};

// Appends `src`'s nodes to `dst`, returning where src's root landed.
uint32_t append(Filter::Impl& dst, const Filter::Impl& src) {
  const auto node_base = static_cast<uint32_t>(dst.nodes.size());
  const auto kid_base = static_cast<uint32_t>(dst.kids.size());
  for (Node n : src.nodes) {
    if (auto* l = std::get_if<Logic>(&n)) l->first += kid_base;
    if (auto* x = std::get_if<Not>(&n)) x->child += node_base;
    dst.nodes.push_back(std::move(n));
  }
  for (uint32_t k : src.kids) dst.kids.push_back(k + node_base);
  return src.root + node_base;
}

}  // namespace
}  // namespace kleak::filter

namespace kleak {

Filter Filter::parse(std::string_view text) {
  std::shared_ptr<Impl> impl = filter::Parser(text).run();
  return impl ? Filter(std::move(impl)) : Filter();
}

Filter conjoin(const Filter& a, const Filter& b) {
  if (a.is_match_all()) return b;
  if (b.is_match_all()) return a;
  auto impl = std::make_shared<Filter::Impl>();
  const uint32_t roots[] = {filter::append(*impl, *a.impl_), filter::append(*impl, *b.impl_)};
  std::vector<uint32_t> children;
  for (uint32_t r : roots) {
    const auto* l = std::get_if<filter::Logic>(&impl->nodes[r]);
    if (l && l->is_and)
      children.insert(children.end(), impl->kids.begin() + l->first,
                      impl->kids.begin() + l->first + l->count);
    else
      children.push_back(r);
  }
  const auto first = static_cast<uint32_t>(impl->kids.size());
  impl->kids.insert(impl->kids.end(), children.begin(), children.end());
  impl->nodes.emplace_back(std::in_place_type<filter::Logic>,
                           filter::Logic{true, first, static_cast<uint32_t>(children.size())});
  impl->root = static_cast<uint32_t>(impl->nodes.size() - 1);
  return Filter(std::move(impl));
}

Filter Filter::rename_caches(const std::function<std::string(std::string_view)>& rename) const {
  if (is_match_all()) return *this;
  auto impl = std::make_shared<Filter::Impl>(*impl_);
  const int cache = filter::find_field("cache");
  for (auto& node : impl->nodes)
    if (auto* c = std::get_if<filter::StrCmp>(&node); c && c->field == cache && c->op != filter::StrOp::kGlob)
      c->value = rename(c->value);
  return Filter(std::move(impl));
}

}  // namespace kleak
