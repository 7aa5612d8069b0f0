/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Record and forget outstanding allocations. Every program in kleak.bpf.c is a thin adapter that
 * turns its event's arguments into a struct alloc_event (or a key) and calls one of the
 * __always_inline functions below, so the same logic runs under raw tracepoints (which the tests
 * also drive with BPF_PROG_TEST_RUN), classic tracepoints and kprobes.
 *
 * Order of work on the hot path: the slab cache (for its sizes), the sampling draw (by size), the
 * cheap filters (kind, size, pid, cache), then the stack: a walk costs ~2 us here, so a call site's
 * last stack id is reused while periodic walks at that site find the same stack (stack_for()).
 * A free is one hash delete; its group's free count is derived in userspace (allocations in the
 * window minus those still outstanding), so the free path never touches `churn`.
 */
#ifndef KLEAK_RECORD_BPF_H
#define KLEAK_RECORD_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "kleak/abi.h"

#ifndef EEXIST
#define EEXIST 17
#endif
#ifndef E2BIG
#define E2BIG 7
#endif

/* ---- configuration, set by the loader before load (rodata) ---------------------------- */
const volatile __u32 cfg_kinds_mask = 0xffffffff; /* bit (1 << kleak_kind) */
const volatile __u64 cfg_min_bytes_req = 0;
const volatile __u64 cfg_max_bytes_req = ~0ULL;
const volatile __u64 cfg_min_bytes_alloc = 0;
const volatile __u64 cfg_max_bytes_alloc = ~0ULL;
const volatile __u32 cfg_tgid = 0;      /* only this process, 0 = all */
const volatile __u32 cfg_self_tgid = 0; /* the tracer itself: never recorded */
/*
 * The tracer in a child pid namespace (a container without --pid host): cfg_self_tgid is its
 * pid there, and this namespace's nsfs dev/inode tell the kernel which numbering that is.
 */
const volatile __u64 cfg_self_pidns_dev = 0;
const volatile __u64 cfg_self_pidns_ino = 0;
const volatile bool cfg_filter_cache = false;
const volatile char cfg_cache[KLEAK_CACHE_NAME_LEN] = {};
const volatile __u64 cfg_page_size = 4096;
const volatile bool cfg_capture_stacks = true;
const volatile __u32 cfg_sample_every = 1; /* --sample N: track ~1 in N allocations (sample_weight) */
/*
 * --max-cpu: the sampling rate is raised and lowered while tracing, so it is read from
 * `budget_sample_every` (writable .bss, set by userspace) instead of the constant, and the
 * counting filter `held` is kept from the start whatever the rate, so that switching sampling
 * on mid-window never skips the free of a record tracked before.
 */
const volatile bool cfg_budget = false;
__u32 budget_sample_every = 1;
const volatile __u64 cfg_cgroup_id = 0;  /* only tasks in this cgroup v2 or below, 0 = all */
const volatile __u32 cfg_cgroup_level = 0; /* its level (root = 0) */
const volatile bool cfg_cgroup_by_helper = true; /* bpf_get_current_ancestor_cgroup_id, else CO-RE */
const volatile __u32 cfg_stack_reuse = 1; /* --stack-reuse N: at most N allocations per walk and site */
/*
 * Helpers the loader found on this kernel (libbpf_probe_bpf_helper). Both are there on 6.1 and
 * 6.18; 5.10 (Debian 11, Amazon Linux 2) has neither, and there the paths below that read the
 * task through bpf_probe_read_kernel are loaded instead. The verifier prunes the branch the
 * constant rules out, so the missing helper is never seen by it.
 */
const volatile bool cfg_task_btf = true;     /* bpf_get_current_task_btf (5.11+) */
const volatile bool cfg_task_pt_regs = true; /* bpf_task_pt_regs (5.15+) */

/* The sampling rate in force: the constant, or under --max-cpu the one userspace sets. */
static __always_inline __u32 sample_every(void)
{
	if (!cfg_budget)
		return cfg_sample_every;
	return *(volatile __u32 *)&budget_sample_every;
}

/* Whether `held` counts the records per bucket: with sampling, and always under --max-cpu. */
static __always_inline bool held_kept(void)
{
	return cfg_budget || cfg_sample_every > 1;
}

/* ---- maps; max_entries and the stack depth are set by the loader before load ------------ */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KLEAK_DEFAULT_MAX_ALLOCS);
	__type(key, __u64);
	__type(value, struct kleak_alloc);
} allocs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, KLEAK_DEFAULT_MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, KLEAK_DEFAULT_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

/* The stacks whose bucket in `stacks` held another one (KLEAK_SPILL_STACK_ID in abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, KLEAK_MIN_SPILL_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, KLEAK_DEFAULT_STACK_DEPTH * sizeof(__u64));
} stacks_spill SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KLEAK_DEFAULT_MAX_CACHES);
	__type(key, __u64);
	__type(value, struct kleak_cache);
} caches SEC(".maps");

/*
 * Churn groups: the hash maps a group's key to its slot in `churn_slots`, where its counters are.
 * Slot indices are handed out by the queue `churn_free`, which the loader fills with 0..max-1
 * (a queue pops atomically on every kernel kleak supports; an atomic fetch-add of a global needs
 * 5.12). All three are sized by the loader (--max-churn).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KLEAK_DEFAULT_MAX_CHURN);
	__type(key, struct kleak_churn_key);
	__type(value, __u32);
} churn SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, KLEAK_DEFAULT_MAX_CHURN);
	__type(key, __u32);
	__type(value, struct kleak_churn_slot);
} churn_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, KLEAK_DEFAULT_MAX_CHURN);
	__type(value, __u32);
} churn_free SEC(".maps");

/*
 * Slots popped so far. The queue hands out 0, 1, 2, ... in order (a slot given back goes to its
 * tail), so every slot in use is below this count: userspace reads only those.
 */
