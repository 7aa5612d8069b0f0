// Filter::prefilter(): constraints every matching record meets, for the BPF side to check first.
//
// The filter is read as a set of records and over-approximated by a BpfPrefilter (a box of size
// ranges, an optional pid and cache, a set of kinds):
//   - a conjunction intersects what its operands require;
//   - a disjunction takes the smallest box holding each operand's box (so `kind == "slab" ||
//     kind == "page"` keeps both kinds and drops the rest, and `bytes_req < 64 || pid == 1`
//     constrains nothing);
//   - '!' is pushed down by De Morgan: !(a || b) is !a && !b, and !(x < 5) is x >= 5;
//   - a comparison the box cannot express (globs other than on kind, &, comm, ...) constrains
//     nothing.
// Every step keeps every record the filter accepts, so the result is conservative.
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

// Sets matches_nothing when the constraints contradict each other.
void settle(BpfPrefilter& p) {
  if (p.min_bytes_req > p.max_bytes_req || p.min_bytes_alloc > p.max_bytes_alloc ||
      (p.kinds_mask & kAllKindsMask) == 0)
    p.matches_nothing = true;
}

// The smallest box holding both: what a disjunction of a and b requires.
BpfPrefilter join(BpfPrefilter a, const BpfPrefilter& b) {
  if (b.matches_nothing) return a;
  if (a.matches_nothing) return b;
  a.min_bytes_req = std::min(a.min_bytes_req, b.min_bytes_req);
  a.max_bytes_req = std::max(a.max_bytes_req, b.max_bytes_req);
  a.min_bytes_alloc = std::min(a.min_bytes_alloc, b.min_bytes_alloc);
  a.max_bytes_alloc = std::max(a.max_bytes_alloc, b.max_bytes_alloc);
  if (a.pid != b.pid) a.pid.reset();
  // The BPF cache filter holds slab records only (record.bpf.h: cache_seen), so an operand that
  // admits no slab record puts no bound on it: `(kind == "slab" && cache == "filp") || kind ==
  // "page"`, kleak hunt's filter, keeps filp in BPF (measured on redis: every other slab object
  // was recorded, stack walked and dropped in userspace, as costly as tracing all of slab).
  const uint32_t slab = kind_bit(KLEAK_KIND_SLAB);
  if (!(a.kinds_mask & slab))
    a.cache = b.cache;
  else if ((b.kinds_mask & slab) && a.cache != b.cache)
    a.cache.reset();
  a.kinds_mask |= b.kinds_mask;
  return a;
}

class Builder {
 public:
  explicit Builder(const Filter::Impl& f) : f_(f) {}

  BpfPrefilter run() {
    BpfPrefilter p;
    require(f_.root, false, p);
    settle(p);
    return p;
  }

 private:
  // Narrows `p` by what node `index` (negated if `neg`) requires of a record.
  void require(uint32_t index, bool neg, BpfPrefilter& p) const {
    const Node& n = f_.nodes[index];
    if (const auto* l = std::get_if<Logic>(&n)) {
      if (l->is_and != neg) {  // a conjunction: each operand applies in turn
        for (uint32_t k = l->first; k < l->first + l->count; ++k) require(f_.kids[k], neg, p);
        return;
      }
      // A disjunction: the box around its operands' boxes, then intersected with p.
      std::optional<BpfPrefilter> any;
      for (uint32_t k = l->first; k < l->first + l->count; ++k) {
        BpfPrefilter alt;
        require(f_.kids[k], neg, alt);
        settle(alt);
        any = any ? join(std::move(*any), alt) : std::move(alt);
      }
      if (any) meet(p, *any);
    } else if (const auto* x = std::get_if<Not>(&n)) {
      require(x->child, !neg, p);
    } else if (const auto* c = std::get_if<NumCmp>(&n)) {
      const std::optional<NumOp> op = neg ? negate(c->op) : c->op;
      if (op) number(fields()[c->field].name, *op, c->value, p);
    } else if (const auto* c = std::get_if<StrCmp>(&n)) {
      string(fields()[c->field].name, c->op, neg, c->value, p);
    }
  }

