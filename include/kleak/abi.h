/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * kleak ABI: every struct and enum shared by the BPF programs (bpf/) and the C++ loader (user/).
 * Plain C, fixed-width types only, so that both clang -target bpf and g++ lay it out the same way.
 */
#ifndef KLEAK_ABI_H
#define KLEAK_ABI_H

#ifdef __bpf__
/* vmlinux.h already defines __u64 and friends */
#else
#include <linux/types.h>
#endif

#define KLEAK_COMM_LEN 16
#define KLEAK_CACHE_NAME_LEN 32

/*
 * What was allocated: the event family it came from. X(KIND, name, value): `name` is the family
 * (include/kleak/events.def), the --kinds word and the JSON/recording `kind`; the C++ name table
 * (user/model/kind.cpp) is made from this list.
 */
#define KLEAK_KINDS(X)                                                                      \
	X(KMALLOC, kmalloc, 1) /* kmem:kmalloc (kmalloc-N caches and large kmalloc) */      \
	X(SLAB, slab, 2)       /* kmem:kmem_cache_alloc (named slab caches) */              \
	X(PAGE, page, 3)       /* kmem:mm_page_alloc */                                     \
	X(VMALLOC, vmalloc, 4) /* vmalloc:alloc_vmap_area (or kprobes on older kernels) */  \
	X(PERCPU, percpu, 5)   /* percpu:percpu_alloc_percpu */

enum kleak_kind {
	KLEAK_KIND_NONE = 0,
#define KLEAK_KIND_ENUM_(kind, name, value) KLEAK_KIND_##kind = value,
	KLEAK_KINDS(KLEAK_KIND_ENUM_)
#undef KLEAK_KIND_ENUM_
	KLEAK_KIND_MAX = 6,
};

/*
 * Address spaces. The outstanding-allocation key is (space << 60) | (address & KLEAK_ADDR_MASK):
 * kernel virtual addresses have their top bits all set, page keys are struct page pointers
 * or pfns, percpu pointers are offsets, so the low 60 bits identify an object within its space
 * and the top 4 bits keep spaces apart. kmalloc and kmem_cache objects share one space on
 * purpose: kfree() frees kmem_cache objects too.
 */
enum kleak_space {
	KLEAK_SPACE_SLAB = 1,
	KLEAK_SPACE_PAGE = 2,
	KLEAK_SPACE_VMAP = 3,
	KLEAK_SPACE_PERCPU = 4,
};

#define KLEAK_SPACE_SHIFT 60
#define KLEAK_ADDR_MASK ((1ULL << KLEAK_SPACE_SHIFT) - 1)

static inline __u64 kleak_key(enum kleak_space space, __u64 addr)
{
	return ((__u64)space << KLEAK_SPACE_SHIFT) | (addr & KLEAK_ADDR_MASK);
}

/*
 * --sample N: each allocation is kept with probability 1/k, drawn at random per allocation (so an
 * object recycled at one address is drawn anew every time), k chosen by size: x = N * mean / size,
 * where mean is a running mean of the sizes allocated on this CPU, and k is x rounded at random
 * to one of the integers around it, up with probability f(1+a)/(a+f) (a = floor(x), f = x - a),
 * so that the probability of keeping, E[1/k], is exactly 1/x. That is sampling proportional to
 * size, as heap profilers do (tcmalloc, jemalloc: a sample every N*mean bytes on average): about
 * 1 in N allocations are kept (allocations bigger than N * mean always), big ones more often,
 * and each kept record stands for k allocations and k * size bytes. Given k the record was kept
 * with probability 1/k, so these weighted sums are unbiased (Horvitz-Thompson) whatever the mean
 * did meanwhile, and their error depends on the number of records kept, not on the skew of the
 * sizes. Integer weights: no floating point in BPF, no rounding in the sums. The mean is fixed
 * point (KLEAK_MEAN_SHIFT fractional bits), an exponential moving average of weight
 * 2^-KLEAK_MEAN_DECAY.
 */
#define KLEAK_MEAN_SHIFT 4
#define KLEAK_MEAN_DECAY 6
#define KLEAK_X_SHIFT 16

/* x = N * mean / size in fixed point (KLEAK_X_SHIFT fractional bits). */
static inline __u64 kleak_sample_x(__u64 bytes, __u64 mean_fp, __u32 every)
{
	__u64 unit = bytes << KLEAK_MEAN_SHIFT;

	if (!bytes || !mean_fp)
		return (__u64)every << KLEAK_X_SHIFT;
	if (mean_fp >= (1ULL << 40) / every) /* a mean of GiBs: no overflow, keep it all */
		return 1ULL << KLEAK_X_SHIFT;
	return (((__u64)every * mean_fp) << KLEAK_X_SHIFT) / unit;
}

