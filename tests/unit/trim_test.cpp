// Trimming of tracer plumbing and allocator frames from the innermost end of kernel stacks. The
// stacks are the ones this 6.18 kernel produced (ftrace stacktrace triggers on the kmem, vmalloc
// and percpu events), with the BPF program and raw tracepoint frames kleak's own programs add.
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "frame_text.h"

#include "kleak/frames.h"

namespace kleak {
namespace {

using test::frame;
using test::stack;

// The first frame the report shows.
std::string first_shown(const std::vector<Frame>& frames) {
  size_t n = trim_count(frames);
  return n < frames.size() ? frames[n].text() : "<none>";
}

TEST(Trim, RawTracepointPageAllocFromPipeWrite) {
  auto s = stack({"bpf_prog_2a1b8f9c0d3e4f56_kleak_page_alloc+0x5c [bpf]",
                  "bpf_trace_run2+0x7a",
                  "__bpf_trace_mm_page_alloc+0x2f",
                  "__alloc_frozen_pages_noprof+0x26b",
                  "alloc_pages_mpol+0x86",
                  "alloc_pages_noprof+0x4c",
                  "anon_pipe_write+0x1a8",
                  "vfs_write+0x398",
                  "ksys_write+0xba",
                  "do_syscall_64+0x71",
                  "entry_SYSCALL_64_after_hwframe+0x76"});
  EXPECT_EQ(trim_count(s), 6u);
  EXPECT_EQ(first_shown(s), "anon_pipe_write+0x1a8");
}

TEST(Trim, ClassicTracepointThroughPerf) {
  // BPF_PROG_TYPE_TRACEPOINT: tracepoint -> perf_trace_* -> trace_call_bpf -> program.
  auto s = stack({"bpf_get_stackid_tp+0x1e",
                  "bpf_prog_6deef7357e7b4530_kleak_kmalloc+0x8d [bpf]",
                  "trace_call_bpf+0xd4",
                  "perf_trace_run_bpf_submit+0x4e",
                  "perf_trace_kmalloc+0xc4",
                  "__traceiter_kmalloc+0x33",
                  "__kmalloc_cache_noprof+0x237",
                  "alloc_pipe_info+0x5d",
                  "create_pipe_files+0x3f",
                  "do_pipe2+0x4d"});
  EXPECT_EQ(first_shown(s), "alloc_pipe_info+0x5d");
}

TEST(Trim, FtraceEventFrameAndTrackCaller) {
  auto s = stack({"trace_event_raw_event_kmalloc+0x71",
                  "__kmalloc_node_track_caller_noprof+0x257",
                  "memdup_user_nul+0x2e",
                  "event_trigger_write+0x32",
                  "vfs_write+0xca"});
  EXPECT_EQ(first_shown(s), "event_trigger_write+0x32");
}

TEST(Trim, SlabPageShowsTheObjectsCaller) {
  // A new slab's page: the allocator frames go through the whole slab slow path, including a
  // compiler clone (.isra.0).
  auto s = stack({"bpf_prog_2a1b8f9c0d3e4f56_kleak_page_alloc+0x5c [bpf]",
                  "bpf_trace_run2+0x7a",
                  "__alloc_frozen_pages_noprof+0x26b",
                  "alloc_pages_mpol+0x86",
                  "allocate_slab+0x358",
                  "___slab_alloc+0x896",
                  "__slab_alloc.isra.0+0x2b",
                  "__kmalloc_noprof+0x409",
                  "ext4_htree_store_dirent+0x34",
                  "htree_dirblock_to_tree+0x160"});
  EXPECT_EQ(first_shown(s), "ext4_htree_store_dirent+0x34");
}

TEST(Trim, KmemCacheAlloc) {
  auto s = stack({"bpf_prog_6deef7357e7b4530_kleak_kmalloc+0x8d [bpf]",
                  "bpf_trace_run4+0x79",
                  "__bpf_trace_kmem_cache_alloc+0x2c",
                  "kmem_cache_alloc_lru_noprof+0x2d0",
                  "__d_alloc+0x32",
                  "d_alloc_parallel+0x59"});
  EXPECT_EQ(first_shown(s), "__d_alloc+0x32");
}

TEST(Trim, VmallocAreaShowsTheCaller) {
  auto s = stack({"bpf_prog_0f4e2d9a7c6b5e31_kleak_vmap_area+0x41 [bpf]",
                  "bpf_trace_run6+0x83",
                  "__bpf_trace_alloc_vmap_area+0x35",
                  "alloc_vmap_area+0x684",
                  "__get_vm_area_node+0xcd",
                  "__vmalloc_node_range_noprof+0x13c",
                  "__vmalloc_node_noprof+0x41",
                  "copy_process+0xe41",
                  "kernel_clone+0x94"});
  EXPECT_EQ(first_shown(s), "copy_process+0xe41");
}

TEST(Trim, KvmallocAndPercpu) {
  auto kv = stack({"trace_event_raw_event_kmalloc+0x71", "__kvmalloc_node_noprof+0x3a1",
                   "alloc_fdtable+0x78", "dup_fd+0x2d1", "copy_process+0x93a"});
  EXPECT_EQ(first_shown(kv), "alloc_fdtable+0x78");
  auto pcpu = stack({"trace_event_raw_event_percpu_alloc_percpu+0xac",
                     "pcpu_alloc_noprof+0x656",
                     "__percpu_counter_init_many+0x27",
                     "mm_init+0x3b8",
                     "copy_process+0x10ec"});
  EXPECT_EQ(first_shown(pcpu), "__percpu_counter_init_many+0x27");
}

TEST(Trim, UserFaultShowsTheFaultHandler) {
  auto s = stack({"trace_event_raw_event_mm_page_alloc+0x7a",
                  "__alloc_frozen_pages_noprof+0x26b",
                  "alloc_pages_mpol+0x86",
                  "vma_alloc_folio_noprof+0x61",
                  "do_anonymous_page+0x31e",
                  "__handle_mm_fault+0xa1e"});
  EXPECT_EQ(first_shown(s), "do_anonymous_page+0x31e");
}

TEST(Trim, ModuleCaller) {
  auto s = stack({"bpf_prog_2a1b8f9c0d3e4f56_kleak_page_alloc+0x5c [bpf]",
                  "bpf_trace_run2+0x7a",
                  "__alloc_frozen_pages_noprof+0x26b",
                  "alloc_pages_mpol+0x86",
                  "alloc_pages_noprof+0x4c",
                  "leaky_alloc_pages+0x2a [leaky]",
                  "leaky_write+0x42 [leaky]",
                  "vfs_write+0xca"});
  EXPECT_EQ(first_shown(s), "leaky_alloc_pages+0x2a [leaky]");
}

TEST(Trim, UnknownAddressStopsTrimming) {
  // The BPF program itself unresolved (bpf_jit_kallsyms=0): nothing is hidden.
  auto s = stack({"0xffffffffc0001234", "bpf_trace_run2+0x7a", "__alloc_frozen_pages_noprof+0x26b",
                  "alloc_pages_noprof+0x4c", "anon_pipe_write+0x1a8"});
  EXPECT_EQ(trim_count(s), 0u);
  // An unknown frame below the plumbing: the trimming stops on it.
  auto t = stack({"bpf_trace_run2+0x7a", "__alloc_frozen_pages_noprof+0x26b",
                  "0xffffffffc0a10034", "leaky_write+0x42 [leaky]"});
  EXPECT_EQ(trim_count(t), 2u);
  EXPECT_EQ(first_shown(t), "0xffffffffc0a10034");
}

TEST(Trim, NeverHidesEveryFrame) {
  auto s = stack({"bpf_trace_run2+0x7a", "__kmalloc_noprof+0x244", "kmalloc_trace_noprof+0x22"});
  EXPECT_EQ(trim_count(s), 2u);
  EXPECT_EQ(first_shown(s), "kmalloc_trace_noprof+0x22");
  EXPECT_EQ(trim_count(stack({"alloc_pages_noprof+0x4c"})), 0u);
  EXPECT_EQ(trim_count(std::vector<Frame>{}), 0u);
}

TEST(Trim, NothingToTrim) {
  auto s = stack({"anon_pipe_write+0x1a8", "vfs_write+0x398"});
  EXPECT_EQ(trim_count(s), 0u);
}

TEST(Trim, CallersNamedLikeAllocatorsAreKept) {
  // Real callers whose names share a prefix with the allocator or BPF plumbing.
  EXPECT_FALSE(is_allocator_frame(frame("folio_alloc_buffers+0xae")));
  EXPECT_FALSE(is_allocator_frame(frame("folio_alloc_swap+0x1c")));
  EXPECT_FALSE(is_tracer_frame(frame("bpf_prog_alloc_no_stats+0x3c")));
  EXPECT_FALSE(is_tracer_frame(frame("bpf_prog_load+0x6a1")));
  auto s = stack({"bpf_trace_run6+0x83", "alloc_vmap_area+0x684", "__get_vm_area_node+0xcd",
                  "__vmalloc_node_range_noprof+0x13c", "bpf_prog_alloc_no_stats+0x3c",
                  "bpf_prog_alloc+0x1f", "bpf_prog_load+0x6a1"});
  EXPECT_EQ(first_shown(s), "bpf_prog_alloc_no_stats+0x3c");
  auto b = stack({"trace_event_raw_event_kmem_cache_alloc+0xe1", "kmem_cache_alloc_noprof+0x227",
                  "alloc_buffer_head+0x1d", "folio_alloc_buffers+0xae"});
  EXPECT_EQ(first_shown(b), "alloc_buffer_head+0x1d");
}

TEST(Trim, EveryAllocatorEntryPointOfThisKernel) {
  // Names from this 6.18 kernel's kallsyms (most with the _noprof suffix of memory profiling).
  for (const char* name :
       {"__kmalloc_noprof", "__kmalloc_node_noprof", "__kmalloc_cache_noprof",
        "__kmalloc_cache_node_noprof", "__kmalloc_node_track_caller_noprof",
        "__kmalloc_large_noprof", "__kmalloc_large_node_noprof", "___kmalloc_large_node",
        "kmalloc_array_noprof.constprop.0", "kmalloc_nolock_noprof", "kzalloc_noprof.constprop.0",
        "krealloc_node_align_noprof", "__kvmalloc_node_noprof", "kvrealloc_node_align_noprof",
        "kmem_cache_alloc_noprof", "kmem_cache_alloc_node_noprof", "kmem_cache_alloc_lru_noprof",
        "kmem_cache_alloc_bulk_noprof", "kmem_cache_alloc_from_sheaf_noprof",
        "__kmem_cache_alloc_bulk", "__slab_alloc.isra.0", "___slab_alloc", "allocate_slab",
        "alloc_pages_noprof", "alloc_pages_mpol", "alloc_pages_bulk_noprof",
        "alloc_pages_exact_noprof", "__alloc_pages_noprof", "__alloc_pages_slowpath.constprop.0",
        "__alloc_frozen_pages_noprof", "alloc_frozen_pages_noprof", "get_page_from_freelist",
        "__rmqueue_pcplist", "post_alloc_hook", "__folio_alloc_noprof", "folio_alloc_noprof",
        "folio_alloc_mpol_noprof", "vma_alloc_folio_noprof", "get_free_pages_noprof",
        "get_zeroed_page_noprof", "vmalloc_noprof", "vzalloc_noprof", "vmalloc_node_noprof",
        "vmalloc_huge_node_noprof", "__vmalloc_noprof", "__vmalloc_node_noprof",
        "__vmalloc_node_range_noprof", "__vmalloc_node_range_noprof.cold", "alloc_vmap_area",
        "__get_vm_area_node", "__get_vm_area_caller", "pcpu_alloc_noprof",
        "pcpu_alloc_noprof.cold", "mempool_alloc_noprof", "kmemdup_noprof", "kstrdup",
        "memdup_user_nul"}) {
    EXPECT_TRUE(is_allocator_frame(frame(std::string(name) + "+0x10"))) << name;
  }
}

TEST(Trim, EveryTracerFrame) {
  for (const char* f :
       {"bpf_prog_6deef7357e7b4530_kleak_kmalloc+0x8d [bpf]", "bpf_trampoline_6442493160+0x4f [bpf]",
        "ftrace_trampoline+0x80 [__builtin__ftrace]", "bpf_trace_run1+0x60", "bpf_trace_run12+0x90",
        "__bpf_trace_kmalloc+0x2c", "__traceiter_mm_page_alloc+0x33",
        "trace_event_raw_event_mm_page_alloc+0x7a", "perf_trace_kmalloc+0xc4",
        "perf_tp_event+0x1a2", "trace_call_bpf+0xd4", "bpf_get_stackid+0x72",
        "bpf_get_stackid_raw_tp+0x58", "bpf_get_stackid_tp+0x1e", "__bpf_prog_enter_recur+0x20",
        "kprobe_ftrace_handler+0x130", "kprobe_dispatcher+0x46", "kprobe_perf_func+0x2b5"}) {
    EXPECT_TRUE(is_tracer_frame(frame(f))) << f;
  }
  EXPECT_FALSE(is_tracer_frame(frame("anon_pipe_write+0x1a8")));
  EXPECT_FALSE(is_tracer_frame(frame("0xffffffffc0001234")));
}

TEST(FramePattern, Syntax) {
  Frame slab = frame("__slab_alloc.isra.0+0x2b");
  EXPECT_TRUE(frame_matches(slab, "__slab_alloc"));  // exact on the base name
  EXPECT_TRUE(frame_matches(slab, "__slab*"));
  EXPECT_FALSE(frame_matches(slab, "___slab_alloc"));
  EXPECT_FALSE(frame_matches(slab, "__slab"));
  EXPECT_FALSE(frame_matches(slab, "[bpf]"));
  Frame mod = frame("fill_balloon+0x3c [virtio_balloon]");
  EXPECT_TRUE(frame_matches(mod, "[virtio_balloon]"));
  EXPECT_TRUE(frame_matches(mod, "fill_balloon"));
  EXPECT_FALSE(frame_matches(mod, "[virtio]"));
  EXPECT_FALSE(frame_matches(frame("0xffffffffc0a01234"), "*"));
  EXPECT_FALSE(frame_matches(mod, ""));
  EXPECT_EQ(base_name("pcpu_alloc_noprof.cold"), "pcpu_alloc_noprof");
  EXPECT_EQ(base_name("kmalloc_array_noprof.constprop.0"), "kmalloc_array_noprof");
  EXPECT_EQ(base_name("vfs_write"), "vfs_write");
}

}  // namespace
}  // namespace kleak
