// Classification of outstanding allocations by kind and stack. Stacks are the ones this 6.18
// kernel produced (ftrace stacktrace triggers on kmem/vmalloc/percpu events while running a
// pipe, sockets, anonymous and file memory, fork and exec), with kleak's BPF frames on top;
// the balloon and hugetlb ones follow the kernel sources.
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "frame_text.h"

#include "kleak/classify.h"
#include "kleak/symbolize.h"

namespace kleak {
namespace {

using test::frame;
using test::stack;

// What kleak's BPF programs put on top of every stack (raw tracepoint path).
constexpr std::string_view kPageTop[] = {"bpf_prog_2a1b8f9c0d3e4f56_kleak_page_alloc+0x5c [bpf]",
                                         "bpf_trace_run2+0x7a", "__bpf_trace_mm_page_alloc+0x2f"};

// A page record: BPF frames, the page allocator, then `callers`.
std::vector<Frame> page_stack(std::initializer_list<std::string_view> callers) {
  std::vector<Frame> out;
  for (auto s : kPageTop) out.push_back(frame(s));
  for (auto s : {"__alloc_frozen_pages_noprof+0x26b", "alloc_pages_mpol+0x86"})
    out.push_back(frame(s));
  for (auto s : callers) out.push_back(frame(s));
  return out;
}

Category page(std::initializer_list<std::string_view> callers) {
  return classify(KLEAK_KIND_PAGE, page_stack(callers));
}

// ---- kind defaults ---------------------------------------------------------------------------

TEST(Classify, SlabCacheObjectIsSlab) {
  auto s = stack({"bpf_prog_6deef7357e7b4530_kleak_kmalloc+0x8d [bpf]", "bpf_trace_run4+0x79",
                  "kmem_cache_alloc_noprof+0x227", "vm_area_dup+0x2c", "dup_mmap+0x20b",
                  "copy_process+0x1107", "kernel_clone+0x94"});
  EXPECT_EQ(classify(KLEAK_KIND_SLAB, s), Category::slab);
}

TEST(Classify, KmallocDefaultsToSlab) {
  auto s = stack({"bpf_prog_6deef7357e7b4530_kleak_kmalloc+0x8d [bpf]", "bpf_trace_run6+0x83",
                  "__kmalloc_noprof+0x244", "ext4_htree_store_dirent+0x34",
                  "htree_dirblock_to_tree+0x160", "ext4_htree_fill_tree+0xb4"});
  EXPECT_EQ(classify(KLEAK_KIND_KMALLOC, s), Category::slab);
}

TEST(Classify, VmallocDefault) {
  auto s = stack({"bpf_prog_0f4e2d9a7c6b5e31_kleak_vmap_area+0x41 [bpf]", "bpf_trace_run6+0x83",
                  "alloc_vmap_area+0x684", "__get_vm_area_node+0xcd",
                  "__vmalloc_node_range_noprof+0x13c", "__vmalloc_node_noprof+0x41",
                  "__bpf_map_area_alloc+0xa5", "bpf_map_area_alloc+0x10", "array_map_alloc+0x6e"});
  EXPECT_EQ(classify(KLEAK_KIND_VMALLOC, s), Category::vmalloc);
}

TEST(Classify, PercpuDefault) {
  auto s = stack({"trace_event_raw_event_percpu_alloc_percpu+0xac", "pcpu_alloc_noprof+0x656",
                  "__percpu_counter_init_many+0x27", "mm_init+0x3b8", "copy_process+0x10ec"});
  EXPECT_EQ(classify(KLEAK_KIND_PERCPU, s), Category::percpu);
}

TEST(Classify, OtherPagesArePageDirect) {
  // The `leaky` test module taking pages straight from the page allocator.
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "leaky_alloc_pages+0x2a [leaky]",
                  "leaky_write+0x42 [leaky]", "vfs_write+0xca", "ksys_write+0x66"}),
            Category::page_direct);
  // mmu_gather batch pages.
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "get_free_pages_noprof+0x12", "tlb_next_batch+0x5a",
                  "__tlb_remove_folio_pages+0x63", "unmap_page_range+0x8bc", "unmap_vmas+0xd1"}),
            Category::page_direct);
}

