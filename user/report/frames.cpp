// Frames: printing, pattern matching, and trimming of the tracer's and allocator's own frames.
#include <algorithm>

#include "kleak/frames.h"

namespace kleak {

namespace {

// Pattern syntax: see frame_matches() in frames.h.

// The tracer's plumbing, innermost in every stack: the BPF program, how the tracepoint reached
// it, and the stack helper it called.
constexpr FramePattern kTracerPatterns[] = {
    "[bpf]",                // JIT-ed BPF programs (bpf_prog_<tag>_<name>) and trampolines
    "[__builtin__ftrace]",  // ftrace trampolines (kprobes and fentry on ftrace)
    "bpf_trace_run*",       // raw tracepoint -> BPF (raw_tp, tp_btf)
    "__bpf_trace_*",
    "__traceiter_*",
    "trace_event_raw_event_*",  // classic tracepoint -> perf -> BPF
    "perf_trace_*",
    "perf_tp_*",
    "trace_call_bpf",
    "__bpf_prog_run*",
    "bpf_get_stack*",  // bpf_get_stackid, bpf_get_stackid_raw_tp, bpf_get_stack_tp, ...
    "__bpf_prog_enter*",  // fentry/fexit trampolines
    "__bpf_prog_exit*",
    "__bpf_tramp_enter",
    "__bpf_tramp_exit",
    "kprobe_ftrace_handler",  // kprobes, where vmalloc is probed on older kernels
    "kprobe_dispatcher",
    "kprobe_perf_func",
    "kretprobe_dispatcher",
    "kretprobe_perf_func",
    "__kretprobe_trampoline_handler",
    "kretprobe_trampoline_handler",
    "kretprobe_trampoline",
    "rethook_trampoline_handler",
    "arch_rethook_trampoline*",
    "__kretprobe_trampoline",
    "kprobe_multi_link_handler",  // kprobe_multi (fprobe) links
    "kprobe_multi_link_exit_handler",
    "kprobe_multi_link_prog_run",
    "fprobe_handler",
    "fprobe_entry",
    "fprobe_ftrace_entry",
};

// The allocator itself and thin wrappers around it. On 6.x kernels most entry points carry a
// _noprof suffix (__kmalloc_noprof, kmem_cache_alloc_noprof, alloc_pages_noprof): prefixes.
constexpr FramePattern kAllocatorPatterns[] = {
    // kmalloc and slab
    "__kmalloc*",  // __kmalloc_noprof, __kmalloc_node_*, __kmalloc_cache_*, __kmalloc_large_*
    "___kmalloc_large*",
    "kmalloc*",  // kmalloc_trace, kmalloc_large, kmalloc_node, kmalloc_array, kmalloc_reserve
    "__do_kmalloc_node*",
    "kzalloc*",
    "kcalloc*",
    "krealloc*",
    "__kvmalloc*",
    "kvmalloc*",
    "kvzalloc*",
    "kvcalloc*",
    "kvrealloc*",
    "kmemdup*",  // allocate-and-copy helpers: the caller matters, not the helper
    "kstrdup*",
    "kstrndup*",
    "kvmemdup*",
    "memdup_user*",
    "vmemdup_user*",
    "mempool_alloc*",
    "kmem_cache_alloc*",  // kmem_cache_alloc_noprof, _node_, _lru_, _bulk_, _from_sheaf_
    "__kmem_cache_alloc*",
    "kmem_cache_zalloc*",
    "slab_alloc*",
    "__slab_alloc*",
    "___slab_alloc*",
    "alloc_slab_page",
    "allocate_slab",
    "new_slab",
    // page allocator
    "__alloc_pages*",
    "alloc_pages*",  // alloc_pages_noprof, alloc_pages_mpol, alloc_pages_exact_*, _bulk_
    "__alloc_frozen_pages*",
    "alloc_frozen_pages*",
    "get_page_from_freelist",
    "rmqueue*",
    "__rmqueue*",
    "post_alloc_hook",
    "prep_new_page",
    "__folio_alloc*",
    "folio_alloc",  // not folio_alloc*: folio_alloc_buffers and folio_alloc_swap are callers
    "folio_alloc_noprof",
    "folio_alloc_mpol*",
    "vma_alloc_folio*",
    "alloc_page_vma*",
    "__get_free_pages*",
    "get_free_pages*",
    "get_zeroed_page*",
    // vmalloc
    "vmalloc*",
    "__vmalloc*",  // __vmalloc_noprof, __vmalloc_node_*, __vmalloc_area_node
    "vzalloc*",
    "alloc_vmap_area",
    "__get_vm_area*",
    "vm_area_alloc_pages",
    // percpu
    "pcpu_alloc*",
    "__alloc_percpu*",
    "alloc_percpu*",
};

bool matches_any(const Frame& f, std::span<const FramePattern> patterns) noexcept {
  if (!f.known()) return false;
  std::string_view base = base_name(f.func);
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const FramePattern& p) { return p.matches(base, f.module); });
}

}  // namespace

bool frame_matches(const Frame& frame, std::string_view pattern) noexcept {
  return !pattern.empty() && FramePattern(pattern).matches(frame);
}

bool is_tracer_frame(const Frame& frame) noexcept { return matches_any(frame, kTracerPatterns); }

bool is_allocator_frame(const Frame& frame) noexcept {
  return matches_any(frame, kAllocatorPatterns);
}

size_t trim_count(std::span<const Frame> frames) noexcept {
  if (frames.empty()) return 0;
  size_t n = 0;
  while (n + 1 < frames.size() && frames[n].known() &&
         (is_tracer_frame(frames[n]) || is_allocator_frame(frames[n])))
    ++n;
  return n;
}

}  // namespace kleak
