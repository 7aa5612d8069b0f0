// The accounting: split MemTotal into parts that add up to it exactly, the remainder named
// `unaccounted`.
//
// Which counters, and why (the formula most people use, from the linuxperf.com article quoted in
// the seeds, is MemTotal = MemFree + kernel + user + X, X being what no counter explains):
//
//  * User memory is the LRU lists: Active + Inactive + Unevictable (split into anon and file
//    where meminfo prints Active(anon) etc.), plus hugetlb pages, which are on no LRU list.
//    Every page-cache, shmem/tmpfs and anonymous page sits on exactly one LRU list, so these
//    counters are disjoint. Cached, Buffers, AnonPages, Shmem and Mapped are *subsets* of the
//    same pages: adding any of them to the LRU counts memory twice (Shmem is in Cached and on the
//    anon LRU; Buffers is on the file LRU). The other common formula, Cached + AnonPages +
//    Buffers, misses unmapped swap-cache pages and counts shmem on its way to swap twice; it is
//    shown as a cross-check only.
//  * Kernel memory is each counter that owns pages nobody else counts: SReclaimable, SUnreclaim,
//    KReclaimable beyond SReclaimable, vmalloc, PageTables, SecPageTables, KernelStack, Percpu,
//    HardwareCorrupted, Bounce, the zsmalloc/zswap pool, Balloon, Unaccepted.
//  * vmalloc comes from /proc/vmallocinfo, summing only areas that own pages (`pages=N`):
//    ioremap/vmap areas map memory they do not own. With virtually mapped stacks every thread
//    stack is also a vmalloc area, and KernelStack counts it too: those stack areas are counted
//    once, under KernelStack. VmallocUsed is the fallback when vmallocinfo is missing; it reads 0
//    on kernels 4.9 to 5.2 (hard-coded) and counts ioremap address space before 4.9.
//  * unaccounted = MemTotal - all of the above. Nothing is clamped: a negative remainder means
//    counters overlap (per-CPU drift, pages between lists, VmallocUsed counting ioremap space),
//    and is reported as it is.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <tuple>

#include "kleak/meminfo.h"
#include "procfs/text_util.h"

