// Classification of an outstanding allocation by event kind and stack frames: one rule table.
#include "kleak/classify.h"

#include <algorithm>
#include <array>
#include <iterator>

namespace kleak {

namespace {

using C = Category;

// Kinds a rule applies to: a mask of 1 << kleak_kind.
constexpr uint8_t kKmalloc = 1u << KLEAK_KIND_KMALLOC;
constexpr uint8_t kSlab = 1u << KLEAK_KIND_SLAB;
constexpr uint8_t kPage = 1u << KLEAK_KIND_PAGE;
constexpr uint8_t kVmalloc = 1u << KLEAK_KIND_VMALLOC;
constexpr uint8_t kPercpu = 1u << KLEAK_KIND_PERCPU;
constexpr uint8_t kObjects = kKmalloc | kSlab;
constexpr uint8_t kAny = kKmalloc | kSlab | kPage | kVmalloc | kPercpu;

enum class At : uint8_t {
  anywhere,  // any frame of the stack
  caller,    // only the first frame that is neither tracer, allocator nor unknown
};

struct Rule {
  uint8_t kinds;
  FramePattern pattern;  // "name", "prefix*" or "[module]": see frames.h
  Category category;
  At at = At::anywhere;
};

// The frames are searched from the innermost outward and the first frame matching any rule
// decides: the nearest owner wins (a slab page allocated under a pipe write is slab_backing; a
// page faulted in while a pipe write copies from user memory is user_anon; an skb allocated in
// an interrupt on top of a page fault is socket). Rules that match the same frame win in table
// order. Frame names are this 6.18 kernel's (many helpers are inlined into their callers, so
// callers are listed too) plus the older names where they differ.
constexpr Rule kRules[] = {
    // ---- pages under an object that has its own record: counted there, not again ----------
    {kPage, "allocate_slab", C::slab_backing},
    {kPage, "new_slab", C::slab_backing},
    {kPage, "___slab_alloc", C::slab_backing},
    {kPage, "alloc_slab_page", C::slab_backing},
    {kPage, "__kmalloc_large*", C::kmalloc_large_backing},  // __kmalloc_large_node_noprof
    {kPage, "___kmalloc_large*", C::kmalloc_large_backing},  // ___kmalloc_large_node
    {kPage, "kmalloc_large*", C::kmalloc_large_backing},  // kmalloc_large_node_notrace (6.1)
    {kPage, "__vmalloc_area_node", C::vmalloc_backing},
    {kPage, "vm_area_alloc_pages", C::vmalloc_backing},
    {kPage, "__vmalloc_node_range*", C::vmalloc_backing},  // the two above are inlined here
    {kPage, "pcpu_populate_chunk", C::percpu_backing},
    {kPage, "pcpu_alloc_pages", C::percpu_backing},
    {kPage, "pcpu_create_chunk", C::percpu_backing},

    // ---- kmalloc records whose stack shows the large (whole pages) path ---------------------
    // Only when the tracepoint fires inside the large path; from __do_kmalloc_node it cannot be
    // told apart and the default (slab) applies.
    {kKmalloc, "__kmalloc_large*", C::kmalloc_large},
    {kKmalloc, "___kmalloc_large*", C::kmalloc_large},
    {kKmalloc, "kmalloc_large*", C::kmalloc_large},

    // ---- page tables ------------------------------------------------------------------------
    {kPage, "pte_alloc_one*", C::page_tables},
    {kPage, "__pte_alloc*", C::page_tables},  // __pte_alloc, __pte_alloc_kernel
    {kPage, "__pmd_alloc", C::page_tables},
    {kPage, "__pud_alloc", C::page_tables},
    {kPage, "__p4d_alloc", C::page_tables},
    {kPage, "pmd_alloc_one*", C::page_tables},
    {kPage, "pud_alloc_one*", C::page_tables},
    {kPage, "p4d_alloc_one*", C::page_tables},
    {kPage, "pgd_alloc", C::page_tables},
    {kPage, "_pgd_alloc", C::page_tables},
    {kPage, "preallocate_pmds", C::page_tables},
    {kPage, "pagetable_alloc*", C::page_tables},

    // ---- kernel stacks: vmalloc'ed (VMAP_STACK) or whole pages ------------------------------
    {kVmalloc | kPage, "alloc_thread_stack_node", C::kernel_stack},
    {kVmalloc | kPage, "dup_task_struct", C::kernel_stack},
    // Both inlined into copy_process on 6.18: a vmalloc or page straight from copy_process is
    // the stack (its other allocations are slab objects).
    {kVmalloc | kPage, "copy_process", C::kernel_stack, At::caller},

    // ---- user memory: anonymous pages ---------------------------------------------------------
    {kPage, "do_anonymous_page", C::user_anon},
    {kPage, "alloc_anon_folio", C::user_anon},
    {kPage, "do_huge_pmd_anonymous_page", C::user_anon},
    {kPage, "__do_huge_pmd_anonymous_page", C::user_anon},
    {kPage, "vma_alloc_anon_folio_pmd", C::user_anon},
    {kPage, "wp_page_copy", C::user_anon},
    {kPage, "do_wp_page", C::user_anon},  // wp_page_copy is inlined here
    {kPage, "do_huge_pmd_wp_page", C::user_anon},
    {kPage, "do_cow_fault", C::user_anon},
    {kPage, "folio_prealloc", C::user_anon},
    {kPage, "vma_alloc_folio*", C::user_anon},  // every folio for a user VMA (do_cow_fault too)
    {kPage, "alloc_page_vma*", C::user_anon},
    {kPage, "do_swap_page", C::user_anon},  // swap-in: the swap cache
    {kPage, "alloc_swap_folio", C::user_anon},
    {kPage, "swapin_readahead", C::user_anon},
    {kPage, "swap_cluster_readahead", C::user_anon},
    {kPage, "swap_vma_readahead", C::user_anon},
    {kPage, "__read_swap_cache_async", C::user_anon},
    {kPage, "read_swap_cache_async", C::user_anon},
    {kPage, "ksm_might_need_to_copy", C::user_anon},
    {kPage, "collapse_huge_page", C::user_anon},  // khugepaged
    {kPage, "alloc_charge_folio", C::user_anon},
    {kPage, "alloc_migration_target", C::user_anon},  // a migrated (movable, user) page's copy
    {kPage, "alloc_misplaced_dst_folio", C::user_anon},  // NUMA balancing
    {kPage, "alloc_hugetlb_folio*", C::user_anon},  // hugetlb pool: HugePages_* in meminfo
    {kPage, "alloc_fresh_hugetlb_folio", C::user_anon},
    {kPage, "only_alloc_fresh_hugetlb_folio", C::user_anon},
    {kPage, "alloc_buddy_hugetlb_folio*", C::user_anon},
    {kPage, "alloc_pool_huge_folio", C::user_anon},
    {kPage, "alloc_surplus_hugetlb_folio", C::user_anon},
    {kPage, "alloc_migrate_hugetlb_folio", C::user_anon},

    // ---- user memory: page cache and shmem --------------------------------------------------
    {kPage, "filemap_alloc_folio*", C::page_cache},
    {kPage, "__filemap_get_folio*", C::page_cache},
    {kPage, "filemap_create_folio", C::page_cache},
    {kPage, "page_cache_ra_*", C::page_cache},  // page_cache_ra_unbounded, page_cache_ra_order
    {kPage, "page_cache_sync_ra", C::page_cache},
    {kPage, "page_cache_async_ra", C::page_cache},
    {kPage, "page_cache_sync_readahead", C::page_cache},
    {kPage, "page_cache_async_readahead", C::page_cache},
    {kPage, "force_page_cache_ra", C::page_cache},
    {kPage, "do_page_cache_ra", C::page_cache},
    {kPage, "ra_alloc_folio", C::page_cache},
    {kPage, "readahead_expand", C::page_cache},
    {kPage, "page_cache_alloc*", C::page_cache},
    {kPage, "__page_cache_alloc*", C::page_cache},
    {kPage, "pagecache_get_page", C::page_cache},
    {kPage, "grab_cache_page*", C::page_cache},
    {kPage, "do_read_cache*", C::page_cache},
    {kPage, "read_cache_folio", C::page_cache},
    {kPage, "read_cache_page*", C::page_cache},
    {kPage, "grow_dev_folio", C::page_cache},  // block device buffer cache
    {kPage, "grow_dev_page", C::page_cache},
    {kPage, "shmem_alloc_folio", C::page_cache},
    {kPage, "shmem_alloc_and_add_folio", C::page_cache},
    {kPage, "shmem_get_folio*", C::page_cache},
    {kPage, "shmem_read_folio*", C::page_cache},
    {kPage, "shmem_read_mapping_page*", C::page_cache},
    {kPage, "shmem_fault", C::page_cache},
    {kPage, "shmem_write_begin", C::page_cache},

    // ---- pipes ------------------------------------------------------------------------------
    {kPage, "anon_pipe_write", C::pipe},
    {kPage, "pipe_write", C::pipe},
    {kPage, "copy_splice_read", C::pipe},  // splice from a file fills pipe pages
    {kPage, "push_pipe", C::pipe},
    {kPage, "append_pipe", C::pipe},
    {kObjects, "alloc_pipe_info", C::pipe},
    {kObjects, "pipe_resize_ring", C::pipe},

    // ---- sockets ----------------------------------------------------------------------------
    {kAny, "__alloc_skb", C::socket},
    {kAny, "alloc_skb*", C::socket},  // alloc_skb_with_frags, alloc_skb_for_msg
    {kAny, "kmalloc_reserve", C::socket},  // skb data
    {kAny, "__netdev_alloc_skb", C::socket},
    {kAny, "netdev_alloc_skb*", C::socket},
    {kAny, "__napi_alloc_skb", C::socket},
    {kAny, "napi_alloc_skb", C::socket},
    {kAny, "__netdev_alloc_frag*", C::socket},
    {kAny, "netdev_alloc_frag*", C::socket},
    {kAny, "__napi_alloc_frag*", C::socket},
    {kAny, "napi_alloc_frag*", C::socket},
    {kAny, "skb_page_frag_refill", C::socket},
    {kAny, "sk_page_frag_refill", C::socket},
    {kAny, "pskb_expand_head", C::socket},
    {kAny, "skb_clone", C::socket},
    {kAny, "skb_copy", C::socket},
    {kAny, "__pskb_copy_fclone", C::socket},
    {kAny, "skb_segment*", C::socket},
    {kAny, "page_pool_alloc*", C::socket},  // NIC receive buffers
    {kAny, "__page_pool_alloc*", C::socket},
    {kAny, "sk_alloc", C::socket},
    {kAny, "sk_prot_alloc", C::socket},
    {kAny, "sk_clone*", C::socket},
    {kAny, "sock_alloc_send_*", C::socket},
    {kAny, "sock_wmalloc", C::socket},
    {kAny, "sock_kmalloc", C::socket},
    {kAny, "sock_kmemdup", C::socket},
    {kAny, "tcp_stream_alloc_skb", C::socket},
    {kAny, "sk_stream_alloc_skb", C::socket},

    // ---- memory balloons ----------------------------------------------------------------------
    {kPage, "balloon_page_alloc", C::balloon},
    {kPage, "balloon_page_enqueue*", C::balloon},
    {kPage, "balloon_page_list_enqueue", C::balloon},
    {kPage, "fill_balloon", C::balloon},
    {kPage, "virtballoon_*", C::balloon},
    {kPage, "vmballoon_*", C::balloon},
    {kPage, "alloc_balloon_pages", C::balloon},  // hv_balloon
    {kPage, "decrease_reservation", C::balloon},  // xen balloon
    {kPage, "[virtio_balloon]", C::balloon},
    {kPage, "[vmw_balloon]", C::balloon},
    {kPage, "[hv_balloon]", C::balloon},
};

// The rules bucketed by the first character of their name pattern (bucket 256: module
// patterns), each bucket in table order: a frame is only tried against rules that can match it.
constexpr size_t kRuleCount = std::size(kRules);
static_assert(kRuleCount < 256);

struct RuleIndex {
  std::array<uint8_t, 258> start{};  // bucket b is order[start[b] .. start[b + 1])
  std::array<uint8_t, kRuleCount> order{};
};

constexpr size_t bucket_of(const FramePattern& p) {
  return p.how() == FramePattern::How::module ? 256 : static_cast<unsigned char>(p.text()[0]);
}

constexpr RuleIndex make_index() {
  RuleIndex ix;
  size_t n = 0;
  for (size_t b = 0; b <= 256; ++b) {
    ix.start[b] = static_cast<uint8_t>(n);
    for (size_t i = 0; i < kRuleCount; ++i)
      if (bucket_of(kRules[i].pattern) == b) ix.order[n++] = static_cast<uint8_t>(i);
  }
  ix.start[257] = static_cast<uint8_t>(n);
  return ix;
}

constexpr bool patterns_valid() {
  for (const Rule& r : kRules)
    if (r.pattern.text().empty()) return false;  // "*" or "[]": would match everything
  return true;
}
static_assert(patterns_valid());

constexpr RuleIndex kIndex = make_index();

// Index of the first frame that is neither tracer, allocator nor unknown (frames.size() if none).
size_t caller_index(std::span<const Frame> frames) noexcept {
  size_t i = 0;
  while (i < frames.size() &&
         (!frames[i].known() || is_tracer_frame(frames[i]) || is_allocator_frame(frames[i])))
    ++i;
  return i;
}

Category by_kind(kleak_kind kind) noexcept {
  switch (kind) {
    case KLEAK_KIND_KMALLOC:
    case KLEAK_KIND_SLAB: return C::slab;
    case KLEAK_KIND_PAGE: return C::page_direct;
    case KLEAK_KIND_VMALLOC: return C::vmalloc;
    case KLEAK_KIND_PERCPU: return C::percpu;
    default: return C::unknown;
  }
}


}  // namespace

Category classify(kleak_kind kind, std::span<const Frame> frames) noexcept {
  if (kind <= KLEAK_KIND_NONE || kind >= KLEAK_KIND_MAX) return C::unknown;
  const uint8_t bit = static_cast<uint8_t>(1u << kind);
  size_t caller = SIZE_MAX;  // computed on first use

  // First rule (in table order) of bucket `b` that applies to frame i, or kRuleCount.
  auto first_in = [&](size_t b, size_t i, std::string_view base, const Frame& f) -> size_t {
    for (size_t k = kIndex.start[b]; k < kIndex.start[b + 1]; ++k) {
      const Rule& r = kRules[kIndex.order[k]];
      if (!(r.kinds & bit) || !r.pattern.matches(base, f.module)) continue;
      if (r.at == At::caller) {
        if (caller == SIZE_MAX) caller = caller_index(frames);
        if (i != caller) continue;
      }
      return kIndex.order[k];
    }
    return kRuleCount;
  };

  for (size_t i = 0; i < frames.size(); ++i) {
    const Frame& f = frames[i];
    if (!f.known()) continue;
    const std::string_view base = base_name(f.func);
    size_t best = base.empty() ? kRuleCount
                               : first_in(static_cast<unsigned char>(base[0]), i, base, f);
    if (!f.module.empty()) best = std::min(best, first_in(256, i, base, f));
    if (best < kRuleCount) return kRules[best].category;
  }
  return by_kind(kind);
}

std::string_view interrupt_context(std::span<const Frame> frames) noexcept {
  static constexpr std::string_view kSoft[] = {"handle_softirqs", "__do_softirq", "do_softirq",
                                               "run_ksoftirqd", "net_rx_action", "rcu_core",
                                               "rcu_do_batch"};
  static constexpr std::string_view kHard[] = {"asm_common_interrupt", "common_interrupt",
                                               "handle_irq_event", "asm_exc_nmi", "exc_nmi"};
  for (const Frame& f : frames) {
    std::string_view name = base_name(f.func);
    for (auto s : kSoft)
      if (name == s) return "softirq";
    for (auto h : kHard)
      if (name == h) return "irq";
    if (name.starts_with("asm_sysvec_") || name.starts_with("__sysvec_")) return "irq";
  }
  return "";
}

}  // namespace kleak