__u64 churn_popped = 0;

/*
 * Stacks userspace recognized (from their frames) as allocating user memory: page cache,
 * anonymous faults. Their pages are counted, not tracked one by one, so a busy page cache
 * cannot fill `allocs`. Sized like `stacks` by the loader.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KLEAK_DEFAULT_MAX_STACKS);
	__type(key, __u32);
	__type(value, __u8);
} skip_stacks SEC(".maps");

/*
 * Unseen frees, per stack: records found still held when their address was allocated again
 * (KLEAK_ALLOC_REPLACED), by the stack that had allocated them. A stack whose objects come back
 * this way is freed by a path kleak does not see, so what it still holds is not evidence of a
 * leak; userspace marks its growth unconfirmed. Sized like `churn` by the loader; when full, the
 * replacement is still counted in `counters`.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KLEAK_DEFAULT_MAX_CHURN);
	__type(key, __s32);
	__type(value, __u64);
} unseen SEC(".maps");

/* Stack reuse: a call site's last stack id. LRU: a new site evicts an old one, never fails. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, KLEAK_DEFAULT_MAX_SITES);
	__type(key, struct kleak_site_key);
	__type(value, struct kleak_site);
} sites SEC(".maps");

/*
 * --sample: how many records of `allocs` each bucket of keys holds (a counting filter), so that a
 * free whose bucket holds none, nearly all of them when 1 in 100 are kept, costs an array load
 * instead of a hash delete that finds nothing. Exact: incremented after an insert, decremented
 * after a delete that found its record (an object is not freed before its allocation event
 * returns); a record userspace deletes leaves its count high, which only costs a delete.
 */
#define HELD_BUCKETS (1 << 16)
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HELD_BUCKETS);
	__type(key, __u32);
	__type(value, __u32);
} held SEC(".maps");

static __always_inline __u32 *held_bucket(__u64 key)
{
	__u32 b = (__u32)((key * 0x9E3779B97F4A7C15ULL) >> 48); /* 16 bits */

	return bpf_map_lookup_elem(&held, &b);
}

/* Per CPU: kernel_stack_depth()'s slot, the sampling mean and the clock (enum kleak_free_slot). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KLEAK_NR_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} scratch SEC(".maps");

/* Per CPU and raw_tp free event (its slot): the events its primary ran for (FREE_PRIMARY). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KLEAK_NR_SLOTS);
	__type(key, __u32);
	__type(value, struct kleak_free_marks);
} free_marks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KLEAK_NR_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* One allocation as an adapter sees it. */
struct alloc_event {
	__u64 addr;
	__u64 bytes_req;
	__u64 bytes_alloc;
	__u64 gfp_flags;
	__u64 call_site;
	__u64 cache;        /* struct kmem_cache * or a name hash (see cache_key_from_name) */
	const char *cache_name; /* where to read the name if the cache is new; NULL = use cache ptr */
	bool sizes_from_cache; /* bytes_req/bytes_alloc are the cache's object_size/size */
	__s32 migratetype;
	__u16 order;
	__u8 kind;
	__u8 space;
};

/*
 * Atomic although the slot is this CPU's: a program runs with migration off but can be preempted
 * or interrupted by another of kleak's programs on the same CPU, and a plain `*v += 1` then loses
 * the other's increment. Measured in CI (6.18, 20 s of fork churn): 128 of 10,021,692 frees were
 * missing from `frees_seen` against the sum of their causes.
 */
