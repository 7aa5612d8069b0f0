// Aggregate stage: records -> groups, in passes: filter and bucket the records (and churn entries)
// by (kind, stack id) and the --by dimensions without touching symbols (one hash lookup per
// record); symbolize, trim and classify each distinct stack once; count each bucket in its
// category's summaries and merge the buckets whose group keys are equal; order the groups; map
// the counters to events and losses. Pure: kernel facts (the release, cgroup names) come in
// AggregateOptions.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <span>
#include <string_view>
#include <map>
#include <memory>
#include <unordered_map>

#include "kleak/cgroup.h"
#include "kleak/classify.h"
#include "kleak/error.h"
#include "kleak/filter.h"
#include "kleak/frames.h"
#include "kleak/kind.h"
#include "kleak/report.h"
#include "kleak/symbolize.h"

namespace kleak {

namespace {

// A comm as the kernel hands it over: KLEAK_COMM_LEN bytes, NUL-padded.
std::string_view comm_view(const char* comm) { return std::string_view(comm, strnlen(comm, KLEAK_COMM_LEN)); }
std::string_view comm_of(const kleak_alloc& a) { return comm_view(a.comm); }

// ... compared and hashed as two words, and kept by value: the records are fed a batch at a
// time and are gone by the time the groups are made.
struct CommWords {
  uint64_t lo = 0, hi = 0;
  static CommWords of(const char* comm) {
    static_assert(KLEAK_COMM_LEN == 16);
    CommWords w;
    std::memcpy(&w.lo, comm, 8);
    std::memcpy(&w.hi, comm + 8, 8);
    return w;
  }
  bool operator==(const CommWords&) const = default;
  std::string_view view() const {
    static_assert(sizeof(CommWords) == KLEAK_COMM_LEN);
    return comm_view(reinterpret_cast<const char*>(this));
  }
};

inline uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

// kmalloc-<n> for sizes served by the kmalloc caches; larger kmallocs are whole pages.
constexpr uint64_t kKmallocMaxCacheSize = 8192;

struct Bucket {
  int kind = 0;
  int32_t stack_id = 0;
  uint32_t tgid = 0;
  uint64_t cgroup = 0;
  std::string_view cache;
  uint64_t bytes = 0, bytes_req = 0, count = 0;
  uint64_t allocs = 0, frees = 0, alloc_bytes = 0, free_bytes = 0;  // churn in the window
  uint64_t oldest_ts = UINT64_MAX;
  // Comms are the 16 bytes themselves (two words); caches point at interned names, so both
  // compare without looking at the characters.
  std::vector<std::pair<CommWords, uint64_t>> comms;
  std::vector<std::pair<std::string_view, uint64_t>> caches;
};

void bump_comm(std::vector<std::pair<CommWords, uint64_t>>& v, const char* comm) {
  CommWords w = CommWords::of(comm);
  for (auto& [k, n] : v)
    if (k == w) {
      ++n;
      return;
    }
  if (v.size() < 16) v.emplace_back(w, 1);
}

void bump_cache(std::vector<std::pair<std::string_view, uint64_t>>& v, std::string_view s) {
  for (auto& [k, n] : v)
    if (k.data() == s.data()) {
      ++n;
      return;
    }
  if (v.size() < 16) v.emplace_back(s, 1);
}


std::string stack_error_frame(int32_t id) {
  switch (-id) {
    case EEXIST: return "[stack not captured: stack map bucket collision]";
    case ENOMEM: return "[stack not captured: stack map full]";
    case EFAULT: return "[stack not captured: unwind failed]";
    case 1: return "[stack not captured: disabled]";  // stack_id -1: capture off
    default: return "[stack not captured: error " + std::to_string(-id) + "]";
  }
}

}  // namespace

std::optional<std::string> cache_name(const Collected& snap, const kleak_alloc& a) {
  if (a.cache) {
    auto it = snap.caches.find(a.cache);
    if (it != snap.caches.end()) return it->second;
    return std::nullopt;
  }
  if (a.kind == KLEAK_KIND_KMALLOC && a.bytes_alloc <= kKmallocMaxCacheSize)
    return "kmalloc-" + std::to_string(a.bytes_alloc);
  return std::nullopt;
}

void PageStackIds::add(std::span<const AllocRecord> records) {
  for (const auto& rec : records) {
    int32_t id = rec.a.stack_id;
    if (rec.a.kind == KLEAK_KIND_PAGE && id >= 0 && seen_.insert(id).second) ids_.push_back(id);
  }
}

std::vector<int32_t> user_memory_stack_ids(const std::vector<int32_t>& page_stack_ids,
                                           const std::unordered_map<int32_t, std::vector<uint64_t>>& stacks,
                                           const Kallsyms& syms) {
  std::vector<int32_t> ids;
  for (int32_t id : page_stack_ids) {
    auto st = stacks.find(id);
    if (st == stacks.end()) continue;
    std::vector<Frame> frames = syms.resolve_stack(std::span<const uint64_t>(st->second));
    if (is_user_memory(classify(KLEAK_KIND_PAGE, std::span<const Frame>(frames)))) ids.push_back(id);
  }
  return ids;
}

std::vector<int32_t> user_memory_stack_ids(const Collected& c, const Kallsyms& syms) {
  PageStackIds pages;
  pages.add(c.allocs);
  return user_memory_stack_ids(pages.ids(), c.stacks, syms);
}


namespace {

// The --by dimensions asked for.
struct Dimensions {
  bool stack = false, callsite = false, cache = false, comm = false, pid = false, cgroup = false;
  static Dimensions of(const std::vector<GroupBy>& by) {
    auto has = [&](GroupBy g) { return std::find(by.begin(), by.end(), g) != by.end(); };
    return {has(GroupBy::stack), has(GroupBy::callsite), has(GroupBy::cache),
            has(GroupBy::comm),  has(GroupBy::pid),      has(GroupBy::cgroup)};
  }
};

// Cache and cgroup names as string_views that outlive the passes (kmalloc-N made once per size).
class Names {
 public:
  Names(const Collected& snap, const CgroupNames* cgroups) : snap_(snap), cgroups_(cgroups) {}

