// SPDX-License-Identifier: GPL-2.0
/*
 * leaky: a deliberately faulty out-of-tree driver for kleak's second-kernel lane
 * (tools/qemu/run-lane.sh). It "leaks" known amounts of kernel memory through the four
 * allocators a driver uses most, each from its own noinline function so that the stack kleak
 * reports names it:
 *
 *   leaky_kmalloc_one  kmalloc(size, GFP_KERNEL)          kind kmalloc
 *   leaky_cache_one    kmem_cache_alloc(leaky_cache)      kind slab, cache "leaky_cache"
 *   leaky_kmalloc_node_one, leaky_cache_node_one: the same through kmalloc_node and
 *                      kmem_cache_alloc_node (separate events before 6.0)
 *   leaky_vmalloc_one  vmalloc(size)                      kind vmalloc (one vmap area each)
 *   leaky_pages_one    alloc_pages(GFP_KERNEL, order)     kind page, category page_direct
 *
 * and frees that fire no per-object free event (tools/qemu/README.md, scenario bulk/):
 *
 *   leaky_cache_bulk       kmem_cache_alloc_bulk(leaky_cache, COUNT): kind slab. SLUB fires no
 *                          allocation event for these either (5.10, 6.1: "Trace call missing")
 *   leaky_cache_each_one   kmem_cache_alloc(leaky_cache), one by one, into the same bulk array:
 *                          allocations a tracer sees, freed where it sees no free
 *   leaky_free_cache_bulk  kmem_cache_free_bulk(leaky_cache, n, array) of the whole array
 *   leaky_kmalloc_rcu_one  kmalloc(size) of an object with a struct rcu_head, kind kmalloc
 *   leaky_free_rcu_all     kfree_rcu() of each: after a grace period the kernel's batching frees
 *                          most of them with kfree_bulk() = kmem_cache_free_bulk(NULL, ...)
 *                          (5.10, 6.1), the rest with kfree()
 *
 * Leaks happen at load time (module parameters) or on demand through debugfs, so that a tracer
 * can be running when they happen:
 *
 *   echo "kmalloc COUNT SIZE" > /sys/kernel/debug/leaky/leak
 *   echo "cache COUNT 0"      > /sys/kernel/debug/leaky/leak     (objects of LEAKY_OBJ_SIZE)
 *   echo "kmalloc_node COUNT SIZE", "cache_node COUNT 0"        (the _node allocators)
 *   echo "vmalloc COUNT SIZE" > /sys/kernel/debug/leaky/leak
 *   echo "pages COUNT ORDER"  > /sys/kernel/debug/leaky/leak
 *   echo "cache_bulk COUNT"   > /sys/kernel/debug/leaky/leak     (kmem_cache_alloc_bulk)
 *   echo "cache_each COUNT"   > /sys/kernel/debug/leaky/leak     (kmem_cache_alloc, bulk array)
 *   echo "free_cache_bulk"    > /sys/kernel/debug/leaky/leak     (kmem_cache_free_bulk of it all)
 *   echo "kmalloc_rcu COUNT SIZE", "free_rcu"                   (kmalloc, then kfree_rcu each)
 *   cat /sys/kernel/debug/leaky/stats     one line of key=value totals of what is held
 *   echo 1 > /sys/kernel/debug/leaky/free free everything (rmmod does too)
 *
 * The module keeps its leaks on lists threaded through the leaked memory itself (a list_head at
 * the start of each kmalloc, cache and vmalloc buffer, page->lru for pages), so it makes no
 * allocation of its own that a tracer would add to the leaks' stacks. The bulk objects are held in
 * a static array (LEAKY_BULK_MAX pointers), for the same reason.
 *
 * stats: kmalloc_count, kmalloc_bytes_req (sum of sizes asked for), kmalloc_bytes_alloc (sum of
 * ksize(): the slab slot), cache_count, cache_bytes_req (count * object size; the slot size,
 * which the event reports as bytes_alloc, is /sys/kernel/slab/leaky_cache/slab_size),
 * vmalloc_count, vmalloc_bytes (sizes asked for), vmalloc_area_bytes (PAGE_ALIGN(size) + one
 * guard page each: the vmap area), page_count (calls), page_bytes (PAGE_SIZE << order each),
 * knode_count, knode_bytes_req, knode_bytes_alloc (kmalloc_node), cnode_count (objects of
 * leaky_cache from kmem_cache_alloc_node), cbulk_count (objects from kmem_cache_alloc_bulk),
 * ceach_count (from kmem_cache_alloc into the bulk array), rcu_count, rcu_bytes_req,
 * rcu_bytes_alloc (kmalloc_rcu); and what left since the module was loaded (never reset):
 * bulk_freed (objects given to kmem_cache_free_bulk), bulk_calls (its calls), rcu_queued (objects
 * given to kfree_rcu).
 */
