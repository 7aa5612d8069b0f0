// Allocation filters in ftrace event-filter syntax, e.g.
//   bytes_req >= 256 && bytes_req <= 512
//   cache == "dentry" || comm ~ "kworker*"
//   kind != "page" && !(gfp_flags & 0x400)
//
// Fields: numeric bytes_req, bytes_alloc, order, gfp_flags, pid (tgid), tid, call_site,
// migratetype (signed, -1 when not a page); string cache ("" when none), comm, kind.
// Numeric operators == != < <= > >= and & (true when any bit is set); string operators == != and
// ~ (glob: * ? [abc] [a-z] [!abc]). Logic: ! (negates the comparison or group after it), &&, ||,
// parentheses; precedence ! > comparison > && > ||. Numbers are decimal or 0x hex (a leading '-'
// only for signed fields); strings are in double or single quotes, where \" \' and \\ escape.
// A literal may also stand on the left (`256 <= bytes_req`, `"slab" == kind`), except before '~'.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "kleak/kind.h"

namespace kleak {

// One allocation, as the evaluator sees it. The string_views must outlive the matches() call.
struct FilterFields {
  uint64_t bytes_req = 0;
  uint64_t bytes_alloc = 0;
  uint64_t order = 0;
  uint64_t gfp_flags = 0;
  uint64_t pid = 0;  // process id (tgid; 32 bits in the kernel)
  uint64_t tid = 0;  // thread id
  uint64_t call_site = 0;
  int64_t migratetype = -1;
  std::string_view cache{};  // slab cache name, "" when none
  std::string_view comm{};
  std::string_view kind{};  // kind_name() of the record's kleak_kind
  std::string_view cgroup{};  // the allocating task's cgroup v2 path ("/system.slice/x.scope")
};

// Conservative constraints the BPF side can check before any map or stack work: a record the
// full filter accepts always passes them (the full filter runs again in userspace on every
// record). Comparisons required through the top-level && chain narrow them directly; '!' is
// pushed down by De Morgan; a || keeps what all its operands share (`kind == "slab" ||
// kind == "page"` allows exactly those two kinds, `bytes_req < 64 || pid == 1` nothing).
struct BpfPrefilter {
  uint64_t min_bytes_req = 0;
  uint64_t max_bytes_req = std::numeric_limits<uint64_t>::max();
  uint64_t min_bytes_alloc = 0;
  uint64_t max_bytes_alloc = std::numeric_limits<uint64_t>::max();
  std::optional<uint32_t> pid = std::nullopt;       // tgid must equal this
  std::optional<std::string> cache = std::nullopt;  // exact cache name of slab records; never ""
  uint32_t kinds_mask = kAllKindsMask;              // kind_bit()s of the kinds that may match
  bool matches_nothing = false;  // the filter rejects every record; other fields are then moot

  // Whether `r` passes these constraints (for tests and userspace replays). A record whose kind
  // name is not a known kind is not checked against kinds_mask.
  bool admits(const FilterFields& r) const noexcept;
  // Equal to BpfPrefilter{} when the BPF side need not filter at all.
  bool operator==(const BpfPrefilter&) const = default;
};

// An immutable, cheaply copyable parsed filter. matches() does not allocate.
class Filter {
 public:
  Filter() = default;  // matches everything

  // Parses `text`; empty or all-whitespace text gives match_all(). Throws kleak::usage_error
  // with one line: `bad filter at column N: <what was expected>, found <token> in '<text>'`.
  static Filter parse(std::string_view text);
  static Filter match_all() { return Filter(); }

  bool matches(const FilterFields& r) const noexcept;
  BpfPrefilter prefilter() const;
  // Canonical text (fields on the left, minimal parentheses, `!(...)`), parse()-able back to an
  // equivalent filter. "" for match_all().
  std::string to_string() const;
  bool is_match_all() const noexcept { return impl_ == nullptr; }
  // The same filter with the name of every exact cache comparison (`cache == "X"`, `!=`; not
  // globs) replaced by rename(X): how a SLUB alias selects the cache BPF sees (slab_aliases.h).
  Filter rename_caches(const std::function<std::string(std::string_view)>& rename) const;

  struct Impl;  // user/filter/ast.h

 private:
  explicit Filter(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  friend Filter conjoin(const Filter& a, const Filter& b);
  std::shared_ptr<const Impl> impl_;
};

// a && b (either may be match_all()), for AND-ing CLI shorthands such as --min-size with --filter.
Filter conjoin(const Filter& a, const Filter& b);

// `s` as a filter string literal ("..." with \" and \\ escaped), for building filter text:
//   Filter::parse("cache == " + filter_quote(name))
std::string filter_quote(std::string_view s);

}  // namespace kleak