  // p && q
  static void meet(BpfPrefilter& p, const BpfPrefilter& q) {
    p.matches_nothing = p.matches_nothing || q.matches_nothing;
    p.min_bytes_req = std::max(p.min_bytes_req, q.min_bytes_req);
    p.max_bytes_req = std::min(p.max_bytes_req, q.max_bytes_req);
    p.min_bytes_alloc = std::max(p.min_bytes_alloc, q.min_bytes_alloc);
    p.max_bytes_alloc = std::min(p.max_bytes_alloc, q.max_bytes_alloc);
    if (q.pid) equal(p.pid, *q.pid, p);
    if (q.cache) equal(p.cache, *q.cache, p);
    p.kinds_mask &= q.kinds_mask;
  }

  // Requires `slot` == value.
  template <typename T>
  static void equal(std::optional<T>& slot, const T& value, BpfPrefilter& p) {
    if (slot && *slot != value)
      p.matches_nothing = true;
    else
      slot = value;
  }

  static void number(std::string_view field, NumOp op, Number value, BpfPrefilter& p) {
    if (value.negative) return;  // unsigned fields never see negative literals; be safe anyway
    const uint64_t v = value.bits;
    if (field == "bytes_req") {
      narrow(p.min_bytes_req, p.max_bytes_req, op, v, p);
    } else if (field == "bytes_alloc") {
      narrow(p.min_bytes_alloc, p.max_bytes_alloc, op, v, p);
    } else if (field == "pid" && op == NumOp::kEq) {
      // pid is a 32-bit tgid in the kernel: a larger value matches nothing.
      if (v > UINT32_MAX)
        p.matches_nothing = true;
      else
        equal(p.pid, static_cast<uint32_t>(v), p);
    }
  }

  static void narrow(uint64_t& lo, uint64_t& hi, NumOp op, uint64_t v, BpfPrefilter& p) {
    switch (op) {
      case NumOp::kEq:
        lo = std::max(lo, v);
        hi = std::min(hi, v);
        break;
      case NumOp::kNe:  // only trims an end of the range
        if (v == lo) {
          if (v == kMax)
            p.matches_nothing = true;
          else
            lo = v + 1;
        } else if (v == hi) {
          if (v == 0)
            p.matches_nothing = true;
          else
            hi = v - 1;
        }
        break;
      case NumOp::kLt:
        if (v == 0)
          p.matches_nothing = true;
        else
          hi = std::min(hi, v - 1);
        break;
      case NumOp::kLe:
        hi = std::min(hi, v);
        break;
      case NumOp::kGt:
        if (v == kMax)
          p.matches_nothing = true;
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

  static void string(std::string_view field, StrOp op, bool neg, const std::string& value,
                     BpfPrefilter& p) {
    if (field == "kind") {
      uint32_t bits = 0;
      if (op == StrOp::kGlob) {
        bits = kinds_matching(value);
      } else if (auto k = kind_from_name(value)) {
        bits = kind_bit(*k);
      }
      const bool must_be = (op == StrOp::kNe) == neg;  // == or ~, or a negated !=
      p.kinds_mask &= must_be ? bits : ~bits;
    } else if (field == "cache" && op != StrOp::kGlob && (op == StrOp::kEq) != neg) {
      // cache == "" selects records without a cache, which BPF has no name to compare for.
      if (!value.empty()) equal(p.cache, value, p);
    }
  }

  const Filter::Impl& f_;
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
  if (cache && r.kind == "slab" && r.cache != *cache) return false;  // as in BPF: slab records only
  if (auto k = kind_from_name(r.kind); k && (kinds_mask & kind_bit(*k)) == 0) return false;
  return true;
}

}  // namespace kleak
