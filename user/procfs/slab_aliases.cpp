// SLUB merged caches from /sys/kernel/slab (slab_aliases.h).
#include "kleak/slab_aliases.h"

#include <algorithm>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kleak/error.h"
#include "kleak/procfs.h"
#include "procfs/text_util.h"

namespace kleak {

namespace {

const std::vector<std::string> kNone;

// kleak names kmalloc records by their size class in bytes (`kmalloc-1024`, aggregate.cpp); the
// kernel spells the classes from 1 KiB on as `kmalloc-1k`.
std::optional<std::string> kleak_kmalloc_name(std::string_view name) {
  constexpr std::string_view kPrefix = "kmalloc-";
  if (!name.starts_with(kPrefix)) return std::nullopt;
  std::string_view size = name.substr(kPrefix.size());
  bool kib = size.ends_with('k');
  if (kib) size.remove_suffix(1);
  auto n = text::parse_u64(size);
  if (!n || *n == 0 || *n > 8192) return std::nullopt;
  return "kmalloc-" + std::to_string(kib ? *n * 1024 : *n);
}

}  // namespace

std::string SlabAliases::merged_name(std::string_view name) const {
  auto it = merged.find(name);
  return it == merged.end() ? std::string() : it->second;
}

const std::vector<std::string>& SlabAliases::aliases_of(std::string_view reported) const {
  auto it = aliases.find(reported);
  return it == aliases.end() ? kNone : it->second;
}

std::map<std::string, std::string> parse_slab_listing(std::string_view text) {
  std::map<std::string, std::string> out;
  text::for_each_line(text, [&](std::string_view line) {
    auto w = text::words(line);
    if (w.empty()) return;
    out[std::string(w[0])] = w.size() > 1 ? std::string(w[1]) : std::string();
  });
  return out;
}

SlabAliases resolve_slab_aliases(const std::map<std::string, std::string>& entries,
                                 const std::vector<std::string>& reported) {
  SlabAliases out;
  for (const auto& name : reported) out.merged[name] = name;
  // Shared directory -> the names linking to it. A target is a relative link (":0000056"); only
  // its last component names the directory.
  std::map<std::string, std::vector<std::string>> groups;
  for (const auto& [name, target] : entries) {
    if (name.starts_with(':')) continue;  // the shared directories themselves
    if (target.empty()) {
      out.merged.emplace(name, name);  // a cache of its own (kmalloc-64, dentry, ...)
      continue;
    }
    groups[std::filesystem::path(target).filename().string()].push_back(name);
  }
  for (auto& [dir, names] : groups) {
    auto it = std::find_if(names.begin(), names.end(),
                           [&](const std::string& n) { return out.merged.count(n) && out.merged[n] == n; });
    if (it == names.end()) continue;  // no slabinfo: which name the kernel reports is unknown
    std::string head = *it;
    std::vector<std::string> others;
    for (const auto& n : names) {
      out.merged[n] = head;
      if (n != head) others.push_back(n);
    }
    std::sort(others.begin(), others.end());
    if (!others.empty()) out.aliases[head] = std::move(others);
  }
  return out;
}

SlabAliases read_slab_aliases(std::string_view slabinfo_text, const std::filesystem::path& sys_slab) {
  std::map<std::string, std::string> entries;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(sys_slab, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code lec;
    auto target = it->is_symlink(lec) ? std::filesystem::read_symlink(it->path(), lec).string() : std::string();
    entries[it->path().filename().string()] = lec ? std::string() : target;
  }
  std::vector<std::string> reported;
  for (auto& c : parse_slabinfo(slabinfo_text).caches) reported.push_back(std::move(c.name));
  return resolve_slab_aliases(entries, reported);
}

CacheSelection select_cache(const SlabAliases& aliases, std::string_view name) {
  CacheSelection s;
  if (auto k = kleak_kmalloc_name(name)) {
    s.reported = *k;
    s.renamed = *k != name;
    return s;
  }
  s.reported = std::string(name);
  if (aliases.empty()) return s;
  std::string head = aliases.merged_name(name);
  if (head.empty())
    throw usage_error(fmt::format("no slab cache named '{}' on this box (not in /proc/slabinfo nor "
                                  "/sys/kernel/slab)",
                                  name));
  s.reported = head;
  s.renamed = head != name;
  for (const auto& n : aliases.aliases_of(head))
    if (n != head) s.sharing.push_back(n);
  return s;
}

}  // namespace kleak