#include <linux/debugfs.h>
#include <linux/gfp.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

static unsigned int kmalloc_count;
module_param(kmalloc_count, uint, 0444);
MODULE_PARM_DESC(kmalloc_count, "kmalloc leaks made at load");
static unsigned int kmalloc_size = 3000;
module_param(kmalloc_size, uint, 0444);
MODULE_PARM_DESC(kmalloc_size, "bytes of each load-time kmalloc leak (>= 16)");
static unsigned int vmalloc_count;
module_param(vmalloc_count, uint, 0444);
MODULE_PARM_DESC(vmalloc_count, "vmalloc leaks made at load");
static unsigned int vmalloc_size = 1 << 20;
module_param(vmalloc_size, uint, 0444);
MODULE_PARM_DESC(vmalloc_size, "bytes of each load-time vmalloc leak (>= 16)");
static unsigned int pages_count;
module_param(pages_count, uint, 0444);
MODULE_PARM_DESC(pages_count, "alloc_pages leaks made at load");
static unsigned int pages_order;
module_param(pages_order, uint, 0444);
MODULE_PARM_DESC(pages_order, "order of each load-time alloc_pages leak (0..4)");

struct leaky_buf {
	struct list_head node;
	size_t size;
};

/* kmalloc_rcu: freed with kfree_rcu(b, rcu). */
struct leaky_rcu_buf {
	struct list_head node;
	struct rcu_head rcu;
	size_t size;
};

/*
 * The bulk array: objects of leaky_cache from kmem_cache_alloc_bulk and from kmem_cache_alloc,
 * freed together by one kmem_cache_free_bulk. Static: an allocation of the array would show up
 * under the leaks' own stacks. 5.10's kfree_rcu batches hold at most 510 pointers, a tracer's
 * bulk loop may stop earlier: the lane's scenario stays below 512.
 */
#define LEAKY_BULK_MAX 1024
static void *leaky_bulk[LEAKY_BULK_MAX];
static unsigned int leaky_bulk_n;

/*
 * A cache of the driver's own. It has a constructor, so SLUB never merges it into another
 * cache of the same size (whose name the allocation event would then report).
 */
#define LEAKY_OBJ_SIZE 700
static struct kmem_cache *leaky_cache;

static void leaky_obj_ctor(void *obj)
{
	memset(obj, 0, LEAKY_OBJ_SIZE);
}

static DEFINE_MUTEX(leaky_lock);
static LIST_HEAD(kmalloc_list);
static LIST_HEAD(cache_list);
static LIST_HEAD(vmalloc_list);
static LIST_HEAD(page_list);
static LIST_HEAD(rcu_list);
static struct {
	u64 kmalloc_count, kmalloc_bytes_req, kmalloc_bytes_alloc;
	u64 cache_count, cache_bytes_req;
	u64 vmalloc_count, vmalloc_bytes, vmalloc_area_bytes;
	u64 page_count, page_bytes;
	u64 knode_count, knode_bytes_req, knode_bytes_alloc, cnode_count;
	u64 cbulk_count, ceach_count;
	u64 rcu_count, rcu_bytes_req, rcu_bytes_alloc;
} held;
/* What the bulk and kfree_rcu frees gave back since the module was loaded (never reset). */
static struct {
	u64 bulk_freed, bulk_calls, rcu_queued;
} gone;
static struct dentry *leaky_dir;

static noinline int leaky_kmalloc_one(size_t size)
{
	struct leaky_buf *b = kmalloc(size, GFP_KERNEL);

	if (!b)
		return -ENOMEM;
	b->size = size;
	list_add(&b->node, &kmalloc_list);
	held.kmalloc_count++;
	held.kmalloc_bytes_req += size;
	held.kmalloc_bytes_alloc += ksize(b);
	return 0;
}