static __always_inline void count(__u32 kind, __u32 cause)
{
	__u32 idx = kind * KLEAK_CAUSE_MAX + cause;
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline void count_n(__u32 kind, __u32 cause, __u64 n)
{
	__u32 idx = kind * KLEAK_CAUSE_MAX + cause;
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		__sync_fetch_and_add(v, n);
}

/* kfree(NULL) and kfree(ZERO_SIZE_PTR) fire the tracepoint too. */
static __always_inline bool zero_or_null(__u64 ptr)
{
	return ptr <= 16;
}

static __always_inline bool kind_wanted(__u32 kind)
{
	return cfg_kinds_mask & (1u << kind);
}

static __always_inline bool size_wanted(__u64 bytes_req, __u64 bytes_alloc)
{
	return bytes_req >= cfg_min_bytes_req && bytes_req <= cfg_max_bytes_req &&
	       bytes_alloc >= cfg_min_bytes_alloc && bytes_alloc <= cfg_max_bytes_alloc;
}

static __always_inline bool cache_name_matches(const char name[KLEAK_CACHE_NAME_LEN])
{
	for (int i = 0; i < KLEAK_CACHE_NAME_LEN; i++) {
		if (name[i] != cfg_cache[i])
			return false;
		if (name[i] == 0)
			return true;
	}
	return true;
}

/*
 * The name (and object sizes) of a slab cache, remembered once per cache. Returns whether the
 * cache passes the cache filter (always true when there is none). The name is read from
 * `name_src` when given (classic tracepoints carry a copy), else through CO-RE from struct
 * kmem_cache, as are the sizes; with `ev` set and ev->sizes_from_cache, the event's sizes are
 * filled from the entry, so the hot path reads struct kmem_cache only once per cache.
 */
static __always_inline bool cache_seen(__u64 cache, const char *name_src, struct alloc_event *ev)
{
	struct kleak_cache *known, fresh = {};
	const char *name;

	if (!cache)
		return !cfg_filter_cache;
	known = bpf_map_lookup_elem(&caches, &cache);
	if (known) {
		if (ev && ev->sizes_from_cache) {
			ev->bytes_req = known->object_size;
			ev->bytes_alloc = known->size;
		}
		return known->filter_match;
	}

	if (name_src) {
		bpf_probe_read_kernel_str(fresh.name, sizeof(fresh.name), name_src);
	} else {
		struct kmem_cache *s = (struct kmem_cache *)cache;

		name = BPF_CORE_READ(s, name);
		bpf_probe_read_kernel_str(fresh.name, sizeof(fresh.name), name);
		fresh.object_size = BPF_CORE_READ(s, object_size);
		fresh.size = BPF_CORE_READ(s, size);
	}
	if (ev && ev->sizes_from_cache) {
		ev->bytes_req = fresh.object_size;
		ev->bytes_alloc = fresh.size;
	}
	fresh.filter_match = cfg_filter_cache ? cache_name_matches(fresh.name) : 1;
	if ((int)bpf_map_update_elem(&caches, &cache, &fresh, BPF_NOEXIST) == -E2BIG)
		count(KLEAK_KIND_SLAB, KLEAK_CACHE_MAP_FULL);
	return fresh.filter_match;
}

/* bpf_get_current_task_btf where the kernel has it (5.11+), else the untyped helper. */
static __always_inline struct task_struct *current_task(void)
{
	if (cfg_task_btf)
		return bpf_get_current_task_btf();
	return (struct task_struct *)bpf_get_current_task();
}

/*
 * The task's comm. With a BTF task pointer it is two loads: the kernel keeps task->comm
 * NUL-padded (__set_task_comm: strscpy_pad), which is what bpf_get_current_comm copies too,
 * minus the helper call and its strscpy.
 */
static __always_inline void current_comm(struct task_struct *task, char comm[KLEAK_COMM_LEN])
{
	if (cfg_task_btf)
		__builtin_memcpy(comm, task->comm, KLEAK_COMM_LEN);
	else
		bpf_get_current_comm(comm, KLEAK_COMM_LEN);
}

/* 5.10-5.19: a cgroup keeps the ids of its ancestors (gone in 6.0, whose tracing programs have the helper). */
struct cgroup___v5_10 {
	int level;
	__u64 ancestor_ids[];
} __attribute__((preserve_access_index));

/*
 * The id of the current task's cgroup v2 ancestor at cfg_cgroup_level (0: not that deep). The
 * helper is refused to tracing programs on 5.10 (measured: "unknown func
 * bpf_get_current_ancestor_cgroup_id#123"): there the loader sets cfg_cgroup_by_helper = false
 * and the task's default-hierarchy cgroup is read through CO-RE.
 */
static __always_inline __u64 current_ancestor_cgroup_id(void)
{
	struct task_struct *task;
	struct cgroup___v5_10 *cgrp;
	__u64 id = 0;

	if (cfg_cgroup_by_helper)
		return bpf_get_current_ancestor_cgroup_id(cfg_cgroup_level);
	task = (struct task_struct *)bpf_get_current_task();
	cgrp = (void *)BPF_CORE_READ(task, cgroups, dfl_cgrp);
	if (!cgrp || BPF_CORE_READ(cgrp, level) < (int)cfg_cgroup_level)
		return 0;
	bpf_probe_read_kernel(&id, sizeof(id), (void *)cgrp + bpf_core_field_offset(cgrp->ancestor_ids) +
			      cfg_cgroup_level * sizeof(__u64));
	return id;
}

static __always_inline bool cgroup_wanted(void)
{
	if (!cfg_cgroup_id)
		return true;
	return current_ancestor_cgroup_id() == cfg_cgroup_id;
}

static __always_inline bool churn_key_eq(const struct kleak_churn_key *a, const struct kleak_churn_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	for (int i = 0; i < (int)(sizeof(*a) / sizeof(__u64)); i++)
		if (x[i] != y[i])
			return false;
	return true;
}

/*
 * The slot of a churn group, made when the group is new; NULL when every slot is taken (counted).
 * Two CPUs may make the same group at once: the one whose insert loses gives its slot back.
 */
static __always_inline struct kleak_churn_slot *churn_slot_of(const struct kleak_churn_key *key,
								 __u32 *index)
{
	__u32 *known = bpf_map_lookup_elem(&churn, key), fresh;
	struct kleak_churn_slot *slot;
	int err;

	if (known) {
		*index = *known;
		return bpf_map_lookup_elem(&churn_slots, known);
	}
	if (bpf_map_pop_elem(&churn_free, &fresh))
		goto full;
	__sync_fetch_and_add(&churn_popped, 1);
	slot = bpf_map_lookup_elem(&churn_slots, &fresh);
	if (!slot)
		goto full;
	__builtin_memcpy(&slot->key, key, sizeof(*key));
	err = bpf_map_update_elem(&churn, key, &fresh, BPF_NOEXIST);
	if (!err) {
		*index = fresh;
		return slot;
	}
	bpf_map_push_elem(&churn_free, &fresh, 0);
	known = bpf_map_lookup_elem(&churn, key);
	if (known) {
		*index = *known;
		return bpf_map_lookup_elem(&churn_slots, known);
	}
full:
	count(KLEAK_KIND_NONE, KLEAK_CHURN_MAP_FULL);
	return NULL;
}

/* `n` events of `bytes` in all (n > 1: a sampled record's weight). */
static __always_inline void churn_count(struct kleak_churn *c, bool is_free, __u64 bytes, __u64 n)
{
	if (is_free) {
		__sync_fetch_and_add(&c->frees, n);
		/*
		 * Not with bytes == 0 (the pre-window frees): clang turns an atomic add of a constant
		 * 0 into an atomic OR, which kernels before 5.12 refuse ("BPF_STX uses reserved
		 * fields", measured on 5.10).
		 */
		if (bytes)
			__sync_fetch_and_add(&c->free_bytes, bytes);
	} else {
		__sync_fetch_and_add(&c->allocs, n);
		__sync_fetch_and_add(&c->alloc_bytes, bytes);
	}
}

static __always_inline void churn_add(const struct kleak_churn_key *key, bool is_free, __u64 bytes,
				      __u64 n)
{
	__u32 index;
	struct kleak_churn_slot *slot = churn_slot_of(key, &index);

	if (slot)
		churn_count(&slot->counts, is_free, bytes, n);
}

/*
 * An allocation's churn at a known call site: the site's last group is checked first, so that
 * a site whose allocations keep one group (one process, cgroup and stack) costs an array load
 * and a 48-byte compare instead of hashing the key. Measured: bench/README.md, issue 27.
 */
static __always_inline void churn_add_at(struct kleak_site *site, const struct kleak_churn_key *key,
					 __u64 bytes, __u64 n)
{
	struct kleak_churn_slot *slot = NULL;
	__u32 index;

	if (site && site->churn) {
		index = site->churn - 1;
		slot = bpf_map_lookup_elem(&churn_slots, &index);
		if (slot && !churn_key_eq(&slot->key, key))
			slot = NULL;
	}
	if (!slot) {
		slot = churn_slot_of(key, &index);
		if (!slot)
			return;
		if (site)
			site->churn = index + 1;
	}
	churn_count(&slot->counts, false, bytes, n);
}

/*
 * Where on its kernel stack the tracepoint fired. A raw_tp program's ctx is the argument array
 * that bpf_trace_run<N>() keeps on the kernel stack right above the tracepoint's callers, so the
 * low bits of its address say how deep the stack is. One call path gives one depth; two paths
 * through the same call site rarely give the same one, and an interrupt runs on another stack.
 * A free fingerprint of the stack a walk would return: it only splits sites, the checks in
 * stack_for() catch what it does not. (Not the address of a local: since 6.13 a program with a
 * large frame runs on a per-CPU private stack.) The address becomes a number through a per-CPU
 * map slot: storing a pointer in a map is allowed to CAP_PERFMON, which kleak requires, and
 * the verifier refuses every direct conversion. Classic tracepoints pass a per-CPU buffer, so
 * the depth is constant there and only the checks separate paths.
 */
static __always_inline __u32 kernel_stack_depth(void *ctx, struct task_struct *task)
{
	__u32 zero = KLEAK_SLOT_DEPTH, depth;
	__u64 *slot = bpf_map_lookup_elem(&scratch, &zero);

	if (!slot)
		return 0;
	*(volatile __u64 *)slot = (__u64)ctx;
	depth = *(volatile __u64 *)slot;
	/*
	 * randomize_kstack_offset moves every syscall's stack down by a random 0-1023 bytes
	 * (KSTACK_OFFSET_MAX). Newer kernels (6.18 here) keep the offset per task, unchanged while the
	 * syscall runs, so it can be added back; before, it is per CPU and the depth stays
	 * randomized (fewer allocations share a site, none is given a wrong stack for it).
	 */
	if (bpf_core_field_exists(task->kstack_offset)) {
		__u32 off = cfg_task_btf ? task->kstack_offset : BPF_CORE_READ(task, kstack_offset);

		depth += ((off & 0x3ff) + 15) & ~15u;
	}
	return depth & (KLEAK_THREAD_SIZE - 1);
}

/*
 * The syscall the current task is in: the number its entry saved in pt_regs (x86-64's orig_ax,
 * arm64's syscallno; -1 outside a syscall on both). Paths through one call site from different
 * syscalls (pipe2, socket, eventfd2 all open a `filp` at the same place) never share a site, even
 * when their stacks happen to be equally deep. A BTF pointer, so a direct load. Without
 * bpf_task_pt_regs (before 5.15) the registers are where both arches' task_pt_regs() finds them:
 * the top of the task's THREAD_SIZE stack (16 KiB on both with 4 KiB pages, no padding); the
 * field's offset is CO-RE relocated.
 */
#if defined(__TARGET_ARCH_x86)
#define KLEAK_PT_REGS_SYSCALL orig_ax /* long */
#elif defined(__TARGET_ARCH_arm64)
#define KLEAK_PT_REGS_SYSCALL syscallno /* s32 */
#endif
static __always_inline __s32 task_syscall(struct task_struct *task)
{
#ifdef KLEAK_PT_REGS_SYSCALL
	struct pt_regs *regs;
	__typeof__(regs->KLEAK_PT_REGS_SYSCALL) nr = 0;

	if (cfg_task_pt_regs) {
		regs = (struct pt_regs *)bpf_task_pt_regs(task);
		return regs ? (__s32)regs->KLEAK_PT_REGS_SYSCALL : 0;
	}
	regs = (struct pt_regs *)((char *)BPF_CORE_READ(task, stack) + KLEAK_THREAD_SIZE) - 1;
	bpf_probe_read_kernel(&nr, sizeof(nr), &regs->KLEAK_PT_REGS_SYSCALL);
	return (__s32)nr;
#else
	return 0;
#endif
}

/*
 * A stack walk, counted; its failures counted by cause. A stack whose bucket holds another
 * stack goes to the spill map (a second walk): a CI run lost the hunt test's planted vmalloc
 * stack (100 allocations) to a bucket collision in 64 Ki buckets. Only the stacks spilled share the
 * spill map's buckets, so losing one takes two collisions.
 */
static __always_inline __s32 walk_stack(void *ctx, __u32 kind)
{
	__s32 id = bpf_get_stackid(ctx, &stacks, 0);

	count(kind, KLEAK_STACK_WALKED);
	if (id == -EEXIST) {
		id = bpf_get_stackid(ctx, &stacks_spill, 0);
		if (id >= 0) {
			count(kind, KLEAK_STACK_SPILLED);
			return id + KLEAK_SPILL_STACK_ID;
		}
	}
	if (id == -EEXIST)
		count(kind, KLEAK_STACK_COLLISION);
	else if (id < 0)
		count(kind, KLEAK_STACK_LOST);
	return id;
}

/*
 * The stack id of an allocation, walking as seldom as the call site allows. A site (see struct
 * kleak_site_key) that has been walked hands its stack id to the next `run` allocations; the walk
 * after them is a check: the same stack doubles the run (up to cfg_stack_reuse), another stack
 * sets it to 0, so a site whose callers alternate is walked every time. Checks and changes are
 * counted, and so are the reused allocations of every run that ended in a change (an upper
 * bound of the allocations given a sibling stack of their own call site); the report shows them.
 * Races between CPUs on one site only shift where its next walk falls.
 */
static __always_inline __s32 stack_for(void *ctx, const struct alloc_event *ev, __u32 pid,
				       struct task_struct *task, struct kleak_site **site_out)
{
	struct kleak_site_key sk = {};
	struct kleak_site *site;
	__s32 id;

	if (cfg_stack_reuse <= 1 || ev->kind == KLEAK_KIND_VMALLOC)
		return walk_stack(ctx, ev->kind);
	sk.call_site = ev->call_site;
	sk.pid = ev->call_site ? 0 : pid;
	sk.depth = kernel_stack_depth(ctx, task);
	sk.syscall = task_syscall(task);
	sk.detail = ev->kind == KLEAK_KIND_SLAB ? ev->cache
		  : ev->kind == KLEAK_KIND_PAGE ? ev->gfp_flags
						: ev->bytes_alloc;
	sk.order = ev->order;
	sk.kind = ev->kind;
	site = bpf_map_lookup_elem(&sites, &sk);
	*site_out = site;
	if (site && site->left > 0) {
		site->left -= 1;
		site->reused += 1;
		count(ev->kind, KLEAK_STACK_REUSED);
		return site->stack_id;
	}
	id = walk_stack(ctx, ev->kind);
	if (!site) {
		struct kleak_site fresh = { .stack_id = id, .run = 1, .left = id >= 0 ? 1 : 0 };

		bpf_map_update_elem(&sites, &sk, &fresh, BPF_ANY);
		return id;
	}
	count(ev->kind, KLEAK_STACK_CHECKED);
	if (id >= 0 && id == site->stack_id) {
		__u32 run = site->run ? site->run * 2 : 1;

		site->run = run < cfg_stack_reuse ? run : cfg_stack_reuse;
	} else {
		count(ev->kind, KLEAK_STACK_CHANGED);
		count_n(ev->kind, KLEAK_STACK_SUSPECT, site->reused);
		site->stack_id = id;
		site->run = 0;
		site->churn = 0;
	}
	site->left = id >= 0 ? site->run : 0;
	site->reused = 0;
	return id;
}

/*
 * The allocation's time, to the tick: bpf_ktime_get_ns() once per jiffy and CPU, a per-CPU copy
 * in between (ages are shown in seconds). bpf_ktime_get_coarse_ns would do, but tracing
 * programs may not call it; bpf_jiffies64 is a load. The clock read was ~30 ns per allocation
 * here (read_tsc 2.4% of the pipe loop's samples under kleak-nostack).
 */
static __always_inline __u64 now_ns(void)
{
	__u32 js = KLEAK_SLOT_JIFFIES, ns = KLEAK_SLOT_NOW;
	__u64 *last_j = bpf_map_lookup_elem(&scratch, &js), *last_ns = bpf_map_lookup_elem(&scratch, &ns);
	__u64 j = bpf_jiffies64();

	if (!last_j || !last_ns)
		return bpf_ktime_get_ns();
	if (*last_j != j) {
		*last_ns = bpf_ktime_get_ns();
		*last_j = j;
	}
	return *last_ns;
}

/* The tracer's tgid as bpf_get_current_pid_tgid() numbers it, learned from its first
 * allocation when it runs in a child pid namespace; then one load per allocation. */
__u32 self_tgid_global = 0;

static __always_inline bool is_self(__u32 tgid)
{
	struct bpf_pidns_info ns = {};

	if (!cfg_self_tgid)
		return false;
	if (!cfg_self_pidns_ino)
		return tgid == cfg_self_tgid;
	if (self_tgid_global)
		return tgid == self_tgid_global;
	if (bpf_get_ns_current_pid_tgid(cfg_self_pidns_dev, cfg_self_pidns_ino, &ns, sizeof(ns)) ||
	    ns.tgid != cfg_self_tgid)
		return false;
	self_tgid_global = tgid;
	return true;
}

/*
 * --sample N: this allocation's weight k if it is drawn (probability 1/k, see kleak_sample_x in
 * abi.h), 0 if not; 1 without sampling. The running mean is per CPU, so no cache line is shared; a program
 * that interrupts another on this CPU may interleave its update, which only moves the mean.
 */
static __always_inline __u32 sample_weight(__u64 bytes)
{
	__u32 slot = KLEAK_SLOT_MEAN, every = sample_every();
	__u64 *mean, x, k;

	if (every <= 1)
		return 1;
	mean = bpf_map_lookup_elem(&scratch, &slot);
	if (!mean)
		return 0;
	x = kleak_sample_x(bytes, *mean, every);
	*mean = kleak_mean_next(*mean, bytes);
	k = kleak_sample_k(x, (x & 0xffff) ? bpf_get_prandom_u32() : 0);
	if (k > 0xffffffffULL)
		k = 0xffffffffULL;
	return k == 1 || bpf_get_prandom_u32() % (__u32)k == 0 ? (__u32)k : 0;
}

/* The record at `key` was freed unseen: one more for the stack that allocated it. */
static __always_inline void unseen_free_of(__u64 key)
{
	struct kleak_alloc *old = bpf_map_lookup_elem(&allocs, &key);
	__u64 one = 1, *n;
	__s32 stack_id;

	if (!old)
		return;
	stack_id = old->stack_id;
	n = bpf_map_lookup_elem(&unseen, &stack_id);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&unseen, &stack_id, &one, BPF_NOEXIST);
}