TEST(Classify, EmptyOrUnknownStacksFallBackToTheKind) {
  std::vector<Frame> none;
  EXPECT_EQ(classify(KLEAK_KIND_PAGE, none), Category::page_direct);
  EXPECT_EQ(classify(KLEAK_KIND_KMALLOC, none), Category::slab);
  EXPECT_EQ(classify(KLEAK_KIND_SLAB, none), Category::slab);
  EXPECT_EQ(classify(KLEAK_KIND_VMALLOC, none), Category::vmalloc);
  EXPECT_EQ(classify(KLEAK_KIND_PERCPU, none), Category::percpu);
  auto unknown = stack({"0xffffffffc0001234", "0xffffffffc0a10034"});
  EXPECT_EQ(classify(KLEAK_KIND_PAGE, unknown), Category::page_direct);
}

TEST(Classify, InvalidKindIsUnknown) {
  auto s = page_stack({"anon_pipe_write+0x1a8"});
  EXPECT_EQ(classify(KLEAK_KIND_NONE, s), Category::unknown);
  EXPECT_EQ(classify(KLEAK_KIND_MAX, s), Category::unknown);
  EXPECT_EQ(classify(static_cast<kleak_kind>(7), s), Category::unknown);
}

// ---- kmalloc large ---------------------------------------------------------------------------

TEST(Classify, KmallocOnTheLargePath) {
  auto s = stack({"bpf_prog_6deef7357e7b4530_kleak_kmalloc+0x8d [bpf]", "bpf_trace_run6+0x83",
                  "__kmalloc_large_node_noprof+0x2a", "__kvmalloc_node_noprof+0x3a1",
                  "alloc_fdtable+0x78", "dup_fd+0x2d1", "copy_process+0x93a"});
  EXPECT_EQ(classify(KLEAK_KIND_KMALLOC, s), Category::kmalloc_large);
  auto t = stack({"trace_event_raw_event_kmalloc+0x71", "__kmalloc_large_noprof+0x1d",
                  "leaky_kmalloc+0x1c [leaky]"});
  EXPECT_EQ(classify(KLEAK_KIND_KMALLOC, t), Category::kmalloc_large);
}

// ---- backing pages -------------------------------------------------------------------------

TEST(Classify, SlabBackingPage) {
  EXPECT_EQ(page({"allocate_slab+0x358", "___slab_alloc+0x896", "__slab_alloc.isra.0+0x2b",
                  "__kmalloc_noprof+0x409", "ext4_htree_store_dirent+0x34",
                  "htree_dirblock_to_tree+0x160"}),
            Category::slab_backing);
  // On kernels where allocate_slab is inlined, ___slab_alloc is enough.
  EXPECT_EQ(page({"___slab_alloc+0x896", "kmem_cache_alloc_lru_noprof+0x2d0", "__d_alloc+0x32"}),
            Category::slab_backing);
}

TEST(Classify, SlabPageUnderAPipeIsSlabBackingNotPipe) {
  EXPECT_EQ(page({"allocate_slab+0x358", "___slab_alloc+0x896", "__slab_alloc.isra.0+0x2b",
                  "__kmalloc_cache_noprof+0x3f0", "alloc_pipe_info+0x5d",
                  "create_pipe_files+0x3f", "do_pipe2+0x4d", "__x64_sys_pipe2+0x14"}),
            Category::slab_backing);
  // ... and under a pipe write (memcg object vector of an skb-less slab on the write path).
  EXPECT_EQ(page({"allocate_slab+0x358", "___slab_alloc+0x896", "__slab_alloc.isra.0+0x2b",
                  "__kmalloc_node_noprof+0x4f1", "alloc_slab_obj_exts+0x58",
                  "__memcg_slab_post_alloc_hook+0x1ed", "kmem_cache_alloc_noprof+0x3a4",
                  "anon_pipe_write+0x2f4", "vfs_write+0x398"}),
            Category::slab_backing);
}

TEST(Classify, SlabPageUnderAUserFaultIsSlabBacking) {
  EXPECT_EQ(page({"allocate_slab+0x358", "___slab_alloc+0x896", "__slab_alloc.isra.0+0x2b",
                  "kmem_cache_alloc_noprof+0x3a4", "__anon_vma_prepare+0x40",
                  "__vmf_anon_prepare+0x5a", "do_anonymous_page+0x5e", "__handle_mm_fault+0xa1e",
                  "handle_mm_fault+0xd0"}),
            Category::slab_backing);
}