/* k from x, rounded down or up by the 16-bit random number `u` as described above. */
static inline __u64 kleak_sample_k(__u64 x_fp, __u32 u)
{
	__u64 a = x_fp >> KLEAK_X_SHIFT, f = x_fp & ((1ULL << KLEAK_X_SHIFT) - 1);

	if (!a)
		return 1;
	if (!f || a >= (1ULL << 24)) /* a 1/2^24 difference: not worth the arithmetic */
		return a;
	return (__u64)(u & 0xffff) * x_fp < (f * (a + 1)) << KLEAK_X_SHIFT ? a + 1 : a;
}

/* The next running mean (fixed point) after an allocation of `bytes`. */
static inline __u64 kleak_mean_next(__u64 mean_fp, __u64 bytes)
{
	__u64 unit = bytes << KLEAK_MEAN_SHIFT;

	if (!mean_fp)
		return unit;
	return mean_fp - (mean_fp >> KLEAK_MEAN_DECAY) + (unit >> KLEAK_MEAN_DECAY);
}

static inline enum kleak_space kleak_key_space(__u64 key)
{
	return (enum kleak_space)(key >> KLEAK_SPACE_SHIFT);
}


/* One outstanding allocation: the value of the `allocs` map. 96 bytes. */
struct kleak_alloc {
	__u64 ts_ns;       /* bpf_ktime_get_ns() at allocation */
	__u64 bytes_req;   /* requested bytes (pages: PAGE_SIZE << order) */
	__u64 bytes_alloc; /* bytes actually taken */
	__u64 gfp_flags;
	__u64 call_site;   /* the event's call_site where it has one, else 0 */
	__u64 cache;       /* struct kmem_cache * (key of the `caches` map), 0 if none */
	__u64 cgroup_id;
	__u32 tid;         /* thread id (the kernel's task pid) */
	__u32 tgid;        /* process id */
	__s32 stack_id;    /* `stacks` map id, or -errno when no stack was captured */
	__u16 order;       /* page order (pages only) */
	__u8 kind;         /* enum kleak_kind */
	__u8 pad8;         /* unused (was a kernel-thread flag no reader used): the layout stays */
	__s32 migratetype; /* pages only, -1 otherwise */
	__u32 weight;      /* --sample: the allocations this record stands for (1/p); 0 = 1 */
	char comm[KLEAK_COMM_LEN];
};

/* Value of the `caches` map: one entry per struct kmem_cache seen. */
struct kleak_cache {
	char name[KLEAK_CACHE_NAME_LEN];
	__u32 object_size; /* read once from struct kmem_cache (0 where only a name is known) */
	__u32 size;        /* object size with metadata and padding: bytes taken per object */
	__u8 filter_match; /* 1 if the name passes the cache filter set in kleak_config */
	__u8 pad[7];
};

/*
 * Key of the `sites` map (stack reuse): where an allocation comes from, as far as the event
 * says without a stack walk. call_site is the caller of the allocator (kmalloc, kmem_cache_alloc,
 * percpu); events without one (pages) use the thread instead, so one thread's run of same-shaped
 * page allocations shares a stack, never two threads'. detail: the slab cache, the kmalloc size,
 * the page's gfp flags.
 */
struct kleak_site_key {
	__u64 call_site;
	__u64 detail;
	__u32 pid;   /* 0 when call_site is known */
	__u32 depth; /* where on the kernel stack the event fired (kernel_stack_depth()) */
	__u16 order;
	__u8 kind;
	__u8 pad;
	__s32 syscall; /* the task's syscall number (pt_regs orig_ax / arm64 syscallno; -1 or an error code outside
			  syscalls) */
};

/*
 * Kernel stacks are THREAD_SIZE-aligned (x86-64: 16 KiB; 32 KiB with KASAN, where the bit above
 * differs between tasks and their sites are simply not shared): the address bits below it say
 * how deep the stack is.
 */
#define KLEAK_THREAD_SIZE 16384

/* Value of the `sites` map. */
struct kleak_site {
	__s32 stack_id; /* the last walk's stack id */
	__u32 run;      /* allocations that reuse it before the next walk (doubles while checks agree) */
	__u32 left;     /* of those, still to come */
	__u32 reused;   /* reused since the last walk */
	__u32 churn;    /* 1 + the `churn_slots` index of the site's last churn group, 0 = none */
	__u32 pad;
};