  std::string_view cache(uint64_t cache, int kind, uint64_t bytes_alloc) {
    if (cache) {
      auto it = snap_.caches.find(cache);
      return it == snap_.caches.end() ? std::string_view() : std::string_view(it->second);
    }
    if (kind != KLEAK_KIND_KMALLOC || bytes_alloc > kKmallocMaxCacheSize || bytes_alloc == 0) return {};
    auto [it, fresh] = kmalloc_.try_emplace(bytes_alloc);
    if (fresh) it->second = "kmalloc-" + std::to_string(bytes_alloc);
    return it->second;
  }

  std::string_view cgroup(uint64_t id) {
    auto [it, fresh] = cgroup_.try_emplace(id);
    if (fresh) it->second = cgroups_ ? cgroups_->name(id) : "cgroup:" + std::to_string(id);
    return it->second;
  }

 private:
  const Collected& snap_;
  const CgroupNames* cgroups_;
  std::unordered_map<uint64_t, std::string> kmalloc_, cgroup_;
};

// ---- pass 1: filter and bucket. No symbols yet: one hash lookup per record.
struct BucketKey {
  int32_t kind, stack_id;
  uint32_t tgid;
  uint64_t cgroup;
  const char* cache;  // interned name
  CommWords comm;
  bool operator==(const BucketKey& o) const {
    return kind == o.kind && stack_id == o.stack_id && tgid == o.tgid && cgroup == o.cgroup &&
           cache == o.cache && comm == o.comm;
  }
};

struct BucketHash {
  size_t operator()(const BucketKey& k) const {
    uint64_t h = mix(0, (static_cast<uint64_t>(k.kind) << 32) ^ static_cast<uint32_t>(k.stack_id));
    h = mix(h, k.cgroup ^ (static_cast<uint64_t>(k.tgid) << 40));
    h = mix(h, reinterpret_cast<uintptr_t>(k.cache));
    h = mix(h, k.comm.lo);
    return static_cast<size_t>(mix(h, k.comm.hi));
  }
};

class Bucketing {
 public:
  Bucketing(const Collected& snap, const Filter& filter, Dimensions dims, Names& names)
      : snap_(snap), filter_(filter), dims_(dims), names_(names) {
    buckets_.reserve(1024);
  }

