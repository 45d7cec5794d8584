/*
 * The lab's ground truth: what the guest kernel itself prints in /proc,
 * captured just before the dump and sent to the host over /dev/ttyS1; on
 * arm64 (QEMU's virt machine has one UART) over the console, /dev/ttyAMA0,
 * between a LAB-TRUTH-BEGIN and a LAB-TRUTH-END line, with the kernel's
 * console messages held back (printk level 1) while it goes.
 *
 * For PID 1 and the PIDs in /tmp/layout: maps, smaps, smaps_rollup, status,
 * numa_maps, and pagemap for every page of every vma (as runs: "R addr
 * count entry step", step 1 when the PFN grows by one per page; one entry
 * per page of the kernel's page size, sysconf(_SC_PAGESIZE)).  Then
 * meminfo, vmallocinfo, iomem and the layout.  Each file is framed as
 *   @@FILE name length\n <bytes> @@END name fnv1a64\n
 * and the stream ends with @@DONE.  Then it prints READY on the console and
 * pauses forever, so PID 1 stays blocked in wait() and nothing touches the
 * measured memory before the dump.  The capturer excludes itself.
 *
 *   capture [--skip-pagemap-over SIZE] [--smaps-time]
 *
 * Without options (the standard labs, vmcores/init.sh) it sends the files
 * above and nothing else.  The large lab (vmcores/large.py, a 6 GiB
 * process with a 1 TiB reservation) runs
 * "capture --skip-pagemap-over 16G --smaps-time":
 * - --skip-pagemap-over SIZE (a number of bytes, with K, M, G or T for
 *   2^10, 2^20, 2^30, 2^40): pagemap runs are sent for every vma up to
 *   SIZE; bigger vmas (the 1 TiB sparse reservation: 2 GiB of pagemap
 *   entries) are left out and named, "START-END" a line, in
 *   "PID/pagemap_skipped" (sent for every PID, empty when none is).
 * - --smaps-time: "PID/smaps_time" for every PID but 1, how long the guest
 *   kernel takes to produce /proc/PID/smaps (clock_gettime(CLOCK_MONOTONIC)
 *   around a read loop into a 1 MiB buffer, 3 runs; under QEMU TCG, so
 *   emulated time, not native): "runs SECONDS SECONDS SECONDS\nbest
 *   SECONDS\nbytes N\nclock ...\n".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#if defined(__aarch64__)
#define TRUTH_NAME "ttyAMA0"
#else
#define TRUTH_NAME "ttyS1"
#endif
#define TRUTH_TTY "/dev/" TRUTH_NAME

static int out;
static char *buf;
static size_t cap;
static unsigned long skip_pagemap_over; /* --skip-pagemap-over; 0: none */
static int smaps_time;                  /* --smaps-time */

static void die(const char *what)
{
	fprintf(stderr, "capture: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void put(const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(out, c, n);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("write " TRUTH_NAME);
		}
		c += w;
		n -= (size_t)w;
	}
}

