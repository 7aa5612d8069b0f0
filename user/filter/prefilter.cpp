// Filter::prefilter(): the constraints every matching record must meet, for the BPF side.
// Only comparisons the filter requires outright are used: the operands of the top-level &&
// chain, looking through '!' by De Morgan (!(a || b) requires !a and !b, and !(x < 5) is x >= 5).
// Anything under a disjunction is skipped, which keeps the result conservative.
#include <algorithm>
#include <optional>

#include "ast.h"

namespace kleak::filter {
namespace {

constexpr uint64_t kMax = UINT64_MAX;

std::optional<NumOp> negate(NumOp op) {
  switch (op) {
    case NumOp::kEq:
      return NumOp::kNe;
    case NumOp::kNe:
      return NumOp::kEq;
    case NumOp::kLt:
      return NumOp::kGe;
    case NumOp::kLe:
      return NumOp::kGt;
    case NumOp::kGt:
      return NumOp::kLe;
    case NumOp::kGe:
      return NumOp::kLt;
    case NumOp::kBitAnd:
      return std::nullopt;  // "no bit set" is no range
  }
  return std::nullopt;
}

uint32_t kinds_matching(std::string_view pattern) {
  uint32_t mask = 0;
  for (int k = KLEAK_KIND_NONE + 1; k < KLEAK_KIND_MAX; ++k) {
    const auto kind = static_cast<kleak_kind>(k);
    if (glob_match(pattern, kind_name(kind))) mask |= kind_bit(kind);
  }
  return mask;
}

class Builder {
 public:
  explicit Builder(const Filter::Impl& f) : f_(f) {}

  BpfPrefilter run() {
    collect(f_.root, false);
    if (p_.min_bytes_req > p_.max_bytes_req || p_.min_bytes_alloc > p_.max_bytes_alloc ||
        (p_.kinds_mask & kAllKindsMask) == 0)
      p_.matches_nothing = true;
    return std::move(p_);
  }

 private:
  // Records that `index` (negated if `neg`) must hold.
  void collect(uint32_t index, bool neg) {
    const Node& n = f_.nodes[index];
    if (const auto* l = std::get_if<Logic>(&n)) {
      if (l->is_and == neg) return;  // a disjunction: no single operand is required
      for (uint32_t k = l->first; k < l->first + l->count; ++k) collect(f_.kids[k], neg);
    } else if (const auto* x = std::get_if<Not>(&n)) {
      collect(x->child, !neg);
    } else if (const auto* c = std::get_if<NumCmp>(&n)) {
      std::optional<NumOp> op = neg ? negate(c->op) : c->op;
      if (op) number(fields()[c->field].name, *op, c->value);
    } else if (const auto* c = std::get_if<StrCmp>(&n)) {
      string(fields()[c->field].name, c->op, neg, c->value);
    }
  }

  void number(std::string_view field, NumOp op, Number value) {
    if (value.negative) return;  // unsigned fields never see negative literals; be safe anyway
    const uint64_t v = value.bits;
    if (field == "bytes_req") {
      narrow(p_.min_bytes_req, p_.max_bytes_req, op, v);
    } else if (field == "bytes_alloc") {
      narrow(p_.min_bytes_alloc, p_.max_bytes_alloc, op, v);
    } else if (field == "pid" && op == NumOp::kEq) {
      // pid is a 32-bit tgid in the kernel: a larger value matches nothing.
      if (v > UINT32_MAX || (p_.pid && *p_.pid != v))
        p_.matches_nothing = true;
      else
        p_.pid = static_cast<uint32_t>(v);
    }
  }

  void narrow(uint64_t& lo, uint64_t& hi, NumOp op, uint64_t v) {
    switch (op) {
      case NumOp::kEq:
        lo = std::max(lo, v);
        hi = std::min(hi, v);
        break;
      case NumOp::kNe:  // only trims an end of the range
        if (v == lo) {
          if (v == kMax)
            p_.matches_nothing = true;
          else
            lo = v + 1;
        } else if (v == hi) {
          if (v == 0)
            p_.matches_nothing = true;
          else
            hi = v - 1;
        }
        break;
      case NumOp::kLt:
        if (v == 0)
          p_.matches_nothing = true;
        else
          hi = std::min(hi, v - 1);
        break;
      case NumOp::kLe:
        hi = std::min(hi, v);
        break;
      case NumOp::kGt:
        if (v == kMax)
          p_.matches_nothing = true;
        else
          lo = std::max(lo, v + 1);
        break;
      case NumOp::kGe:
        lo = std::max(lo, v);
        break;
      case NumOp::kBitAnd:
        break;
    }
  }

  void string(std::string_view field, StrOp op, bool neg, const std::string& value) {
    if (field == "kind") {
      uint32_t bits = 0;
      if (op == StrOp::kGlob) {
        bits = kinds_matching(value);
      } else if (auto k = kind_from_name(value)) {
        bits = kind_bit(*k);
      }
      const bool must_be = (op == StrOp::kNe) == neg;  // == or ~, or a negated !=
      if (must_be)
        p_.kinds_mask &= bits;
      else
        p_.kinds_mask &= ~bits;
    } else if (field == "cache" && op != StrOp::kGlob && (op == StrOp::kEq) != neg) {
      // cache == "" selects records without a cache, which BPF has no name to compare for.
      if (value.empty()) return;
      if (p_.cache && *p_.cache != value)
        p_.matches_nothing = true;
      else
        p_.cache = value;
    }
  }

  const Filter::Impl& f_;
  BpfPrefilter p_;
};

}  // namespace
}  // namespace kleak::filter

namespace kleak {

BpfPrefilter Filter::prefilter() const {
  if (impl_ == nullptr) return BpfPrefilter{};
  return filter::Builder(*impl_).run();
}

bool BpfPrefilter::admits(const FilterFields& r) const noexcept {
  if (matches_nothing) return false;
  if (r.bytes_req < min_bytes_req || r.bytes_req > max_bytes_req) return false;
  if (r.bytes_alloc < min_bytes_alloc || r.bytes_alloc > max_bytes_alloc) return false;
  if (pid && r.pid != *pid) return false;
  if (cache && r.cache != *cache) return false;
  if (auto k = kind_from_name(r.kind); k && (kinds_mask & kind_bit(*k)) == 0) return false;
  return true;
}

}  // namespace kleak
