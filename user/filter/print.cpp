// Filter::to_string(): canonical text that parses back to an equivalent filter.
#include <fmt/format.h>

#include "ast.h"

namespace kleak::filter {
namespace {

std::string number_text(Number n, bool hex) {
  const uint64_t magnitude = n.negative ? ~n.bits + 1 : n.bits;
  const std::string_view sign = n.negative ? "-" : "";
  return hex ? fmt::format("{}{:#x}", sign, magnitude) : fmt::format("{}{}", sign, magnitude);
}

bool is_or(const Node& n) {
  const auto* l = std::get_if<Logic>(&n);
  return l && !l->is_and;
}

void print(const Filter::Impl& f, uint32_t index, std::string& out) {
  const Node& n = f.nodes[index];
  if (const auto* c = std::get_if<NumCmp>(&n)) {
    out += fmt::format("{} {} {}", fields()[c->field].name, op_text(c->op),
                       number_text(c->value, c->hex));
  } else if (const auto* c = std::get_if<StrCmp>(&n)) {
    out += fmt::format("{} {} {}", fields()[c->field].name, op_text(c->op), filter_quote(c->value));
  } else if (const auto* l = std::get_if<Logic>(&n)) {
    for (uint32_t k = l->first; k < l->first + l->count; ++k) {
      if (k != l->first) out += l->is_and ? " && " : " || ";
      const uint32_t kid = f.kids[k];
      const bool parens = l->is_and && is_or(f.nodes[kid]);  // && binds tighter than ||
      if (parens) out += '(';
      print(f, kid, out);
      if (parens) out += ')';
    }
  } else if (const auto* x = std::get_if<Not>(&n)) {
    const bool parens = !std::holds_alternative<Not>(f.nodes[x->child]);
    out += parens ? "!(" : "!";
    print(f, x->child, out);
    if (parens) out += ')';
  }
}

}  // namespace
}  // namespace kleak::filter

namespace kleak {

std::string Filter::to_string() const {
  std::string out;
  if (impl_ != nullptr) filter::print(*impl_, impl_->root, out);
  return out;
}

std::string filter_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace kleak