static uint64_t fnv(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void send(const char *name, const char *data, size_t len)
{
	char head[512];

	snprintf(head, sizeof(head), "@@FILE %s %zu\n", name, len);
	put(head, strlen(head));
	put(data, len);
	snprintf(head, sizeof(head), "@@END %s %016" PRIx64 "\n", name, fnv(data, len));
	put(head, strlen(head));
}

/* Read a whole (proc) file into buf; returns its length or -1. */
static ssize_t slurp(const char *path)
{
	int fd = open(path, O_RDONLY);
	size_t len = 0;

	if (fd < 0)
		return -1;
	for (;;) {
		if (len + 65536 > cap) {
			cap = (cap + 65536) * 2;
			buf = realloc(buf, cap);
			if (!buf)
				die("realloc");
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0)
			die(path);
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	return (ssize_t)len;
}

static void send_file(const char *path, const char *name)
{
	ssize_t len = slurp(path);

	if (len < 0)
		die(path);
	send(name, buf, (size_t)len);
}

/* pagemap of every vma in maps, as runs. */
static void send_pagemap(int pid, const char *maps, size_t maps_len)
{
	char path[64];
	size_t olen = 0, ocap = 1 << 20;
	char *o = malloc(ocap);
	const char *line = maps, *end = maps + maps_len;
	static char skipped[4096];
	size_t skipped_len = 0;
	unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE);

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0 || !o)
		die(path);
	while (line < end) {
		unsigned long start, stop;
		const char *nl = memchr(line, '\n', end - line);
		if (!nl)
			nl = end;
		if (sscanf(line, "%lx-%lx", &start, &stop) != 2)
			die("maps line");
		line = nl + 1;
		if (start >= 0xffffffffff600000UL) /* [vsyscall]: pagemap stops below */
			continue;
		if (skip_pagemap_over && stop - start > skip_pagemap_over) {
			skipped_len += (size_t)snprintf(skipped + skipped_len,
							sizeof(skipped) - skipped_len,
							"%lx-%lx\n", start, stop);
			continue;
		}
		unsigned long n = (stop - start) / page, i = 0;
		uint64_t *pm = malloc(n * 8);
		if (!pm)
			die("malloc");
		if (pread(fd, pm, n * 8, (off_t)(start / page * 8)) != (ssize_t)(n * 8))
			die("pread pagemap");
		while (i < n) {
			unsigned long j = i + 1;
			uint64_t step = (pm[i] >> 63) && j < n && pm[j] == pm[i] + 1 ? 1 : 0;
			while (j < n && pm[j] == pm[j - 1] + step)
				j++;
			if (olen + 128 > ocap) {
				ocap *= 2;
				o = realloc(o, ocap);
				if (!o)
					die("realloc");
			}
			olen += (size_t)sprintf(o + olen, "R %lx %lx %016" PRIx64 " %" PRIu64 "\n",
					start + i * page, j - i, pm[i], step);
			i = j;
		}
		free(pm);
	}
	close(fd);
	char name[64];
	snprintf(name, sizeof(name), "%d/pagemap", pid);
	send(name, o, olen);
	free(o);
	if (skip_pagemap_over) {
		snprintf(name, sizeof(name), "%d/pagemap_skipped", pid);
		send(name, skipped, skipped_len);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* How long the kernel takes to produce /proc/PID/smaps (read loop only). */
static void send_smaps_time(int pid)
{
	char path[64], name[64], text[256];
	static char chunk[1 << 20];
	double runs[3], best = 1e99;
	size_t bytes = 0;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	for (int r = 0; r < 3; r++) {
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			die(path);
		bytes = 0;
		double t0 = now();
		for (;;) {
			ssize_t n = read(fd, chunk, sizeof(chunk));
			if (n < 0)
				die(path);
			if (n == 0)
				break;
			bytes += (size_t)n;
		}
		runs[r] = now() - t0;
		close(fd);
		if (runs[r] < best)
			best = runs[r];
	}
	snprintf(text, sizeof(text), "runs %.6f %.6f %.6f\nbest %.6f\nbytes %zu\n"
		 "clock CLOCK_MONOTONIC in the guest (QEMU TCG: emulated, not native)\n",
		 runs[0], runs[1], runs[2], best, bytes);
	snprintf(name, sizeof(name), "%d/smaps_time", pid);
	send(name, text, strlen(text));
}

static void send_pid(int pid)
{
	static const char *files[] = { "smaps", "smaps_rollup", "status", "numa_maps" };
	char path[64], name[64];

	/* maps first: pagemap follows its vmas */
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	ssize_t len = slurp(path);
	if (len < 0)
		die(path);
	char *maps = malloc((size_t)len + 1);
	memcpy(maps, buf, (size_t)len);
	snprintf(name, sizeof(name), "%d/maps", pid);
	send(name, maps, (size_t)len);
	for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, files[i]);
		snprintf(name, sizeof(name), "%d/%s", pid, files[i]);
		send_file(path, name);
	}
	send_pagemap(pid, maps, (size_t)len);
	free(maps);
	if (smaps_time && pid != 1)
		send_smaps_time(pid);
}