  // Records that pass the filter, each counted in its bucket: any number of batches, in the
  // drain's order (a bucket keeps its first 16 comms).
  void add_records(std::span<const AllocRecord> records) {
    records_ += records.size();
    for (const auto& rec : records) {
      const kleak_alloc& a = rec.a;
      std::string_view cache = names_.cache(a.cache, a.kind, a.bytes_alloc);
      if (!filter_.is_match_all() && !filter_.matches(record_fields(a, cache))) {
        ++filtered_out_;
        continue;
      }
      Bucket& b = bucket_of(a.kind, a.stack_id, a.tgid, a.cgroup_id, cache, a.comm);
      // --sample N: each record stands for its weight (kleak_weight): sums are unbiased estimates.
      const uint64_t w = kleak_weight(&a);
      b.bytes += a.bytes_alloc * w;
      b.bytes_req += a.bytes_req * w;
      b.count += w;
      b.oldest_ts = std::min<uint64_t>(b.oldest_ts, a.ts_ns);
      bump_comm(b.comms, a.comm);
      if (!cache.empty()) bump_cache(b.caches, cache);
    }
  }

  // Churn: allocations and frees seen in the window, bucketed the same way.
  void add_churn() {
    for (const auto& [ck, cv] : snap_.churn) {
      std::string_view cache = names_.cache(ck.cache, ck.kind, cv.allocs ? cv.alloc_bytes / cv.allocs : 0);
      if (!filter_.is_match_all() && !filter_.matches(churn_fields(ck, cv, cache))) continue;
      Bucket& b = bucket_of(ck.kind, ck.stack_id, ck.tgid, ck.cgroup_id, cache, ck.comm);
      // The churn counts are weighted in BPF already.
      b.allocs += cv.allocs;
      b.frees += cv.frees;
      b.alloc_bytes += cv.alloc_bytes;
      b.free_bytes += cv.free_bytes;
      if (!comm_view(ck.comm).empty() && b.comms.empty()) b.comms.emplace_back(CommWords::of(ck.comm), 0);
      if (!cache.empty() && b.caches.empty()) b.caches.emplace_back(cache, 0);
    }
  }

  const std::unordered_map<BucketKey, Bucket, BucketHash>& buckets() const { return buckets_; }
  uint64_t filtered_out() const { return filtered_out_; }
  uint64_t records() const { return records_; }

 private:
  FilterFields fields_of(int kind, std::string_view cache, std::string_view comm, uint32_t tgid, uint64_t cgroup) {
    FilterFields f;
    f.pid = tgid;
    f.cache = cache;
    f.comm = comm;
    f.kind = kind_name(static_cast<kleak_kind>(kind));
    f.cgroup = names_.cgroup(cgroup);
    return f;
  }

  FilterFields record_fields(const kleak_alloc& a, std::string_view cache) {
    FilterFields f = fields_of(a.kind, cache, comm_of(a), a.tgid, a.cgroup_id);
    f.bytes_req = a.bytes_req;
    f.bytes_alloc = a.bytes_alloc;
    f.order = a.order;
    f.gfp_flags = a.gfp_flags;
    f.tid = a.tid;
    f.call_site = a.call_site;
    f.migratetype = a.migratetype;
    return f;
  }