static noinline int leaky_cache_one(void)
{
	struct leaky_buf *b = kmem_cache_alloc(leaky_cache, GFP_KERNEL);

	if (!b)
		return -ENOMEM;
	list_add(&b->node, &cache_list);
	held.cache_count++;
	held.cache_bytes_req += kmem_cache_size(leaky_cache);
	return 0;
}

/*
 * The _node allocators: before 6.0 they fire their own events (kmem:kmalloc_node,
 * kmem:kmem_cache_alloc_node), which a tracer attached to kmalloc / kmem_cache_alloc alone misses.
 */
static noinline int leaky_kmalloc_node_one(size_t size)
{
	struct leaky_buf *b = kmalloc_node(size, GFP_KERNEL, numa_node_id());

	if (!b)
		return -ENOMEM;
	b->size = size;
	list_add(&b->node, &kmalloc_list);
	held.knode_count++;
	held.knode_bytes_req += size;
	held.knode_bytes_alloc += ksize(b);
	return 0;
}

static noinline int leaky_cache_node_one(void)
{
	struct leaky_buf *b = kmem_cache_alloc_node(leaky_cache, GFP_KERNEL, numa_node_id());

	if (!b)
		return -ENOMEM;
	list_add(&b->node, &cache_list);
	held.cnode_count++;
	return 0;
}

static noinline int leaky_vmalloc_one(size_t size)
{
	struct leaky_buf *b = vmalloc(size);

	if (!b)
		return -ENOMEM;
	b->size = size;
	list_add(&b->node, &vmalloc_list);
	held.vmalloc_count++;
	held.vmalloc_bytes += size;
	held.vmalloc_area_bytes += PAGE_ALIGN(size) + PAGE_SIZE;
	return 0;
}

static noinline int leaky_pages_one(unsigned int order)
{
	struct page *p = alloc_pages(GFP_KERNEL, order);

	if (!p)
		return -ENOMEM;
	set_page_private(p, order);
	list_add(&p->lru, &page_list);
	held.page_count++;
	held.page_bytes += PAGE_SIZE << order;
	return 0;
}

/*
 * kmem_cache_alloc_bulk: `count` objects at once. Returns 0 or -ENOMEM (then nothing was taken:
 * the kernel frees a partial bulk itself).
 */
static noinline int leaky_cache_bulk(unsigned int count)
{
	int got;

	if (count > LEAKY_BULK_MAX - leaky_bulk_n)
		return -ENOSPC;
	if (!count)
		return 0;
	got = kmem_cache_alloc_bulk(leaky_cache, GFP_KERNEL, count, &leaky_bulk[leaky_bulk_n]);
	if (got <= 0)
		return -ENOMEM;
	leaky_bulk_n += got;
	held.cbulk_count += got;
	return 0;
}

/* One kmem_cache_alloc into the bulk array: an allocation event, but a bulk free. */
static noinline int leaky_cache_each_one(void)
{
	void *obj;

	if (leaky_bulk_n >= LEAKY_BULK_MAX)
		return -ENOSPC;
	obj = kmem_cache_alloc(leaky_cache, GFP_KERNEL);
	if (!obj)
		return -ENOMEM;
	leaky_bulk[leaky_bulk_n++] = obj;
	held.ceach_count++;
	return 0;
}

/* The whole bulk array back in one kmem_cache_free_bulk: no kmem_cache_free event for any. */
static noinline void leaky_free_cache_bulk(void)
{
	if (!leaky_bulk_n)
		return;
	kmem_cache_free_bulk(leaky_cache, leaky_bulk_n, leaky_bulk);
	gone.bulk_freed += leaky_bulk_n;
	gone.bulk_calls++;
	memset(leaky_bulk, 0, leaky_bulk_n * sizeof(leaky_bulk[0]));
	leaky_bulk_n = 0;
	held.cbulk_count = 0;
	held.ceach_count = 0;
}

static noinline int leaky_kmalloc_rcu_one(size_t size)
{
	struct leaky_rcu_buf *b = kmalloc(size, GFP_KERNEL);

	if (!b)
		return -ENOMEM;
	b->size = size;
	list_add(&b->node, &rcu_list);
	held.rcu_count++;
	held.rcu_bytes_req += size;
	held.rcu_bytes_alloc += ksize(b);
	return 0;
}

/*
 * kfree_rcu of every kmalloc_rcu object. The kernel frees them after a grace period from its
 * kfree_rcu batches: kfree_bulk() where it had a page for the batch's pointer array, else kfree().
 */