/*
 * Counters, per kind and cause, in a per-CPU array indexed kind * KLEAK_CAUSE_MAX + cause.
 * Every event that does not end as a tracked record or a matched free lands in one cause.
 * X(CAUSE, name, value): KLEAK_<CAUSE> = value; `name` is the counter's name in reports
 * (events_by_kind), metrics and recordings (include/kleak/counts.h checks its names against these).
 */
#define KLEAK_CAUSES(X)                                                                            \
	/* allocation events that reached the handler */                                           \
	X(ALLOC_SEEN, allocs_seen, 0)                                                              \
	/* dropped by the in-kernel filter (by design, not a loss) */                              \
	X(ALLOC_FILTERED, allocs_filtered_in_kernel, 1)                                            \
	/* inserted into `allocs` */                                                               \
	X(ALLOC_TRACKED, allocs_tracked, 2)                                                        \
	/* `allocs` was full: allocation not tracked (loss) */                                     \
	X(ALLOC_MAP_FULL, alloc_map_full, 3)                                                       \
	/* address reused while still tracked: its free was missed */                              \
	X(ALLOC_REPLACED, missed_free_address_reused, 4)                                           \
	/* stack map bucket held another stack (-EEXIST) */                                        \
	X(STACK_COLLISION, stack_collision, 5)                                                     \
	/* no stack: map full or walk failed (-ENOMEM/-EFAULT) */                                  \
	X(STACK_LOST, stack_lost, 6)                                                               \
	/* free events that reached the handler */                                                 \
	X(FREE_SEEN, frees_seen, 7)                                                                \
	/* free removed a tracked allocation */                                                    \
	X(FREE_MATCHED, frees_matched, 8)                                                          \
	/* free of something not tracked (allocated before the window, filtered out, or lost) */   \
	X(FREE_UNTRACKED, frees_of_untracked, 9)                                                   \
	/* `caches` full: cache name unknown for that record */                                    \
	X(CACHE_MAP_FULL, cache_map_full, 10)                                                      \
	/* sum of bytes_alloc of tracked allocations */                                            \
	X(ALLOC_BYTES, alloc_bytes, 11)                                                            \
	/* never counted; the slot stays so recordings keep their layout */                        \
	X(CAUSE_UNUSED, unused, 12)                                                                \
	/* not tracked: its stack was recognized as user memory */                                 \
	X(USER_SKIPPED, user_memory_untracked, 13)                                                 \
	X(USER_SKIPPED_BYTES, user_memory_untracked_bytes, 14)                                     \
	/* `churn` full: an alloc or free not counted in its group */                              \
	X(CHURN_MAP_FULL, churn_map_full, 15)                                                      \
	/* --sample N: allocations not drawn (by design); recordings before                        \
	 * KLEAK_FREE_SAMPLED_OUT also counted frees here */                                       \
	X(SAMPLED_OUT, sampled_out, 16)                                                            \
	/*                                                                                         \
	 * Stack reuse (--stack-reuse N): a call site's last stack id is reused for up to N of its \
	 * allocations between two walks. Each walk at a known site checks the id it would have    \
	 * reused; a different stack resets the site to walking every allocation.                  \
	 */                                                                                        \
	/* bpf_get_stackid calls */                                                                \
	X(STACK_WALKED, stacks_walked, 17)                                                         \
	/* allocations given their site's cached stack id, no walk */                              \
	X(STACK_REUSED, stacks_reused, 18)                                                         \
	/* walks at a site with a cached id: a check of the reuse */                               \
	X(STACK_CHECKED, stack_reuse_checked, 19)                                                  \
	/* checks that found another stack than the cached one */                                  \
	X(STACK_CHANGED, stack_reuse_changed, 20)                                                  \
	/* reused allocations in runs that ended in a changed stack: an upper bound of those       \
	 * given a sibling stack */                                                                \
	X(STACK_SUSPECT, stack_reuse_suspect, 21)                                                  \
	/* frees whose program was busy on the CPU (a recursion miss) and that its twin program    \
	 * handled instead */                                                                      \
	X(FREE_RESCUED, frees_rescued, 22)                                                         \
	/* walks whose bucket in `stacks` held another stack, kept in `stacks_spill` instead       \
	 * (not a loss) */                                                                         \
	X(STACK_SPILLED, stacks_spilled, 23)                                                       \
	/*                                                                                         \
	 * Frees the kernel fires no per-object tracepoint for: kmem_cache_free_bulk() (kfree_bulk, \
	 * kvfree_rcu's batches, the maple tree, the skb cache) and, from 6.18, kfree_rcu into a   \
	 * sheaf. Seen where an fentry/fexit or kprobe attaches (record_free_bulk); each object is \
	 * also a free seen, matched or untracked like a traced one.                               \
	 */                                                                                        \
	/* objects freed through a bulk-free entry point */                                        \
	X(FREE_BULK, frees_in_bulk, 24)                                                            \
	/* objects past KLEAK_BULK_MAX in one call: not seen */                                    \
	X(FREE_BULK_TRUNCATED, bulk_frees_truncated, 25)                                           \
	/* kfree(NULL) / kfree(ZERO_SIZE_PTR) and NULL pages: nothing was freed */                 \
	X(FREE_NULL, frees_of_null, 26)                                                            \
	/* mm_page_free_batched of a page not tracked: mostly a second report of a free already    \
	 * seen (6.18 fires both) */                                                               \
	X(FREE_BATCHED_UNMATCHED, frees_batched_unmatched, 27)                                     \
	/* --sample: frees that found no record (mostly of allocations not drawn;                  \
	 * KLEAK_SAMPLED_OUT counts allocations only) */                                           \
	X(FREE_SAMPLED_OUT, frees_sampled_out, 28)                                                 \
	/* allocation events with no address (a failed allocation) */                              \
	X(ALLOC_NULL, allocs_null, 29)

