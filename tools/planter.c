// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * kleak-planter: plants KNOWN kernel allocations from user space, holds them while a tracer
 * runs, then releases them. Used by the integration tests and the benchmarks.
 * What every plant allocates on the kernel side (measured with ftrace) is in tools/planter.md.
 *
 * Protocol without --hold: plant, print one line "ready key=value ..." and flush, then read
 * stdin lines: "release" frees everything and prints "released"; "status" prints one
 * "status key=value ..." line; "exit" (or EOF) releases if needed and exits 0.
 * SIGTERM/SIGINT release and exit 0 at any point.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <linux/bpf.h>

#define PROG "kleak-planter"

/* Kernel struct sizes measured on 6.18/x86_64; used only when /sys/kernel/btf/vmlinux is unreadable. */
#define FALLBACK_SIZEOF_PIPE_BUFFER 40
#define FALLBACK_SIZEOF_EVENTFD_CTX 48
#define PIPE_DEF_BUFFERS 16               /* slots of a fresh pipe (privileged user) */
#define BPF_MAP_KMALLOC_MAX_PAGES 8       /* __bpf_map_area_alloc: kmalloc if <= PAGE_SIZE << 3 */
#define PCPU_MIN_ALLOC_SIZE 4             /* percpu allocator granule (memcg obj_cgroup vector) */
#define CHURN_FILL 4096                   /* bytes written into every churn pipe (one page) */

static const char usage_text[] =
	"usage: " PROG " [options]\n"
	"Plants known kernel allocations, holds them, then releases them.\n"
	"  --pipes N               N pipes, each written with --fill bytes and held\n"
	"                          (pages from anon_pipe_write)\n"
	"  --fill BYTES            bytes written into each pipe, 0..65536 (default 60000 = 15 pages)\n"
	"  --resized-pipes N       N empty pipes resized with fcntl(F_SETPIPE_SZ, --pipe-size)\n"
	"                          (kcalloc of the slot ring in pipe_resize_ring)\n"
	"  --pipe-size BYTES       size for --resized-pipes (default 32768 = 8 slots = 320 bytes_req)\n"
	"  --eventfds N            N eventfds (kmalloc of struct eventfd_ctx in do_eventfd)\n"
	"  --sockets N             N AF_UNIX stream sockets (sock_inode_cache + UNIX slab objects)\n"
	"  --vmalloc-map BYTES     BPF array maps whose value area is BYTES (vmalloc'ed by\n"
	"                          bpf_map_area_alloc when header + BYTES > 32 KiB)\n"
	"  --vmalloc-maps N        number of such maps (default 1 when --vmalloc-map is given)\n"
	"  --percpu-map ENTRIES    one BPF percpu array map of ENTRIES elements (one percpu\n"
	"                          allocation per element)\n"
	"  --percpu-value BYTES    value size of the percpu map, 1..32768 (default 64)\n"
	"  --churn-seconds S       meanwhile create+fill+close pipes in a loop for S seconds (or until\n"
	"                          release): alloc/free churn that must not show as outstanding\n"
	"  --hold SECONDS          non-interactive: plant, print ready, hold SECONDS, release, exit\n"
	"  --leak-every MS         after ready, plant one more filled pipe every MS milliseconds...\n"
	"  --leak-pipes-max N      ...up to N of them (both flags or neither)\n"
	"  --leak-what LIST        what each leak plants: pipes,sockets,maps (default pipes; maps\n"
	"                          are 1 MiB BPF arrays, vmalloc'ed)\n"
	"  -h, --help              this text\n"
	"Without --hold: prints one line 'ready pid=... key=value ...', then reads stdin lines:\n"
	"'release' frees everything and prints 'released'; 'status' prints a 'status ...' line;\n"
	"'exit' or EOF releases if needed and exits 0. SIGTERM/SIGINT release and exit 0.\n"
	"Exit status: 0 ok, 1 a syscall failed (message names it and errno), 2 bad usage.\n";

struct opts {
	unsigned long pipes;
	unsigned long fill;
	unsigned long resized;
	unsigned long pipe_size;
	unsigned long eventfds;
	unsigned long sockets;
	unsigned long vmap_bytes;
	unsigned long vmap_maps;
	bool vmap_maps_set;
	unsigned long percpu_entries;
	unsigned long percpu_value;
	double churn_seconds;
	double hold;       /* < 0: interactive */
	unsigned long leak_every_ms;
	unsigned long leak_max;
	unsigned leak_what; /* LEAK_* bits */
};

enum { LEAK_PIPES = 1, LEAK_SOCKETS = 2, LEAK_MAPS = 4 };
#define LEAK_MAP_BYTES (1UL << 20)

static struct opts o = {
	.fill = 60000,
	.pipe_size = 32768,
	.percpu_value = 64,
	.hold = -1,
	.leak_what = LEAK_PIPES,
};

static long page_size;

/* ---- errors --------------------------------------------------------------------------------- */

static void fatal_errno(const char *syscall_name, int err)
{
	fprintf(stderr, PROG ": %s: %s (errno %d)\n", syscall_name, strerror(err), err);
	exit(1);
}

static void fatal_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fatal_msg(const char *fmt, ...)
{
	va_list ap;
	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage_text, stderr);
	exit(2);
}

/* ---- small helpers -------------------------------------------------------------------------- */

