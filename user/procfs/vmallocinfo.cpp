// /proc/vmallocinfo parser. One area per line:
//   0xffffc90000000000-0xffffc90000005000   20480 load_module+0xe4c/0x1e60 [mod] pages=4 vmalloc N0=4
// The caller, module, pages= and flags are each optional (6.x prints `unpurged vm_area` lines
// with no caller at all).
#include <map>

#include "kleak/procfs.h"
#include "procfs/text_util.h"

namespace kleak {
namespace {

bool is_numa_word(std::string_view w) {  // N0=4, N12=1024
  if (w.size() < 4 || w[0] != 'N') return false;
  auto eq = w.find('=');
  if (eq == std::string_view::npos || eq < 2) return false;
  return text::parse_u64(w.substr(1, eq - 1)).has_value();
}

bool is_range(std::string_view w) {
  auto dash = w.find('-');
  return w.size() > 2 && w.substr(0, 2) == "0x" && dash != std::string_view::npos && dash > 2;
}

// Flags the kernel prints after the caller. Returns false for words that are not flags.
bool apply_flag(std::string_view w, VmallocArea& a) {
  if (w == "ioremap") return a.ioremap = true;
  if (w == "vmalloc") return a.vmalloc = true;
  if (w == "vmap") return a.vmap = true;
  if (w == "vpages") return a.vpages = true;
  if (w == "user") return a.user = true;
  if (w == "vm_map_ram") return a.vm_map_ram = true;
  if (w == "unpurged") return a.unpurged = true;
  // Known words that change nothing here.
  return w == "vm_area" || w == "dma-coherent" || w == "sparse";
}

}  // namespace

Vmallocinfo parse_vmallocinfo(std::string_view text) {
  Vmallocinfo out;
  text::for_each_line(text, [&](std::string_view line) {
    auto w = text::words(line);
    if (w.empty()) return;
    std::optional<std::uint64_t> size;
    if (w.size() >= 2 && is_range(w[0])) size = text::parse_u64(w[1]);
    if (!size) {
      ++out.skipped_lines;
      return;
    }
    VmallocArea a;
    a.size_bytes = *size;
    for (std::size_t i = 2; i < w.size(); ++i) {
      std::string_view t = w[i];
      if (t.substr(0, 6) == "pages=") {
        a.pages = text::parse_u64(t.substr(6));
      } else if (t.substr(0, 5) == "phys=" || is_numa_word(t)) {
        // physical address of an ioremap, NUMA spread: nothing to account
      } else if (t.size() >= 2 && t.front() == '[' && t.back() == ']') {
        a.module = std::string(t.substr(1, t.size() - 2));
      } else if (apply_flag(t, a)) {
      } else if (a.caller.empty() && i == 2) {
        a.caller = std::string(t);
        a.function = std::string(t.substr(0, t.find('+')));
      }
    }
    out.areas.push_back(std::move(a));
  });
  return out;
}

std::optional<std::uint64_t> infer_page_size(const Vmallocinfo& info) {
  // Votes over the areas that own pages. vmalloc areas carry one guard page, so
  // size == (pages + 1) * page; areas mapped without a guard have size == pages * page.
  std::map<std::uint64_t, std::size_t> votes;
  auto plausible = [](std::uint64_t p) {
    return p >= 4096 && p <= (std::uint64_t{1} << 20) && (p & (p - 1)) == 0;
  };
  for (const auto& a : info.areas) {
    if (!a.owns_pages()) continue;
    std::uint64_t n = *a.pages;
    if (a.size_bytes % (n + 1) == 0 && plausible(a.size_bytes / (n + 1))) {
      ++votes[a.size_bytes / (n + 1)];
    } else if (a.size_bytes % n == 0 && plausible(a.size_bytes / n)) {
      ++votes[a.size_bytes / n];
    }
  }
  std::optional<std::uint64_t> best;
  std::size_t best_votes = 0;
  for (auto [page, n] : votes) {
    if (n > best_votes) {
      best = page;
      best_votes = n;
    }
  }
  return best;
}

}  // namespace kleak