static __always_inline int record_alloc(void *ctx, struct alloc_event *ev)
{
	struct task_struct *task;
	struct kleak_site *site = NULL;
	struct kleak_alloc rec = {};
	__u64 pid_tgid, key;
	__u32 tgid, weight;
	bool replaced = false;
	/*
	 * int, not long: before 6.5 the map ops return int and the verifier calls them directly,
	 * so an error reaches BPF zero-extended (-EEXIST arrives as 0xffffffef). Compared as a
	 * long it never equals -EEXIST, and on 6.1 every reused address was counted as a full map
	 * (exit status 3) with the stale record kept.
	 */
	int err;

	count(ev->kind, KLEAK_ALLOC_SEEN);
	if (!ev->addr) {
		count(ev->kind, KLEAK_ALLOC_NULL);
		return 0;
	}
	key = kleak_key(ev->space, ev->addr);
	/* Slab sizes come from the caches map: known before the size-aware sampling draw. */
	if (ev->kind == KLEAK_KIND_SLAB && !cache_seen(ev->cache, ev->cache_name, ev)) {
		count(ev->kind, KLEAK_ALLOC_FILTERED);
		return 0;
	}
	weight = sample_weight(ev->bytes_alloc);
	if (!weight) {
		count(ev->kind, KLEAK_SAMPLED_OUT);
		return 0;
	}

	pid_tgid = bpf_get_current_pid_tgid();
	tgid = pid_tgid >> 32;
	if (!kind_wanted(ev->kind) || !size_wanted(ev->bytes_req, ev->bytes_alloc) ||
	    (cfg_tgid && tgid != cfg_tgid) || is_self(tgid)) {
		count(ev->kind, KLEAK_ALLOC_FILTERED);
		return 0;
	}
	task = current_task();
	if (!cgroup_wanted()) {
		count(ev->kind, KLEAK_ALLOC_FILTERED);
		return 0;
	}

	rec.ts_ns = now_ns();
	rec.bytes_req = ev->bytes_req;
	rec.bytes_alloc = ev->bytes_alloc;
	rec.gfp_flags = ev->gfp_flags;
	rec.call_site = ev->call_site;
	rec.cache = ev->cache;
	rec.cgroup_id = bpf_get_current_cgroup_id();
	rec.tid = (__u32)pid_tgid;
	rec.tgid = tgid;
	rec.order = ev->order;
	rec.kind = ev->kind;
	rec.migratetype = ev->migratetype;
	rec.weight = weight > 1 ? weight : 0;
	current_comm(task, rec.comm);
	rec.stack_id = -1;
	if (cfg_capture_stacks) {
		rec.stack_id = stack_for(ctx, ev, rec.tid, task, &site);
		/* Only page stacks are ever recognized as user memory: no lookup for the others. */
		if (ev->kind == KLEAK_KIND_PAGE && rec.stack_id >= 0 &&
		    bpf_map_lookup_elem(&skip_stacks, &rec.stack_id)) {
			count(ev->kind, KLEAK_USER_SKIPPED);
			count_n(ev->kind, KLEAK_USER_SKIPPED_BYTES, ev->bytes_alloc);
			return 0;
		}
	}

	err = bpf_map_update_elem(&allocs, &key, &rec, BPF_NOEXIST);
	if (err == -EEXIST) {
		/* The address is live again while we still hold it: its free never reached us. */
		count(ev->kind, KLEAK_ALLOC_REPLACED);
		unseen_free_of(key);
		replaced = true;
		err = bpf_map_update_elem(&allocs, &key, &rec, BPF_EXIST);
	}
	if (err) {
		count(ev->kind, KLEAK_ALLOC_MAP_FULL);
		return 0;
	}
	count(ev->kind, KLEAK_ALLOC_TRACKED);
	if (held_kept() && !replaced) {
		__u32 *h = held_bucket(key);

		if (h)
			__sync_fetch_and_add(h, 1);
	}
	{
		struct kleak_churn_key ck = {};

		kleak_churn_key_of(&ck, &rec);
		churn_add_at(site, &ck, rec.bytes_alloc * weight, weight);
	}
	return 0;
}