static unsigned long parse_ulong(const char *flag, const char *s, unsigned long max)
{
	char *end;
	unsigned long long v;

	if (!*s || !isdigit((unsigned char)*s))
		usage_error("%s: not a non-negative integer: '%s'", flag, s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		usage_error("%s: not a non-negative integer: '%s'", flag, s);
	if (v > max)
		usage_error("%s: %llu is out of range (max %lu)", flag, v, max);
	return (unsigned long)v;
}

static double parse_seconds(const char *flag, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 1e7)
		usage_error("%s: not a number of seconds >= 0: '%s'", flag, s);
	return v;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long round_up(unsigned long v, unsigned long a)
{
	return (v + a - 1) / a * a;
}

static unsigned long roundup_pow2(unsigned long v)
{
	unsigned long r = 1;
	while (r < v)
		r <<= 1;
	return r;
}

/*
 * The kmalloc-N size classes this kernel has, read from /sys/kernel/slab (kmalloc-8 .. kmalloc-8k):
 * they are not the same everywhere. arm64's smallest is kmalloc-128 (KMALLOC_MIN_SIZE is its DMA
 * alignment), and with it there is no kmalloc-96 or -192; a fixed x86 table expected half the
 * bytes kleak found in the arm64 lane. 0-terminated, ascending; empty when sysfs has no slab.
 */
static unsigned long kmalloc_classes[32];

static void read_kmalloc_classes(void)
{
	static const unsigned long candidates[] = { 8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192 };
	size_t n = 0;

	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		char path[64];
		struct stat st;
		unsigned long c = candidates[i];

		if (c >= 1024)
			snprintf(path, sizeof(path), "/sys/kernel/slab/kmalloc-%luk", c / 1024);
		else
			snprintf(path, sizeof(path), "/sys/kernel/slab/kmalloc-%lu", c);
		if (stat(path, &st) == 0)
			kmalloc_classes[n++] = c;
	}
	kmalloc_classes[n] = 0;
}

/* bytes_alloc of a kmalloc(size): the smallest kmalloc-N class that fits, large kmalloc above 2 pages. */
static unsigned long kmalloc_bytes_alloc(unsigned long size)
{
	if (size == 0)
		return 0;
	if (size > 2 * (unsigned long)page_size)
		return (unsigned long)page_size * roundup_pow2((size + page_size - 1) / page_size);
	for (size_t i = 0; kmalloc_classes[i]; i++)
		if (size <= kmalloc_classes[i])
			return kmalloc_classes[i];
	/* No sysfs (or no class that fits): x86-64's classes. */
	if (size <= 8)
		return 8;
	if (size > 64 && size <= 96)
		return 96;
	if (size > 128 && size <= 192)
		return 192;
	return roundup_pow2(size);
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static int *alloc_fds(unsigned long n)
{
	int *fds;

	if (n == 0)
		return NULL;
	fds = malloc(n * sizeof(*fds));
	if (!fds)
		fatal_errno("malloc", ENOMEM);
	for (unsigned long i = 0; i < n; i++)
		fds[i] = -1;
	return fds;
}

/* Read a small text file into buf; returns false when unreadable. */
static bool read_small_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* Number of possible CPUs (/sys/devices/system/cpu/possible, e.g. "0-1" or "0,2-3"). */
static unsigned long possible_cpus(void)
{
	char buf[256], *p;
	unsigned long n = 0;

	if (!read_small_file("/sys/devices/system/cpu/possible", buf, sizeof(buf))) {
		long c = sysconf(_SC_NPROCESSORS_CONF);
		return c > 0 ? (unsigned long)c : 1;
	}
	p = buf;
	while (*p && *p != '\n') {
		unsigned long a = strtoul(p, &p, 10), b = a;
		if (*p == '-')
			b = strtoul(p + 1, &p, 10);
		n += b - a + 1;
		if (*p == ',')
			p++;
		else
			break;
	}
	return n ? n : 1;
}

/* /sys/kernel/slab/<cache>/<attr> as a number, 0 if unavailable. */
static unsigned long slab_attr(const char *cache, const char *attr)
{
	char path[256], buf[64];

	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/%s", cache, attr);
	if (!read_small_file(path, buf, sizeof(buf)))
		return 0;
	return strtoul(buf, NULL, 10);
}

/*
 * The name kmem:kmem_cache_alloc reports for a cache. Mergeable caches are aliased onto one
 * struct kmem_cache that keeps the name of whichever was created first (on 6.18 "UNIX-STREAM"
 * objects are reported as "signal_cache"). /sys/kernel/slab/<alias> is then a symlink to a
 * ":A-0001152"-style directory; /proc/slabinfo lists each real cache under its reported name.
 */
static void slab_reported_name(const char *cache, char *out, size_t outlen)
{
	char path[256], target[256], link[256], lbuf[512];
	unsigned long size = slab_attr(cache, "slab_size");
	ssize_t n;
	FILE *f;

	snprintf(out, outlen, "%s", cache);
	snprintf(path, sizeof(path), "/sys/kernel/slab/%s", cache);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return; /* a directory: not merged */
	target[n] = '\0';
	f = fopen("/proc/slabinfo", "re");
	if (!f)
		return;
	while (fgets(lbuf, sizeof(lbuf), f)) {
		char name[128];
		unsigned long active, num, objsize;

		if (sscanf(lbuf, "%127s %lu %lu %lu", name, &active, &num, &objsize) != 4 ||
		    objsize != size)
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s", name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, target) == 0) {
			snprintf(out, outlen, "%s", name);
			break;
		}
	}
	fclose(f);
}

/* true unless kernel memory accounting is off (then the percpu allocator adds no obj_cgroup
 * vector to bytes_alloc). */
static bool memcg_kmem_enabled(void)
{
	char buf[4096];

	if (read_small_file("/proc/cmdline", buf, sizeof(buf)) &&
	    (strstr(buf, "cgroup.memory=nokmem") || strstr(buf, "cgroup_disable=memory")))
		return false;
	if (read_small_file("/sys/fs/cgroup/cgroup.controllers", buf, sizeof(buf)))
		return strstr(buf, "memory") != NULL;           /* cgroup v2 */
	return access("/sys/fs/cgroup/memory", F_OK) == 0;  /* cgroup v1 */
}