TEST(Classify, KmallocLargeBackingPage) {
  EXPECT_EQ(page({"___kmalloc_large_node+0x5d", "__kmalloc_large_node_noprof+0x1d",
                  "__kvmalloc_node_noprof+0x3a1", "alloc_fdtable+0x78", "dup_fd+0x2d1"}),
            Category::kmalloc_large_backing);
  EXPECT_EQ(page({"__kmalloc_large_noprof+0x1d", "leaky_kmalloc+0x1c [leaky]"}),
            Category::kmalloc_large_backing);
}

TEST(Classify, VmallocBackingPage) {
  // The pages of a task stack: the vmalloc record is the kernel_stack, its pages are backing.
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "__vmalloc_node_range_noprof+0x37f",
                  "__vmalloc_node_noprof+0x41", "copy_process+0xe41", "kernel_clone+0x94"}),
            Category::vmalloc_backing);
  EXPECT_EQ(page({"alloc_pages_bulk_noprof+0x1a4", "vm_area_alloc_pages+0x12e",
                  "__vmalloc_area_node+0x1c3", "__vmalloc_node_range_noprof+0x2b1",
                  "vzalloc_noprof+0x1d", "n_tty_open+0x1a"}),
            Category::vmalloc_backing);
}

TEST(Classify, PercpuBackingPage) {
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "pcpu_populate_chunk+0x4b", "pcpu_alloc_noprof+0x6b7",
                  "__percpu_counter_init_many+0x27", "mm_init+0x3b8"}),
            Category::percpu_backing);
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "pcpu_populate_chunk+0x4b",
                  "pcpu_balance_workfn+0x41d", "process_one_work+0x18b", "worker_thread+0x256"}),
            Category::percpu_backing);
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "pcpu_create_chunk+0x3a", "pcpu_balance_workfn+0x2c8",
                  "process_one_work+0x18b"}),
            Category::percpu_backing);
}

// ---- page tables and stacks ----------------------------------------------------------------

TEST(Classify, PageTables) {
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "pte_alloc_one+0x19", "__pte_alloc+0x26",
                  "copy_page_range+0xd36", "dup_mmap+0x3d0", "copy_process+0x1107"}),
            Category::page_tables);
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "__pmd_alloc+0x2e", "__handle_mm_fault+0x8a2",
                  "handle_mm_fault+0xd0", "exc_page_fault+0x176", "asm_exc_page_fault+0x22"}),
            Category::page_tables);
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "__pud_alloc+0x30", "copy_page_range+0x1aca"}),
            Category::page_tables);
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "pgd_alloc+0x35", "mm_init+0x1d8",
                  "alloc_bprm+0xc8", "do_execveat_common.isra.0+0x8d"}),
            Category::page_tables);
  // The page table of a fresh anonymous mapping: pte, not the anonymous page.
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "pte_alloc_one+0x19", "__pte_alloc+0x26",
                  "do_anonymous_page+0x29d", "__handle_mm_fault+0xa1e"}),
            Category::page_tables);
}

TEST(Classify, KernelPageTablesUnderVmallocArePageTables) {
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "__pte_alloc_kernel+0x1f",
                  "vmap_small_pages_range_noflush+0x2e6", "__vmap_pages_range_noflush+0x19",
                  "vmap_pages_range+0x2c", "__vmalloc_node_range_noprof+0x4a2",
                  "__vmalloc_node_noprof+0x41", "copy_process+0xe41"}),
            Category::page_tables);
}

