// Parsers for the /proc files that say where memory went, and the one place that reads them.
//
// Every parser is a pure function of the file's text: no I/O, no globals, never throws on bad
// input (a line it cannot read is skipped and counted in `skipped_lines`). Reading files is the
// job of a ProcSource, so tests and `kleak meminfo --proc DIR` run the same code on a copy of
// another machine's /proc.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kleak {

// ---- /proc/meminfo ---------------------------------------------------------------------------

// `Key:   value [kB]` lines. Values with a kB unit are in kB; HugePages_Total/Free/Rsvd/Surp are
// page counts (no unit). Field names keep their spelling: "Active(anon)", "HugePages_Total".
struct Meminfo {
  std::map<std::string, std::int64_t, std::less<>> fields;
  std::size_t skipped_lines = 0;  // lines that were not `Key: number [kB]`
  // `Key: value` lines whose value is a number outside 0..2^56 (negative, or past what any
  // machine holds): "MemFree: 18446744073709551615". Left out of `fields`, never silently.
  std::vector<std::string> out_of_range;

  bool has(std::string_view key) const { return fields.find(key) != fields.end(); }
  std::optional<std::int64_t> get(std::string_view key) const;
  std::int64_t get_or(std::string_view key, std::int64_t fallback) const;
};
Meminfo parse_meminfo(std::string_view text);

// ---- /proc/vmallocinfo -----------------------------------------------------------------------

// One line: `0xstart-0xend  size  caller+0xoff/0xlen [module] pages=N phys=.. ioremap vmalloc
// vmap user vpages vm_map_ram N0=..`. Only areas with `pages=N` own physical pages.
struct VmallocArea {
  std::uint64_t size_bytes = 0;        // virtual size, guard page included
  std::string caller;                  // "load_module+0xe4c/0x1e60", "" when none is shown
  std::string function;                // "load_module" (caller without the offset)
  std::string module;                  // "kmem_test" for `[kmem_test]`, "" when built in
  std::optional<std::uint64_t> pages;  // pages=N: pages owned by the area
  bool ioremap = false;                // I/O memory mapped into the kernel: owns no RAM
  bool vmalloc = false;
  bool vmap = false;                   // vmap() of pages owned by somebody else
  bool vpages = false;                 // the page array itself was vmalloc'ed
  bool user = false;                   // vmalloc_user
  bool vm_map_ram = false;
  bool unpurged = false;               // freed lazily, not yet purged (6.x prints `unpurged vm_area`)

  bool owns_pages() const { return pages.has_value() && *pages > 0; }
};

struct Vmallocinfo {
  std::vector<VmallocArea> areas;
  std::size_t skipped_lines = 0;
};
Vmallocinfo parse_vmallocinfo(std::string_view text);

// The page size the areas were measured in: vmalloc areas span (pages + 1 guard) pages, so
// size / (pages + 1) gives it. nullopt when no area tells.
std::optional<std::uint64_t> infer_page_size(const Vmallocinfo& info);

// ---- /proc/slabinfo --------------------------------------------------------------------------

// slabinfo version 2.x: `name active_objs num_objs objsize objperslab pagesperslab : tunables
// ... : slabdata active_slabs num_slabs sharedavail`.
struct SlabCache {
  std::string name;
  std::uint64_t active_objs = 0;
  std::uint64_t num_objs = 0;
  std::uint64_t objsize = 0;  // bytes
  std::uint64_t objperslab = 0;
  std::uint64_t pagesperslab = 0;
  std::uint64_t active_slabs = 0;
  std::uint64_t num_slabs = 0;
};

struct Slabinfo {
  std::string version;  // "2.1"; "" when the header line is missing
  std::vector<SlabCache> caches;
  std::size_t skipped_lines = 0;
};
Slabinfo parse_slabinfo(std::string_view text);

// ---- /proc/vmstat ----------------------------------------------------------------------------

// `name value` lines; values are pages unless the name says otherwise (nr_kernel_stack is kB).
struct Vmstat {
  std::map<std::string, std::int64_t, std::less<>> fields;
  std::size_t skipped_lines = 0;

  std::optional<std::int64_t> get(std::string_view key) const;
};
Vmstat parse_vmstat(std::string_view text);

// ---- /proc/zoneinfo --------------------------------------------------------------------------

// Pages sitting free on the per-CPU page lists (the `count:` of every zone's pagesets). They are
// free memory that MemFree (NR_FREE_PAGES) does not include: on a 24 GiB 6.18 box, ~200 MiB.
// nullopt when the text has no pageset counts.
std::optional<std::int64_t> parse_zoneinfo_pcp_pages(std::string_view text);

// ---- /proc/modules ---------------------------------------------------------------------------

// The module names (first word of each line), in file order.
std::vector<std::string> parse_module_names(std::string_view text);

// ---- reading files ---------------------------------------------------------------------------

struct ReadResult {
  std::optional<std::string> text;  // nullopt when the file could not be read
  std::string error;                // why not, e.g. "Permission denied"
  bool refused = false;             // there, but not a regular file or over its cap: an error
};

// The most kleak reads of one /proc file (bounded_read.h); sized from this 6.18 box with room
// for machines a hundred times bigger: meminfo 1.5 kB, zoneinfo 5 kB, vmallocinfo 136 kB.
std::uint64_t proc_file_cap(std::string_view path);

// Where /proc and /sys files come from. Paths starting with "/sys/" name sysfs files; any other
// path is relative to the proc root ("meminfo", "sys/kernel/osrelease").
class ProcSource {
 public:
  virtual ~ProcSource() = default;
  virtual ReadResult read(std::string_view path) const = 0;
  virtual bool exists(std::string_view path) const = 0;
  // Names of the entries of a directory, sorted; empty when it is missing.
  virtual std::vector<std::string> list(std::string_view dir) const = 0;
  // Human description of where the files come from ("/proc", "snapshot dir X").
  virtual std::string describe() const = 0;
  // Whether any sysfs evidence can be had at all (a copied /proc directory has none).
  virtual bool has_sysfs() const = 0;
};

// Files from two directories: the live machine is DirProcSource("/proc", "/sys"); a copied
// /proc is DirProcSource(dir, dir / "sys") (sysfs evidence only if the copy has a sys/ folder).
class DirProcSource final : public ProcSource {
 public:
  DirProcSource(std::filesystem::path proc_root, std::filesystem::path sys_root);
  static DirProcSource live() { return DirProcSource("/proc", "/sys"); }
  static DirProcSource copy(const std::filesystem::path& dir) {
    return DirProcSource(dir, dir / "sys");
  }

  ReadResult read(std::string_view path) const override;
  bool exists(std::string_view path) const override;
  std::vector<std::string> list(std::string_view dir) const override;
  std::string describe() const override;
  bool has_sysfs() const override;

 private:
  std::filesystem::path resolve(std::string_view path) const;
  std::filesystem::path proc_root_;
  std::filesystem::path sys_root_;
};

}  // namespace kleak