/* ---- BTF: struct sizes of the running kernel ------------------------------------------------- */

/*
 * sizeof(struct pipe_buffer), sizeof(struct eventfd_ctx) and sizeof(struct bpf_array) come from
 * /sys/kernel/btf/vmlinux.
 * The blob (~5 MiB) is streamed through one 64 KiB buffer rather than read into memory, so that
 * the planter does not fault in a thousand anonymous user pages of its own while a tracer runs.
 */
struct btf_hdr {
	uint16_t magic;
	uint8_t version;
	uint8_t flags;
	uint32_t hdr_len;
	uint32_t type_off;
	uint32_t type_len;
	uint32_t str_off;
	uint32_t str_len;
};

struct btf_reader {
	int fd;
	size_t pos, len;
	unsigned char buf[65536];
};

static struct btf_reader btf_rd;

static bool btf_seek(uint64_t off)
{
	btf_rd.pos = btf_rd.len = 0;
	return lseek(btf_rd.fd, (off_t)off, SEEK_SET) == (off_t)off;
}

static bool btf_get(void *dst, size_t n)
{
	unsigned char *d = dst;

	while (n) {
		size_t chunk;

		if (btf_rd.pos == btf_rd.len) {
			ssize_t r = read(btf_rd.fd, btf_rd.buf, sizeof(btf_rd.buf));
			if (r <= 0)
				return false;
			btf_rd.pos = 0;
			btf_rd.len = (size_t)r;
		}
		chunk = btf_rd.len - btf_rd.pos;
		if (chunk > n)
			chunk = n;
		if (d) {
			memcpy(d, btf_rd.buf + btf_rd.pos, chunk);
			d += chunk;
		}
		btf_rd.pos += chunk;
		n -= chunk;
	}
	return true;
}

enum { BTF_PIPE_BUFFER, BTF_EVENTFD_CTX, BTF_BPF_ARRAY, BTF_NR };
static const char *const btf_names[BTF_NR] = { "pipe_buffer", "eventfd_ctx", "bpf_array" };
static unsigned long btf_sizes[BTF_NR];

/* Fill btf_sizes[] (0 where not found). */
static void btf_lookup(void)
{
	struct btf_hdr h;
	uint32_t name_off[BTF_NR];
	char cur[64];
	size_t curlen = 0;
	uint32_t curstart = 0, found = 0;

	btf_rd.fd = open("/sys/kernel/btf/vmlinux", O_RDONLY | O_CLOEXEC);
	if (btf_rd.fd < 0)
		return;
	if (!btf_get(&h, sizeof(h)) || h.magic != 0xeB9F)
		goto out;
	for (int i = 0; i < BTF_NR; i++)
		name_off[i] = UINT32_MAX;

	/* pass 1: offsets of the wanted names in the string section */
	if (!btf_seek((uint64_t)h.hdr_len + h.str_off))
		goto out;
	for (uint32_t off = 0; off < h.str_len; off++) {
		char c;

		if (!btf_get(&c, 1))
			goto out;
		if (c != '\0') {
			if (curlen < sizeof(cur) - 1)
				cur[curlen] = c;
			curlen++;
			continue;
		}
		if (curlen < sizeof(cur) - 1) {
			cur[curlen] = '\0';
			for (int i = 0; i < BTF_NR; i++)
				if (name_off[i] == UINT32_MAX && strcmp(cur, btf_names[i]) == 0)
					name_off[i] = curstart;
		}
		curlen = 0;
		curstart = off + 1;
	}

	/* pass 2: the struct types carrying those names */
	if (!btf_seek((uint64_t)h.hdr_len + h.type_off))
		goto out;
	for (uint64_t done = 0; done + 12 <= h.type_len && found < BTF_NR;) {
		uint32_t t[3];
		unsigned kind, vlen;
		size_t extra;

		if (!btf_get(t, sizeof(t)))
			goto out;
		kind = (t[1] >> 24) & 0x1f;
		vlen = t[1] & 0xffff;
		switch (kind) {
		case 1: case 14: case 17: extra = 4; break;           /* INT VAR DECL_TAG */
		case 3: extra = 12; break;                            /* ARRAY */
		case 4: case 5: case 15: case 19: extra = 12 * (size_t)vlen; break; /* STRUCT UNION DATASEC ENUM64 */
		case 6: case 13: extra = 8 * (size_t)vlen; break;     /* ENUM FUNC_PROTO */
		case 2: case 7: case 8: case 9: case 10: case 11: case 12: case 16: case 18:
			extra = 0; break;
		default:
			goto out;                                     /* unknown kind: cannot walk on */
		}
		if (kind == 4)
			for (int i = 0; i < BTF_NR; i++)
				if (t[0] == name_off[i] && !btf_sizes[i]) {
					btf_sizes[i] = t[2];
					found++;
				}
		if (!btf_get(NULL, extra))
			goto out;
		done += 12 + extra;
	}
out:
	close(btf_rd.fd);
}

static unsigned long btf_struct_size(int which, unsigned long fallback)
{
	return btf_sizes[which] ? btf_sizes[which] : fallback;
}

/* ---- bpf ------------------------------------------------------------------------------------- */

/*
 * Before 5.11 BPF maps are charged to RLIMIT_MEMLOCK (measured: 5.10's 64 KiB default gives
 * EPERM to the first 4 MiB map); since, to the memory cgroup. Raised as libbpf does for kleak;
 * where it cannot be raised (no CAP_SYS_RESOURCE) a kernel that needs it says EPERM below.
 */
static void raise_memlock(void)
{
	static bool done;
	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};

	if (!done)
		(void)setrlimit(RLIMIT_MEMLOCK, &rl);
	done = true;
}