TEST(Classify, KernelStack) {
  // 6.18 inlines alloc_thread_stack_node into copy_process.
  auto vm = stack({"bpf_prog_0f4e2d9a7c6b5e31_kleak_vmap_area+0x41 [bpf]", "bpf_trace_run6+0x83",
                   "alloc_vmap_area+0x684", "__get_vm_area_node+0xcd",
                   "__vmalloc_node_range_noprof+0x13c", "__vmalloc_node_noprof+0x41",
                   "copy_process+0xe41", "kernel_clone+0x94", "__do_sys_clone+0x65"});
  EXPECT_EQ(classify(KLEAK_KIND_VMALLOC, vm), Category::kernel_stack);
  // Older kernels keep the helpers.
  auto old = stack({"alloc_vmap_area+0x3a8", "__get_vm_area_node+0x92",
                    "__vmalloc_node_range+0xb2", "alloc_thread_stack_node+0xd5",
                    "dup_task_struct+0x4d", "copy_process+0x1e1"});
  EXPECT_EQ(classify(KLEAK_KIND_VMALLOC, old), Category::kernel_stack);
  // Without VMAP_STACK the stack is whole pages.
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "alloc_thread_stack_node+0x2c",
                  "dup_task_struct+0x4d", "copy_process+0x1e1"}),
            Category::kernel_stack);
}

TEST(Classify, OtherAllocationsOfForkAreNotKernelStacks) {
  // task_struct itself.
  auto task = stack({"trace_event_raw_event_kmem_cache_alloc+0xe1",
                     "kmem_cache_alloc_node_noprof+0x1f8", "copy_process+0x18a",
                     "kernel_clone+0x94"});
  EXPECT_EQ(classify(KLEAK_KIND_SLAB, task), Category::slab);
  // A big fd table falling back to vmalloc: copy_process is on the stack but not the caller.
  auto fdt = stack({"alloc_vmap_area+0x684", "__get_vm_area_node+0xcd",
                    "__vmalloc_node_range_noprof+0x13c", "__kvmalloc_node_noprof+0x4c4",
                    "alloc_fdtable+0x78", "dup_fd+0x2d1", "copy_process+0x93a", "kernel_clone+0x94"});
  EXPECT_EQ(classify(KLEAK_KIND_VMALLOC, fdt), Category::vmalloc);
  // The vm_struct of the stack area, kmalloc'ed on the way.
  auto area = stack({"trace_event_raw_event_kmalloc+0x71", "__kmalloc_cache_node_noprof+0x20d",
                     "__get_vm_area_node+0x80", "__vmalloc_node_range_noprof+0x13c",
                     "__vmalloc_node_noprof+0x41", "copy_process+0xe41"});
  EXPECT_EQ(classify(KLEAK_KIND_KMALLOC, area), Category::slab);
}

// ---- user memory ---------------------------------------------------------------------------

TEST(Classify, AnonymousPages) {
  EXPECT_EQ(page({"vma_alloc_folio_noprof+0x61", "do_anonymous_page+0x31e",
                  "__handle_mm_fault+0xa1e", "handle_mm_fault+0xd0", "exc_page_fault+0x176",
                  "asm_exc_page_fault+0x22"}),
            Category::user_anon);
  // Copy on write (wp_page_copy inlined into do_wp_page).
  EXPECT_EQ(page({"vma_alloc_folio_noprof+0x61", "do_wp_page+0x293", "__handle_mm_fault+0x9fa",
                  "handle_mm_fault+0xd0"}),
            Category::user_anon);
  // Private file mapping COW (do_cow_fault inlined into do_fault).
  EXPECT_EQ(page({"vma_alloc_folio_noprof+0x61", "do_fault+0x2c6", "__handle_mm_fault+0x7fc",
                  "handle_mm_fault+0xd0", "exc_page_fault+0x176", "asm_exc_page_fault+0x22",
                  "elf_load+0x28a"}),
            Category::user_anon);
}

TEST(Classify, HugeSwapAndHugetlbPagesAreUserAnon) {
  EXPECT_EQ(page({"vma_alloc_anon_folio_pmd+0x3e", "do_huge_pmd_anonymous_page+0xb8",
                  "__handle_mm_fault+0x64c", "handle_mm_fault+0xd0"}),
            Category::user_anon);
  EXPECT_EQ(page({"folio_alloc_mpol_noprof+0x14", "__read_swap_cache_async+0x14e",
                  "swap_cluster_readahead+0x17d", "swapin_readahead+0x7a", "do_swap_page+0x2a1",
                  "__handle_mm_fault+0x6da"}),
            Category::user_anon);
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "alloc_pool_huge_folio+0x8e",
                  "__nr_hugepages_store_common+0x2b1", "hugetlb_sysctl_handler_common+0xde",
                  "proc_sys_call_handler+0x15e"}),
            Category::user_anon);
}

