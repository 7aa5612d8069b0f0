// pprof renderer: the report as a gzipped perftools.profiles.Profile, shaped like a Go heap
// profile, built with the protobuf classes generated from google/pprof's profile.proto (the
// CMake block at the end of CMakeLists.txt) and gzipped (gzip.h).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <unordered_map>

#include "kleak/error.h"
#include "kleak/gzip.h"
#include "kleak/hash.h"
#include "kleak/render.h"
#include "pprof/profile.pb.h"

namespace kleak {

namespace {

namespace pp = perftools::profiles;


int64_t clamp64(uint64_t v) {
  return v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                        : static_cast<int64_t>(v);
}

class Builder {
 public:
  Builder() { str(""); }

  int64_t str(const std::string& s) {
    std::string clean = sanitize_utf8(s);
    auto [it, fresh] = strings_.try_emplace(clean, static_cast<int64_t>(strings_.size()));
    if (fresh) p_.add_string_table(clean);
    return it->second;
  }

  void sample_type(const char* type, const char* unit) {
    auto* vt = p_.add_sample_type();
    vt->set_type(str(type));
    vt->set_unit(str(unit));
  }

  // Mappings have synthetic, disjoint-by-hash address ranges of 2^40 bytes; a function gets a
  // 1 MiB slot in its mapping (by hash of its name) and a frame its offset inside the slot, so
  // the same frame text always gets the same address.
  uint64_t mapping(const std::string& file) {
    auto it = mappings_.find(file);
    if (it != mappings_.end()) return it->second;
    auto* m = p_.add_mapping();
    uint64_t id = static_cast<uint64_t>(p_.mapping_size());
    uint64_t start = ((fnv1a<uint64_t>(file) & 0x3fffffull) + 1) << 40;
    m->set_id(id);
    m->set_memory_start(start);
    m->set_memory_limit(start + (1ull << 40));
    m->set_filename(str(file));
    m->set_has_functions(true);  // symbolized already: pprof must not try
    mappings_.emplace(file, id);
    return id;
  }

  uint64_t function(const std::string& name, const std::string& system_name) {
    auto it = functions_.find(name);
    if (it != functions_.end()) return it->second;
    auto* f = p_.add_function();
    uint64_t id = static_cast<uint64_t>(p_.function_size());
    f->set_id(id);
    f->set_name(str(name));
    f->set_system_name(str(system_name));
    functions_.emplace(name, id);
    return id;
  }

  // A frame of the group.
  uint64_t location(const Frame& f) {
    std::string key = "f" + f.text();
    auto it = locations_.find(key);
    if (it != locations_.end()) return it->second;
    auto* loc = p_.add_location();
    uint64_t id = static_cast<uint64_t>(p_.location_size());
    loc->set_id(id);
    uint64_t fid;
    if (f.known()) {
      uint64_t mid = mapping(f.module.empty() ? "[kernel.kallsyms]" : "[" + f.module + "]");
      const auto& m = p_.mapping(static_cast<int>(mid - 1));
      loc->set_mapping_id(mid);
      loc->set_address(m.memory_start() + ((fnv1a<uint64_t>(f.func) & 0xfffffull) << 20) +
                       std::min<uint64_t>(f.offset, 0xfffff));
      fid = function(sanitize_utf8(f.function_name()), f.func);
    } else {
      // An unknown address or one of kleak's markers: a frame with no mapping.
      fid = function(sanitize_utf8(f.text()), sanitize_utf8(f.text()));
    }
    loc->add_line()->set_function_id(fid);
    locations_.emplace(std::move(key), id);
    return id;
  }

  // A --by dimension ("cache=dentry") as a frame with no mapping.
  uint64_t location(const std::string& dimension) {
    std::string key = "p" + dimension;
    auto it = locations_.find(key);
    if (it != locations_.end()) return it->second;
    auto* loc = p_.add_location();
    uint64_t id = static_cast<uint64_t>(p_.location_size());
    loc->set_id(id);
    uint64_t fid = function(sanitize_utf8(dimension), sanitize_utf8(dimension));
    loc->add_line()->set_function_id(fid);
    locations_.emplace(std::move(key), id);
    return id;
  }