static int bpf_map_create(uint32_t type, uint32_t value_size, uint32_t max_entries, const char *name)
{
	union bpf_attr attr;

	raise_memlock();

	memset(&attr, 0, sizeof(attr));
	attr.map_type = type;
	attr.key_size = 4;
	attr.value_size = value_size;
	attr.max_entries = max_entries;
	snprintf(attr.map_name, sizeof(attr.map_name), "%s", name);
	return (int)syscall(__NR_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
}

/* "memlock:" of /proc/self/fdinfo/<fd>: for array maps exactly the size handed to
 * bpf_map_area_alloc (sizeof(struct bpf_array) + value area), percpu maps add the percpu part. */
static unsigned long map_memlock(int fd)
{
	char path[64], buf[1024], *p;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (!read_small_file(path, buf, sizeof(buf)))
		fatal_errno("open /proc/self/fdinfo", errno);
	p = strstr(buf, "memlock:");
	if (!p)
		fatal_msg("no memlock in %s", path);
	return strtoul(p + 8, NULL, 10);
}

/* ---- state ----------------------------------------------------------------------------------- */

static int *pipe_fds;      /* 2 per pipe */
static int *resized_fds;   /* 2 per pipe */
static int *eventfd_fds;
static int *socket_fds;
static int *vmap_fds;
static int percpu_fd = -1;
static int *leak_fds;      /* 2 per leaked pipe */
static int *leak_sock_fds, *leak_map_fds; /* 1 per leak each */
static unsigned long leaked;
static bool released;

/* what was measured at plant time, for the ready line */
static unsigned long pages_per_fill;
static unsigned long resize_actual, resize_slots, sizeof_pipe_buffer;
static unsigned long sizeof_eventfd_ctx;
static unsigned long vmap_area_size, vmap_value_size, vmap_entries;
static unsigned long percpu_elem, percpu_hdr;
/* probed before planting */
static unsigned long ncpus, sizeof_bpf_array;
static bool memcg_kmem;
static unsigned long sock_inode_req, sock_inode_alloc, unix_sock_req, unix_sock_alloc;
static char sock_inode_cache[128] = "sock_inode_cache", unix_sock_cache[128] = "UNIX-STREAM";

/* churn */
static pthread_t churn_thread;
static bool churn_started;
static atomic_bool churn_stop;
static atomic_ulong churn_cycles;
/* Source of every pipe fill: never written, so reads of it map the shared zero page and the
 * planter allocates no anonymous pages of its own for it. 16 pages of any page size <= 64 KiB. */
static char fill_buf[PIPE_DEF_BUFFERS * 65536];

/* ---- protocol output ------------------------------------------------------------------------ */

/*
 * When stdout is a pipe (the tests read it through one), the protocol lines are handed over with
 * vmsplice(): the pipe then references the planter's own buffer page instead of copying the line
 * into a fresh page, so printing "ready" does not add a page with the very same
 * anon_pipe_write <- vfs_write <- ksys_write stack as the planted pipes. Such a buffer must never
 * be modified afterwards (the reader copies from it later): every line has its own buffer.
 */
static bool stdout_is_pipe;

static void emit(const char *buf, size_t len, bool splice)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n;

		if (splice && stdout_is_pipe) {
			struct iovec iov = { .iov_base = (void *)(buf + off), .iov_len = len - off };

			n = vmsplice(STDOUT_FILENO, &iov, 1, 0);
			if (n < 0 && (errno == EINVAL || errno == ENOSYS || errno == EBADF)) {
				splice = false;
				continue;
			}
		} else {
			n = write(STDOUT_FILENO, buf + off, len - off);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd p = { .fd = STDOUT_FILENO, .events = POLLOUT };
				poll(&p, 1, -1);
				continue;
			}
			return; /* EPIPE and the like: nobody is listening any more */
		}
		off += (size_t)n;
	}
}

static char ready_buf[4096], status_buf[1024];
static char released_buf[] = "released\n";
static char *line;
static size_t line_cap, line_len;

static void line_begin(char *buf, size_t cap, const char *word)
{
	line = buf;
	line_cap = cap;
	line_len = (size_t)snprintf(buf, cap, "%s", word);
}

static void line_end(void)
{
	if (line_len > line_cap - 2)
		line_len = line_cap - 2;
	line[line_len++] = '\n';
	line[line_len] = '\0';
}

