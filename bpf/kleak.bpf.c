// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * kleak's BPF programs: one section per event family, each event in up to four variants that
 * share one __always_inline handler:
 *   raw_tp/<event>      preferred: raw tracepoint, the cheapest way in. Its arguments are plain
 *                       u64 slots, read directly (no bpf_probe_read_kernel); the loader checks
 *                       the kernel's btf_trace_<event> prototype against the one written here
 *                       before it picks this variant. The tests drive these very programs with
 *                       BPF_PROG_TEST_RUN.
 *   tracepoint/<c>/<e>  classic tracepoint, for kernels whose prototype differs from the one
 *                       below (fields read through CO-RE)
 *   kprobe/kretprobe    vmalloc on kernels before 6.2, which have no vmalloc tracepoints
 * (tp_btf programs were the first choice once: the same dispatch, but `const void *` arguments
 * must go through bpf_probe_read_kernel there, ~50 ns per read on this box, and the 6.1
 * verifier refuses direct reads of them.)
 * The loader (user/trace/attach.cpp) turns on exactly one variant per family, and for raw_tp
 * frees their twins (FREE_TWIN in record.bpf.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "record.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ===== kmalloc / kfree ================================================================== */

static __always_inline int on_kmalloc(void *ctx, __u64 call_site, __u64 ptr, __u64 bytes_req,
				      __u64 bytes_alloc, __u64 gfp_flags)
{
	struct alloc_event ev = {
		.addr = zero_or_null(ptr) ? 0 : ptr,
		.bytes_req = bytes_req,
		.bytes_alloc = bytes_alloc,
		.gfp_flags = gfp_flags,
		.call_site = call_site,
		.migratetype = -1,
		.kind = KLEAK_KIND_KMALLOC,
		.space = KLEAK_SPACE_SLAB,
	};
	return record_alloc(ctx, &ev);
}

static __always_inline int on_kfree(__u64 ptr)
{
	return record_free(KLEAK_KIND_KMALLOC, KLEAK_SPACE_SLAB, zero_or_null(ptr) ? 0 : ptr);
}

SEC("raw_tp/kmalloc")
int BPF_PROG(raw_kmalloc, unsigned long call_site, const void *ptr, size_t bytes_req,
	     size_t bytes_alloc, gfp_t gfp_flags, int node)
{
	return on_kmalloc(ctx, call_site, (__u64)ptr, bytes_req, bytes_alloc, gfp_flags);
}

/*
 * Before 6.0, kmalloc and kmem_cache_alloc shared the kmem_alloc event class (5.10: this record,
 * no cache name, gfp_flags a gfp_t); CO-RE matches it without the ___v5_10 suffix. The program
 * reads whichever record the kernel has: the other branch is dead to the verifier.
 */
struct trace_event_raw_kmem_alloc___v5_10 {
	struct trace_entry ent;
	unsigned long call_site;
	const void *ptr;
	size_t bytes_req;
	size_t bytes_alloc;
	gfp_t gfp_flags;
} __attribute__((preserve_access_index));

SEC("tracepoint/kmem/kmalloc")
int tp_kmalloc(void *ctx)
{
	struct trace_event_raw_kmem_alloc___v5_10 *old = ctx;
	struct trace_event_raw_kmalloc *e = ctx;

	if (!bpf_core_type_exists(struct trace_event_raw_kmalloc))
		return on_kmalloc(ctx, old->call_site, (__u64)old->ptr, old->bytes_req,
				  old->bytes_alloc, old->gfp_flags);
	return on_kmalloc(ctx, e->call_site, (__u64)e->ptr, e->bytes_req, e->bytes_alloc,
			  e->gfp_flags);
}

/*
 * Before 6.0 an allocation with an explicit node fired kmem:kmalloc_node (kmem_alloc_node class:
 * the kmem_alloc record plus `node`); attached only where the kernel has it (EventSpec::optional).
 */
struct trace_event_raw_kmem_alloc_node___v5_10 {
	struct trace_entry ent;
	unsigned long call_site;
	const void *ptr;
	size_t bytes_req;
	size_t bytes_alloc;
	gfp_t gfp_flags;
} __attribute__((preserve_access_index));

SEC("tracepoint/kmem/kmalloc_node")
int tp_kmalloc_node(struct trace_event_raw_kmem_alloc_node___v5_10 *ctx)
{
	return on_kmalloc(ctx, ctx->call_site, (__u64)ctx->ptr, ctx->bytes_req, ctx->bytes_alloc,
			  ctx->gfp_flags);
}

SEC("raw_tp/kfree")
int BPF_PROG(raw_kfree, unsigned long call_site, const void *ptr)
{
	return FREE_PRIMARY(KLEAK_SLOT_KFREE, (__u64)ptr, on_kfree((__u64)ptr));
}

/* Runs only when raw_kfree was skipped because this event interrupted it (FREE_TWIN). */
SEC("raw_tp/kfree")
int BPF_PROG(raw_kfree_twin, unsigned long call_site, const void *ptr)
{
	return FREE_TWIN(KLEAK_SLOT_KFREE, KLEAK_KIND_KMALLOC, (__u64)ptr, on_kfree((__u64)ptr));
}

/* Before 6.0 kfree and kmem_cache_free shared the kmem_free class (5.10: no cache name). */
struct trace_event_raw_kmem_free___v5_10 {
	struct trace_entry ent;
	unsigned long call_site;
	const void *ptr;
} __attribute__((preserve_access_index));

SEC("tracepoint/kmem/kfree")
int tp_kfree(struct trace_event_raw_kfree *ctx)
{
	struct trace_event_raw_kmem_free___v5_10 *old = (void *)ctx;

	if (!bpf_core_type_exists(struct trace_event_raw_kfree))
		return on_kfree((__u64)old->ptr);
	return on_kfree((__u64)ctx->ptr);
}

/* ===== kmem_cache_alloc / kmem_cache_free ================================================ */

static __always_inline int on_cache_alloc(void *ctx, __u64 call_site, __u64 ptr, __u64 cache,
					  const char *cache_name, bool sizes_from_cache,
					  __u64 bytes_req, __u64 bytes_alloc, __u64 gfp_flags)
{
	struct alloc_event ev = {
		.addr = ptr,
		.bytes_req = bytes_req,
		.bytes_alloc = bytes_alloc,
		.gfp_flags = gfp_flags,
		.call_site = call_site,
		.cache = cache,
		.cache_name = cache_name,
		.sizes_from_cache = sizes_from_cache,
		.migratetype = -1,
		.kind = KLEAK_KIND_SLAB,
		.space = KLEAK_SPACE_SLAB,
	};
	return record_alloc(ctx, &ev);
}

/*
 * Since 6.2 the tracepoint passes struct kmem_cache *: its sizes and name are read once per cache
 * (cache_seen()), not per allocation.
 */
SEC("raw_tp/kmem_cache_alloc")
int BPF_PROG(raw_kmem_cache_alloc, unsigned long call_site, const void *ptr,
	     struct kmem_cache *s, gfp_t gfp_flags, int node)
{
	return on_cache_alloc(ctx, call_site, (__u64)ptr, (__u64)s, NULL, true, 0, 0, gfp_flags);
}

/*
 * Classic tracepoint: no struct kmem_cache * here. Where the event has a `name` field (6.x) the
 * cache is keyed by a hash of its name (odd, so it can never equal an aligned kmem_cache
 * pointer); kernels whose event has no name (6.1 and older) leave the cache unknown.
 */
static __always_inline __u64 cache_key_from_name(const char *name)
{
	__u64 h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (int i = 0; i < KLEAK_CACHE_NAME_LEN; i++) {
		if (!name[i])
			break;
		h = (h ^ (__u8)name[i]) * 0x100000001b3ULL;
	}
	return h | 1;
}

/* A classic tracepoint's `name` (a __data_loc string in the record) into `name`; its cache key. */
static __always_inline __u64 tp_cache_name(void *ctx, __u32 data_loc_name,
					   char name[KLEAK_CACHE_NAME_LEN])
{
	bpf_probe_read_kernel_str(name, KLEAK_CACHE_NAME_LEN, ctx + (data_loc_name & 0xffff));
	return cache_key_from_name(name);
}

/*
 * kmem_cache_alloc's cache name (newer kernels; absent from the 6.12 BTF vmlinux/aarch64/vmlinux.h
 * comes from): a flavor, so the program compiles against either arch's header and CO-RE asks
 * the running kernel.
 */
struct trace_event_raw_kmem_cache_alloc___name {
	__u32 __data_loc_name;
} __attribute__((preserve_access_index));

SEC("tracepoint/kmem/kmem_cache_alloc")
int tp_kmem_cache_alloc(struct trace_event_raw_kmem_cache_alloc *ctx)
{
	struct trace_event_raw_kmem_alloc___v5_10 *old = (void *)ctx;
	struct trace_event_raw_kmem_cache_alloc___name *named = (void *)ctx;
	char name[KLEAK_CACHE_NAME_LEN] = {};
	__u64 cache = 0;

	if (!bpf_core_type_exists(struct trace_event_raw_kmem_cache_alloc))
		return on_cache_alloc(ctx, old->call_site, (__u64)old->ptr, 0, NULL, false,
				      old->bytes_req, old->bytes_alloc, old->gfp_flags);
	if (bpf_core_field_exists(named->__data_loc_name))
		cache = tp_cache_name(ctx, BPF_CORE_READ(named, __data_loc_name), name);
	return on_cache_alloc(ctx, ctx->call_site, (__u64)ctx->ptr, cache, cache ? name : NULL,
			      false, ctx->bytes_req, ctx->bytes_alloc, ctx->gfp_flags);
}

/* kmem:kmem_cache_alloc_node (before 6.0, the same record as kmalloc_node: no cache name). */
SEC("tracepoint/kmem/kmem_cache_alloc_node")
int tp_kmem_cache_alloc_node(struct trace_event_raw_kmem_alloc_node___v5_10 *ctx)
{
	return on_cache_alloc(ctx, ctx->call_site, (__u64)ctx->ptr, 0, NULL, false, ctx->bytes_req,
			      ctx->bytes_alloc, ctx->gfp_flags);
}

static __always_inline int on_cache_free(__u64 ptr, __u64 cache)
{
	return record_free_in(KLEAK_KIND_SLAB, KLEAK_SPACE_SLAB, ptr, cache, false);
}

/* The cache comes along on 6.x (struct kmem_cache *); the loader checks the prototype. */
SEC("raw_tp/kmem_cache_free")
int BPF_PROG(raw_kmem_cache_free, unsigned long call_site, const void *ptr)
{
	return FREE_PRIMARY(KLEAK_SLOT_CACHE_FREE, (__u64)ptr, on_cache_free((__u64)ptr, ctx[2]));
}

/* Runs only when raw_kmem_cache_free was skipped because this event interrupted it (FREE_TWIN). */
SEC("raw_tp/kmem_cache_free")
int BPF_PROG(raw_kmem_cache_free_twin, unsigned long call_site, const void *ptr)
{
	return FREE_TWIN(KLEAK_SLOT_CACHE_FREE, KLEAK_KIND_SLAB, (__u64)ptr, on_cache_free((__u64)ptr, ctx[2]));
}

SEC("tracepoint/kmem/kmem_cache_free")
int tp_kmem_cache_free(struct trace_event_raw_kmem_cache_free *ctx)
{
	struct trace_event_raw_kmem_free___v5_10 *old = (void *)ctx;
	char name[KLEAK_CACHE_NAME_LEN] = {};
	__u64 cache = 0;

	if (!bpf_core_type_exists(struct trace_event_raw_kmem_cache_free))
		return on_cache_free((__u64)old->ptr, 0);
	if (bpf_core_field_exists(ctx->__data_loc_name)) {
		cache = tp_cache_name(ctx, BPF_CORE_READ(ctx, __data_loc_name), name);
		cache_seen(cache, name, NULL);
	}
	return on_cache_free((__u64)ctx->ptr, cache);
}

/* ===== pages ============================================================================
 * raw_tp keys pages by struct page *, the classic tracepoints by pfn: the loader picks one
 * variant for the whole family, so alloc and free always agree.
 */

static __always_inline int on_page_alloc(void *ctx, __u64 page, __u32 order, __u64 gfp_flags,
					 __s32 migratetype)
{
	struct alloc_event ev = {
		.addr = page,
		.bytes_req = cfg_page_size << order,
		.bytes_alloc = cfg_page_size << order,
		.gfp_flags = gfp_flags,
		.migratetype = migratetype,
		.order = order,
		.kind = KLEAK_KIND_PAGE,
		.space = KLEAK_SPACE_PAGE,
	};
	return record_alloc(ctx, &ev);
}

static __always_inline int on_page_free(__u64 page)
{
	return record_free(KLEAK_KIND_PAGE, KLEAK_SPACE_PAGE, page);
}

/*
 * mm_page_free_batched: pages freed in batches (munmap, exit) fire it instead of mm_page_free
 * on 6.18, and on some older paths after it. The delete is idempotent; a page it does not find
 * is not counted as an untracked free, so a double report is never a loss.
 */
static __always_inline int on_page_free_batched(__u64 page)
{
	return record_free_in(KLEAK_KIND_PAGE, KLEAK_SPACE_PAGE, page, 0, true);
}

SEC("raw_tp/mm_page_alloc")
int BPF_PROG(raw_mm_page_alloc, struct page *page, unsigned int order, gfp_t gfp_flags,
	     int migratetype)
{
	return on_page_alloc(ctx, ctx[0], order, gfp_flags, migratetype);
}

SEC("tracepoint/kmem/mm_page_alloc")
int tp_mm_page_alloc(struct trace_event_raw_mm_page_alloc *ctx)
{
	__u64 pfn = ctx->pfn;

	return on_page_alloc(ctx, pfn == ~0ULL ? 0 : pfn, ctx->order, ctx->gfp_flags,
			     ctx->migratetype);
}

SEC("raw_tp/mm_page_free")
int BPF_PROG(raw_mm_page_free, struct page *page, unsigned int order)
{
	return FREE_PRIMARY(KLEAK_SLOT_PAGE_FREE, ctx[0], on_page_free(ctx[0]));
}

/* Runs only when raw_mm_page_free was skipped because this event interrupted it (FREE_TWIN). */
SEC("raw_tp/mm_page_free")
int BPF_PROG(raw_mm_page_free_twin, struct page *page, unsigned int order)
{
	return FREE_TWIN(KLEAK_SLOT_PAGE_FREE, KLEAK_KIND_PAGE, ctx[0], on_page_free(ctx[0]));
}

SEC("tracepoint/kmem/mm_page_free")
int tp_mm_page_free(struct trace_event_raw_mm_page_free *ctx)
{
	return on_page_free(ctx->pfn);
}

SEC("raw_tp/mm_page_free_batched")
int BPF_PROG(raw_mm_page_free_batched, struct page *page)
{
	return FREE_PRIMARY(KLEAK_SLOT_PAGE_FREE_BATCHED, ctx[0], on_page_free_batched(ctx[0]));
}

/* Runs only when raw_mm_page_free_batched was skipped because this event interrupted it (FREE_TWIN). */
SEC("raw_tp/mm_page_free_batched")
int BPF_PROG(raw_mm_page_free_batched_twin, struct page *page)
{
	return FREE_TWIN(KLEAK_SLOT_PAGE_FREE_BATCHED, KLEAK_KIND_PAGE, ctx[0], on_page_free_batched(ctx[0]));
}

SEC("tracepoint/kmem/mm_page_free_batched")
int tp_mm_page_free_batched(struct trace_event_raw_mm_page_free_batched *ctx)
{
	return on_page_free_batched(ctx->pfn);
}

/* ===== percpu =========================================================================== */

static __always_inline int on_percpu_alloc(void *ctx, __u64 call_site, __u64 ptr, __u64 size,
					   __u64 bytes_alloc, __u64 gfp_flags)
{
	struct alloc_event ev = {
		.addr = ptr,
		.bytes_req = size,
		.bytes_alloc = bytes_alloc ? bytes_alloc : size,
		.gfp_flags = gfp_flags,
		.call_site = call_site,
		.migratetype = -1,
		.kind = KLEAK_KIND_PERCPU,
		.space = KLEAK_SPACE_PERCPU,
	};
	return record_alloc(ctx, &ev);
}

static __always_inline int on_percpu_free(__u64 ptr)
{
	return record_free(KLEAK_KIND_PERCPU, KLEAK_SPACE_PERCPU, ptr);
}

SEC("raw_tp/percpu_alloc_percpu")
int BPF_PROG(raw_percpu_alloc_percpu, unsigned long call_site, bool reserved, bool is_atomic,
	     size_t size, size_t align, void *base_addr, int off, void *ptr, size_t bytes_alloc,
	     gfp_t gfp_flags)
{
	return on_percpu_alloc(ctx, call_site, (__u64)ptr, size, bytes_alloc, gfp_flags);
}

/*
 * bytes_alloc and gfp_flags were added to the event in 6.0 and call_site in 5.19; older kernels
 * (5.10) report size only.
 */
SEC("tracepoint/percpu/percpu_alloc_percpu")
int tp_percpu_alloc_percpu(struct trace_event_raw_percpu_alloc_percpu *ctx)
{
	__u64 bytes_alloc = 0, gfp_flags = 0, call_site = 0;

	if (bpf_core_field_exists(ctx->call_site))
		call_site = BPF_CORE_READ(ctx, call_site);
	if (bpf_core_field_exists(ctx->bytes_alloc))
		bytes_alloc = BPF_CORE_READ(ctx, bytes_alloc);
	if (bpf_core_field_exists(ctx->gfp_flags))
		gfp_flags = BPF_CORE_READ(ctx, gfp_flags);
	return on_percpu_alloc(ctx, call_site, (__u64)ctx->ptr, ctx->size, bytes_alloc, gfp_flags);
}

SEC("raw_tp/percpu_free_percpu")
int BPF_PROG(raw_percpu_free_percpu, void *base_addr, int off, void *ptr)
{
	return FREE_PRIMARY(KLEAK_SLOT_PERCPU_FREE, (__u64)ptr, on_percpu_free((__u64)ptr));
}

/* Runs only when raw_percpu_free_percpu was skipped because this event interrupted it (FREE_TWIN). */
SEC("raw_tp/percpu_free_percpu")
int BPF_PROG(raw_percpu_free_percpu_twin, void *base_addr, int off, void *ptr)
{
	return FREE_TWIN(KLEAK_SLOT_PERCPU_FREE, KLEAK_KIND_PERCPU, (__u64)ptr, on_percpu_free((__u64)ptr));
}

SEC("tracepoint/percpu/percpu_free_percpu")
int tp_percpu_free_percpu(struct trace_event_raw_percpu_free_percpu *ctx)
{
	return on_percpu_free((__u64)ctx->ptr);
}

/* ===== vmalloc ==========================================================================
 * alloc_vmap_area carries the area's size (guard page included); free_vmap_area_noflush only
 * va_start. Every vmap area goes through here: vmalloc, vmap and ioremap alike; userspace
 * tells them apart by stack.
 */

static __always_inline int on_vmap_alloc(void *ctx, __u64 addr, __u64 size)
{
	struct alloc_event ev = {
		.addr = addr,
		.bytes_req = size,
		.bytes_alloc = size,
		.migratetype = -1,
		.kind = KLEAK_KIND_VMALLOC,
		.space = KLEAK_SPACE_VMAP,
	};
	return record_alloc(ctx, &ev);
}

static __always_inline int on_vmap_free(__u64 addr)
{
	return record_free(KLEAK_KIND_VMALLOC, KLEAK_SPACE_VMAP, addr);
}

SEC("raw_tp/alloc_vmap_area")
int BPF_PROG(raw_alloc_vmap_area, unsigned long addr, unsigned long size, unsigned long align,
	     unsigned long vstart, unsigned long vend, int failed)
{
	return failed ? 0 : on_vmap_alloc(ctx, addr, size);
}

SEC("tracepoint/vmalloc/alloc_vmap_area")
int tp_alloc_vmap_area(struct trace_event_raw_alloc_vmap_area *ctx)
{
	return ctx->failed ? 0 : on_vmap_alloc(ctx, ctx->addr, ctx->size);
}

SEC("raw_tp/free_vmap_area_noflush")
int BPF_PROG(raw_free_vmap_area_noflush, unsigned long va_start, unsigned long nr_lazy,
	     unsigned long nr_lazy_max)
{
	return FREE_PRIMARY(KLEAK_SLOT_VMAP_FREE, va_start, on_vmap_free(va_start));
}

/* Runs only when raw_free_vmap_area_noflush was skipped because this event interrupted it (FREE_TWIN). */
SEC("raw_tp/free_vmap_area_noflush")
int BPF_PROG(raw_free_vmap_area_noflush_twin, unsigned long va_start, unsigned long nr_lazy,
	     unsigned long nr_lazy_max)
{
	return FREE_TWIN(KLEAK_SLOT_VMAP_FREE, KLEAK_KIND_VMALLOC, va_start, on_vmap_free(va_start));
}

SEC("tracepoint/vmalloc/free_vmap_area_noflush")
int tp_free_vmap_area_noflush(struct trace_event_raw_free_vmap_area_noflush *ctx)
{
	return on_vmap_free(ctx->va_start);
}

/*
 * Before 6.2 there are no vmalloc tracepoints: alloc_vmap_area() returns the struct vmap_area
 * it set up (an ERR_PTR on failure) and free_vmap_area_noflush() takes it.
 */
SEC("kretprobe/alloc_vmap_area")
int BPF_KRETPROBE(kprobe_alloc_vmap_area_ret, struct vmap_area *va)
{
	__u64 start, end;

	if (!va || (__u64)va >= (__u64)-4095)
		return 0;
	start = BPF_CORE_READ(va, va_start);
	end = BPF_CORE_READ(va, va_end);
	return on_vmap_alloc(ctx, start, end - start);
}

SEC("kprobe/free_vmap_area_noflush")
int BPF_KPROBE(kprobe_free_vmap_area_noflush, struct vmap_area *va)
{
	return on_vmap_free(BPF_CORE_READ(va, va_start));
}

/* ===== frees without a per-object tracepoint ============================================
 * kmem_cache_free_bulk() frees an array of objects and fires no kmem_cache_free/kfree event
 * for them (SLUB, 5.10 to 6.18): kfree_bulk() (kvfree_rcu's batches), the maple tree's
 * mt_free_bulk(), the skb cache. Optional: attached where fentry loads (preferred: no
 * int3/ftrace round trip), else a kprobe, else not at all, and the report says which
 * (user/trace/plan.cpp: bulk_free_table()). Runs before the objects are freed.
 */
SEC("fentry/kmem_cache_free_bulk")
int BPF_PROG(fentry_kmem_cache_free_bulk)
{
	/*
	 * The arguments (s, size, p) are read from the trampoline's copy with one helper call, not
	 * as BPF_PROG's arguments: a direct read of ctx is checked against the function's BTF, and
	 * before 6.x the verifier takes only scalars and pointers to a struct or to void there
	 * (btf_ctx_access), so `void **p` is refused on 5.10 and 6.1 ("func 'kmem_cache_free_bulk'
	 * arg2 type PTR is not a struct", "invalid bpf_context access off=16 size=8"). A helper's
	 * read of the same slots is no ctx access; passing ctx to it needs allow_ptr_leaks, which
	 * CAP_PERFMON gives (as for the free marks).
	 */
	__u64 args[3] = {};

	bpf_probe_read_kernel(args, sizeof(args), ctx);
	return record_free_bulk(args[0], args[1], (void **)args[2]);
}

SEC("kprobe/kmem_cache_free_bulk")
int BPF_KPROBE(kprobe_kmem_cache_free_bulk, struct kmem_cache *s, size_t size, void **p)
{
	return record_free_bulk((__u64)s, size, p);
}

/*
 * 6.18: kfree_rcu() of an object of a cache with sheaves puts it in a per-CPU rcu sheaf
 * (__kfree_rcu_sheaf returns true); after the grace period the whole sheaf goes back to the
 * cache without a free event. The object is freed for kleak's purpose when it is queued (it can
 * no longer be reached), so it is forgotten at the function's return when it was taken. A false
 * return sends it down kvfree_call_rcu's path, which ends in kfree_bulk (above) or kvfree.
 */
SEC("fexit/__kfree_rcu_sheaf")
int BPF_PROG(fexit_kfree_rcu_sheaf, struct kmem_cache *s, void *obj, bool ret)
{
	if (!ret)
		return 0;
	count(KLEAK_KIND_SLAB, KLEAK_FREE_BULK);
	return record_free_in(KLEAK_KIND_SLAB, KLEAK_SPACE_SLAB, (__u64)obj, (__u64)s, false);
}
