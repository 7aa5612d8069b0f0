// Aggregate stage: records -> groups. Two passes: records (and churn entries) are first bucketed
// by (kind, stack id) and the --by dimensions without touching symbols (one hash lookup per
// record), then each distinct stack is symbolized once, trimmed and classified, and buckets whose
// group keys print the same are merged.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <span>
#include <string_view>
#include <map>
#include <unordered_map>

#include <sys/utsname.h>

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

// ... compared and hashed as two words.
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
  // Comms point at a record's (or churn key's) 16-byte comm; caches at interned names, so
  // both compare without looking at the characters.
  std::vector<std::pair<const char*, uint64_t>> comms;
  std::vector<std::pair<std::string_view, uint64_t>> caches;
};

void bump_comm(std::vector<std::pair<const char*, uint64_t>>& v, const char* comm) {
  CommWords w = CommWords::of(comm);
  for (auto& [k, n] : v)
    if (CommWords::of(k) == w) {
      ++n;
      return;
    }
  if (v.size() < 16) v.emplace_back(comm, 1);
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

std::string kernel_release() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return std::string(u.sysname) + " " + u.release + " " + u.machine;
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

std::vector<int32_t> user_memory_stack_ids(const Collected& c, const Kallsyms& syms) {
  std::unordered_map<int32_t, bool> seen;
  std::vector<int32_t> ids;
  for (const auto& rec : c.allocs) {
    int32_t id = rec.a.stack_id;
    if (rec.a.kind != KLEAK_KIND_PAGE || id < 0 || seen.count(id)) continue;
    auto st = c.stacks.find(id);
    bool user = false;
    if (st != c.stacks.end()) {
      std::vector<Frame> frames = syms.resolve_stack(std::span<const uint64_t>(st->second));
      user = is_user_memory(classify(KLEAK_KIND_PAGE, std::span<const Frame>(frames)));
    }
    seen.emplace(id, user);
    if (user) ids.push_back(id);
  }
  return ids;
}

Report aggregate(const Collected& snap, const Kallsyms& syms, const Filter& filter,
                 const AggregateOptions& opts) {
  Report r;
  r.kernel = kernel_release();
  r.duration_s = snap.now_ns > snap.window_start_ns
                     ? static_cast<double>(snap.now_ns - snap.window_start_ns) / 1e9
                     : 0.0;
  r.filter = filter.is_match_all() ? "" : filter.to_string();
  r.full_stacks = opts.full_stacks;
  r.user_pages_shown = opts.user_pages;
  r.by = opts.by;
  // --sample N: each record stands for its weight (kleak_weight), the churn counts are weighted
  // in BPF already: sums are unbiased estimates.
  r.sample_every = snap.sample_every ? snap.sample_every : 1;

  auto has = [&](GroupBy g) { return std::find(opts.by.begin(), opts.by.end(), g) != opts.by.end(); };
  const bool by_stack = has(GroupBy::stack), by_callsite = has(GroupBy::callsite),
             by_cache = has(GroupBy::cache), by_comm = has(GroupBy::comm), by_pid = has(GroupBy::pid),
             by_cgroup = has(GroupBy::cgroup);

  // Cache names as string_views that outlive the loop (kmalloc-N made once per size).
  std::unordered_map<uint64_t, std::string> kmalloc_names;
  auto cache_of = [&](uint64_t cache, int kind, uint64_t bytes_alloc) -> std::string_view {
    if (cache) {
      auto it = snap.caches.find(cache);
      return it == snap.caches.end() ? std::string_view() : std::string_view(it->second);
    }
    if (kind != KLEAK_KIND_KMALLOC || bytes_alloc > kKmallocMaxCacheSize || bytes_alloc == 0) return {};
    auto [it, fresh] = kmalloc_names.try_emplace(bytes_alloc);
    if (fresh) it->second = "kmalloc-" + std::to_string(bytes_alloc);
    return it->second;
  };
  std::unordered_map<uint64_t, std::string> cgroup_names;
  auto cgroup_of = [&](uint64_t id) -> std::string_view {
    auto [it, fresh] = cgroup_names.try_emplace(id);
    if (fresh) it->second = opts.cgroups ? opts.cgroups->name(id) : "cgroup:" + std::to_string(id);
    return it->second;
  };

  // ---- pass 1: bucket records by (kind, stack id) and the other dimensions asked for,
  // evaluating the full filter per record. No symbols yet: one hash lookup per record.
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
  std::unordered_map<BucketKey, Bucket, BucketHash> buckets;
  buckets.reserve(1024);
  auto key_of = [&](int kind, int32_t stack_id, uint32_t tgid, uint64_t cgroup, std::string_view cache,
                    const char* comm) {
    BucketKey k{};
    k.kind = kind;
    k.stack_id = stack_id;
    if (by_pid) k.tgid = tgid;
    if (by_cgroup) k.cgroup = cgroup;
    if (by_cache || by_stack) k.cache = cache.data();
    if (by_comm) k.comm = CommWords::of(comm);
    return k;
  };
  // The bucket of these dimensions, its identity set when it is new.
  auto bucket_of = [&](int kind, int32_t stack_id, uint32_t tgid, uint64_t cgroup, std::string_view cache,
                       const char* comm) -> Bucket& {
    auto [it, fresh] = buckets.try_emplace(key_of(kind, stack_id, tgid, cgroup, cache, comm));
    Bucket& b = it->second;
    if (fresh) {
      b.kind = kind;
      b.stack_id = stack_id;
      b.tgid = tgid;
      b.cgroup = cgroup;
      b.cache = cache;
    }
    return b;
  };
  auto fields_of = [&](int kind, std::string_view cache, std::string_view comm, uint32_t tgid,
                       uint64_t cgroup) {
    FilterFields f;
    f.pid = tgid;
    f.cache = cache;
    f.comm = comm;
    f.kind = kind_name(static_cast<kleak_kind>(kind));
    f.cgroup = cgroup_of(cgroup);
    return f;
  };
  uint64_t filtered_out = 0;
  for (const auto& rec : snap.allocs) {
    const kleak_alloc& a = rec.a;
    std::string_view cache = cache_of(a.cache, a.kind, a.bytes_alloc);
    if (!filter.is_match_all()) {
      FilterFields f = fields_of(a.kind, cache, comm_of(a), a.tgid, a.cgroup_id);
      f.bytes_req = a.bytes_req;
      f.bytes_alloc = a.bytes_alloc;
      f.order = a.order;
      f.gfp_flags = a.gfp_flags;
      f.tid = a.tid;
      f.call_site = a.call_site;
      f.migratetype = a.migratetype;
      if (!filter.matches(f)) {
        ++filtered_out;
        continue;
      }
    }
    Bucket& b = bucket_of(a.kind, a.stack_id, a.tgid, a.cgroup_id, cache, a.comm);
    const uint64_t w = kleak_weight(&a);
    b.bytes += a.bytes_alloc * w;
    b.bytes_req += a.bytes_req * w;
    b.count += w;
    b.oldest_ts = std::min<uint64_t>(b.oldest_ts, a.ts_ns);
    bump_comm(b.comms, a.comm);
    if (!cache.empty()) bump_cache(b.caches, cache);
  }
  // Churn: allocations and frees seen in the window, bucketed the same way.
  for (const auto& [ck, cv] : snap.churn) {
    std::string_view cache = cache_of(ck.cache, ck.kind, cv.allocs ? cv.alloc_bytes / cv.allocs : 0);
    std::string_view comm = comm_view(ck.comm);
    if (!filter.is_match_all()) {
      // Sizes are the group's average: a churn entry has no per-allocation size.
      FilterFields f = fields_of(ck.kind, cache, comm, ck.tgid, ck.cgroup_id);
      uint64_t avg = cv.allocs ? cv.alloc_bytes / cv.allocs : (cv.frees ? cv.free_bytes / cv.frees : 0);
      f.bytes_req = f.bytes_alloc = avg;
      if (ck.stack_id == KLEAK_STACK_PREWINDOW) {
        // A free of an object from before the window: only its kind and cache are known.
        f.comm = f.cgroup = {};
        f.pid = 0;
      }
      if (!filter.matches(f)) continue;
    }
    Bucket& b = bucket_of(ck.kind, ck.stack_id, ck.tgid, ck.cgroup_id, cache, ck.comm);
    b.allocs += cv.allocs;
    b.frees += cv.frees;
    b.alloc_bytes += cv.alloc_bytes;
    b.free_bytes += cv.free_bytes;
    if (!comm.empty() && b.comms.empty()) b.comms.emplace_back(ck.comm, 0);
    if (!cache.empty() && b.caches.empty()) b.caches.emplace_back(cache, 0);
  }

  // ---- pass 2: symbolize each stack once, trim, classify, merge buckets that print the same
  // Frames are resolved once per stack and kept only as long as needed: the printed frames,
  // the trim count, the interrupt context and the category (for the first kind that asks; a
  // stack id is one event's, so a second kind is rare and simply resolves again).
  struct Sym {
    std::vector<Frame> frames;  // shown (trimmed unless full)
    size_t trimmed = 0;
    std::string_view context;  // "irq", "softirq" or ""
    int cat_kind = -1;
    Category cat{};
  };
  std::unordered_map<int32_t, Sym> symbolized;
  symbolized.reserve(snap.stacks.size() + 16);
  auto resolve_all = [&](int32_t id) {
    std::vector<Frame> all;
    auto st = snap.stacks.find(id);
    if (id < 0 || st == snap.stacks.end()) return all;
    all.reserve(st->second.size());
    for (uint64_t ip : st->second) all.push_back(syms.resolve(ip));
    return all;
  };
  auto sym_of = [&](int32_t id, int kind) -> const Sym& {
    auto [it, fresh] = symbolized.try_emplace(id);
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
    if (id == KLEAK_STACK_PREWINDOW) {
      s.frames.push_back(Frame::make_marker("[allocated before the window]"));
      s.cat = classify(static_cast<kleak_kind>(kind), std::span<const Frame>());
      return s;
    }
    if (id < 0 || !snap.stacks.count(id)) {
      s.frames.push_back(Frame::make_marker(id < 0 ? stack_error_frame(id) : "[stack evicted from the stack map]"));
      s.cat = classify(static_cast<kleak_kind>(kind), std::span<const Frame>());
      return s;
    }
    std::vector<Frame> all = resolve_all(id);
    s.trimmed = opts.full_stacks ? 0 : trim_count(std::span<const Frame>(all));
    s.frames.assign(all.begin() + static_cast<ptrdiff_t>(s.trimmed), all.end());
    s.context = interrupt_context(std::span<const Frame>(all));
    s.cat = classify(static_cast<kleak_kind>(kind), std::span<const Frame>(all));
    return s;
  };

  // One map from the printed group key to everything merged under it.
  struct Merged {
    StackGroup g;
    Category cat{};
    std::vector<std::pair<std::string_view, uint64_t>> comms, caches;
  };
  std::unordered_map<std::string, Merged> merged;
  for (auto& [bkey, b] : buckets) {
    const Sym& s = sym_of(b.stack_id, b.kind);
    Category cat = s.cat;
    std::string kind(kind_name(static_cast<kleak_kind>(b.kind)));
    std::string_view cat_name = category_name(cat);
    if (b.count) {
      Summary& bc = r.by_category[std::string(cat_name)];
      bc.bytes += b.bytes;
      bc.count += b.count;
      if (cat == Category::slab || cat == Category::kmalloc_large) {
        Summary& sc = r.slab_by_cache[std::string(b.cache)];
        sc.bytes += b.bytes;
        sc.count += b.count;
      }
    }
    // Pages under objects counted elsewhere, and (unless asked for) user memory, are summary
    // lines whatever the grouping.
    if (is_backing(cat)) {
      Summary& sm = r.backing[std::string(cat_name)];
      sm.bytes += b.bytes;
      sm.count += b.count;
      continue;
    }
    if (is_user_memory(cat)) {
      Summary& sm = r.user_memory[std::string(cat_name)];
      sm.bytes += b.bytes;
      sm.count += b.count;
      if (!opts.user_pages) continue;
    }
    bool prewindow = b.stack_id == KLEAK_STACK_PREWINDOW;
    // Interrupts are nobody's process: their allocations go to the interrupt context.
    std::string who_comm = s.context.empty() ? std::string(b.comms.empty() ? "" : comm_view(b.comms[0].first))
                                             : "<" + std::string(s.context) + ">";
    std::map<std::string, std::string> dims;
    if (by_callsite) dims["callsite"] = s.frames.empty() ? "" : s.frames[0].text();
    if (by_cache) dims["cache"] = b.cache.empty() ? "(none)" : std::string(b.cache);
    if (by_comm) dims["comm"] = prewindow ? "(allocated before the window)" : who_comm;
    if (by_pid) dims["pid"] = prewindow ? "(allocated before the window)"
                              : !s.context.empty() ? "<" + std::string(s.context) + ">"
                                                   : std::to_string(b.tgid);
    if (by_cgroup) dims["cgroup"] = prewindow ? "(allocated before the window)"
                                    : !s.context.empty() ? "<" + std::string(s.context) + ">"
                                                         : std::string(cgroup_of(b.cgroup));
    // Same kind, category and printed frames (when grouping by stack), and the same value of
    // every other dimension asked for: one group. A slab page and a direct page can print the
    // same once trimmed; they stay apart.
    std::string gkey = by_stack      ? group_key(kind, cat_name, s.frames, dims)
                       : by_callsite ? group_key(kind, "", {}, dims)
                                     : group_key("", "", {}, dims);
    Merged& m = merged[gkey];
    StackGroup& g = m.g;
    if (g.count == 0 && g.allocs == 0 && g.frees == 0 && g.stack_ids.empty()) {
      m.cat = cat;
      g.kind = kind;
      g.category = std::string(category_name(cat));
      if (by_stack) {
        g.frames = s.frames;
        g.trimmed = s.trimmed;
      } else if (by_callsite) {
        g.frames = {s.frames.empty() ? Frame::make_marker("") : s.frames[0]};
      }
      g.group = dims;
      g.context = std::string(s.context);
    } else if (g.kind != kind) {
      g.kind = "mixed";
    }
    if (g.category != cat_name) g.category = "mixed";
    g.bytes += b.bytes;
    g.bytes_req += b.bytes_req;
    g.count += b.count;
    g.allocs += b.allocs;
    g.frees += b.frees;
    g.alloc_bytes += b.alloc_bytes;
    g.free_bytes += b.free_bytes;
    if (b.count) {
      double age = snap.now_ns > b.oldest_ts ? static_cast<double>(snap.now_ns - b.oldest_ts) / 1e9 : 0;
      g.oldest_age_s = std::max(g.oldest_age_s, age);
    }
    if (std::find(g.stack_ids.begin(), g.stack_ids.end(), b.stack_id) == g.stack_ids.end())
      g.stack_ids.push_back(b.stack_id);
    auto& mc = m.comms;
    for (auto [c, n] : b.comms) {
      if (n == 0) continue;
      std::string_view shown = s.context.empty() ? comm_view(c) : std::string_view(s.context == "irq" ? "<irq>" : "<softirq>");
      auto it = std::find_if(mc.begin(), mc.end(), [&](auto& p) { return p.first == shown; });
      if (it == mc.end()) mc.emplace_back(shown, n);
      else it->second += n;
    }
    auto& mk = m.caches;
    for (auto [c, n] : b.caches) {
      auto it = std::find_if(mk.begin(), mk.end(), [&](auto& p) { return p.first == c; });
      if (it == mk.end()) mk.emplace_back(c, n);
      else it->second += n;
    }
  }

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

    Category cat = m.cat;
    if (g.category == "mixed" || !is_user_memory(cat)) {
      r.total_bytes += g.bytes;
      r.total_count += g.count;
    }
    groups.push_back(std::move(g));
  }
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
  r.groups_total = groups.size();
  if (groups.size() > opts.top) groups.resize(opts.top);
  r.stacks = std::move(groups);

  // ---- events and losses
  const Counters& c = snap.counters;
  auto sum = [&](int cause) { return counter_total(c, cause); };
  r.events["allocs_seen"] = sum(KLEAK_ALLOC_SEEN);
  r.events["allocs_filtered_in_kernel"] = sum(KLEAK_ALLOC_FILTERED);
  r.events["allocs_tracked"] = sum(KLEAK_ALLOC_TRACKED);
  r.events["frees_seen"] = sum(KLEAK_FREE_SEEN);
  r.events["frees_matched"] = sum(KLEAK_FREE_MATCHED);
  r.events["frees_of_untracked"] = sum(KLEAK_FREE_UNTRACKED);
  r.events["outstanding_records"] = snap.allocs.size();
  r.events["records_filtered_out"] = filtered_out;

  static constexpr const char* kCauseNames[KLEAK_CAUSE_MAX] = {
      "allocs_seen", "allocs_filtered_in_kernel", "allocs_tracked", "alloc_map_full",
      "missed_free_address_reused", "stack_collision", "stack_lost", "frees_seen",
      "frees_matched", "frees_of_untracked", "cache_map_full", "alloc_bytes", "unused",
      "user_memory_untracked", "user_memory_untracked_bytes", "churn_map_full", "sampled_out",
      "stacks_walked", "stacks_reused", "stack_reuse_checked", "stack_reuse_changed",
      "stack_reuse_suspect", "frees_rescued"};
  for (int k = KLEAK_KIND_KMALLOC; k < KLEAK_KIND_MAX; ++k) {
    auto& m = r.events_by_kind[std::string(kind_name(static_cast<kleak_kind>(k)))];
    for (int cause = 0; cause < KLEAK_CAUSE_MAX; ++cause)
      if (uint64_t n = counter(c, k, cause)) m[kCauseNames[cause]] = n;
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
  // A free program's recursion miss is a lost free unless its twin handled the event.
  uint64_t rescued = sum(KLEAK_FREE_RESCUED);
  r.events["frees_rescued_from_recursion"] = rescued;
  free_misses = free_misses > rescued ? free_misses - rescued : 0;
  r.missed_frees = free_misses;
  r.dropped["alloc_map_full"] = sum(KLEAK_ALLOC_MAP_FULL);
  r.dropped["stack_collision"] = sum(KLEAK_STACK_COLLISION);
  r.dropped["stack_lost"] = sum(KLEAK_STACK_LOST);
  r.dropped["cache_map_full"] = sum(KLEAK_CACHE_MAP_FULL);
  r.dropped["missed_free_address_reused"] = sum(KLEAK_ALLOC_REPLACED);
  r.dropped["alloc_recursion_misses"] = alloc_misses;
  r.dropped["free_recursion_misses"] = free_misses;
  r.dropped["drain_incomplete"] = snap.dropped_in_drain;
  return r;
}

}  // namespace kleak