  pp::Profile& profile() { return p_; }

 private:
  pp::Profile p_;
  std::unordered_map<std::string, int64_t> strings_;
  std::map<std::string, uint64_t> mappings_;
  std::unordered_map<std::string, uint64_t> functions_;
  std::unordered_map<std::string, uint64_t> locations_;
};

}  // namespace

std::string render_pprof(const Report& r) {
  Builder b;
  pp::Profile& p = b.profile();
  // Go's heap profile order; pprof shows inuse_space unless told otherwise.
  b.sample_type("alloc_objects", "count");
  b.sample_type("alloc_space", "bytes");
  b.sample_type("inuse_objects", "count");
  b.sample_type("inuse_space", "bytes");
  p.set_default_sample_type(b.str("inuse_space"));
  p.mutable_period_type()->set_type(b.str("space"));
  p.mutable_period_type()->set_unit(b.str("bytes"));
  p.set_period(1);  // every allocation is counted, none sampled
  if (r.duration_s > 0 && std::isfinite(r.duration_s))
    p.set_duration_nanos(static_cast<int64_t>(std::min(r.duration_s * 1e9, 9.2e18)));

  p.add_comment(b.str(fmt::format("kleak trace: {}, window {:.1f} s", r.kernel, r.duration_s)));
  if (!r.filter.empty()) p.add_comment(b.str("filter: " + r.filter));
  std::vector<std::string> by;
  for (GroupBy g : r.by) by.emplace_back(group_by_name(g));
  p.add_comment(b.str(fmt::format("grouped by {}; {} of {} groups; outstanding kernel memory {} bytes in {} "
                                  "allocations",
                                  fmt::join(by, ","), r.stacks.size(), r.groups_total, r.total_bytes,
                                  r.total_count)));
  if (r.missed_frees)
    p.add_comment(b.str(fmt::format("WARNING: {} frees were missed (BPF recursion): up to that many "
                                    "allocations may be false leaks", r.missed_frees)));
  for (const auto& w : r.warnings) p.add_comment(b.str("warning: " + w));

  std::vector<const StackGroup*> groups;
  for (const auto& g : r.stacks) groups.push_back(&g);
  for (const auto& g : r.churn) groups.push_back(&g);  // alloc_* samples: the window's churn
  for (const StackGroup* gp : groups) {
    const StackGroup& g = *gp;
    if (g.count == 0 && g.allocs == 0 && g.bytes == 0) continue;  // frees only: nothing to weigh
    auto* s = p.add_sample();
    // Frames innermost first (pprof's order), then the --by dimensions as the outermost frames.
    for (const auto& f : g.frames)
      if (!f.blank()) s->add_location_id(b.location(f));
    std::vector<std::string> path = flame_path(r, g);
    size_t dims = path.size() - 1 - static_cast<size_t>(std::count_if(g.frames.begin(), g.frames.end(),
                                                                       [](auto& f) { return !f.blank(); }));
    for (size_t i = dims; i >= 1; --i) s->add_location_id(b.location(path[i]));
    bool churn = g.allocs != 0;
    s->add_value(clamp64(churn ? g.allocs : g.count));
    s->add_value(clamp64(churn ? g.alloc_bytes : g.bytes));
    s->add_value(clamp64(g.count));
    s->add_value(clamp64(g.bytes));
    auto label = [&](const std::string& key, const std::string& value) {
      if (value.empty()) return;
      auto* l = s->add_label();
      l->set_key(b.str(key));
      l->set_str(b.str(value));
    };
    label("kind", g.kind);
    label("category", g.category);
    if (g.meminfo_line) label("meminfo_line", std::string(meminfo_part_name(*g.meminfo_line)));
    if (g.cache) label("cache", *g.cache);
    for (const auto& [comm, n] : g.comms) label("comm", comm);  // every comm: -tagfocus comm=X finds them all
    label("context", g.context);
    label("verdict", g.verdict);
    for (const auto& [dim, value] : g.group)
      if (dim != "cache" && dim != "comm") label(dim, value);
  }

  std::string raw;
  if (!p.SerializeToString(&raw)) throw Error("pprof: cannot serialize the profile");
  return gzip(raw);
}

}  // namespace kleak
