// Snapshots: collect the /proc and /sys files `kleak meminfo` reads, load them (a --save file or a
// copied /proc directory), and diff two accountings. Their JSON: model/snapshot.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>
#include <tuple>

#include "kleak/bounded_read.h"
#include "kleak/error.h"
#include "kleak/meminfo.h"
#include "procfs/text_util.h"

namespace kleak {
namespace {

// The proc files read, by logical name (also their file name in a copied /proc directory).
constexpr std::string_view kProcFiles[] = {"meminfo", "vmallocinfo", "slabinfo", "vmstat", "zoneinfo",
                                           "modules"};

// sysfs paths whose presence says that a balloon driver is there.
constexpr std::string_view kBalloonPaths[] = {
    "/sys/module/vmw_balloon",
    "/sys/module/virtio_balloon",
    "/sys/bus/virtio/drivers/virtio_balloon",
    "/sys/module/hv_balloon",
    "/sys/devices/system/xen_memory",
};

bool safe_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos;
}

}  // namespace

Snapshot collect_snapshot(const ProcSource& src, std::int64_t taken_at) {
  Snapshot s;
  s.source = src.describe();
  s.taken_at = taken_at;
  for (std::string_view name : kProcFiles) {
    std::string key(name);
    auto r = src.read(key);
    if (r.refused) throw usage_error(r.error);  // /dev/zero or gigabytes: not a /proc file
    if (r.text) {
      s.files[key] = std::move(*r.text);
      continue;
    }
    // Excerpts kept as NAME.partial (fixtures made from documents where lines were elided).
    auto p = src.read(key + ".partial");
    if (p.refused) throw usage_error(p.error);
    if (p.text) {
      s.files[key] = std::move(*p.text);
      s.partial.insert(key);
    } else {
      s.unreadable[key] = r.error;
    }
  }
  // The kernel release: /proc/sys/kernel/osrelease live, `kernel-release` in a copied directory.
  auto rel = src.read("sys/kernel/osrelease");
  if (!rel.text) rel = src.read("kernel-release");
  if (rel.text) {
    s.files["kernel-release"] = std::string(text::trim(*rel.text));
  } else {
    s.unreadable["kernel-release"] = rel.error;
  }

  s.sysfs = src.has_sysfs();
  if (!s.sysfs) return s;
  for (std::string_view p : kBalloonPaths) {
    if (src.exists(p)) s.sys[std::string(p)] = "";
  }
  const std::string virtio = "/sys/bus/virtio/drivers/virtio_balloon";
  for (const auto& dev : src.list(virtio)) {
    if (dev.rfind("virtio", 0) != 0) continue;
    auto f = src.read(virtio + "/" + dev + "/features");
    s.sys[virtio + "/" + dev + "/features"] = f.text ? std::string(text::trim(*f.text)) : "";
  }
  if (auto it = s.files.find("slabinfo"); it != s.files.end()) {
    for (const auto& c : parse_slabinfo(it->second).caches) {
      if (!safe_name(c.name)) continue;
      std::string path = "/sys/kernel/slab/" + c.name + "/reclaim_account";
      auto r = src.read(path);
      if (r.text) s.sys[path] = std::string(text::trim(*r.text));
    }
  }
  return s;
}

Snapshot load_snapshot(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    Snapshot s = collect_snapshot(DirProcSource::copy(path), 0);
    if (!s.files.count("meminfo"))
      throw usage_error(fmt::format("{}: no meminfo in this directory ({})", path.string(), s.unreadable["meminfo"]));
    return s;
  }
  std::string text = read_bounded(path.string(), kCapSnapshot, "a meminfo snapshot");
  Snapshot s;
  try {
    s = snapshot_from_json(text);
  } catch (const Error& e) {
    throw usage_error(fmt::format("{}: {}", path.string(), e.what()));
  }
  s.source = s.source.empty() ? path.string() : fmt::format("{} (saved from {})", path.string(), s.source);
  return s;
}

MeminfoDiff diff_accountings(const Accounting& before, const Accounting& after) {
  MeminfoDiff d;
  d.before_source = before.source;
  d.after_source = after.source;
  if (before.taken_at > 0 && after.taken_at > 0) d.seconds = after.taken_at - before.taken_at;

  using Key = std::pair<std::string, std::string>;  // kind, name
  std::map<Key, std::pair<std::int64_t, std::int64_t>> rows;
  auto add = [&](const Accounting& a, bool is_after) {
    auto put = [&](std::string kind, std::string name, std::int64_t kb) {
      auto& r = rows[{std::move(kind), std::move(name)}];
      (is_after ? r.second : r.first) = text::sat_add(is_after ? r.second : r.first, kb);
    };
    for (const auto& p : a.parts) put("part", std::string(meminfo_part_name(p.key)), p.kb);
    for (const auto& c : a.slab.caches) put("slab", c.name, c.total_kb);
    for (const auto& c : a.vmalloc.callers)
      put("vmalloc", c.module.empty() ? c.function : fmt::format("{} [{}]", c.function, c.module), c.kb);
  };
  add(before, false);
  add(after, true);
  for (auto& [key, v] : rows) {
    std::int64_t delta = text::sat_add(v.second, -v.first);
    if (delta == 0) continue;
    d.rows.push_back({key.first, key.second, v.first, v.second, delta});
  }
  std::stable_sort(d.rows.begin(), d.rows.end(), [](const DiffRow& a, const DiffRow& b) {
    return std::tie(b.delta_kb, a.kind, a.name) < std::tie(a.delta_kb, b.kind, b.name);
  });

  if (before.mem_total_kb != after.mem_total_kb && before.mem_total_kb && after.mem_total_kb)
    d.notes.push_back(fmt::format(
        "MemTotal changed from {} kB to {} kB: different machines, memory hot-plug, or a balloon "
        "driver that resizes MemTotal",
        *before.mem_total_kb, *after.mem_total_kb));
  if (before.page_size != after.page_size)
    d.notes.push_back(fmt::format("page sizes differ ({} and {} bytes)", before.page_size, after.page_size));
  if (before.vmalloc.source != after.vmalloc.source)
    d.notes.push_back(fmt::format("vmalloc comes from {} before and {} after: compare with care",
                                  before.vmalloc.source, after.vmalloc.source));
  if (before.slab.caches.empty() != after.slab.caches.empty())
    d.notes.push_back("only one side has slabinfo: slab cache rows are one-sided");
  return d;
}

}  // namespace kleak