namespace kleak {
namespace {

using text::clamp_value;
using text::sat_add;
using text::sat_mul;

struct KernelVersion {
  int major = 0;
  int minor = 0;
  bool before(int ma, int mi) const { return std::tie(major, minor) < std::tie(ma, mi); }
};

std::optional<KernelVersion> parse_release(std::string_view rel) {
  // "4.19.26-00780-gfdd0789195dd", "3.10.0-693.el7.x86_64", "6.18.44-fc"
  auto dot = rel.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto major = text::parse_u64(rel.substr(0, dot));
  std::size_t end = dot + 1;
  while (end < rel.size() && rel[end] >= '0' && rel[end] <= '9') ++end;
  auto minor = text::parse_u64(rel.substr(dot + 1, end - dot - 1));
  if (!major || !minor || *major > 1000 || *minor > 1000) return std::nullopt;
  return KernelVersion{static_cast<int>(*major), static_cast<int>(*minor)};
}

// Callers that vmallocinfo shows for thread stacks (CONFIG_VMAP_STACK) and arm64 shadow call
// stacks: the return address of alloc_thread_stack_node() / __scs_alloc(), i.e. whichever fork
// function they were inlined into.
bool is_stack_caller(std::string_view fn) {
  constexpr std::string_view kCallers[] = {
      "kernel_clone", "_do_fork", "do_fork", "copy_process", "dup_task_struct",
      "alloc_thread_stack_node", "fork_idle", "create_io_thread", "scs_alloc", "__scs_alloc",
      "scs_prepare",
  };
  return std::find(std::begin(kCallers), std::end(kCallers), fn) != std::end(kCallers);
}

// Caches known to be created with SLAB_RECLAIM_ACCOUNT, for snapshots without
// /sys/kernel/slab. Anything else is "not known" rather than guessed unreclaimable.
std::optional<bool> guess_reclaimable(std::string_view name) {
  constexpr std::string_view kReclaimable[] = {
      "dentry", "buffer_head", "radix_tree_node", "inode_cache", "proc_inode_cache",
      "sock_inode_cache", "ext4_inode_cache", "ext4_extent_status", "xfs_inode", "btrfs_inode",
      "nfs_inode_cache", "fat_inode_cache", "ovl_inode", "mbcache",
  };
  if (name.substr(0, 12) == "kmalloc-rcl-") return true;
  if (std::find(std::begin(kReclaimable), std::end(kReclaimable), name) != std::end(kReclaimable))
    return true;
  return std::nullopt;
}

std::int64_t pages_to_kb(std::uint64_t pages, std::uint64_t page_size) {
  auto p = static_cast<std::int64_t>(std::min<std::uint64_t>(pages, text::kMaxValue));
  return clamp_value(sat_mul(p, static_cast<std::int64_t>(page_size / 1024)));
}

// Why a file is not in the snapshot, with the fix when there is one.
std::string why_missing(const Snapshot& s, const std::string& name) {
  auto it = s.unreadable.find(name);
  if (it == s.unreadable.end()) return "not in the snapshot";
  if (it->second == "Permission denied") return "Permission denied: run as root";
  return it->second;
}

std::string join(const std::vector<std::string>& v, std::string_view sep = ", ") {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

// Everything account() needs, parsed once.
struct Parsed {
  Meminfo mem;
  std::optional<Vmallocinfo> vmalloc;
  std::optional<Slabinfo> slab;
  std::optional<Vmstat> vmstat;
  std::optional<std::vector<std::string>> modules;
  std::optional<std::int64_t> pcp_pages;  // free pages on per-CPU lists (zoneinfo)
};

Parsed parse_all(const Snapshot& s) {
  Parsed p;
  auto file = [&](const char* name) -> const std::string* {
    auto it = s.files.find(name);
    return it == s.files.end() ? nullptr : &it->second;
  };
  if (auto* t = file("meminfo")) p.mem = parse_meminfo(*t);
  if (auto* t = file("vmallocinfo")) p.vmalloc = parse_vmallocinfo(*t);
  if (auto* t = file("slabinfo")) p.slab = parse_slabinfo(*t);
  if (auto* t = file("vmstat")) p.vmstat = parse_vmstat(*t);
  if (auto* t = file("modules")) p.modules = parse_module_names(*t);
  if (auto* t = file("zoneinfo")) p.pcp_pages = parse_zoneinfo_pcp_pages(*t);
  return p;
}

void choose_page_size(const Parsed& p, Accounting& a) {
  if (p.vmalloc) {
    if (auto ps = infer_page_size(*p.vmalloc)) {
      a.page_size = *ps;
      a.page_size_from = "vmallocinfo";
      return;
    }
  }
  // slabinfo counts pages, meminfo's Slab counts kB: the page size that makes them agree.
  if (p.slab && p.mem.has("Slab") && !p.slab->caches.empty()) {
    std::uint64_t pages = 0;
    for (const auto& c : p.slab->caches)
      pages = text::cap_add(pages, text::cap_mul(c.num_slabs, c.pagesperslab));
    double slab_kb = static_cast<double>(p.mem.get_or("Slab", 0));
    std::optional<std::uint64_t> best;
    double best_err = 0.25;  // accept only a clear match
    for (std::uint64_t ps : {4096ULL, 16384ULL, 65536ULL}) {
      double kb = static_cast<double>(pages) * static_cast<double>(ps / 1024);
      double err = slab_kb > 0 ? std::abs(kb - slab_kb) / slab_kb : 1.0;
      if (err < best_err) {
        best = ps;
        best_err = err;
      }
    }
    if (best) {
      a.page_size = *best;
      a.page_size_from = "slabinfo";
      return;
    }
  }
  a.page_size = 4096;
  a.page_size_from = "assumed";
}

void account_vmalloc(const Snapshot& s, const Parsed& p, const std::optional<KernelVersion>& kv,
                     Accounting& a) {
  VmallocAccount& v = a.vmalloc;
  v.vmalloc_used_kb = p.mem.get("VmallocUsed");
  const bool hardcoded_era = kv && !kv->before(4, 9) && kv->before(5, 3);

  if (p.vmalloc) {
    std::map<std::pair<std::string, std::string>, VmallocCaller> callers;
    std::map<std::string, VmallocExcluded> excluded;
    std::int64_t stack_kb = 0;
    for (const auto& area : p.vmalloc->areas) {
      if (area.owns_pages()) {
        std::int64_t kb = pages_to_kb(*area.pages, a.page_size);
        v.owned_kb = clamp_value(sat_add(v.owned_kb, kb));
        ++v.owning_areas;
        std::string fn = area.function.empty() ? "(no caller)" : area.function;
        auto& c = callers[{fn, area.module}];
        c.function = fn;
        c.module = area.module;
        c.kb = clamp_value(sat_add(c.kb, kb));
        ++c.areas;
        c.virtual_bytes = text::cap_add(c.virtual_bytes, area.size_bytes);
        if (is_stack_caller(area.function)) stack_kb = clamp_value(sat_add(stack_kb, kb));
        continue;
      }
      std::string kind = area.ioremap      ? "ioremap"
                         : area.vmap       ? "vmap"
                         : area.vm_map_ram ? "vm_map_ram"
                         : area.unpurged   ? "unpurged"
                         : area.vmalloc    ? "vmalloc without pages (percpu chunks)"
                                           : "other";
      auto& e = excluded[kind];
      e.kind = kind;
      ++e.areas;
      e.virtual_bytes = text::cap_add(e.virtual_bytes, area.size_bytes);
    }
    for (auto& [k, c] : callers) v.callers.push_back(std::move(c));
    std::sort(v.callers.begin(), v.callers.end(), [](const VmallocCaller& x, const VmallocCaller& y) {
      return std::tie(y.kb, x.function, x.module) < std::tie(x.kb, y.function, y.module);
    });
    for (auto& [k, e] : excluded) v.excluded.push_back(std::move(e));
    std::sort(v.excluded.begin(), v.excluded.end(), [](const VmallocExcluded& x, const VmallocExcluded& y) {
      return std::tie(y.virtual_bytes, x.kind) < std::tie(x.virtual_bytes, y.kind);
    });

    v.source = "vmallocinfo";
    const std::int64_t stacks = sat_add(p.mem.get_or("KernelStack", 0), p.mem.get_or("ShadowCallStack", 0));
    v.stack_overlap_kb = std::min(stack_kb, std::max<std::int64_t>(0, stacks));
    v.kb = v.owned_kb - v.stack_overlap_kb;
    std::uint64_t excluded_bytes = 0;
    for (const auto& e : v.excluded) excluded_bytes = text::cap_add(excluded_bytes, e.virtual_bytes);
    a.notes.push_back(fmt::format(
        "vmalloc is summed from /proc/vmallocinfo: {} areas own {} kB (pages=N); {} areas that own "
        "no memory (ioremap, vmap, lazily freed) are left out: {} kB of address space",
        v.owning_areas, v.owned_kb, p.vmalloc->areas.size() - v.owning_areas, excluded_bytes / 1024));
    if (v.stack_overlap_kb > 0)
      a.notes.push_back(fmt::format(
          "{} kB of vmalloc areas are thread stacks (virtually mapped stacks) that KernelStack "
          "(or ShadowCallStack) also counts: counted once, under kernel stacks",
          v.stack_overlap_kb));
    if (v.vmalloc_used_kb && *v.vmalloc_used_kb == 0 && v.owned_kb > 0) {
      v.vmalloc_used_zero = true;
      a.notes.push_back(fmt::format(
          "VmallocUsed reads 0 kB although vmallocinfo shows {} kB of vmalloc pages: kernels 4.9 "
          "to 5.2 hard-code VmallocUsed to 0 (fixed in 5.3); the vmallocinfo sum is used",
          v.owned_kb));
    }
    if (s.partial.count("vmallocinfo"))
      a.missing.push_back("vmallocinfo is an excerpt (vmallocinfo.partial): vmalloc is a lower bound, "
                          "the rest of it is inside unaccounted");
    return;
  }

  const std::string why = why_missing(s, "vmallocinfo");
  if (!v.vmalloc_used_kb) {
    a.missing.push_back(fmt::format(
        "no vmallocinfo ({}) and no VmallocUsed line: vmalloc memory is inside unaccounted", why));
    return;
  }
  if (*v.vmalloc_used_kb == 0 && (hardcoded_era || !kv)) {
    v.vmalloc_used_zero = true;
    v.source = "none";
    a.missing.push_back(fmt::format(
        "no vmallocinfo ({}), and VmallocUsed reads 0 kB{}: kernels 4.9 to 5.2 hard-code it to 0, "
        "so vmalloc memory cannot be measured here and is inside unaccounted",
        why, kv ? "" : " (kernel release unknown)"));
    return;
  }
  v.source = "VmallocUsed";
  v.kb = *v.vmalloc_used_kb;
  std::string caveat;
  if (!kv)
    caveat = "; the kernel release is unknown: before 4.9 VmallocUsed is the address space of every "
             "area, ioremap included, so it can overstate vmalloc memory (and understate "
             "unaccounted); since 5.3 it counts owned pages, thread stacks included";
  else if (kv->before(4, 9))
    caveat = "; before 4.9 VmallocUsed is the address space of every area, ioremap included, so it "
             "can overstate vmalloc memory (and understate unaccounted)";
  else if (!kv->before(5, 3))
    caveat = "; since 5.3 VmallocUsed counts the pages vmalloc owns, thread stacks included when "
             "they are virtually mapped, which KernelStack counts as well";
  a.notes.push_back(fmt::format("no vmallocinfo ({}): vmalloc taken from VmallocUsed{}", why, caveat));
}

void account_slab(const Snapshot& s, const Parsed& p, Accounting& a) {
  if (!p.slab) {
    a.missing.push_back(fmt::format("no slabinfo ({}): no per-cache slab breakdown", why_missing(s, "slabinfo")));
    return;
  }
  std::int64_t total = 0;
  for (const auto& c : p.slab->caches) {
    SlabCacheUsage u;
    u.name = c.name;
    u.active_objs = c.active_objs;
    u.num_objs = c.num_objs;
    u.objsize = c.objsize;
    u.active_kb = clamp_value(sat_mul(static_cast<std::int64_t>(c.active_objs), static_cast<std::int64_t>(c.objsize)) / 1024);
    u.total_kb = pages_to_kb(text::cap_mul(c.num_slabs, c.pagesperslab), a.page_size);
    auto it = s.sys.find("/sys/kernel/slab/" + c.name + "/reclaim_account");
    if (it != s.sys.end() && (it->second == "0" || it->second == "1")) {
      u.reclaimable = it->second == "1";
    } else {
      u.reclaimable = guess_reclaimable(c.name);
      u.reclaimable_guessed = u.reclaimable.has_value();
    }
    total = clamp_value(sat_add(total, u.total_kb));
    a.slab.caches.push_back(std::move(u));
  }
  std::sort(a.slab.caches.begin(), a.slab.caches.end(), [](const SlabCacheUsage& x, const SlabCacheUsage& y) {
    return std::tie(y.total_kb, y.active_kb, x.name) < std::tie(x.total_kb, x.active_kb, y.name);
  });
  a.slab.slabinfo_total_kb = total;
  if (s.partial.count("slabinfo")) a.missing.push_back("slabinfo is an excerpt (slabinfo.partial)");
}

void gather_balloon(const Snapshot& s, const Parsed& p, Accounting& a) {
  BalloonEvidence& b = a.balloon;
  b.reported_kb = p.mem.get("Balloon");
  b.checked = p.modules.has_value() || s.sysfs;
  if (p.modules) {
    for (const auto& m : *p.modules) {
      if (m == "vmw_balloon" || m == "vmware_balloon" || m == "virtio_balloon" || m == "hv_balloon" ||
          m == "xen_balloon")
        b.drivers.push_back(m + " (in /proc/modules)");
    }
  }
  auto has = [&](const std::string& path) { return s.sys.count(path) > 0; };
  auto add = [&](std::string d) {
    if (std::find(b.drivers.begin(), b.drivers.end(), d) == b.drivers.end()) b.drivers.push_back(std::move(d));
  };
  if (has("/sys/module/vmw_balloon")) add("vmw_balloon (/sys/module/vmw_balloon)");
  if (has("/sys/module/hv_balloon")) add("hv_balloon (/sys/module/hv_balloon)");
  if (has("/sys/devices/system/xen_memory")) add("Xen balloon (/sys/devices/system/xen_memory)");
  std::vector<std::string> bound;
  bool deflate_on_oom_off = false;
  const std::string virtio = "/sys/bus/virtio/drivers/virtio_balloon/";
  for (const auto& [path, value] : s.sys) {
    if (path.rfind(virtio, 0) != 0 || path.size() < 9 || path.substr(path.size() - 9) != "/features") continue;
    std::string dev = path.substr(virtio.size(), path.size() - 9 - virtio.size());
    bound.push_back(dev);
    // Feature bit 2 is VIRTIO_BALLOON_F_DEFLATE_ON_OOM; without it the driver takes inflated
    // pages out of MemTotal (adjust_managed_page_count).
    if (value.size() > 2 && value[2] == '0') deflate_on_oom_off = true;
  }
  if (!bound.empty())
    add(fmt::format("virtio_balloon (bound to {})", join(bound)));
  else if (has("/sys/bus/virtio/drivers/virtio_balloon") || has("/sys/module/virtio_balloon"))
    add("virtio_balloon (driver registered, no device bound)");
  b.outside_memtotal = deflate_on_oom_off;
}

std::string explain_unaccounted(const Accounting& a, const std::vector<std::string>& missing_fields) {
  if (!a.unaccounted_kb || !a.mem_total_kb) return "MemTotal is missing: nothing can be accounted.";
  const std::int64_t u = *a.unaccounted_kb;
  const std::int64_t total = *a.mem_total_kb;
  std::string out =
      "No counter explains this memory. It is where pages live that kernel code takes straight "
      "from the page allocator (alloc_pages) without a counter of its own: balloon drivers such "
      "as virtio_balloon and vmw_balloon inflating for the host, GPU drivers (DRM/TTM buffers), "
      "network drivers (RX rings, page_pool), DMA buffers (CMA included), and out-of-tree modules.";
  if (!missing_fields.empty())
    out += fmt::format(" It also holds whatever the counters missing from this snapshot hold ({}).",
                       join(missing_fields));
  if (a.vmalloc.source == "none")
    out += " It also holds the vmalloc memory this snapshot cannot measure.";
  const BalloonEvidence& b = a.balloon;
  if (!b.drivers.empty()) {
    out += fmt::format(" A balloon driver is present: {}.", join(b.drivers));
    if (b.reported_kb && *b.reported_kb > 0)
      out += fmt::format(" The kernel reports {} kB of balloon pages (Balloon:){}.", *b.reported_kb,
                         b.outside_memtotal ? ", already taken out of MemTotal by virtio_balloon" : ", counted above");
    else if (b.reported_kb)
      out += " The kernel reports 0 kB of balloon pages (Balloon:): the balloon is not inflated.";
    else
      out += " This kernel has no Balloon: line, so inflated pages cannot be told apart here: a "
             "large remainder on a guest is most likely the balloon.";
  } else if (b.checked) {
    out += " No balloon driver is loaded (checked /proc/modules and /sys where present).";
  } else {
    out += " Whether a balloon driver is loaded cannot be told: the snapshot has neither "
           "/proc/modules nor /sys.";
  }
  if (u < 0) {
    out += fmt::format(
        " It is negative: the counters above overlap by {} kB (per-CPU counter drift, pages "
        "moving between lists while meminfo was read, or VmallocUsed counting ioremap address "
        "space on kernels before 4.9). It is reported as it is, not clamped.",
        -u);
  } else if (total > 0 && u * 200 < total) {
    out += " It is under 0.5% of MemTotal: within per-CPU counter drift and pages in flight.";
  } else if (total > 0 && u * 10 > total) {
    out += fmt::format(
        " At {}% of MemTotal this is far more than counter drift: on a virtual machine look at the "
        "balloon first (VMware: vmware-toolbox-cmd stat balloon; KVM: "
        "/sys/kernel/debug/virtio-balloon), then at GPU and network drivers.",
        u * 100 / total);
  }
  return out;
}

}  // namespace

std::string_view part_group_name(PartGroup g) {
  switch (g) {
    case PartGroup::kFree: return "free";
    case PartGroup::kUser: return "user";
    case PartGroup::kKernel: return "kernel";
    case PartGroup::kUnaccounted: return "unaccounted";
  }
  return "?";
}

std::optional<std::int64_t> Accounting::part_kb(MeminfoPart key) const {
  for (const auto& p : parts)
    if (p.key == key) return p.kb;
  return std::nullopt;
}

Accounting account(const Snapshot& s) {
  Accounting a;
  a.source = s.source;
  a.taken_at = s.taken_at;
  if (auto it = s.files.find("kernel-release"); it != s.files.end()) a.kernel_release = it->second;
  const auto kv = parse_release(a.kernel_release);
  const Parsed p = parse_all(s);
  const Meminfo& m = p.mem;
  choose_page_size(p, a);

  if (!s.files.count("meminfo")) {
    a.missing.push_back(fmt::format("no meminfo ({}): nothing can be accounted", why_missing(s, "meminfo")));
  } else if (s.partial.count("meminfo")) {
    a.missing.push_back("meminfo is an excerpt (meminfo.partial): lines were elided");
  }
  if (m.skipped_lines) a.notes.push_back(fmt::format("{} meminfo lines could not be read and were skipped", m.skipped_lines));
  if (!m.out_of_range.empty())
    a.missing.push_back(fmt::format("meminfo values out of range (negative, or above 2^56 kB), left out of the "
                                    "accounting: {}",
                                    join(m.out_of_range)));
  a.exact = m.out_of_range.empty() && m.skipped_lines == 0;
  if (p.vmalloc && p.vmalloc->skipped_lines)
    a.notes.push_back(fmt::format("{} vmallocinfo lines could not be read and were skipped", p.vmalloc->skipped_lines));
  if (p.slab && p.slab->skipped_lines)
    a.notes.push_back(fmt::format("{} slabinfo lines could not be read and were skipped", p.slab->skipped_lines));

  // Counters every kernel since 2.6.28 prints; a missing one is a hole in the accounting.
  std::vector<std::string> missing_fields;
  for (const char* f : {"MemFree", "Active", "Inactive", "Unevictable", "Slab", "PageTables",
                        "KernelStack", "Bounce", "HugePages_Total", "Hugepagesize"}) {
    if (s.files.count("meminfo") && !m.has(f)) missing_fields.emplace_back(f);
  }
  if (!missing_fields.empty())
    a.missing.push_back(fmt::format("meminfo lacks {}: whatever they hold is inside unaccounted",
                                    join(missing_fields)));

  account_vmalloc(s, p, kv, a);
  account_slab(s, p, a);
  gather_balloon(s, p, a);

  a.mem_total_kb = m.get("MemTotal");
  auto add = [&](MeminfoPart key, std::string label, PartGroup g, std::int64_t kb, std::string from) {
    a.parts.push_back({key, std::move(label), g, clamp_value(kb), std::move(from)});
  };
  auto field = [&](const char* key, MeminfoPart pkey, std::string label, PartGroup g) {
    if (auto v = m.get(key)) add(pkey, std::move(label), g, *v, key);
  };

  field("MemFree", MeminfoPart::free, "free", PartGroup::kFree);
  // Free pages cached on the per-CPU lists are not in MemFree: without this part they would
  // pass for unaccounted memory (about 200 MiB on a 24 GiB 6.18 box).
  if (p.pcp_pages)
    add(MeminfoPart::free_pcp, "free, on per-CPU page lists", PartGroup::kFree,
        pages_to_kb(static_cast<std::uint64_t>(*p.pcp_pages), a.page_size), "zoneinfo pagesets count");

  // User memory: the LRU lists (see the comment at the top of this file).
  const bool split = m.has("Active(anon)") && m.has("Inactive(anon)") && m.has("Active(file)") &&
                     m.has("Inactive(file)");
  if (split) {
    add(MeminfoPart::user_anon, "user, anonymous and shmem (LRU)", PartGroup::kUser,
        sat_add(m.get_or("Active(anon)", 0), m.get_or("Inactive(anon)", 0)), "Active(anon) + Inactive(anon)");
    add(MeminfoPart::user_file, "user, page cache and buffers (LRU)", PartGroup::kUser,
        sat_add(m.get_or("Active(file)", 0), m.get_or("Inactive(file)", 0)), "Active(file) + Inactive(file)");
  } else if (m.has("Active") && m.has("Inactive")) {
    add(MeminfoPart::user_lru, "user, active + inactive (LRU)", PartGroup::kUser,
        sat_add(m.get_or("Active", 0), m.get_or("Inactive", 0)), "Active + Inactive");
  } else {
    field("Active", MeminfoPart::user_active, "user, active (LRU)", PartGroup::kUser);
    field("Inactive", MeminfoPart::user_inactive, "user, inactive (LRU)", PartGroup::kUser);
  }
  field("Unevictable", MeminfoPart::user_unevictable, "user, unevictable (mlocked, ramfs)", PartGroup::kUser);
  if (auto h = m.get("Hugetlb")) {
    add(MeminfoPart::hugetlb, "hugetlb pages (all sizes)", PartGroup::kUser, *h, "Hugetlb");
  } else if (auto n = m.get("HugePages_Total"), sz = m.get("Hugepagesize"); n && sz) {
    add(MeminfoPart::hugetlb, "hugetlb pages", PartGroup::kUser, sat_mul(*n, *sz), "HugePages_Total x Hugepagesize");
  }
  a.user_formula =
      "user memory = Active + Inactive + Unevictable (the LRU lists) + hugetlb. Every page-cache, "
      "shmem and anonymous page sits on exactly one LRU list, so nothing is counted twice; "
      "Cached, Buffers, AnonPages and Shmem are subsets of those lists, shown below but not added.";

  // Kernel memory.
  if (m.has("SReclaimable") && m.has("SUnreclaim")) {
    field("SReclaimable", MeminfoPart::slab_reclaimable, "slab, reclaimable", PartGroup::kKernel);
    field("SUnreclaim", MeminfoPart::slab_unreclaimable, "slab, unreclaimable", PartGroup::kKernel);
  } else {
    field("Slab", MeminfoPart::slab, "slab", PartGroup::kKernel);
  }
  if (auto kr = m.get("KReclaimable"), sr = m.get("SReclaimable"); kr && sr && *kr > *sr)
    add(MeminfoPart::kernel_misc_reclaimable, "other reclaimable kernel memory", PartGroup::kKernel, *kr - *sr,
        "KReclaimable - SReclaimable");
  if (a.vmalloc.source == "vmallocinfo")
    add(MeminfoPart::vmalloc, "vmalloc", PartGroup::kKernel, a.vmalloc.kb,
        a.vmalloc.stack_overlap_kb ? "vmallocinfo pages= (thread stacks left to KernelStack)" : "vmallocinfo pages=");
  else if (a.vmalloc.source == "VmallocUsed")
    add(MeminfoPart::vmalloc, "vmalloc", PartGroup::kKernel, a.vmalloc.kb, "VmallocUsed");
  field("PageTables", MeminfoPart::page_tables, "page tables", PartGroup::kKernel);
  field("SecPageTables", MeminfoPart::sec_page_tables, "secondary page tables (KVM, IOMMU)", PartGroup::kKernel);
  field("KernelStack", MeminfoPart::kernel_stack, "kernel stacks", PartGroup::kKernel);
  field("ShadowCallStack", MeminfoPart::shadow_call_stack, "shadow call stacks (arm64)", PartGroup::kKernel);
  field("Percpu", MeminfoPart::percpu, "per-CPU allocations", PartGroup::kKernel);
  field("HardwareCorrupted", MeminfoPart::hardware_corrupted, "hardware-corrupted pages", PartGroup::kKernel);
  field("Bounce", MeminfoPart::bounce, "bounce buffers", PartGroup::kKernel);
  {
    // Compressed memory: zsmalloc backs zram and zswap and has no meminfo line of its own
    // (vmstat nr_zspages); Zswap is the zswap pool. Take the larger, never both.
    std::optional<std::int64_t> zs;
    if (p.vmstat)
      if (auto n = p.vmstat->get("nr_zspages")) zs = pages_to_kb(static_cast<std::uint64_t>(*n), a.page_size);
    auto zswap = m.get("Zswap");
    if (zs && (!zswap || *zs >= *zswap))
      add(MeminfoPart::zsmalloc, "compressed memory (zram, zswap)", PartGroup::kKernel, *zs, "vmstat nr_zspages");
    else if (zswap)
      add(MeminfoPart::zswap, "zswap pool", PartGroup::kKernel, *zswap, "Zswap");
  }
  if (auto bal = m.get("Balloon")) {
    if (a.balloon.outside_memtotal)
      a.notes.push_back(fmt::format(
          "Balloon: {} kB is not a part of MemTotal: virtio_balloon without DEFLATE_ON_OOM takes "
          "inflated pages out of MemTotal itself",
          *bal));
    else
      add(MeminfoPart::balloon, "balloon driver pages", PartGroup::kKernel, *bal, "Balloon");
  }
  field("Unaccepted", MeminfoPart::unaccepted, "memory not yet accepted (confidential VM)", PartGroup::kKernel);

  if (a.mem_total_kb) {
    std::int64_t sum = 0;
    for (const auto& part : a.parts) sum = sat_add(sum, part.kb);
    // Each part is at most 2^56 kB, so neither the sum nor this difference can overflow, and
    // the parts add up to MemTotal exactly. Not clamped: a negative remainder is a finding.
    a.unaccounted_kb = sat_add(*a.mem_total_kb, -sum);
    a.parts.push_back({MeminfoPart::unaccounted, "unaccounted", PartGroup::kUnaccounted, *a.unaccounted_kb,
                       "MemTotal - every part above"});
  } else {
    a.parts.clear();
    a.missing.push_back("meminfo has no MemTotal line: nothing can be accounted");
  }
  std::stable_sort(a.parts.begin(), a.parts.end(), [](const Part& x, const Part& y) { return x.kb > y.kb; });

  // Context: figures inside the parts, not added again.
  for (const char* f : {"Cached", "Buffers", "AnonPages", "Shmem", "Mapped", "SwapCached", "Mlocked",
                        "AnonHugePages", "KReclaimable", "CmaTotal", "CmaFree"}) {
    if (auto v = m.get(f)) a.breakdown.push_back({f, f, *v});
  }
  if (auto c = m.get("Cached"), an = m.get("AnonPages"), bu = m.get("Buffers"); c && an && bu) {
    std::int64_t alt = sat_add(sat_add(*c, *an), *bu);
    a.breakdown.push_back({"cached_anon_buffers", "Cached + AnonPages + Buffers", alt});
    std::int64_t lru = 0;
    for (const auto& part : a.parts)
      if (part.group == PartGroup::kUser && part.key != MeminfoPart::hugetlb) lru = sat_add(lru, part.kb);
    a.notes.push_back(fmt::format(
        "cross-check: Cached + AnonPages + Buffers = {} kB against the LRU lists' {} kB ({:+} kB: "
        "swap cache, shmem being swapped, pages between lists)",
        alt, lru, alt - lru));
  }
  if (a.vmalloc.vmalloc_used_kb) a.breakdown.push_back({"vmalloc_used", "VmallocUsed", *a.vmalloc.vmalloc_used_kb});
  if (a.slab.slabinfo_total_kb) {
    a.breakdown.push_back({"slabinfo_total", "slabinfo, all caches", *a.slab.slabinfo_total_kb});
    if (auto sl = m.get("Slab"))
      a.notes.push_back(fmt::format(
          "slabinfo sums to {} kB of slabs; meminfo's Slab says {} kB (recent kernels count "
          "kmalloc allocations above 8 KiB in SUnreclaim without any slab cache)",
          *a.slab.slabinfo_total_kb, *sl));
  }
  if (a.page_size_from == "assumed")
    a.notes.push_back("page size assumed to be 4096 bytes (neither vmallocinfo nor slabinfo tells)");

  // Optional counters this kernel (or excerpt) does not print: said once, quietly.
  std::vector<std::string> absent;
  for (const char* f : {"Percpu", "SecPageTables", "HardwareCorrupted", "KReclaimable", "Zswap", "Balloon"})
    if (s.files.count("meminfo") && !m.has(f)) absent.emplace_back(f);
  if (!absent.empty())
    a.notes.push_back(fmt::format("not reported by this kernel{}: {}",
                                  s.partial.count("meminfo") ? " or not in the excerpt" : "", join(absent)));
  if (!p.modules) {
    std::string why = why_missing(s, "modules");
    if (s.sysfs)
      a.notes.push_back(fmt::format("no /proc/modules ({}): balloon drivers checked in /sys only", why));
    else
      a.missing.push_back(fmt::format(
          "no /proc/modules ({}) and no /sys: whether a balloon driver is loaded cannot be checked", why));
  }
  a.unaccounted_explanation = explain_unaccounted(a, missing_fields);
  return a;
}

}  // namespace kleak
