// Growing /proc lines -> the event families whose memory lands there (docs/output.md: "How the
// numbers relate to /proc/meminfo"), and the equivalent `kleak trace` command line.
#include <algorithm>
#include <regex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kleak/filter.h"
#include "kleak/hunt.h"
#include "kleak/kind.h"

namespace kleak {

namespace {

// Part keys -> the family that allocates what lands in them, and why.
struct PartFamily {
  MeminfoPart part;
  std::string_view family, why;
};
constexpr PartFamily kPartFamilies[] = {
    {MeminfoPart::unaccounted, "page", "pages no counter shows (drivers' alloc_pages, balloons, pipe and socket buffers)"},
    {MeminfoPart::balloon, "page", "balloon drivers take pages with alloc_pages"},
    {MeminfoPart::page_tables, "page", "page tables are whole pages"},
    {MeminfoPart::sec_page_tables, "page", "page tables are whole pages"},
    {MeminfoPart::kernel_stack, "page", "kernel stacks are whole pages"},
    {MeminfoPart::vmalloc, "vmalloc", "VmallocUsed is vmalloc areas"},
    {MeminfoPart::percpu, "percpu", "Percpu is percpu_alloc_percpu"},
};

void add_family(TracePlan& p, std::string_view family, std::string why) {
  for (auto& f : p.families)
    if (f.family == family) {
      if (f.why.find(why) == std::string::npos) f.why += "; " + why;
      return;
    }
  p.families.push_back({std::string(family), std::move(why)});
}

int kind_order(const std::string& family) {
  for (int k = KLEAK_KIND_KMALLOC; k < KLEAK_KIND_MAX; ++k)
    if (kind_name(static_cast<kleak_kind>(k)) == family) return k;
  return KLEAK_KIND_MAX;
}

std::string quote_shell(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::optional<std::string> kmalloc_class(std::string_view cache) {
  // kmalloc-64, kmalloc-cg-1k, kmalloc-rcl-512, dma-kmalloc-8k: kleak names them all by size.
  static const std::regex re("^(?:dma-)?kmalloc-(?:cg-|rcl-)?([0-9]+)(k?)$");
  std::cmatch m;
  std::string s(cache);
  if (!std::regex_match(s.c_str(), m, re)) return std::nullopt;
  uint64_t n = std::stoull(m[1].str());
  if (m[2].length()) n *= 1024;
  return "kmalloc-" + std::to_string(n);
}

std::string TracePlan::kinds() const {
  std::vector<std::string> k;
  for (const auto& f : families) k.push_back(f.family);
  return fmt::format("{}", fmt::join(k, ","));
}

uint32_t TracePlan::kinds_mask() const {
  uint32_t mask = 0;
  for (const auto& f : families)
    if (auto kind = kind_from_name(f.family)) mask |= kind_bit(*kind);
  return mask;
}

Filter TracePlan::trace_filter() const {
  const std::string text = filter();
  return text.empty() ? Filter::match_all() : Filter::parse(text);
}

std::string TracePlan::cache_flag() const {
  if (families.size() != 1 || caches.size() != 1) return "";
  const auto& names = caches.begin()->second;
  return names.size() == 1 ? names[0] : "";
}

std::string TracePlan::filter() const {
  if (caches.empty() || !cache_flag().empty()) return "";
  std::vector<std::string> any;
  for (const auto& f : families) {
    std::string kind = "kind == " + filter_quote(f.family);
    auto it = caches.find(f.family);
    if (it == caches.end()) {
      any.push_back(kind);
      continue;
    }
    std::vector<std::string> names;
    for (const auto& c : it->second) names.push_back("cache == " + filter_quote(c));
    std::string one = names.size() == 1 ? names[0] : "(" + fmt::format("{}", fmt::join(names, " || ")) + ")";
    any.push_back(families.size() == 1 ? one : "(" + kind + " && " + one + ")");
  }
  return fmt::format("{}", fmt::join(any, " || "));
}

std::string TracePlan::command_line(const std::string& duration) const {
  std::string cl = "kleak trace --duration " + duration + " --kinds " + kinds();
  if (auto c = cache_flag(); !c.empty()) cl += " --cache " + c;
  if (auto f = filter(); !f.empty()) cl += " --filter " + quote_shell(f);
  return cl;
}

TracePlan plan_trace(const WatchResult& w, const std::string& slab_caches_unknown) {
  TracePlan p;
  p.slab_caches_unknown = slab_caches_unknown;
  bool cache_grows = false;
  for (const auto& l : w.lines) {
    if (!l.growing || l.kind != "cache") continue;
    cache_grows = true;
    if (auto k = kmalloc_class(l.name)) {
      add_family(p, "kmalloc", "kmalloc cache " + l.name + " grows");
      p.caches["kmalloc"].push_back(*k);
    } else if (slab_caches_unknown.empty()) {
      add_family(p, "slab", "slab cache " + describe_cache(l.name, l.aliases) + " grows");
      p.caches["slab"].push_back(l.name);
    } else {
      // A cache filter would find nothing here (and `kleak trace` refuses one): all of slab.
      add_family(p, "slab", "slab cache " + describe_cache(l.name, l.aliases) + " grows (every slab allocation: " +
                                "this kernel's slab events name no cache)");
    }
  }
  for (const auto& l : w.lines) {
    if (!l.growing || l.kind != "part") continue;
    if (l.part && is_slab_part(*l.part)) {
      // The growing caches explain it; if none grows alone, every slab allocation is traced.
      if (cache_grows) continue;
      add_family(p, "slab", l.label + " grows, no single cache stands out");
      add_family(p, "kmalloc", l.label + " grows, no single cache stands out");
      p.caches.erase("slab");
      p.caches.erase("kmalloc");
      continue;
    }
    auto it = std::find_if(std::begin(kPartFamilies), std::end(kPartFamilies),
                           [&](const PartFamily& f) { return f.part == l.part; });
    if (it == std::end(kPartFamilies)) {
      p.untraceable.push_back(l.label + ": no allocation event of its own");
      continue;
    }
    add_family(p, it->family, l.label + " grows: " + std::string(it->why));
  }
  std::sort(p.families.begin(), p.families.end(),
            [](const FamilyReason& a, const FamilyReason& b) { return kind_order(a.family) < kind_order(b.family); });
  for (auto& [family, names] : p.caches) {
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
  }
  return p;
}

}  // namespace kleak