TEST(Classify, UserFaultInsideAPipeCopyIsUserAnon) {
  // The reader's buffer faulted in while the pipe copies into it: the nearest owner wins.
  EXPECT_EQ(page({"vma_alloc_folio_noprof+0x61", "do_anonymous_page+0x31e",
                  "__handle_mm_fault+0xa1e", "handle_mm_fault+0xd0", "exc_page_fault+0x176",
                  "asm_exc_page_fault+0x22", "_copy_to_iter+0x8e", "copy_page_to_iter+0x8d",
                  "anon_pipe_read+0x1c2", "vfs_read+0x2f0"}),
            Category::user_anon);
}

TEST(Classify, PageCache) {
  EXPECT_EQ(page({"folio_alloc_noprof+0x57", "page_cache_ra_unbounded+0x151",
                  "filemap_fault+0x3c9", "__do_fault+0x33", "do_fault+0x1c1",
                  "__handle_mm_fault+0x7fc"}),
            Category::page_cache);
  EXPECT_EQ(page({"folio_alloc_noprof+0x57", "page_cache_ra_order+0x1c5",
                  "filemap_get_pages+0x14f", "filemap_read+0xda", "vfs_read+0x26c"}),
            Category::page_cache);
  // Buffer cache of the block device under ext4 metadata.
  EXPECT_EQ(page({"folio_alloc_noprof+0x57", "__filemap_get_folio+0x200", "__getblk_slow+0x7d",
                  "ext4_getblk+0xac", "ext4_bread+0xe"}),
            Category::page_cache);
  // Buffered write.
  EXPECT_EQ(page({"folio_alloc_noprof+0x57", "__filemap_get_folio+0x200",
                  "ext4_da_write_begin+0x10e", "generic_perform_write+0xa4"}),
            Category::page_cache);
}

TEST(Classify, ShmemIsPageCache) {
  // A shared anonymous mapping is shmem.
  EXPECT_EQ(page({"folio_alloc_mpol_noprof+0x14", "shmem_alloc_folio+0x6d",
                  "shmem_alloc_and_add_folio+0x10f", "shmem_get_folio_gfp+0x25e",
                  "shmem_fault+0x7a", "__do_fault+0x33", "do_fault+0x3e1",
                  "__handle_mm_fault+0x7fc"}),
            Category::page_cache);
}

TEST(Classify, UserMemoryRulesOnlyApplyToPages) {
  // The anon_vma of a faulting process is a kernel object.
  auto s = stack({"trace_event_raw_event_kmem_cache_alloc+0xe1", "kmem_cache_alloc_noprof+0x227",
                  "__anon_vma_prepare+0x40", "__vmf_anon_prepare+0x5a", "do_anonymous_page+0x5e",
                  "__handle_mm_fault+0xa1e"});
  EXPECT_EQ(classify(KLEAK_KIND_SLAB, s), Category::slab);
  // xarray nodes of the shmem mapping.
  auto x = stack({"trace_event_raw_event_kmem_cache_alloc+0xe1",
                  "kmem_cache_alloc_lru_noprof+0x2d0", "xas_alloc+0x9c", "xas_create+0x5e",
                  "xas_store+0x54", "shmem_add_to_page_cache+0x11a",
                  "shmem_alloc_and_add_folio+0x16d", "shmem_get_folio_gfp+0x25e"});
  EXPECT_EQ(classify(KLEAK_KIND_SLAB, x), Category::slab);
}

// ---- pipes, sockets, balloons ----------------------------------------------------------------

TEST(Classify, PipePages) {
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "anon_pipe_write+0x1a8", "vfs_write+0x398",
                  "ksys_write+0xba", "do_syscall_64+0x71"}),
            Category::pipe);
  // Before 6.15 the write handler was pipe_write.
  EXPECT_EQ(page({"alloc_pages+0x8b", "pipe_write+0x1e6", "vfs_write+0x2ce"}), Category::pipe);
  // splice(file -> pipe).
  EXPECT_EQ(page({"folio_alloc_noprof+0x57", "copy_splice_read+0x9a", "splice_file_to_pipe+0x7b",
                  "do_splice+0x5ce", "__do_splice+0xab", "__x64_sys_splice+0xea"}),
            Category::pipe);
}