/*
 * Forget the record at `key`, if there is one: the part of every free that touches `allocs`.
 * Returns whether a record was deleted. Under --sample the counting filter `held` answers first
 * for most frees (the draw was per allocation: only the map knows whether it won).
 */
static __always_inline bool forget(__u64 key)
{
	__u32 *h = NULL;

	if (held_kept()) {
		h = held_bucket(key);
		if (h && !*h)
			return false;
	}
	if (bpf_map_delete_elem(&allocs, &key) != 0)
		return false;
	if (h)
		__sync_fetch_and_add(h, -1);
	return true;
}

/*
 * `n` frees that found no record. Those of objects from before the window are counted per cache
 * (when the free names one), so a cache's churn includes them; under --sample, 1 in N of them
 * with weight N, so that the free path of the other N - 1 stays one hash delete.
 */
static __always_inline void frees_unmatched(__u32 kind, __u64 cache, __u64 n)
{
	__u32 every = sample_every();

	if (!n)
		return;
	if (every > 1) {
		count_n(kind, KLEAK_FREE_SAMPLED_OUT, n);
		if (!cache || bpf_get_prandom_u32() % every)
			return;
	} else {
		count_n(kind, KLEAK_FREE_UNTRACKED, n);
	}
	if (cache && cgroup_wanted()) {
		struct kleak_churn_key ck = {};

		cache_seen(cache, NULL, NULL);
		ck.stack_id = KLEAK_STACK_PREWINDOW;
		ck.cache = cache;
		ck.kind = kind;
		churn_add(&ck, true, 0, n * every);
	}
}