  FilterFields churn_fields(const kleak_churn_key& ck, const kleak_churn& cv, std::string_view cache) {
    // Sizes are the group's average: a churn entry has no per-allocation size.
    FilterFields f = fields_of(ck.kind, cache, comm_view(ck.comm), ck.tgid, ck.cgroup_id);
    uint64_t avg = cv.allocs ? cv.alloc_bytes / cv.allocs : (cv.frees ? cv.free_bytes / cv.frees : 0);
    f.bytes_req = f.bytes_alloc = avg;
    if (ck.stack_id == KLEAK_STACK_PREWINDOW) {
      // A free of an object from before the window: only its kind and cache are known.
      f.comm = f.cgroup = {};
      f.pid = 0;
    }
    return f;
  }

  // The bucket of these dimensions, its identity set when it is new.
  Bucket& bucket_of(int kind, int32_t stack_id, uint32_t tgid, uint64_t cgroup, std::string_view cache,
                    const char* comm) {
    BucketKey k{};
    k.kind = kind;
    k.stack_id = stack_id;
    if (dims_.pid) k.tgid = tgid;
    if (dims_.cgroup) k.cgroup = cgroup;
    if (dims_.cache || dims_.stack) k.cache = cache.data();
    if (dims_.comm) k.comm = CommWords::of(comm);
    auto [it, fresh] = buckets_.try_emplace(k);
    Bucket& b = it->second;
    if (fresh) {
      b.kind = kind;
      b.stack_id = stack_id;
      b.tgid = tgid;
      b.cgroup = cgroup;
      b.cache = cache;
    }
    return b;
  }

  const Collected& snap_;
  const Filter& filter_;
  Dimensions dims_;
  Names& names_;
  std::unordered_map<BucketKey, Bucket, BucketHash> buckets_;
  uint64_t filtered_out_ = 0, records_ = 0;
};

// ---- pass 2: symbolize each stack once, trim, classify.
// Frames are resolved once per stack and kept only as long as needed: the printed frames, the
// trim count, the interrupt context and the category (for the first kind that asks; a stack id
// is one event's, so a second kind is rare and simply resolves again).
struct Sym {
  std::vector<Frame> frames;  // shown (trimmed unless full)
  size_t trimmed = 0;
  std::string_view context;  // "irq", "softirq" or ""
  int cat_kind = -1;
  Category cat{};
};

class StackSymbols {
 public:
  StackSymbols(const Collected& snap, const Kallsyms& syms, bool full_stacks)
      : snap_(snap), syms_(syms), full_(full_stacks) {
    symbolized_.reserve(snap.stacks.size() + 16);
  }

  Sym& of(int32_t id, int kind) {
    auto [it, fresh] = symbolized_.try_emplace(id);
    Sym& s = it->second;
    if (!fresh) {
      if (s.cat_kind != kind) {
        std::vector<Frame> all = resolve_all(id);
        s.cat = classify(static_cast<kleak_kind>(kind), std::span<const Frame>(all));
        s.cat_kind = kind;
      }
      return s;
    }
    s.cat_kind = kind;
    if (id == KLEAK_STACK_PREWINDOW || id < 0 || !snap_.stacks.count(id)) {
      s.frames.push_back(Frame::make_marker(id == KLEAK_STACK_PREWINDOW ? "[allocated before the window]"
                                            : id < 0 ? stack_error_frame(id)
                                                     : "[stack evicted from the stack map]"));
      s.cat = classify(static_cast<kleak_kind>(kind), std::span<const Frame>());
      return s;
    }
    std::vector<Frame> all = resolve_all(id);
    s.trimmed = full_ ? 0 : trim_count(std::span<const Frame>(all));
    s.frames.assign(all.begin() + static_cast<ptrdiff_t>(s.trimmed), all.end());
    s.context = interrupt_context(std::span<const Frame>(all));
    s.cat = classify(static_cast<kleak_kind>(kind), std::span<const Frame>(all));
    return s;
  }

 private:
  std::vector<Frame> resolve_all(int32_t id) const {
    std::vector<Frame> all;
    auto st = snap_.stacks.find(id);
    if (id < 0 || st == snap_.stacks.end()) return all;
    all.reserve(st->second.size());
    for (uint64_t ip : st->second) all.push_back(syms_.resolve(ip));
    return all;
  }

