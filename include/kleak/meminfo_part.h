// The additive parts of MemTotal (`kleak meminfo`'s table, meminfo.h's Part), by enum: made by the
// meminfo stage, matched by the report's reconciliation and by kleak hunt. Their names are the
// stable keys of the JSON ("parts"[].key, "reconciliation"[].line, a group's "meminfo_line");
// this is the one table of them.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kleak {

// In name order: maps keyed by part print in the order they did when keyed by name.
#define KLEAK_MEMINFO_PARTS(X)                                      \
  X(balloon)                 /* Balloon */                           \
  X(bounce)                  /* Bounce */                            \
  X(free)                    /* MemFree */                           \
  X(free_pcp)                /* zoneinfo's per-CPU page lists */     \
  X(hardware_corrupted)      /* HardwareCorrupted */                 \
  X(hugetlb)                 /* Hugetlb or HugePages_Total x size */ \
  X(kernel_misc_reclaimable) /* KReclaimable - SReclaimable */       \
  X(kernel_stack)            /* KernelStack */                       \
  X(page_tables)             /* PageTables */                        \
  X(percpu)                  /* Percpu */                            \
  X(sec_page_tables)         /* SecPageTables */                     \
  X(shadow_call_stack)       /* ShadowCallStack */                   \
  X(slab)                    /* Slab (no SReclaimable/SUnreclaim) */ \
  X(slab_reclaimable)        /* SReclaimable */                      \
  X(slab_unreclaimable)      /* SUnreclaim */                        \
  X(unaccepted)              /* Unaccepted */                        \
  X(unaccounted)             /* MemTotal - every other part */       \
  X(user_active)             /* Active (no Inactive) */              \
  X(user_anon)               /* Active(anon) + Inactive(anon) */     \
  X(user_file)               /* Active(file) + Inactive(file) */     \
  X(user_inactive)           /* Inactive (no Active) */              \
  X(user_lru)                /* Active + Inactive */                 \
  X(user_unevictable)        /* Unevictable */                       \
  X(vmalloc)                 /* vmallocinfo pages= or VmallocUsed */ \
  X(zsmalloc)                /* vmstat nr_zspages */                 \
  X(zswap)                   /* Zswap */

enum class MeminfoPart : uint8_t {
#define KLEAK_MEMINFO_PART_ENUM_(name) name,
  KLEAK_MEMINFO_PARTS(KLEAK_MEMINFO_PART_ENUM_)
#undef KLEAK_MEMINFO_PART_ENUM_
};

inline constexpr std::array kMeminfoPartNames = {
#define KLEAK_MEMINFO_PART_NAME_(name) std::string_view(#name),
    KLEAK_MEMINFO_PARTS(KLEAK_MEMINFO_PART_NAME_)
#undef KLEAK_MEMINFO_PART_NAME_
};

namespace meminfo_part_detail {
constexpr bool names_ascending() {
  for (size_t i = 1; i < kMeminfoPartNames.size(); ++i)
    if (!(kMeminfoPartNames[i - 1] < kMeminfoPartNames[i])) return false;
  return true;
}
}  // namespace meminfo_part_detail
static_assert(meminfo_part_detail::names_ascending(), "KLEAK_MEMINFO_PARTS: in name order, each name once");

constexpr std::string_view meminfo_part_name(MeminfoPart p) { return kMeminfoPartNames[static_cast<size_t>(p)]; }
std::optional<MeminfoPart> meminfo_part_from_name(std::string_view name);

// Slab, whole or split by reclaimability (a kernel prints one or the other).
constexpr bool is_slab_part(MeminfoPart p) {
  return p == MeminfoPart::slab || p == MeminfoPart::slab_reclaimable || p == MeminfoPart::slab_unreclaimable;
}

}  // namespace kleak