/*
 * A free: forget the record. Its group's free is not counted here: userspace derives a group's
 * frees in the window as its allocations minus its outstanding records, which saves the free
 * path a lookup and a second hash update. `cache` is the slab cache the event names
 * (kmem_cache_free), so that a free of an object allocated before the window still counts for
 * its cache; 0 where the event does not say. Every free seen ends in exactly one of: matched,
 * untracked (or sampled out), null, batched-unmatched.
 */
static __always_inline int record_free_in(__u32 kind, enum kleak_space space, __u64 addr,
					  __u64 cache, bool maybe_duplicate)
{
	count(kind, KLEAK_FREE_SEEN);
	if (!addr) {
		count(kind, KLEAK_FREE_NULL);
		return 0;
	}
	if (forget(kleak_key(space, addr))) {
		count(kind, KLEAK_FREE_MATCHED);
		return 0;
	}
	/* A second report of a free already seen (mm_page_free_batched) is no loss. */
	if (maybe_duplicate) {
		count(kind, KLEAK_FREE_BATCHED_UNMATCHED);
		return 0;
	}
	frees_unmatched(kind, cache, 1);
	return 0;
}

/*
 * frees_unmatched() for a bulk free, as a global function: the verifier checks it once, with `n`
 * unknown, instead of once per state the loop below ends in. Inlined, its `if (!n)` on a count
 * that is a constant on each path made the verifier mark the loop's counters precise, and then
 * no iteration's states pruned another's: every mix of NULL/matched/unmatched objects was a state
 * of its own. Measured with the kprobe program on 6.18: 1,000,000 instructions (the limit, E2BIG)
 * already at 64 iterations; under TCG, 5.10 and 6.1 took ~70 s to load the 512-iteration fentry
 * program, in every kleak start.
 */