static noinline void leaky_free_rcu_all(void)
{
	struct leaky_rcu_buf *b, *tb;

	list_for_each_entry_safe(b, tb, &rcu_list, node) {
		list_del(&b->node);
		kfree_rcu(b, rcu);
		gone.rcu_queued++;
	}
	held.rcu_count = 0;
	held.rcu_bytes_req = 0;
	held.rcu_bytes_alloc = 0;
}

/* One request: `count` leaks of one kind. Returns 0 or the first error. */
static int leaky_leak(const char *kind, unsigned int count, unsigned int arg)
{
	unsigned int i;
	int err = 0;

	if (!strcmp(kind, "kmalloc")) {
		if (arg < sizeof(struct leaky_buf) || arg > KMALLOC_MAX_SIZE)
			return -EINVAL;
		for (i = 0; i < count && !err; i++)
			err = leaky_kmalloc_one(arg);
	} else if (!strcmp(kind, "kmalloc_node")) {
		if (arg < sizeof(struct leaky_buf) || arg > KMALLOC_MAX_SIZE)
			return -EINVAL;
		for (i = 0; i < count && !err; i++)
			err = leaky_kmalloc_node_one(arg);
	} else if (!strcmp(kind, "cache")) {
		for (i = 0; i < count && !err; i++)
			err = leaky_cache_one();
	} else if (!strcmp(kind, "cache_node")) {
		for (i = 0; i < count && !err; i++)
			err = leaky_cache_node_one();
	} else if (!strcmp(kind, "vmalloc")) {
		if (arg < sizeof(struct leaky_buf))
			return -EINVAL;
		for (i = 0; i < count && !err; i++)
			err = leaky_vmalloc_one(arg);
	} else if (!strcmp(kind, "pages")) {
		if (arg > 4)
			return -EINVAL;
		for (i = 0; i < count && !err; i++)
			err = leaky_pages_one(arg);
	} else if (!strcmp(kind, "cache_bulk")) {
		err = leaky_cache_bulk(count);
	} else if (!strcmp(kind, "cache_each")) {
		for (i = 0; i < count && !err; i++)
			err = leaky_cache_each_one();
	} else if (!strcmp(kind, "free_cache_bulk")) {
		leaky_free_cache_bulk();
	} else if (!strcmp(kind, "kmalloc_rcu")) {
		if (arg < sizeof(struct leaky_rcu_buf) || arg > PAGE_SIZE)
			return -EINVAL;
		for (i = 0; i < count && !err; i++)
			err = leaky_kmalloc_rcu_one(arg);
	} else if (!strcmp(kind, "free_rcu")) {
		leaky_free_rcu_all();
	} else {
		return -EINVAL;
	}
	return err;
}

static void leaky_free_all(void)
{
	struct leaky_buf *b, *tb;
	struct leaky_rcu_buf *r, *tr;
	struct page *p, *tp;
	unsigned int i;

	list_for_each_entry_safe(b, tb, &kmalloc_list, node) {
		list_del(&b->node);
		kfree(b);
	}
	list_for_each_entry_safe(b, tb, &cache_list, node) {
		list_del(&b->node);
		kmem_cache_free(leaky_cache, b);
	}
	list_for_each_entry_safe(b, tb, &vmalloc_list, node) {
		list_del(&b->node);
		vfree(b);
	}
	list_for_each_entry_safe(p, tp, &page_list, lru) {
		list_del(&p->lru);
		__free_pages(p, page_private(p));
	}
	/* One by one: the bulk and kfree_rcu frees are only what their requests ask for. */
	for (i = 0; i < leaky_bulk_n; i++)
		kmem_cache_free(leaky_cache, leaky_bulk[i]);
	memset(leaky_bulk, 0, sizeof(leaky_bulk));
	leaky_bulk_n = 0;
	list_for_each_entry_safe(r, tr, &rcu_list, node) {
		list_del(&r->node);
		kfree(r);
	}
	memset(&held, 0, sizeof(held));
}

static noinline ssize_t leaky_write(struct file *file, const char __user *ubuf, size_t len,
				    loff_t *ppos)
{
	char buf[64], kind[16];
	unsigned int count = 0, arg = 0;
	int err;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;
	/* "KIND COUNT ARG"; the bulk modes take "KIND COUNT" (cache_bulk, cache_each) or "KIND". */
	if (sscanf(buf, "%15s %u %u", kind, &count, &arg) < 1)
		return -EINVAL;
	mutex_lock(&leaky_lock);
	err = leaky_leak(kind, count, arg);
	mutex_unlock(&leaky_lock);
	return err ? err : len;
}

