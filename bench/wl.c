/*
 * kleak-bench-wl: allocation-heavy loops for tools/bench.sh.
 *
 *   kleak-bench-wl pipe|socket|open [--seconds S | --ops N] [--file PATH]
 *
 *   pipe    pipe2() + write 4 KiB into it + close both ends (pipe inode, 2 files, dentry,
 *           pipe_inode_info, buffer array, one page for the data)
 *   socket  socket(AF_UNIX, SOCK_STREAM) + close (socket inode, sock, file, dentry)
 *   open    open() + close() of an existing file in /tmp (struct file, names_cache)
 *
 * Runs for a fixed time (default 3 s; the clock is read every 64 iterations) or a fixed number
 * of operations after WARMUP_OPS untimed ones, then prints one line on stdout:
 *   ops=<n> warmup_ops=<n> elapsed_ns=<wall ns> cpu_ns=<this process's CPU ns> ns_per_op=<x.y>
 * cpu_ns is CLOCK_PROCESS_CPUTIME_ID over the timed loop: with the loop pinned to one CPU,
 * cpu_ns / elapsed_ns below 1 means another task shared that CPU during the run.
 * Pinning is the caller's job (taskset). Exit status 1 on any failed syscall.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static void die(const char *what)
{
	fprintf(stderr, "kleak-bench-wl: %s: %s\n", what, strerror(errno));
	exit(1);
}

#define WARMUP_OPS 1000

static char page[4096];
static const char *path = "/tmp/kleak-bench-open";

static void op_pipe(void)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0)
		die("pipe2");
	if (write(fds[1], page, sizeof page) != (ssize_t)sizeof page)
		die("write");
	close(fds[0]);
	close(fds[1]);
}

static void op_socket(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	close(fd);
}

static void op_open(void)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open");
	close(fd);
}

static void usage(void)
{
	fprintf(stderr, "usage: kleak-bench-wl pipe|socket|open [--seconds S | --ops N] [--file PATH]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	void (*op)(void) = NULL;
	double seconds = 3;
	uint64_t ops_wanted = 0;

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "pipe"))
		op = op_pipe;
	else if (!strcmp(argv[1], "socket"))
		op = op_socket;
	else if (!strcmp(argv[1], "open"))
		op = op_open;
	else
		usage();
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--ops") && i + 1 < argc)
			ops_wanted = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--file") && i + 1 < argc)
			path = argv[++i];
		else
			usage();
	}
	memset(page, 'k', sizeof page);
	if (op == op_open) {
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			die(path);
		close(fd);
	}

	/* A short warm-up so the first timed iterations do not pay for cold caches. */
	for (int i = 0; i < WARMUP_OPS; i++)
		op();

	uint64_t cpu_start = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	uint64_t ops = 0, start = now_ns(), end = start, deadline = start + (uint64_t)(seconds * 1e9);
	if (ops_wanted) {
		for (; ops < ops_wanted; ops++)
			op();
		end = now_ns();
	} else {
		for (;;) {
			for (int i = 0; i < 64; i++)
				op();
			ops += 64;
			end = now_ns();
			if (end >= deadline)
				break;
		}
	}
	uint64_t cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
	printf("ops=%llu warmup_ops=%d elapsed_ns=%llu cpu_ns=%llu ns_per_op=%.1f\n",
	       (unsigned long long)ops, WARMUP_OPS, (unsigned long long)(end - start),
	       (unsigned long long)cpu, (double)(end - start) / (double)ops);
	return 0;
}