__noinline int bulk_frees_unmatched(__u32 kind, __u64 cache, __u64 n)
{
	frees_unmatched(kind, cache, n);
	return 0;
}

/*
 * kmem_cache_free_bulk(s, n, objs): the objects of one bulk free, followed through the same
 * free path as traced frees, KLEAK_BULK_MAX at most (the rest is counted as truncated: unseen).
 * kfree_bulk() passes s == NULL: kmalloc objects, whose records share the slab key space. The
 * body is kept small (one read, one delete) and the counters are added once per call: a bounded
 * loop is verified iteration by iteration, and 5.10 has no bpf_loop. The loop runs on `n`
 * itself and the kind is chosen after it: a count clamped before it (n < MAX ? n : MAX: a
 * constant above the clamp) and a kind chosen before (s NULL or not) made the verifier walk all
 * iterations four times. With both, and the global function above: 36,396 instructions (6.18).
 */
static __always_inline int record_free_bulk(__u64 cache, __u64 n, void **objs)
{
	__u64 done = 0, matched = 0, nulls = 0, unmatched = 0;
	__u32 kind;

	for (__u32 i = 0; i < KLEAK_BULK_MAX; i++) {
		__u64 obj = 0;

		if (i >= n)
			break;
		bpf_probe_read_kernel(&obj, sizeof(obj), &objs[i]);
		if (zero_or_null(obj))
			nulls++;
		else if (forget(kleak_key(KLEAK_SPACE_SLAB, obj)))
			matched++;
		else
			unmatched++;
		done++;
	}
	kind = cache ? KLEAK_KIND_SLAB : KLEAK_KIND_KMALLOC;
	if (n > done)
		count_n(kind, KLEAK_FREE_BULK_TRUNCATED, n - done);
	count_n(kind, KLEAK_FREE_SEEN, done);
	count_n(kind, KLEAK_FREE_BULK, done);
	count_n(kind, KLEAK_FREE_NULL, nulls);
	count_n(kind, KLEAK_FREE_MATCHED, matched);
	bulk_frees_unmatched(kind, cache, unmatched);
	return 0;
}

