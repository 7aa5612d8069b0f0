// Internal to user/filter: the parsed form of a kleak::Filter and the field table.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kleak/filter.h"

namespace kleak::filter {

// A numeric value of either signedness, compared exactly: `bits` is the two's-complement pattern
// (what `&` tests) and `negative` tells how to order it.
struct Number {
  uint64_t bits = 0;
  bool negative = false;

  static constexpr Number of_unsigned(uint64_t v) { return {v, false}; }
  static constexpr Number of_signed(int64_t v) { return {static_cast<uint64_t>(v), v < 0}; }
};

// -1, 0 or 1 as a <, ==, > b.
constexpr int compare(Number a, Number b) {
  if (a.negative != b.negative) return a.negative ? -1 : 1;
  return a.bits < b.bits ? -1 : (a.bits > b.bits ? 1 : 0);
}

enum class FieldType : uint8_t { kUnsigned, kSigned, kString };

struct FieldDef {
  std::string_view name;
  FieldType type;
  Number (*number)(const FilterFields&);            // numeric fields
  std::string_view (*string)(const FilterFields&);  // string fields
};

// The field table (user/filter/fields.cpp), in the order error messages list them.
std::span<const FieldDef> fields();
// Index into fields(), or -1.
int find_field(std::string_view name);
// "bytes_req, bytes_alloc, ..., kind"
std::string field_names();

enum class NumOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kBitAnd };
enum class StrOp : uint8_t { kEq, kNe, kGlob };

struct NumCmp {
  uint8_t field = 0;  // index into fields()
  NumOp op = NumOp::kEq;
  Number value;
  bool hex = false;  // written in hex: to_string() keeps it so
};
struct StrCmp {
  uint8_t field = 0;
  StrOp op = StrOp::kEq;
  std::string value;
};
struct Logic {  // n-ary && or ||; children are kids[first, first + count)
  bool is_and = true;
  uint32_t first = 0;
  uint32_t count = 0;
};
struct Not {
  uint32_t child = 0;
};
using Node = std::variant<NumCmp, StrCmp, Logic, Not>;

}  // namespace kleak::filter

namespace kleak {

// Nodes reference each other by index; `root` is the whole filter. A match-all Filter has no Impl.
struct Filter::Impl {
  std::vector<filter::Node> nodes;
  std::vector<uint32_t> kids;
  uint32_t root = 0;
};

}  // namespace kleak

namespace kleak::filter {

// Nesting limit for parentheses and '!' ("!(" counts once) so evaluation depth stays bounded.
inline constexpr int kMaxNesting = 64;

// Kernel-style glob (lib/glob.c): * ? [abc] [a-z] [!abc] (also [^abc]); no escapes.
// Does not allocate.
bool glob_match(std::string_view pattern, std::string_view text) noexcept;
// Position of the first '[' without a closing ']', or npos.
size_t glob_unterminated_class(std::string_view pattern) noexcept;

std::string_view op_text(NumOp op);
std::string_view op_text(StrOp op);

}  // namespace kleak::filter