TEST(Classify, PipeObjects) {
  auto info = stack({"trace_event_raw_event_kmalloc+0x71", "__kmalloc_cache_noprof+0x237",
                     "alloc_pipe_info+0x5d", "create_pipe_files+0x3f", "do_pipe2+0x4d"});
  EXPECT_EQ(classify(KLEAK_KIND_KMALLOC, info), Category::pipe);
  auto bufs = stack({"trace_event_raw_event_kmalloc+0x71", "__kmalloc_noprof+0x244",
                     "alloc_pipe_info+0xbc", "create_pipe_files+0x3f", "do_pipe2+0x4d"});
  EXPECT_EQ(classify(KLEAK_KIND_KMALLOC, bufs), Category::pipe);
  auto resize = stack({"trace_event_raw_event_kmalloc+0x71", "__kmalloc_noprof+0x244",
                       "pipe_resize_ring+0x5b", "pipe_fcntl+0x16d", "do_fcntl+0x4a2"});
  EXPECT_EQ(classify(KLEAK_KIND_KMALLOC, resize), Category::pipe);
}

TEST(Classify, SocketPages) {
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "alloc_skb_with_frags+0xc3",
                  "sock_alloc_send_pskb+0x1ec", "unix_stream_sendmsg+0x14e",
                  "__sys_sendto+0x1cb"}),
            Category::socket);
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "skb_page_frag_refill+0xa1",
                  "sk_page_frag_refill+0x1d", "tcp_sendmsg_locked+0x236", "tcp_sendmsg+0x2b"}),
            Category::socket);
}

TEST(Classify, SocketObjects) {
  auto head = stack({"trace_event_raw_event_kmem_cache_alloc+0xe1",
                     "kmem_cache_alloc_node_noprof+0x1f8", "__alloc_skb+0x147",
                     "alloc_skb_with_frags+0x54", "sock_alloc_send_pskb+0x1ec"});
  EXPECT_EQ(classify(KLEAK_KIND_SLAB, head), Category::socket);
  auto data = stack({"trace_event_raw_event_kmalloc+0x71",
                     "__kmalloc_node_track_caller_noprof+0x257", "kmalloc_reserve+0x64",
                     "__alloc_skb+0x80", "tcp_stream_alloc_skb+0x24", "tcp_connect+0x343"});
  EXPECT_EQ(classify(KLEAK_KIND_KMALLOC, data), Category::socket);
  auto sk = stack({"trace_event_raw_event_kmem_cache_alloc+0xe1", "kmem_cache_alloc_noprof+0x227",
                   "sk_prot_alloc+0x32", "sk_alloc+0x2c", "unix_create1+0x60"});
  EXPECT_EQ(classify(KLEAK_KIND_SLAB, sk), Category::socket);
}

TEST(Classify, ReceiveBufferInAnInterruptOnTopOfAUserFault) {
  // The interrupted page fault is further out than the NAPI poll: socket.
  EXPECT_EQ(page({"__page_pool_alloc_netmems_slow+0x3c", "page_pool_alloc_netmems+0x32",
                  "virtnet_poll+0x2f4", "__napi_poll+0x2b", "net_rx_action+0x31a",
                  "handle_softirqs+0xd8", "__irq_exit_rcu+0x91", "common_interrupt+0x85",
                  "asm_common_interrupt+0x26", "clear_page_erms+0xb", "vma_alloc_folio_noprof+0x61",
                  "do_anonymous_page+0x31e", "__handle_mm_fault+0xa1e"}),
            Category::socket);
}

