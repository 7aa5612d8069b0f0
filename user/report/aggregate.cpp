// Aggregate stage: records -> groups. Two passes: records are first bucketed by (kind, stack id)
// without touching symbols (one hash lookup per record), then each distinct stack is symbolized
// once, trimmed and classified, and buckets whose trimmed stacks print the same are merged.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <span>
#include <string_view>
#include <unordered_map>

#include <sys/utsname.h>

#include "kleak/classify.h"
#include "kleak/filter.h"
#include "kleak/frames.h"
#include "kleak/kind.h"
#include "kleak/report.h"
#include "kleak/symbolize.h"

namespace kleak {

namespace {

std::string_view comm_of(const kleak_alloc& a) {
  return std::string_view(a.comm, strnlen(a.comm, sizeof a.comm));
}

// kmalloc-<n> for sizes served by the kmalloc caches; larger kmallocs are whole pages.
constexpr uint64_t kKmallocMaxCacheSize = 8192;

struct Bucket {
  int kind = 0;
  int32_t stack_id = 0;
  uint64_t bytes = 0, bytes_req = 0, count = 0;
  uint64_t oldest_ts = UINT64_MAX;
  std::vector<std::pair<std::string_view, uint64_t>> comms;
  std::vector<std::pair<std::string_view, uint64_t>> caches;
};

void bump(std::vector<std::pair<std::string_view, uint64_t>>& v, std::string_view s) {
  for (auto& [k, n] : v)
    if (k == s) {
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

  // Cache names as string_views that outlive the loop (kmalloc-N made once per size).
  std::unordered_map<uint64_t, std::string> kmalloc_names;
  auto cache_view = [&](const kleak_alloc& a) -> std::string_view {
    if (a.cache) {
      auto it = snap.caches.find(a.cache);
      return it == snap.caches.end() ? std::string_view() : std::string_view(it->second);
    }
    if (a.kind != KLEAK_KIND_KMALLOC || a.bytes_alloc > kKmallocMaxCacheSize) return {};
    auto [it, fresh] = kmalloc_names.try_emplace(a.bytes_alloc);
    if (fresh) it->second = "kmalloc-" + std::to_string(a.bytes_alloc);
    return it->second;
  };

  // ---- pass 1: bucket by (kind, stack id), evaluating the full filter per record
  std::unordered_map<uint64_t, Bucket> buckets;
  buckets.reserve(1024);
  uint64_t filtered_out = 0;
  for (const auto& rec : snap.allocs) {
    const kleak_alloc& a = rec.a;
    std::string_view cache = cache_view(a);
    if (!filter.is_match_all()) {
      FilterFields f;
      f.bytes_req = a.bytes_req;
      f.bytes_alloc = a.bytes_alloc;
      f.order = a.order;
      f.gfp_flags = a.gfp_flags;
      f.pid = a.tgid;
      f.tid = a.pid;
      f.call_site = a.call_site;
      f.migratetype = a.migratetype;
      f.cache = cache;
      f.comm = comm_of(a);
      f.kind = kind_name(static_cast<kleak_kind>(a.kind));
      if (!filter.matches(f)) {
        ++filtered_out;
        continue;
      }
    }
    uint64_t bkey = (static_cast<uint64_t>(a.kind) << 32) | static_cast<uint32_t>(a.stack_id);
    Bucket& b = buckets[bkey];
    b.kind = a.kind;
    b.stack_id = a.stack_id;
    b.bytes += a.bytes_alloc;
    b.bytes_req += a.bytes_req;
    ++b.count;
    b.oldest_ts = std::min<uint64_t>(b.oldest_ts, a.ts_ns);
    bump(b.comms, comm_of(a));
    if (!cache.empty()) bump(b.caches, cache);
  }

  // ---- pass 2: symbolize each stack once, trim, classify, merge equal printed stacks
  struct Sym {
    std::vector<std::string> frames;  // printed (trimmed unless full)
    size_t trimmed = 0;
    std::vector<Frame> all;
  };
  std::unordered_map<int32_t, Sym> symbolized;
  auto sym_of = [&](int32_t id) -> const Sym& {
    auto [it, fresh] = symbolized.try_emplace(id);
    if (!fresh) return it->second;
    Sym& s = it->second;
    auto st = snap.stacks.find(id);
    if (id < 0 || st == snap.stacks.end()) {
      s.frames.push_back(id < 0 ? stack_error_frame(id) : "[stack evicted from the stack map]");
      return s;
    }
    s.all.reserve(st->second.size());
    for (uint64_t ip : st->second) s.all.push_back(syms.resolve(ip));
    s.trimmed = opts.full_stacks ? 0 : trim_count(std::span<const Frame>(s.all));
    for (size_t i = s.trimmed; i < s.all.size(); ++i) s.frames.push_back(s.all[i].text());
    return s;
  };

  std::unordered_map<std::string, StackGroup> merged;
  std::unordered_map<std::string, Category> merged_cat;
  std::unordered_map<std::string, std::vector<std::pair<std::string_view, uint64_t>>> merged_comms;
  std::unordered_map<std::string, std::vector<std::pair<std::string_view, uint64_t>>> merged_caches;
  for (auto& [bkey, b] : buckets) {
    const Sym& s = sym_of(b.stack_id);
    Category cat = classify(static_cast<kleak_kind>(b.kind), std::span<const Frame>(s.all));
    std::string kind(kind_name(static_cast<kleak_kind>(b.kind)));
    // Same kind, category and printed frames: one group (a slab page and a direct page can
    // print the same once trimmed; they stay apart).
    std::string gkey = kind;
    gkey += '\n';
    gkey += category_name(cat);
    gkey += '\n';
    for (const auto& f : s.frames) {
      gkey += f;
      gkey += '\n';
    }
    StackGroup& g = merged[gkey];
    if (g.count == 0) {
      merged_cat.emplace(gkey, cat);
      g.kind = kind;
      g.category = std::string(category_name(cat));
      g.frames = s.frames;
      g.trimmed = s.trimmed;
    }
    g.bytes += b.bytes;
    g.bytes_req += b.bytes_req;
    g.count += b.count;
    double age = snap.now_ns > b.oldest_ts ? static_cast<double>(snap.now_ns - b.oldest_ts) / 1e9 : 0;
    g.oldest_age_s = std::max(g.oldest_age_s, age);
    g.stack_ids.push_back(b.stack_id);
    auto& mc = merged_comms[gkey];
    for (auto [c, n] : b.comms) {
      auto it = std::find_if(mc.begin(), mc.end(), [&](auto& p) { return p.first == c; });
      if (it == mc.end()) mc.emplace_back(c, n);
      else it->second += n;
    }
    auto& mk = merged_caches[gkey];
    for (auto [c, n] : b.caches) {
      auto it = std::find_if(mk.begin(), mk.end(), [&](auto& p) { return p.first == c; });
      if (it == mk.end()) mk.emplace_back(c, n);
      else it->second += n;
    }
  }

  std::vector<StackGroup> groups;
  for (auto& [gkey, g] : merged) {
    auto& mc = merged_comms[gkey];
    std::sort(mc.begin(), mc.end(), [](auto& x, auto& y) { return x.second > y.second; });
    for (size_t i = 0; i < mc.size() && i < 3; ++i) g.comms.emplace_back(std::string(mc[i].first), mc[i].second);
    auto& mk = merged_caches[gkey];
    if (!mk.empty()) {
      auto best = std::max_element(mk.begin(), mk.end(), [](auto& x, auto& y) { return x.second < y.second; });
      g.cache = std::string(best->first);
    }
    std::sort(g.stack_ids.begin(), g.stack_ids.end());

    Category cat = merged_cat.at(gkey);
    Summary& bc = r.by_category[g.category];
    bc.bytes += g.bytes;
    bc.count += g.count;
    if (cat == Category::slab || cat == Category::kmalloc_large) {
      Summary& sc = r.slab_by_cache[g.cache.value_or("")];
      sc.bytes += g.bytes;
      sc.count += g.count;
    }
    if (is_backing(cat)) {
      Summary& s = r.backing[g.category];
      s.bytes += g.bytes;
      s.count += g.count;
      continue;
    }
    if (is_user_memory(cat)) {
      Summary& s = r.user_memory[g.category];
      s.bytes += g.bytes;
      s.count += g.count;
      if (!opts.user_pages) continue;
    } else {
      r.total_bytes += g.bytes;
      r.total_count += g.count;
    }
    groups.push_back(std::move(g));
  }
  std::sort(groups.begin(), groups.end(), [](const StackGroup& x, const StackGroup& y) {
    if (x.bytes != y.bytes) return x.bytes > y.bytes;
    if (x.count != y.count) return x.count > y.count;
    return x.frames < y.frames;
  });
  r.groups_total = groups.size();
  if (groups.size() > opts.top) groups.resize(opts.top);
  r.stacks = std::move(groups);

  // ---- events and losses
  const Counters& c = snap.counters;
  auto sum = [&](int cause) {
    uint64_t s = 0;
    for (int k = 0; k < KLEAK_KIND_MAX; ++k) s += counter(c, k, cause);
    return s;
  };
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
      "frees_matched", "frees_of_untracked", "cache_map_full", "alloc_bytes", "free_bytes",
      "user_memory_untracked", "user_memory_untracked_bytes"};
  for (int k = KLEAK_KIND_KMALLOC; k < KLEAK_KIND_MAX; ++k) {
    auto& m = r.events_by_kind[std::string(kind_name(static_cast<kleak_kind>(k)))];
    for (int cause = 0; cause < KLEAK_CAUSE_MAX; ++cause)
      if (uint64_t n = counter(c, k, cause)) m[kCauseNames[cause]] = n;
  }

  r.user_untracked.count = sum(KLEAK_USER_SKIPPED);
  r.user_untracked.bytes = sum(KLEAK_USER_SKIPPED_BYTES);

  uint64_t alloc_misses = 0, free_misses = 0;
  for (const auto& p : snap.progs) (p.is_free ? free_misses : alloc_misses) += p.recursion_misses;
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