static void kv(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void kv(const char *key, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (line_len >= line_cap)
		return;
	n = snprintf(line + line_len, line_cap - line_len, " %s=", key);
	if (n > 0)
		line_len += (size_t)n;
	if (line_len >= line_cap) {
		line_len = line_cap - 1;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(line + line_len, line_cap - line_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		line_len += (size_t)n;
	if (line_len >= line_cap)
		line_len = line_cap - 1;
}

/* Everything the ready line needs from /sys and /proc is read here, before planting, so that
 * these reads' own allocations (kernfs/proc dentries and inodes) come before the plants. */
static void probe_kernel(void)
{
	ncpus = possible_cpus();
	btf_lookup();
	sizeof_pipe_buffer = btf_struct_size(BTF_PIPE_BUFFER, FALLBACK_SIZEOF_PIPE_BUFFER);
	sizeof_eventfd_ctx = btf_struct_size(BTF_EVENTFD_CTX, FALLBACK_SIZEOF_EVENTFD_CTX);
	sizeof_bpf_array = btf_struct_size(BTF_BPF_ARRAY, 0);
	if (o.percpu_entries)
		memcg_kmem = memcg_kmem_enabled();
	if (o.sockets) {
		sock_inode_req = slab_attr("sock_inode_cache", "object_size");
		sock_inode_alloc = slab_attr("sock_inode_cache", "slab_size");
		/* Stream sockets have their own cache from 5.14 (unix_stream_proto); before, "UNIX". */
		const char *unix_cache = access("/sys/kernel/slab/UNIX-STREAM", F_OK) == 0 ? "UNIX-STREAM" : "UNIX";

		unix_sock_req = slab_attr(unix_cache, "object_size");
		unix_sock_alloc = slab_attr(unix_cache, "slab_size");
		slab_reported_name("sock_inode_cache", sock_inode_cache, sizeof(sock_inode_cache));
		slab_reported_name(unix_cache, unix_sock_cache, sizeof(unix_sock_cache));
	}
}

/* ---- plants ---------------------------------------------------------------------------------- */

static void make_pipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		fatal_errno("pipe2", errno);
}

static void fill_pipe(int wfd, unsigned long bytes)
{
	ssize_t n;

	if (bytes == 0)
		return;
	n = write(wfd, fill_buf, bytes);
	if (n < 0)
		fatal_errno("write(pipe)", errno);
	if ((unsigned long)n != bytes)
		fatal_msg("write(pipe): short write %zd of %lu bytes (pipe has fewer than %d slots?)",
			  n, bytes, PIPE_DEF_BUFFERS);
}

static void plant_filled_pipe(int *fds)
{
	make_pipe(fds);
	fill_pipe(fds[1], o.fill);
}

static void plant_pipes(void)
{
	pages_per_fill = (o.fill + page_size - 1) / page_size;
	for (unsigned long i = 0; i < o.pipes; i++)
		plant_filled_pipe(&pipe_fds[2 * i]);
}

static void plant_resized(void)
{
	for (unsigned long i = 0; i < o.resized; i++) {
		int *fds = &resized_fds[2 * i];
		int r;

		make_pipe(fds);
		r = fcntl(fds[1], F_SETPIPE_SZ, (int)o.pipe_size);
		if (r < 0)
			fatal_errno("fcntl(F_SETPIPE_SZ)", errno);
		resize_actual = (unsigned long)r;
	}
	resize_slots = resize_actual / page_size;
}

static void plant_eventfds(void)
{
	for (unsigned long i = 0; i < o.eventfds; i++) {
		eventfd_fds[i] = eventfd(0, EFD_CLOEXEC);
		if (eventfd_fds[i] < 0)
			fatal_errno("eventfd", errno);
	}
}

static void plant_sockets(void)
{
	for (unsigned long i = 0; i < o.sockets; i++) {
		socket_fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (socket_fds[i] < 0)
			fatal_errno("socket(AF_UNIX)", errno);
	}
}

static void plant_vmalloc_maps(void)
{
	unsigned long value, entries;

	if (o.vmap_maps == 0)
		return;
	/* value area = entries * round_up(value, 8) == BYTES when BYTES is a multiple of 8 */
	if (o.vmap_bytes % 4096 == 0) {
		value = 4096;
		entries = o.vmap_bytes / 4096;
	} else if (o.vmap_bytes % 8 == 0) {
		value = 8;
		entries = o.vmap_bytes / 8;
	} else {
		value = o.vmap_bytes;
		entries = 1;
	}
	vmap_value_size = value;
	vmap_entries = entries;
	for (unsigned long i = 0; i < o.vmap_maps; i++) {
		vmap_fds[i] = bpf_map_create(BPF_MAP_TYPE_ARRAY, (uint32_t)value, (uint32_t)entries,
					     "kleak_vmap");
		if (vmap_fds[i] < 0)
			fatal_errno("bpf(BPF_MAP_CREATE, ARRAY)", errno);
	}
	/* array_map_alloc: bpf_map_area_alloc(sizeof(struct bpf_array) + entries * elem_size) */
	vmap_area_size = sizeof_bpf_array ? sizeof_bpf_array + entries * round_up(value, 8) :
			 map_memlock(vmap_fds[0]);
}

static void plant_percpu_map(void)
{
	if (o.percpu_entries == 0)
		return;
	percpu_fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, (uint32_t)o.percpu_value,
				   (uint32_t)o.percpu_entries, "kleak_pcpu");
	if (percpu_fd < 0)
		fatal_errno("bpf(BPF_MAP_CREATE, PERCPU_ARRAY)", errno);
	percpu_elem = round_up(o.percpu_value, 8);
	/* header: sizeof(struct bpf_array) + one percpu pointer per element; fdinfo memlock adds
	 * entries * elem * possible cpus on top */
	percpu_hdr = sizeof_bpf_array ? sizeof_bpf_array + o.percpu_entries * 8 :
		     map_memlock(percpu_fd) - o.percpu_entries * percpu_elem * ncpus;
}

static void *churn_main(void *arg)
{
	double deadline = now_s() + o.churn_seconds;
	unsigned long n = 0;

	(void)arg;
	while (!atomic_load_explicit(&churn_stop, memory_order_relaxed)) {
		int fds[2];

		make_pipe(fds);
		fill_pipe(fds[1], CHURN_FILL);
		close(fds[0]);
		close(fds[1]);
		n++;
		if ((n & 63) == 0) {
			atomic_store_explicit(&churn_cycles, n, memory_order_relaxed);
			if (now_s() >= deadline)
				break;
		}
	}
	atomic_store(&churn_cycles, n);
	return NULL;
}

static void start_churn(void)
{
	int err;

	if (o.churn_seconds <= 0)
		return;
	err = pthread_create(&churn_thread, NULL, churn_main, NULL);
	if (err)
		fatal_errno("pthread_create", err);
	churn_started = true;
}

static void stop_churn(void)
{
	if (!churn_started)
		return;
	atomic_store(&churn_stop, true);
	pthread_join(churn_thread, NULL);
	churn_started = false;
	fprintf(stderr, PROG ": churn: %lu pipe create/fill/close cycles\n",
		atomic_load(&churn_cycles));
}

static void leak_one(void)
{
	if (o.leak_what & LEAK_PIPES)
		plant_filled_pipe(&leak_fds[2 * leaked]);
	if (o.leak_what & LEAK_SOCKETS) {
		leak_sock_fds[leaked] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (leak_sock_fds[leaked] < 0)
			fatal_errno("socket(AF_UNIX)", errno);
	}
	if (o.leak_what & LEAK_MAPS) {
		leak_map_fds[leaked] = bpf_map_create(BPF_MAP_TYPE_ARRAY, 4096,
						      (uint32_t)(LEAK_MAP_BYTES / 4096), "kleak_leak");
		if (leak_map_fds[leaked] < 0)
			fatal_errno("bpf(BPF_MAP_CREATE, ARRAY)", errno);
	}
	leaked++;
}

static void release_all(void)
{
	if (!released) {
		stop_churn();
		for (unsigned long i = 0; i < 2 * o.pipes; i++)
			close_fd(&pipe_fds[i]);
		for (unsigned long i = 0; i < 2 * o.resized; i++)
			close_fd(&resized_fds[i]);
		for (unsigned long i = 0; i < o.eventfds; i++)
			close_fd(&eventfd_fds[i]);
		for (unsigned long i = 0; i < o.sockets; i++)
			close_fd(&socket_fds[i]);
		for (unsigned long i = 0; i < o.vmap_maps; i++)
			close_fd(&vmap_fds[i]);
		close_fd(&percpu_fd);
		for (unsigned long i = 0; i < leaked; i++) {
			close_fd(&leak_fds[2 * i]);
			close_fd(&leak_fds[2 * i + 1]);
			close_fd(&leak_sock_fds[i]);
			close_fd(&leak_map_fds[i]);
		}
		released = true;
	}
	emit(released_buf, strlen(released_buf), true);
}

/* ---- reporting ------------------------------------------------------------------------------- */

static void print_ready(void)
{
	unsigned long vmap_pages = (vmap_area_size + page_size - 1) / page_size;
	bool vmalloced = vmap_area_size > (unsigned long)page_size * BPF_MAP_KMALLOC_MAX_PAGES;
	/* pcpu_obj_full_size(): size * possible cpus + one obj_cgroup pointer per 4-byte unit */
	unsigned long pcpu_full = percpu_elem * ncpus +
				  (memcg_kmem ? percpu_elem / PCPU_MIN_ALLOC_SIZE * 8 : 0);
	unsigned long pipe_pages = o.pipes * pages_per_fill;

	line_begin(ready_buf, sizeof(ready_buf), "ready");
	kv("pid", "%d", (int)getpid());
	kv("page_size", "%ld", page_size);
	/* filled pipes: mm_page_alloc order 0 from anon_pipe_write */
	kv("pipes", "%lu", o.pipes);
	kv("fill", "%lu", o.fill);
	kv("pages_per_fill", "%lu", pages_per_fill);
	kv("pipe_pages", "%lu", pipe_pages);
	kv("pipe_page_bytes", "%lu", pipe_pages * page_size);
	/* resized pipes: kmalloc from pipe_resize_ring */
	kv("resized", "%lu", o.resized);
	kv("pipe_size", "%lu", o.resized ? resize_actual : 0);
	kv("resize_slots", "%lu", o.resized ? resize_slots : 0);
	kv("resize_bytes_req", "%lu", o.resized * resize_slots * sizeof_pipe_buffer);
	kv("resize_bytes_alloc", "%lu",
	   o.resized * kmalloc_bytes_alloc(resize_slots * sizeof_pipe_buffer));
	/* eventfds: kmalloc from do_eventfd */
	kv("eventfds", "%lu", o.eventfds);
	kv("eventfd_bytes_req", "%lu", o.eventfds * sizeof_eventfd_ctx);
	kv("eventfd_bytes_alloc", "%lu", o.eventfds * kmalloc_bytes_alloc(sizeof_eventfd_ctx));
	/* sockets: kmem_cache_alloc of sock_inode_cache and UNIX(-STREAM) */
	kv("sockets", "%lu", o.sockets);
	kv("sock_inode_cache", "%s", sock_inode_cache);
	kv("sock_inode_bytes_req", "%lu", o.sockets * sock_inode_req);
	kv("sock_inode_bytes_alloc", "%lu", o.sockets * sock_inode_alloc);
	kv("unix_sock_cache", "%s", unix_sock_cache);
	kv("unix_sock_bytes_req", "%lu", o.sockets * unix_sock_req);
	kv("unix_sock_bytes_alloc", "%lu", o.sockets * unix_sock_alloc);
	/* BPF array maps: vmalloc of sizeof(struct bpf_array) + value area */
	kv("vmalloc_maps", "%lu", o.vmap_maps);
	kv("vmalloc_map_bytes", "%lu", o.vmap_maps ? o.vmap_bytes : 0);
	kv("vmalloc_value_size", "%lu", vmap_value_size);
	kv("vmalloc_max_entries", "%lu", vmap_entries);
	kv("vmalloc_area_bytes", "%lu", o.vmap_maps * vmap_area_size);
	kv("vmalloc_kind", "%s", !o.vmap_maps ? "none" : vmalloced ? "vmalloc" : "kmalloc");
	kv("vmap_area_bytes", "%lu", vmalloced ? o.vmap_maps * (vmap_pages + 1) * page_size : 0);
	kv("vmalloc_page_bytes", "%lu", vmalloced ? o.vmap_maps * vmap_pages * page_size : 0);
	kv("vmalloc_kmalloc_bytes_alloc", "%lu",
	   o.vmap_maps && !vmalloced ? o.vmap_maps * kmalloc_bytes_alloc(vmap_area_size) : 0);
	/* percpu array map: one percpu allocation per element + kmalloc'ed header */
	kv("percpu_maps", "%d", percpu_fd >= 0 ? 1 : 0);
	kv("percpu_entries", "%lu", o.percpu_entries);
	kv("percpu_value", "%lu", o.percpu_entries ? o.percpu_value : 0);
	kv("percpu_size", "%lu", o.percpu_entries * percpu_elem);
	kv("percpu_bytes_alloc", "%lu", o.percpu_entries * pcpu_full);
	kv("percpu_header_bytes", "%lu", percpu_hdr);
	kv("percpu_header_bytes_alloc", "%lu", kmalloc_bytes_alloc(percpu_hdr));
	kv("possible_cpus", "%lu", ncpus);
	/* background activity */
	kv("churn_seconds", "%g", o.churn_seconds);
	kv("leak_every_ms", "%lu", o.leak_every_ms);
	kv("leak_pipes_max", "%lu", o.leak_max);
	line_end();
	emit(ready_buf, line_len, true);
}

static void print_status(void)
{
	line_begin(status_buf, sizeof(status_buf), "status");
	kv("pid", "%d", (int)getpid());
	kv("released", "%d", released ? 1 : 0);
	kv("leaked_pipes", "%lu", leaked);
	kv("leak_page_bytes", "%lu", o.leak_what & LEAK_PIPES ? leaked * pages_per_fill * page_size : 0);
	kv("leaked_sockets", "%lu", o.leak_what & LEAK_SOCKETS ? leaked : 0);
	kv("leaked_maps", "%lu", o.leak_what & LEAK_MAPS ? leaked : 0);
	kv("churn_cycles", "%lu", atomic_load(&churn_cycles));
	line_end();
	emit(status_buf, line_len, false); /* the buffer is reused: copy */
}

/* ---- main ------------------------------------------------------------------------------------ */

static void raise_nofile(void)
{
	struct rlimit rl;
	unsigned long need = 2 * (o.pipes + o.resized + o.leak_max) + o.eventfds + o.sockets +
			     o.vmap_maps + 2 * o.leak_max + 1 + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		fatal_errno("getrlimit(RLIMIT_NOFILE)", errno);
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= need)
		return;
	if (rl.rlim_cur == RLIM_INFINITY)
		return;
	rl.rlim_cur = need;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		rl.rlim_max = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		fatal_errno("setrlimit(RLIMIT_NOFILE)", errno);
}