TEST(Classify, BalloonPages) {
  // virtio_balloon inflating: balloon_page_alloc in vmlinux, called from the module.
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "balloon_page_alloc+0x1b",
                  "fill_balloon+0x6e [virtio_balloon]",
                  "update_balloon_size_func+0x5a [virtio_balloon]", "process_one_work+0x18b",
                  "worker_thread+0x256", "kthread+0xfc"}),
            Category::balloon);
  // Any page taken by the balloon module itself (free page hinting), whatever the function.
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "get_free_page_and_send+0x5e [virtio_balloon]",
                  "send_free_pages+0x2f [virtio_balloon]",
                  "report_free_page_func+0x4a [virtio_balloon]", "process_one_work+0x18b"}),
            Category::balloon);
  // The same function names in another module are not a balloon.
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "get_free_page_and_send+0x5e [leaky]"}),
            Category::page_direct);
  // VMware balloon (builtin).
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "vmballoon_alloc_page_list+0x8f",
                  "vmballoon_inflate+0x10a", "vmballoon_work+0x2a5", "process_one_work+0x18b"}),
            Category::balloon);
  // Hyper-V.
  EXPECT_EQ(page({"alloc_pages_noprof+0x4c", "alloc_balloon_pages+0x6b [hv_balloon]",
                  "balloon_up+0x11e [hv_balloon]", "process_one_work+0x18b"}),
            Category::balloon);
}

// ---- names and sets ------------------------------------------------------------------------

TEST(Category, NamesAreUniqueAndRoundTrip) {
  std::set<std::string_view> seen;
  for (size_t i = 0; i < kCategoryCount; ++i) {
    auto c = static_cast<Category>(i);
    std::string_view n = category_name(c);
    EXPECT_FALSE(n.empty());
    EXPECT_TRUE(seen.insert(n).second) << n;
    EXPECT_EQ(category_from_name(n), c) << n;
  }
  EXPECT_EQ(category_from_name("Slab"), std::nullopt);
  EXPECT_EQ(category_from_name(""), std::nullopt);
}

TEST(Category, StableJsonNames) {
  EXPECT_EQ(category_name(Category::slab), "slab");
  EXPECT_EQ(category_name(Category::kmalloc_large), "kmalloc_large");
  EXPECT_EQ(category_name(Category::vmalloc), "vmalloc");
  EXPECT_EQ(category_name(Category::percpu), "percpu");
  EXPECT_EQ(category_name(Category::slab_backing), "slab_backing");
  EXPECT_EQ(category_name(Category::kmalloc_large_backing), "kmalloc_large_backing");
  EXPECT_EQ(category_name(Category::vmalloc_backing), "vmalloc_backing");
  EXPECT_EQ(category_name(Category::percpu_backing), "percpu_backing");
  EXPECT_EQ(category_name(Category::user_anon), "user_anon");
  EXPECT_EQ(category_name(Category::page_cache), "page_cache");
  EXPECT_EQ(category_name(Category::page_tables), "page_tables");
  EXPECT_EQ(category_name(Category::kernel_stack), "kernel_stack");
  EXPECT_EQ(category_name(Category::pipe), "pipe");
  EXPECT_EQ(category_name(Category::socket), "socket");
  EXPECT_EQ(category_name(Category::balloon), "balloon");
  EXPECT_EQ(category_name(Category::page_direct), "page_direct");
  EXPECT_EQ(category_name(Category::unknown), "unknown");
}

TEST(Category, UserMemoryAndBackingSets) {
  std::set<Category> user, backing;
  for (size_t i = 0; i < kCategoryCount; ++i) {
    auto c = static_cast<Category>(i);
    if (is_user_memory(c)) user.insert(c);
    if (is_backing(c)) backing.insert(c);
  }
  EXPECT_EQ(user, (std::set<Category>{Category::user_anon, Category::page_cache}));
  EXPECT_EQ(backing, (std::set<Category>{Category::slab_backing, Category::kmalloc_large_backing,
                                         Category::vmalloc_backing, Category::percpu_backing}));
}

// ---- the whole path: addresses -> kallsyms -> trim -> classify --------------------------------