static ssize_t leaky_free_write(struct file *file, const char __user *ubuf, size_t len,
				loff_t *ppos)
{
	mutex_lock(&leaky_lock);
	leaky_free_all();
	mutex_unlock(&leaky_lock);
	return len;
}

static ssize_t leaky_stats_read(struct file *file, char __user *ubuf, size_t len, loff_t *ppos)
{
	char buf[768];
	int n;

	mutex_lock(&leaky_lock);
	n = scnprintf(buf, sizeof(buf),
		      "kmalloc_count=%llu kmalloc_bytes_req=%llu kmalloc_bytes_alloc=%llu "
		      "cache_count=%llu cache_bytes_req=%llu "
		      "vmalloc_count=%llu vmalloc_bytes=%llu vmalloc_area_bytes=%llu "
		      "page_count=%llu page_bytes=%llu page_size=%lu "
		      "knode_count=%llu knode_bytes_req=%llu knode_bytes_alloc=%llu cnode_count=%llu "
		      "cbulk_count=%llu ceach_count=%llu rcu_count=%llu rcu_bytes_req=%llu "
		      "rcu_bytes_alloc=%llu bulk_freed=%llu bulk_calls=%llu rcu_queued=%llu\n",
		      held.kmalloc_count, held.kmalloc_bytes_req, held.kmalloc_bytes_alloc,
		      held.cache_count, held.cache_bytes_req,
		      held.vmalloc_count, held.vmalloc_bytes, held.vmalloc_area_bytes,
		      held.page_count, held.page_bytes, PAGE_SIZE,
		      held.knode_count, held.knode_bytes_req, held.knode_bytes_alloc, held.cnode_count,
		      held.cbulk_count, held.ceach_count, held.rcu_count, held.rcu_bytes_req,
		      held.rcu_bytes_alloc, gone.bulk_freed, gone.bulk_calls, gone.rcu_queued);
	mutex_unlock(&leaky_lock);
	return simple_read_from_buffer(ubuf, len, ppos, buf, n);
}

static const struct file_operations leak_fops = {
	.owner = THIS_MODULE,
	.write = leaky_write,
	.llseek = noop_llseek,
};

static const struct file_operations free_fops = {
	.owner = THIS_MODULE,
	.write = leaky_free_write,
	.llseek = noop_llseek,
};

static const struct file_operations stats_fops = {
	.owner = THIS_MODULE,
	.read = leaky_stats_read,
	.llseek = default_llseek,
};

static int __init leaky_init(void)
{
	int err = 0;

	leaky_cache = kmem_cache_create("leaky_cache", LEAKY_OBJ_SIZE, 0, 0, leaky_obj_ctor);
	if (!leaky_cache)
		return -ENOMEM;
	mutex_lock(&leaky_lock);
	if (kmalloc_count)
		err = leaky_leak("kmalloc", kmalloc_count, kmalloc_size);
	if (!err && vmalloc_count)
		err = leaky_leak("vmalloc", vmalloc_count, vmalloc_size);
	if (!err && pages_count)
		err = leaky_leak("pages", pages_count, pages_order);
	if (err) {
		leaky_free_all();
		mutex_unlock(&leaky_lock);
		kmem_cache_destroy(leaky_cache);
		return err;
	}
	mutex_unlock(&leaky_lock);

	leaky_dir = debugfs_create_dir("leaky", NULL);
	debugfs_create_file("leak", 0200, leaky_dir, NULL, &leak_fops);
	debugfs_create_file("free", 0200, leaky_dir, NULL, &free_fops);
	debugfs_create_file("stats", 0444, leaky_dir, NULL, &stats_fops);
	pr_info("leaky: loaded (kmalloc %llu, vmalloc %llu, pages %llu held)\n", held.kmalloc_count,
		held.vmalloc_count, held.page_count);
	return 0;
}

static void __exit leaky_exit(void)
{
	debugfs_remove_recursive(leaky_dir);
	mutex_lock(&leaky_lock);
	leaky_free_all();
	mutex_unlock(&leaky_lock);
	kmem_cache_destroy(leaky_cache);
}

module_init(leaky_init);
module_exit(leaky_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Deliberately leaking test driver for kleak");