  const Collected& snap_;
  const Kallsyms& syms_;
  bool full_;
  std::unordered_map<int32_t, Sym> symbolized_;
};

// ---- pass 3: the category summaries, then the groups (buckets merged by group key).
// Counts a bucket in its category's summaries; false when it is a summary line only (pages under
// objects counted elsewhere, and user memory unless --user-pages), whatever the grouping.
bool count_category(Report& r, const Bucket& b, Category cat, bool user_pages) {
  std::string cat_name(category_name(cat));
  if (b.count) {
    Summary& bc = r.by_category[cat];
    bc.bytes += b.bytes;
    bc.count += b.count;
    // Large kmallocs are whole pages with a line of their own (reconcile), not a cache's.
    const bool object = b.kind == KLEAK_KIND_KMALLOC || b.kind == KLEAK_KIND_SLAB;
    if ((cat == Category::slab || object) && cat != Category::kmalloc_large) {
      Summary& sc = r.slab_by_cache[std::string(b.cache)];
      sc.bytes += b.bytes;
      sc.count += b.count;
    }
    if (object && cat != Category::slab && cat != Category::kmalloc_large) {
      Summary& oc = r.objects_by_category[cat];
      oc.bytes += b.bytes;
      oc.count += b.count;
    }
  }
  if (is_backing(cat)) {
    Summary& sm = r.backing[cat_name];
    sm.bytes += b.bytes;
    sm.count += b.count;
    return false;
  }
  if (is_user_memory(cat)) {
    Summary& sm = r.user_memory[cat_name];
    sm.bytes += b.bytes;
    sm.count += b.count;
    return user_pages;
  }
  return true;
}

// The --by values of a bucket. Interrupts are nobody's process: their allocations go to the
// interrupt context.
std::map<std::string, std::string> dimension_values(const Bucket& b, const Sym& s, Dimensions dims, Names& names) {
  const bool prewindow = b.stack_id == KLEAK_STACK_PREWINDOW;
  const std::string before = "(allocated before the window)";
  const std::string irq = s.context.empty() ? "" : "<" + std::string(s.context) + ">";
  std::map<std::string, std::string> v;
  if (dims.callsite) v["callsite"] = s.frames.empty() ? "" : s.frames[0].text();
  if (dims.cache) v["cache"] = b.cache.empty() ? "(none)" : std::string(b.cache);
  if (dims.comm)
    v["comm"] = prewindow ? before : !irq.empty() ? irq : std::string(b.comms.empty() ? "" : b.comms[0].first.view());
  if (dims.pid) v["pid"] = prewindow ? before : !irq.empty() ? irq : std::to_string(b.tgid);
  if (dims.cgroup) v["cgroup"] = prewindow ? before : !irq.empty() ? irq : std::string(names.cgroup(b.cgroup));
  return v;
}

// One group being merged, with its comms and caches counted by name.
struct Merged {
  StackGroup g;
  Category cat{};
  std::vector<std::pair<std::string_view, uint64_t>> comms, caches;
};

void add_counted(std::vector<std::pair<std::string_view, uint64_t>>& to, std::string_view name, uint64_t n) {
  auto it = std::find_if(to.begin(), to.end(), [&](auto& p) { return p.first == name; });
  if (it == to.end()) to.emplace_back(name, n);
  else it->second += n;
}

// `last`: no other bucket has this stack: its frames move into the group instead of being
// copied (a copy of every stack's frames was 29 MB of the 1 M-record bench's peak).
void merge_bucket(Merged& m, const Bucket& b, Sym& s, Dimensions dims,
                  std::map<std::string, std::string> values, uint64_t now_ns, bool last) {
  StackGroup& g = m.g;
  std::string kind(kind_name(static_cast<kleak_kind>(b.kind)));
  std::string_view cat_name = category_name(s.cat);
  if (g.count == 0 && g.allocs == 0 && g.frees == 0 && g.stack_ids.empty()) {
    m.cat = s.cat;
    g.kind = kind;
    g.category = std::string(cat_name);
    if (dims.stack) {
      g.frames = last ? std::move(s.frames) : s.frames;
      g.trimmed = s.trimmed;
    } else if (dims.callsite) {
      g.frames = {s.frames.empty() ? Frame::make_marker("") : s.frames[0]};
    }
    g.group = std::move(values);
    g.context = std::string(s.context);
  } else if (g.kind != kind) {
    g.kind = "mixed";
  }
  // Stacks that show the same frames may hide a different number above them: the group says the
  // most. Taking the first bucket's made the report follow hash-map order (golden_reports failed
  // ~1 run in 12, the order following heap addresses).
  if (dims.stack) g.trimmed = std::max(g.trimmed, s.trimmed);
  if (g.category != cat_name) g.category = "mixed";
  g.bytes += b.bytes;
  g.bytes_req += b.bytes_req;
  g.count += b.count;
  g.allocs += b.allocs;
  g.frees += b.frees;
  g.alloc_bytes += b.alloc_bytes;
  g.free_bytes += b.free_bytes;
  if (b.count) {
    double age = now_ns > b.oldest_ts ? static_cast<double>(now_ns - b.oldest_ts) / 1e9 : 0;
    g.oldest_age_s = std::max(g.oldest_age_s, age);
  }
  if (std::find(g.stack_ids.begin(), g.stack_ids.end(), b.stack_id) == g.stack_ids.end())
    g.stack_ids.push_back(b.stack_id);
  for (const auto& [c, n] : b.comms) {
    if (n == 0) continue;
    // c.view() points into the bucket, which outlives the merged groups.
    add_counted(m.comms, s.context.empty() ? c.view() : std::string_view(s.context == "irq" ? "<irq>" : "<softirq>"), n);
  }
  for (auto [c, n] : b.caches) add_counted(m.caches, c, n);
}

std::unordered_map<std::string, Merged> merge_buckets(Report& r, const Bucketing& buckets, StackSymbols& symbols,
                                                      Dimensions dims, Names& names, const AggregateOptions& opts,
                                                      uint64_t now_ns) {
  std::unordered_map<std::string, Merged> merged;
  // How many buckets each stack's symbols serve: the last one may take its frames.
  std::unordered_map<int32_t, uint32_t> uses;
  for (const auto& [bkey, b] : buckets.buckets()) ++uses[b.stack_id];
  for (const auto& [bkey, b] : buckets.buckets()) {
    Sym& s = symbols.of(b.stack_id, b.kind);
    const bool last = --uses[b.stack_id] == 0;
    if (!count_category(r, b, s.cat, opts.user_pages)) continue;
    std::map<std::string, std::string> values = dimension_values(b, s, dims, names);
    // Same kind, category and printed frames (when grouping by stack), and the same value of
    // every other dimension asked for: one group. A slab page and a direct page can print the
    // same once trimmed; they stay apart.
    std::string kind(kind_name(static_cast<kleak_kind>(b.kind)));
    std::string gkey = dims.stack      ? group_key(kind, category_name(s.cat), s.frames, values)
                       : dims.callsite ? group_key(kind, "", {}, values)
                                       : group_key("", "", {}, values);
    merge_bucket(merged[gkey], b, s, dims, std::move(values), now_ns, last);
  }
  return merged;
}

// ---- pass 4: each group's comms and cache settled, the totals, one total order.
std::vector<StackGroup> finish_groups(Report& r, std::unordered_map<std::string, Merged>& merged) {
  std::vector<StackGroup> groups;
  groups.reserve(merged.size());
  for (auto& [gkey, m] : merged) {
    StackGroup& g = m.g;
    auto& mc = m.comms;
    // Most allocations first, names breaking ties: the same input always prints the same.
    std::sort(mc.begin(), mc.end(), [](auto& x, auto& y) {
      return x.second != y.second ? x.second > y.second : x.first < y.first;
    });
    // Every comm (pprof labels each; text shows the first 3): a profiler filtering by comm must
    // find all of a group's allocations, not only its main process's.
    for (const auto& [c, n] : mc) g.comms.emplace_back(std::string(c), n);
    auto& mk = m.caches;
    if (!mk.empty()) {
      auto best = std::max_element(mk.begin(), mk.end(), [](auto& x, auto& y) {
        return x.second != y.second ? x.second < y.second : x.first > y.first;
      });
      g.cache = std::string(best->first);
    }
    std::sort(g.stack_ids.begin(), g.stack_ids.end());
    if (g.category == "mixed" || !is_user_memory(m.cat)) {
      r.total_bytes += g.bytes;
      r.total_count += g.count;
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

// Unseen frees are counted by stack: a group (split further by --by) gets its stacks' counts,
// evidence that its objects are freed where kleak cannot see, not an amount of its own.
void add_unseen_frees(std::vector<StackGroup>& groups, const Collected& snap) {
  if (snap.unseen_frees.empty()) return;
  for (auto& g : groups)
    for (int32_t id : g.stack_ids)
      if (auto it = snap.unseen_frees.find(id); it != snap.unseen_frees.end()) g.unseen_frees += it->second;
}

void sort_groups(std::vector<StackGroup>& groups) {
  std::sort(groups.begin(), groups.end(), [](const StackGroup& x, const StackGroup& y) {
    if (x.bytes != y.bytes) return x.bytes > y.bytes;
    if (x.count != y.count) return x.count > y.count;
    if (x.allocs != y.allocs) return x.allocs > y.allocs;
    if (int c = frames_text_compare(x.frames, y.frames)) return c < 0;
    if (x.group != y.group) return x.group < y.group;
    // A total order: the same input always prints the same (live and replayed reports agree).
    if (x.kind != y.kind) return x.kind < y.kind;
    if (x.category != y.category) return x.category < y.category;
    return x.stack_ids < y.stack_ids;
  });
}

// ---- pass 5: the BPF counters -> events, sampling, stack reuse and losses.
void count_events(Report& r, const Collected& snap, uint64_t records, uint64_t filtered_out) {
  const Counters& c = snap.counters;
  auto sum = [&](int cause) { return counter_total(c, cause); };
  // The counts that sum a BPF counter over the kinds; userspace's own are set below.
  for (const auto& row : kEventCounts)
    if (row.cause != kNoCause) r.events[row.value] = sum(row.cause);
  for (const auto& row : kLosses)
    if (row.cause != kNoCause) r.dropped[row.value] = sum(row.cause);
  r.events[EventCount::outstanding_records] = records;
  r.events[EventCount::records_filtered_out] = filtered_out;

  for (int k = KLEAK_KIND_KMALLOC; k < KLEAK_KIND_MAX; ++k) {
    auto& m = r.events_by_kind[static_cast<kleak_kind>(k)];
    for (int cause = 0; cause < KLEAK_CAUSE_MAX; ++cause)
      if (uint64_t n = counter(c, k, cause)) m[static_cast<kleak_cause>(cause)] = n;
  }

  // Allocations past the sampling test end as tracked, filtered, skipped as user memory or
  // dropped by a full map.
  r.sample_seen = sum(KLEAK_ALLOC_SEEN);
  r.sample_kept = sum(KLEAK_ALLOC_TRACKED) + sum(KLEAK_ALLOC_FILTERED) + sum(KLEAK_USER_SKIPPED) +
                  sum(KLEAK_ALLOC_MAP_FULL);
  r.stack_reuse.max_run = snap.stack_reuse;
  r.stack_reuse.walked = sum(KLEAK_STACK_WALKED);
  r.stack_reuse.reused = sum(KLEAK_STACK_REUSED);
  r.stack_reuse.checked = sum(KLEAK_STACK_CHECKED);
  r.stack_reuse.changed = sum(KLEAK_STACK_CHANGED);
  r.stack_reuse.suspect = sum(KLEAK_STACK_SUSPECT);

  r.user_untracked.count = sum(KLEAK_USER_SKIPPED);
  r.user_untracked.bytes = sum(KLEAK_USER_SKIPPED_BYTES);

  uint64_t alloc_misses = 0, free_misses = 0;
  for (const auto& p : snap.progs) (p.is_free ? free_misses : alloc_misses) += p.recursion_misses;
  // A free program's recursion miss is a lost free unless its twin handled the event. Both are
  // shown: a twin that handled more than its primary skipped would be handling frees twice.
  uint64_t rescued = sum(KLEAK_FREE_RESCUED);
  r.events[EventCount::frees_skipped_in_recursion] = free_misses;
  r.events[EventCount::frees_rescued_from_recursion] = rescued;
  free_misses = free_misses > rescued ? free_misses - rescued : 0;
  r.missed_frees = free_misses;
  // Frees kleak did not see, found when the address came back: not a loss of kleak's (nothing
  // was dropped), the kernel freeing where no tracepoint fires. Reported on their own, and the
  // groups they touch are held against the kernel's counts (verdict.h: unconfirmed).
  r.unseen_frees = sum(KLEAK_ALLOC_REPLACED);
  r.dropped[Loss::alloc_recursion_misses] = alloc_misses;
  r.dropped[Loss::free_recursion_misses] = free_misses;
  r.dropped[Loss::drain_incomplete] = snap.dropped_in_drain;
}

}  // namespace

struct Aggregation::Impl {
  Impl(const Collected& snap, const Filter& filter, const AggregateOptions& opts)
      : snap(snap), filter(filter), opts(opts), dims(Dimensions::of(opts.by)), names(snap, opts.cgroups),
        buckets(snap, filter, dims, names) {}
  const Collected& snap;
  const Filter& filter;
  AggregateOptions opts;
  Dimensions dims;
  Names names;
  Bucketing buckets;
};

Aggregation::Aggregation(const Collected& snap, const Filter& filter, const AggregateOptions& opts)
    : impl_(std::make_unique<Impl>(snap, filter, opts)) {}
Aggregation::~Aggregation() = default;

void Aggregation::add(std::span<const AllocRecord> records) { impl_->buckets.add_records(records); }

Report Aggregation::finish(const Kallsyms& syms) {
  const Collected& snap = impl_->snap;
  const Filter& filter = impl_->filter;
  const AggregateOptions& opts = impl_->opts;
  Report r;
  r.kernel = opts.kernel;
  r.duration_s = snap.now_ns > snap.window_start_ns
                     ? static_cast<double>(snap.now_ns - snap.window_start_ns) / 1e9
                     : 0.0;
  r.filter = filter.is_match_all() ? "" : filter.to_string();
  r.full_stacks = opts.full_stacks;
  r.user_pages_shown = opts.user_pages;
  r.by = opts.by;
  Bucketing& buckets = impl_->buckets;
  buckets.add_churn();
  r.sample_every = snap.sample_every ? snap.sample_every : 1;
  std::vector<StackGroup> groups;
  {
    // Each scope's memory goes as soon as it is used: the symbols once merged, the merge once
    // its groups are out (the buckets stay: the groups' comm names point into them until then).
    std::unordered_map<std::string, Merged> merged;
    {
      StackSymbols symbols(snap, syms, opts.full_stacks);
      merged = merge_buckets(r, buckets, symbols, impl_->dims, impl_->names, opts, snap.now_ns);
    }
    groups = finish_groups(r, merged);
  }
  add_unseen_frees(groups, snap);
  sort_groups(groups);
  r.groups_total = groups.size();
  if (groups.size() > opts.top) groups.resize(opts.top);
  r.stacks = std::move(groups);
  count_events(r, snap, buckets.records(), buckets.filtered_out());
  return r;
}

Report aggregate(const Collected& snap, const Kallsyms& syms, const Filter& filter,
                 const AggregateOptions& opts) {
  Aggregation a(snap, filter, opts);
  a.add(snap.allocs);
  return a.finish(syms);
}

}  // namespace kleak