/* The NUMA nodes that exist, as a node mask (bit n: node n). */
static unsigned long node_mask(void)
{
	unsigned long mask = 0;
	char path[64];

	for (int n = 0; n < 63; n++) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", n);
		if (access(path, F_OK) == 0)
			mask |= 1UL << n;
	}
	return mask ? mask : 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: capture [--skip-pagemap-over SIZE] [--smaps-time]\n");
	exit(2);
}

/* SIZE of --skip-pagemap-over: bytes, or with a K, M, G or T suffix. */
static unsigned long parse_size(const char *text)
{
	char *end;
	unsigned long n = strtoul(text, &end, 0);
	const char *units = "KMGT", *u;

	if (end == text)
		usage();
	if (*end) {
		if (end[1] || !(u = strchr(units, *end)))
			usage();
		n <<= 10 * (u - units + 1);
	}
	return n;
}

static void options(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "skip-pagemap-over", required_argument, NULL, 's' },
		{ "smaps-time", no_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		if (c == 's')
			skip_pagemap_over = parse_size(optarg);
		else if (c == 't')
			smaps_time = 1;
		else
			usage();
	}
	if (optind != argc)
		usage();
}

int main(int argc, char **argv)
{
	struct termios t;
	int pids[16], npids = 0;
	char line[256];

	options(argc, argv);
	/* Drain every CPU's folio batches first: an SMP guest sets and clears
	 * PG_lru and PG_active when a CPU drains them, which would change
	 * numa_maps' active= between this capture and the dump.
	 * migrate_pages() with the same nodes on both sides runs
	 * lru_cache_disable() and moves nothing (LAB.md).  After it nothing
	 * touches the measured memory: PID 1 waits for this program, the
	 * workload and its child pause. */
	unsigned long nodes = node_mask();
	if (syscall(SYS_migrate_pages, 0, 64, &nodes, &nodes) < 0)
		die("migrate_pages");
	/* Run on CPU 0, the CPU whose registers QEMU's monitor shows: its CR3
	 * then stays this process's pgd once it pauses (lazy TLB), so that
	 * "info mem" and "info tlb" show a live process's tables. */
	cpu_set_t cpu0;
	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	if (sched_setaffinity(0, sizeof(cpu0), &cpu0) < 0)
		die("sched_setaffinity");

#if defined(__aarch64__)
	int printk = open("/proc/sys/kernel/printk", O_WRONLY);
	if (printk < 0 || write(printk, "1\n", 2) != 2)
		die("/proc/sys/kernel/printk");
	close(printk);
#endif
	out = open(TRUTH_TTY, O_WRONLY | O_NOCTTY);
	if (out < 0)
		die(TRUTH_TTY);
	if (tcgetattr(out, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(out, TCSANOW, &t);
	}
#if defined(__aarch64__)
	tcdrain(out);
	put("\nLAB-TRUTH-BEGIN\n", 17);
#endif
	pids[npids++] = 1;
	FILE *f = fopen("/tmp/layout", "r");
	if (!f)
		die("/tmp/layout");
	while (fgets(line, sizeof(line), f)) {
		char role[64];
		int pid;
		if (sscanf(line, "pid %63s %d", role, &pid) == 2 && npids < 16)
			pids[npids++] = pid;
	}
	fclose(f);
	for (int i = 0; i < npids; i++)
		send_pid(pids[i]);
	send_file("/proc/meminfo", "meminfo");
	send_file("/proc/vmallocinfo", "vmallocinfo");
	send_file("/proc/iomem", "iomem");
	send_file("/tmp/layout", "layout");
	send_file("/tmp/dmesg", "dmesg");
	send_file("/tmp/kallsyms", "kallsyms");
	put("@@DONE\n", 7);
#if defined(__aarch64__)
	put("LAB-TRUTH-END\n", 14);
#endif
	tcdrain(out);
	int con = open("/dev/console", O_WRONLY);
	if (con >= 0) {
		dprintf(con, "\nLAB-READY capture=%d\n", getpid());
		close(con);
	}
	for (;;)
		pause();
}