static unsigned parse_leak_what(const char *list)
{
	unsigned bits = 0;
	char buf[64], *save = NULL;

	if (strlen(list) >= sizeof(buf))
		usage_error("--leak-what: too long: '%s'", list);
	strcpy(buf, list);
	for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (!strcmp(w, "pipes"))
			bits |= LEAK_PIPES;
		else if (!strcmp(w, "sockets"))
			bits |= LEAK_SOCKETS;
		else if (!strcmp(w, "maps"))
			bits |= LEAK_MAPS;
		else
			usage_error("--leak-what: '%s' is not pipes, sockets or maps", w);
	}
	if (!bits)
		usage_error("--leak-what: empty list");
	return bits;
}

static void parse_args(int argc, char **argv)
{
	enum { O_PIPES = 256, O_FILL, O_RESIZED, O_PIPE_SIZE, O_EVENTFDS, O_SOCKETS, O_VMAP,
	       O_VMAPS, O_PCPU, O_PCPU_VALUE, O_CHURN, O_HOLD, O_LEAK_EVERY, O_LEAK_MAX, O_LEAK_WHAT };
	static const struct option longopts[] = {
		{ "pipes", required_argument, NULL, O_PIPES },
		{ "fill", required_argument, NULL, O_FILL },
		{ "resized-pipes", required_argument, NULL, O_RESIZED },
		{ "pipe-size", required_argument, NULL, O_PIPE_SIZE },
		{ "eventfds", required_argument, NULL, O_EVENTFDS },
		{ "sockets", required_argument, NULL, O_SOCKETS },
		{ "vmalloc-map", required_argument, NULL, O_VMAP },
		{ "vmalloc-maps", required_argument, NULL, O_VMAPS },
		{ "percpu-map", required_argument, NULL, O_PCPU },
		{ "percpu-value", required_argument, NULL, O_PCPU_VALUE },
		{ "churn-seconds", required_argument, NULL, O_CHURN },
		{ "hold", required_argument, NULL, O_HOLD },
		{ "leak-every", required_argument, NULL, O_LEAK_EVERY },
		{ "leak-pipes-max", required_argument, NULL, O_LEAK_MAX },
		{ "leak-what", required_argument, NULL, O_LEAK_WHAT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const unsigned long max_n = 1000000;
	unsigned long max_fill = PIPE_DEF_BUFFERS * (unsigned long)page_size;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_PIPES: o.pipes = parse_ulong("--pipes", optarg, max_n); break;
		case O_FILL: o.fill = parse_ulong("--fill", optarg, max_fill); break;
		case O_RESIZED: o.resized = parse_ulong("--resized-pipes", optarg, max_n); break;
		case O_PIPE_SIZE: o.pipe_size = parse_ulong("--pipe-size", optarg, INT32_MAX); break;
		case O_EVENTFDS: o.eventfds = parse_ulong("--eventfds", optarg, max_n); break;
		case O_SOCKETS: o.sockets = parse_ulong("--sockets", optarg, max_n); break;
		case O_VMAP: o.vmap_bytes = parse_ulong("--vmalloc-map", optarg, 1UL << 31); break;
		case O_VMAPS:
			o.vmap_maps = parse_ulong("--vmalloc-maps", optarg, 100000);
			o.vmap_maps_set = true;
			break;
		case O_PCPU: o.percpu_entries = parse_ulong("--percpu-map", optarg, 1UL << 20); break;
		case O_PCPU_VALUE:
			o.percpu_value = parse_ulong("--percpu-value", optarg, 32768);
			break;
		case O_CHURN: o.churn_seconds = parse_seconds("--churn-seconds", optarg); break;
		case O_HOLD: o.hold = parse_seconds("--hold", optarg); break;
		case O_LEAK_EVERY:
			o.leak_every_ms = parse_ulong("--leak-every", optarg, 86400000UL);
			break;
		case O_LEAK_MAX: o.leak_max = parse_ulong("--leak-pipes-max", optarg, max_n); break;
		case O_LEAK_WHAT: o.leak_what = parse_leak_what(optarg); break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case ':':
			usage_error("option '%s' needs an argument", argv[optind - 1]);
			break;
		default:
			if (optopt > 0 && optopt < 256)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (o.vmap_bytes && !o.vmap_maps_set)
		o.vmap_maps = 1;
	if (o.vmap_maps && !o.vmap_bytes)
		usage_error("--vmalloc-maps needs --vmalloc-map BYTES");
	if (o.percpu_entries && o.percpu_value == 0)
		usage_error("--percpu-value must be 1..32768");
	if (o.resized && o.pipe_size == 0)
		usage_error("--pipe-size must be > 0");
	if ((o.leak_every_ms != 0) != (o.leak_max != 0))
		usage_error("--leak-every and --leak-pipes-max go together (both > 0)");
}

int main(int argc, char **argv)
{
	sigset_t sigs;
	int sfd;
	double hold_deadline = 0, next_leak = 0;
	char inbuf[4096];
	size_t inlen = 0;
	bool stdin_open;

	/* A closed stdin/stdout/stderr would be reused by the first plant (and then stdin would
	 * read the planted pipe): give each closed one /dev/null. */
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
			if (n < 0)
				fatal_errno("open(/dev/null)", errno);
			if (n != fd)
				fatal_msg("open(/dev/null) returned fd %d for fd %d", n, fd);
		}
	}
	page_size = sysconf(_SC_PAGESIZE);
	read_kmalloc_classes();
	if (page_size <= 0 || (unsigned long)page_size * PIPE_DEF_BUFFERS > sizeof(fill_buf))
		fatal_msg("unsupported page size %ld", page_size);
	parse_args(argc, argv);

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) < 0) /* before the churn thread: it inherits it */
		fatal_errno("sigprocmask", errno);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0)
		fatal_errno("signalfd", errno);

	raise_nofile();
	pipe_fds = alloc_fds(2 * o.pipes);
	resized_fds = alloc_fds(2 * o.resized);
	eventfd_fds = alloc_fds(o.eventfds);
	socket_fds = alloc_fds(o.sockets);
	vmap_fds = alloc_fds(o.vmap_maps);
	leak_fds = alloc_fds(2 * o.leak_max);
	leak_sock_fds = alloc_fds(o.leak_max);
	leak_map_fds = alloc_fds(o.leak_max);
	probe_kernel();
	{
		struct stat st;
		stdout_is_pipe = fstat(STDOUT_FILENO, &st) == 0 && S_ISFIFO(st.st_mode);
	}

	start_churn();
	plant_pipes();
	plant_resized();
	plant_eventfds();
	plant_sockets();
	plant_vmalloc_maps();
	plant_percpu_map();
	print_ready();

	stdin_open = o.hold < 0;
	if (o.hold >= 0)
		hold_deadline = now_s() + o.hold;
	if (o.leak_max)
		next_leak = now_s() + o.leak_every_ms / 1000.0;

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = 0, .events = POLLIN },
		};
		double t = now_s(), next = INFINITY;
		int timeout_ms, r;

		if (o.hold >= 0 && !released)
			next = hold_deadline;
		if (!released && leaked < o.leak_max && next_leak < next)
			next = next_leak;
		timeout_ms = isinf(next) ? -1 : next <= t ? 0 : (int)((next - t) * 1000) + 1;
		r = poll(pfd, stdin_open ? 2 : 1, timeout_ms);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fatal_errno("poll", errno);
		}
		if (pfd[0].revents & POLLIN) {
			release_all();
			return 0;
		}
		if (stdin_open && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
			ssize_t n = read(0, inbuf + inlen, sizeof(inbuf) - 1 - inlen);
			char *nl;

			if (n < 0 && errno != EINTR && errno != EAGAIN) {
				/* stdin closed or unreadable (EBADF, EIO...): same as EOF */
				fprintf(stderr, PROG ": read(stdin): %s (errno %d): treating as EOF\n",
					strerror(errno), errno);
				n = 0;
			}
			if (n == 0) {
				if (!released)
					release_all();
				return 0;
			}
			if (n > 0)
				inlen += (size_t)n;
			inbuf[inlen] = '\0';
			while ((nl = strchr(inbuf, '\n')) != NULL) {
				char *cmd = inbuf;
				size_t used = (size_t)(nl - inbuf) + 1;

				*nl = '\0';
				if (nl > cmd && nl[-1] == '\r')
					nl[-1] = '\0';
				if (strcmp(cmd, "release") == 0) {
					release_all();
				} else if (strcmp(cmd, "status") == 0) {
					print_status();
				} else if (strcmp(cmd, "exit") == 0) {
					if (!released)
						release_all();
					return 0;
				} else if (*cmd) {
					fprintf(stderr, PROG ": ignoring unknown command '%s'\n", cmd);
				}
				memmove(inbuf, inbuf + used, inlen - used + 1);
				inlen -= used;
			}
			if (inlen == sizeof(inbuf) - 1) {
				fprintf(stderr, PROG ": ignoring overlong input line\n");
				inlen = 0;
			}
		}
		t = now_s();
		if (!released && leaked < o.leak_max && t >= next_leak) {
			leak_one();
			next_leak += o.leak_every_ms / 1000.0;
			if (next_leak < t)
				next_leak = t;
		}
		if (o.hold >= 0 && !released && t >= hold_deadline) {
			release_all();
			return 0;
		}
	}
}