/*
 * A free that finds its program busy on this CPU is lost: the kernel counts it in the program's
 * recursion_misses and skips it. That happens when an interrupt frees memory while the same free
 * program runs in the task it interrupted (an RCU callback batch freeing socket inodes in softirq:
 * 26,456 kmem_cache_free misses in 3 s of a socket loop), and each one can invent a leak. So every
 * raw_tp free event has two programs, run in attach order for each event: the primary, then a
 * twin that handles the event only if the primary did not run for it.
 *
 * How the twin knows: the primary leaves a mark per CPU, {its ctx, the address freed}. A raw_tp
 * program's ctx is the argument array on the kernel stack of the tracepoint call, so the primary
 * and the twin of one event see the same ctx, and an event that interrupts them sees another one.
 * The twin looks for its ctx among the marks: found with its address, the primary ran (the mark
 * is cleared); not found, the primary was skipped. A few marks, since contexts nest (task,
 * softirq, hardirq, NMI) and a twin skipped in turn leaves its mark behind (free_marked() clears
 * those). Keeping a ctx in a map needs allow_ptr_leaks,
 * which CAP_PERFMON gives and kleak needs anyway.
 * The first version counted the primary's runs in progress around its body instead: it missed
 * the interrupts that land in the kernel's code around the body (after the program is marked
 * busy, before the body starts; after it ends), and rescued 41-60% of the misses on this host.
 */
static __always_inline struct kleak_free_marks *free_marks_of(__u32 slot)
{
	return bpf_map_lookup_elem(&free_marks, &slot);
}

/*
 * The ctx pointer as a number (its stack and depth are compared): the verifier allows no
 * arithmetic on a ctx pointer, nor a partial read of its copy on the stack, but a copy read
 * back from a map is a plain value. One slot per role: a program never nests in itself (that
 * is the skip), so its slot cannot be overwritten between the store and the load; one slot for
 * both could be, by the other role's run in an interrupt.
 */
static __always_inline __u64 ctx_scalar(struct kleak_free_marks *m, void *ctx, bool twin)
{
	volatile __u64 *slot = &m->ctx_of[twin ? 1 : 0];

	*slot = (__u64)(long)ctx;
	return *slot;
}

/*
 * A mark deeper on the same kernel stack than the event running now is finished: what runs
 * deeper on a stack is nested in what runs above it, and is done when that resumes.
 */
static __always_inline bool free_mark_finished(__u64 mark, __u64 ctx)
{
	return mark && mark < ctx && (mark & ~(__u64)(KLEAK_THREAD_SIZE - 1)) == (ctx & ~(__u64)(KLEAK_THREAD_SIZE - 1));
}

static __always_inline void free_mark(struct kleak_free_marks *m, __u64 ctx, __u64 id)
{
	__u32 at = KLEAK_FREE_MARKS;

	for (__u32 i = 0; i < KLEAK_FREE_MARKS; i++) {
		if (free_mark_finished(m->ctx[i], ctx))
			m->ctx[i] = 0;
		if (m->ctx[i] == ctx || (!m->ctx[i] && at == KLEAK_FREE_MARKS))
			at = i;
	}
	if (at >= KLEAK_FREE_MARKS) {
		at = m->rotor++ % KLEAK_FREE_MARKS;
		m->evicted++;
	}
	m->ctx[at] = ctx;
	m->id[at] = id;
	m->seq[at] = ++m->next_seq;
}

/*
 * Whether the primary ran for this event. The mark at this ctx is consumed. If it is this
 * event's, every mark made after it belongs to an event nested in this one whose twin was
 * skipped: those go too, so the marks in use never outnumber the nesting levels and a mark still
 * awaited is never the one replaced. A mark of another address at this ctx is such a leftover
 * (the primary would have overwritten it), and the marks made after it may still be awaited.
 */
static __always_inline bool free_marked(struct kleak_free_marks *m, __u64 ctx, __u64 id)
{
	__u64 seq = 0;
	bool ran = false;

	for (__u32 i = 0; i < KLEAK_FREE_MARKS; i++) {
		if (free_mark_finished(m->ctx[i], ctx))
			m->ctx[i] = 0;
		if (m->ctx[i] == ctx) {
			ran = m->id[i] == id;
			seq = m->seq[i];
			m->ctx[i] = 0;
		}
	}
	if (!ran)
		return false;
	for (__u32 i = 0; i < KLEAK_FREE_MARKS; i++)
		if (m->seq[i] > seq)
			m->ctx[i] = 0;
	return ran;
}

#define FREE_PRIMARY(slot, id, call)                                                    \
	({                                                                              \
		struct kleak_free_marks *m_ = free_marks_of(slot);                      \
		if (m_)                                                                 \
			free_mark(m_, ctx_scalar(m_, ctx, false), (id));                \
		(call);                                                                 \
	})

#define FREE_TWIN(slot, kind, id, call)                                                 \
	({                                                                              \
		struct kleak_free_marks *m_ = free_marks_of(slot);                      \
		int ret_ = 0;                                                           \
		if (m_ && !free_marked(m_, ctx_scalar(m_, ctx, true), (id))) {  \
			count(kind, KLEAK_FREE_RESCUED);                                \
			ret_ = (call);                                                  \
		}                                                                       \
		ret_;                                                                   \
	})

static __always_inline int record_free(__u32 kind, enum kleak_space space, __u64 addr)
{
	return record_free_in(kind, space, addr, 0, false);
}


#endif /* KLEAK_RECORD_BPF_H */