class Pipeline : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::ifstream in(std::string(KLEAK_FIXTURES) + "/kallsyms/kallsyms.txt");
    std::stringstream ss;
    ss << in.rdbuf();
    text_ = new std::string(ss.str());
    syms_ = new Kallsyms(Kallsyms::parse(*text_));
  }
  static void TearDownTestSuite() {
    delete syms_;
    delete text_;
  }

  // "func+0x1c" -> the return address, from the fixture's own lines.
  static uint64_t ip(std::string_view s) {
    size_t plus = s.rfind("+0x");
    std::string name(s.substr(0, plus));
    uint64_t off = std::stoull(std::string(s.substr(plus + 3)), nullptr, 16);
    std::istringstream lines(*text_);
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream f(line);
      std::string a, t, n;
      if (f >> a >> t >> n && n == name) return std::stoull(a, nullptr, 16) + off;
    }
    ADD_FAILURE() << name << " is not in the fixture";
    return 0;
  }

  static std::vector<Frame> resolve(std::initializer_list<std::string_view> frames) {
    std::vector<uint64_t> ips;
    for (auto s : frames) ips.push_back(ip(s));
    ips.push_back(0);  // end of the stack map entry
    ips.push_back(ip("vfs_write+0x10"));
    return syms_->resolve_stack(ips);
  }

  static std::string* text_;
  static Kallsyms* syms_;
};
std::string* Pipeline::text_ = nullptr;
Kallsyms* Pipeline::syms_ = nullptr;

TEST_F(Pipeline, PipePage) {
  auto frames = resolve({"bpf_prog_2a1b8f9c0d3e4f56_kleak_page_alloc+0x5c", "bpf_trace_run2+0x7a",
                         "__alloc_frozen_pages_noprof+0x26b", "alloc_pages_mpol+0x86",
                         "alloc_pages_noprof+0x4c", "anon_pipe_write+0x1a8", "vfs_write+0x398",
                         "ksys_write+0xba", "do_syscall_64+0x71",
                         "entry_SYSCALL_64_after_hwframe+0x76"});
  ASSERT_EQ(frames.size(), 10u);
  EXPECT_EQ(frames[0].module, "bpf");
  size_t n = trim_count(frames);
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(frames[n].text(), "anon_pipe_write+0x1a8");
  EXPECT_EQ(classify(KLEAK_KIND_PAGE, frames), Category::pipe);
}

TEST_F(Pipeline, BalloonPageFromTheModule) {
  auto frames = resolve({"bpf_prog_2a1b8f9c0d3e4f56_kleak_page_alloc+0x5c", "bpf_trace_run2+0x7a",
                         "__alloc_frozen_pages_noprof+0x26b", "alloc_pages_mpol+0x86",
                         "alloc_pages_noprof+0x4c", "balloon_page_alloc+0x1b",
                         "fill_balloon+0x6e", "update_balloon_size_func+0x5a",
                         "process_one_work+0x18b", "worker_thread+0x256", "kthread+0xfc",
                         "ret_from_fork+0x14c", "ret_from_fork_asm+0x1a"});
  size_t n = trim_count(frames);
  EXPECT_EQ(frames[n].text(), "balloon_page_alloc+0x1b");
  EXPECT_EQ(frames[n + 1].text(), "fill_balloon+0x6e [virtio_balloon]");
  EXPECT_EQ(classify(KLEAK_KIND_PAGE, frames), Category::balloon);
}

TEST_F(Pipeline, LeakyModulePage) {
  auto frames = resolve({"bpf_prog_2a1b8f9c0d3e4f56_kleak_page_alloc+0x5c", "bpf_trace_run2+0x7a",
                         "__alloc_frozen_pages_noprof+0x26b", "alloc_pages_mpol+0x86",
                         "alloc_pages_noprof+0x4c", "leaky_alloc_pages+0x2a", "leaky_write+0x42",
                         "vfs_write+0xca", "ksys_write+0x66"});
  size_t n = trim_count(frames);
  EXPECT_EQ(frames[n].text(), "leaky_alloc_pages+0x2a [leaky]");
  EXPECT_EQ(classify(KLEAK_KIND_PAGE, frames), Category::page_direct);
}

TEST_F(Pipeline, KernelStackVmalloc) {
  auto frames = resolve({"bpf_prog_0f4e2d9a7c6b5e31_kleak_vmap_area+0x41", "bpf_trace_run2+0x7a",
                         "alloc_vmap_area+0x684", "__get_vm_area_node+0xcd",
                         "__vmalloc_node_range_noprof+0x13c", "__vmalloc_node_noprof+0x41",
                         "copy_process+0xe41", "kernel_clone+0x94", "__do_sys_clone+0x65"});
  EXPECT_EQ(frames[trim_count(frames)].text(), "copy_process+0xe41");
  EXPECT_EQ(classify(KLEAK_KIND_VMALLOC, frames), Category::kernel_stack);
}

}  // namespace
}  // namespace kleak
