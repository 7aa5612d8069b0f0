// The one table of filterable fields. Adding a field: add it to kleak::FilterFields and add one
// line here; its type (unsigned, signed or string) follows from the member's type.
#include <type_traits>

#include "ast.h"

namespace kleak::filter {
namespace {

template <auto Member>
constexpr FieldDef field(std::string_view name) {
  using T = std::remove_cvref_t<decltype(std::declval<const FilterFields&>().*Member)>;
  if constexpr (std::is_same_v<T, std::string_view>) {
    return {name, FieldType::kString, nullptr, [](const FilterFields& r) { return r.*Member; }};
  } else if constexpr (std::is_signed_v<T>) {
    return {name, FieldType::kSigned,
            [](const FilterFields& r) { return Number::of_signed(r.*Member); }, nullptr};
  } else {
    static_assert(std::is_unsigned_v<T>);
    return {name, FieldType::kUnsigned,
            [](const FilterFields& r) { return Number::of_unsigned(r.*Member); }, nullptr};
  }
}

constexpr FieldDef kFields[] = {
    field<&FilterFields::bytes_req>("bytes_req"),
    field<&FilterFields::bytes_alloc>("bytes_alloc"),
    field<&FilterFields::order>("order"),
    field<&FilterFields::gfp_flags>("gfp_flags"),
    field<&FilterFields::pid>("pid"),
    field<&FilterFields::tid>("tid"),
    field<&FilterFields::call_site>("call_site"),
    field<&FilterFields::migratetype>("migratetype"),
    field<&FilterFields::cache>("cache"),
    field<&FilterFields::comm>("comm"),
    field<&FilterFields::kind>("kind"),
    field<&FilterFields::cgroup>("cgroup"),
};
static_assert(std::size(kFields) < 256, "NumCmp/StrCmp store the field index in a uint8_t");

}  // namespace

std::span<const FieldDef> fields() { return kFields; }

int find_field(std::string_view name) {
  for (size_t i = 0; i < std::size(kFields); ++i)
    if (kFields[i].name == name) return static_cast<int>(i);
  return -1;
}

std::string field_names() {
  std::string out;
  for (const FieldDef& f : kFields) {
    if (!out.empty()) out += ", ";
    out += f.name;
  }
  return out;
}

std::string_view op_text(NumOp op) {
  switch (op) {
    case NumOp::kEq:
      return "==";
    case NumOp::kNe:
      return "!=";
    case NumOp::kLt:
      return "<";
    case NumOp::kLe:
      return "<=";
    case NumOp::kGt:
      return ">";
    case NumOp::kGe:
      return ">=";
    case NumOp::kBitAnd:
      return "&";
  }
  return "?";
}

std::string_view op_text(StrOp op) {
  switch (op) {
    case StrOp::kEq:
      return "==";
    case StrOp::kNe:
      return "!=";
    case StrOp::kGlob:
      return "~";
  }
  return "?";
}

}  // namespace kleak::filter