enum kleak_cause {
#define KLEAK_CAUSE_ENUM_(cause, name, value) KLEAK_##cause = value,
	KLEAK_CAUSES(KLEAK_CAUSE_ENUM_)
#undef KLEAK_CAUSE_ENUM_
	KLEAK_CAUSE_MAX = 30,
};

#define KLEAK_NR_COUNTERS ((int)KLEAK_KIND_MAX * (int)KLEAK_CAUSE_MAX)

/*
 * Churn: allocations and frees seen in the window, per group of (stack, process, cgroup, cache,
 * comm): the `alloc N free M` of a SystemTap script, for every group at once. A free of an
 * object allocated before the window is counted under stack_id KLEAK_STACK_PREWINDOW with the
 * cache it was freed to where the free event says (kmem_cache_free), else not at all (it is in
 * the KLEAK_FREE_UNTRACKED counter).
 */
#define KLEAK_STACK_PREWINDOW (-1000)

struct kleak_churn_key {
	__s32 stack_id;
	__u32 tgid;
	__u64 cgroup_id;
	__u64 cache;
	char comm[KLEAK_COMM_LEN];
	__u8 kind;
	__u8 pad[7];
};

struct kleak_churn {
	__u64 allocs;
	__u64 frees;       /* in BPF: pre-window frees only; window frees are derived at the drain */
	__u64 alloc_bytes;
	__u64 free_bytes;
};

/*
 * A churn group's counters, in the array `churn_slots` at the index the hash `churn` maps its key
 * to. The key is kept beside the counters: a call site remembers its last group's index
 * (kleak_site.churn) and an allocation whose key equals the slot's adds to it without hashing
 * the 48-byte key. A slot's key is written once, before its index is published; userspace reads
 * the slots (mmap) and skips those that count nothing (free, or lost a race to publish).
 */
struct kleak_churn_slot {
	struct kleak_churn_key key;
	struct kleak_churn counts;
};

/* The allocations a record stands for: its --sample weight, 1 when not sampled. */
static inline __u64 kleak_weight(const struct kleak_alloc *rec)
{
	return rec->weight ? rec->weight : 1;
}

/* The churn group of a record: the same in BPF (at the allocation) and in userspace (drain). */
static inline void kleak_churn_key_of(struct kleak_churn_key *key, const struct kleak_alloc *rec)
{
	key->stack_id = rec->stack_id;
	key->tgid = rec->tgid;
	key->cgroup_id = rec->cgroup_id;
	key->cache = rec->cache;
	__builtin_memcpy(key->comm, rec->comm, sizeof(key->comm));
	key->kind = rec->kind;
}

/*
 * The layouts BPF and C++ must agree on byte for byte, checked by both compilers: records are
 * copied raw into recordings, and churn keys are hashed and compared with memcmp (no padding).
 */
#ifdef __cplusplus
#define KLEAK_LAYOUT(cond, why) static_assert(cond, why)
#else
#define KLEAK_LAYOUT(cond, why) _Static_assert(cond, why)
#endif
KLEAK_LAYOUT(sizeof(struct kleak_alloc) == 96, "kleak_alloc is 96 bytes");
KLEAK_LAYOUT(__builtin_offsetof(struct kleak_alloc, tid) == 56, "kleak_alloc.tid at 56");
KLEAK_LAYOUT(__builtin_offsetof(struct kleak_alloc, comm) == 80, "80 bytes of fields, then the comm");
KLEAK_LAYOUT(sizeof(struct kleak_cache) == 48, "kleak_cache is 48 bytes");
KLEAK_LAYOUT(sizeof(struct kleak_site_key) == 32, "kleak_site_key is 32 bytes");
KLEAK_LAYOUT(sizeof(struct kleak_site) == 24, "kleak_site is 24 bytes");
KLEAK_LAYOUT(sizeof(struct kleak_churn_slot) == 80, "kleak_churn_slot is 80 bytes (no hole)");
KLEAK_LAYOUT(sizeof(struct kleak_churn_key) == 48 &&
		     __builtin_offsetof(struct kleak_churn_key, kind) == 40,
	     "kleak_churn_key has no padding hole (memcmp)");
#undef KLEAK_LAYOUT

/*
 * Slots of the per-CPU `scratch` array: 0 is kernel_stack_depth()'s, 7-9 the sampling mean and
 * the clock. 1-6 name the raw_tp free programs, whose marks live in `free_marks` under the same
 * keys (see FREE_PRIMARY in record.bpf.h); their `scratch` slots are unused.
 */
#define KLEAK_FREE_MARKS 4
struct kleak_free_marks {
	__u64 ctx[KLEAK_FREE_MARKS]; /* the raw_tp ctx (argument array) of an event the primary
	                                ran for, 0 once its twin has checked it */
	__u64 id[KLEAK_FREE_MARKS];  /* the address that event freed */
	__u64 seq[KLEAK_FREE_MARKS]; /* the order in which the marks were made */
	__u64 next_seq;
	__u64 evicted;               /* marks replaced while maybe still awaited */
	__u64 ctx_of[2];             /* scratch of the primary and of the twin: ctx as a number */
	__u32 rotor;                 /* the mark replaced next when all are taken */
	__u32 pad;
};

enum kleak_free_slot {
	KLEAK_SLOT_DEPTH = 0,
	KLEAK_SLOT_KFREE = 1,
	KLEAK_SLOT_CACHE_FREE = 2,
	KLEAK_SLOT_PAGE_FREE = 3,
	KLEAK_SLOT_PAGE_FREE_BATCHED = 4,
	KLEAK_SLOT_PERCPU_FREE = 5,
	KLEAK_SLOT_VMAP_FREE = 6,
	KLEAK_SLOT_MEAN = 7, /* --sample: running mean allocation size (kleak_mean_next) */
	KLEAK_SLOT_JIFFIES = 8, /* now_ns(): the jiffies of the clock read below */
	KLEAK_SLOT_NOW = 9,     /* now_ns(): bpf_ktime_get_ns() at that jiffy */
	KLEAK_NR_SLOTS = 10,
};

/* Default map sizes; the loader overrides them before load. */
#define KLEAK_DEFAULT_MAX_ALLOCS (256 * 1024)
#define KLEAK_DEFAULT_MAX_STACKS (64 * 1024)
/*
 * `stacks_spill` takes the stacks whose bucket in `stacks` is taken (a stack map has one stack
 * per bucket and answers -EEXIST otherwise): --max-stacks / 4 entries, at least
 * KLEAK_MIN_SPILL_STACKS. Its ids are handed out as KLEAK_SPILL_STACK_ID + its bucket, so one
 * stack id still names one stack; --max-stacks is capped below that.
 */
#define KLEAK_MIN_SPILL_STACKS 4096
#define KLEAK_SPILL_STACK_ID (1 << 28)
#define KLEAK_MAX_MAX_STACKS (1 << 24)
#define KLEAK_DEFAULT_MAX_CACHES 4096
#define KLEAK_DEFAULT_MAX_CHURN (64 * 1024)
#define KLEAK_DEFAULT_MAX_SITES (16 * 1024)
#define KLEAK_DEFAULT_STACK_REUSE 64
/*
 * The most objects one bulk free is followed through (record_free_bulk): kvfree_rcu hands
 * kfree_bulk() a page of pointers (509 on 4 KiB pages), sheaves and the skb cache 16-32.
 */
#define KLEAK_BULK_MAX 512
#define KLEAK_DEFAULT_STACK_DEPTH 32
#define KLEAK_MAX_STACK_DEPTH 127

#endif /* KLEAK_ABI_H */
