/*
 * The large lab's workload (vmcores/large.py): one process and a forked
 * child with about 6 GiB of RSS each (7 GiB with the hugetlb page, which
 * /proc counts apart from Rss), for benchmarks.
 *
 *   hugetlb  1 GiB hugetlb page, MAP_SHARED (one PUD entry)
 *   thp      2 GiB of anonymous THP (MADV_HUGEPAGE, 2 MiB aligned): 1024
 *            PMD-mapped huge pages, one non-zero byte each (the 6.12 THP
 *            shrinker may split all-zero THPs; these stay honest)
 *   anon4k   3 GiB of 4 KiB anonymous pages (MADV_NOHUGEPAGE), written with
 *            zeros: real pages (a write fault allocates one), all-zero, so
 *            the dump stores them as holes
 *   shmem    a 1 GiB tmpfs file /tmp/big-shmem mapped MAP_SHARED, written
 *            with zeros by the parent, read (mapped) by the child too
 *   sparse   a 1 TiB MAP_NORESERVE anonymous reservation (MADV_NOHUGEPAGE)
 *            touched once every 64 MiB: 16384 pages, each in its own PTE
 *            table (many tables, few pages)
 *
 * The child is forked after everything is populated, so it shares the
 * anonymous pages copy-on-write (its page tables are copies), then maps
 * the tmpfs file by reading it.  A second child, "dense", does the same
 * after unmapping the sparse reservation and the hugetlb page: a process
 * mapped page by page (0.75 M 4 KiB anonymous PTEs, 1024 THPs, 0.25 M
 * tmpfs PTEs), the kind users inspect most, for the pagemap benchmark.  The layout goes to /tmp/layout in the
 * format of workload.c ("pid ROLE PID", "vma NAME PID START END"), then
 * /tmp/ready; both processes then pause() forever, touching nothing.
 *
 * Built with gcc -static; runs under the large lab's busybox init.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PAGE 4096UL
#define MB2 (2UL << 20)
#define MB64 (64UL << 20)
#define GB1 (1UL << 30)
#define TB1 (1UL << 40)

static FILE *layout;

static void die(const char *what)
{
	fprintf(stderr, "bigload: %s: %s\n", what, strerror(errno));
	int con = open("/dev/console", O_WRONLY);
	if (con >= 0)
		dprintf(con, "LAB-ERROR bigload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void record(const char *name, void *start, size_t len)
{
	fprintf(layout, "vma %s %d %lx %lx\n", name, getpid(),
		(unsigned long)start, (unsigned long)start + len);
}

static void *map(size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = mmap(NULL, len, prot, flags, fd, off);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

/* Write a zero into every page: a write fault allocates a zeroed page. */
static void write_zeros(char *p, size_t len)
{
	if (madvise(p, len, MADV_POPULATE_WRITE) == 0)
		return;
	for (size_t off = 0; off < len; off += PAGE)
		((volatile char *)p)[off] = 0;
}

static void read_all(char *p, size_t len)
{
	if (madvise(p, len, MADV_POPULATE_READ) == 0)
		return;
	for (size_t off = 0; off < len; off += PAGE)
		(void)((volatile char *)p)[off];
}

int main(void)
{
	const int rw = PROT_READ | PROT_WRITE;

	layout = fopen("/tmp/layout.tmp", "w");
	if (!layout)
		die("/tmp/layout.tmp");
	setvbuf(layout, NULL, _IOLBF, 0);
	fprintf(layout, "pid bigload %d\n", getpid());

	/* 1 GiB hugetlb page (reserved at boot: hugepagesz=1G hugepages=1) */
	char *huge = mmap(NULL, GB1, rw, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB |
			  (30 << MAP_HUGE_SHIFT), -1, 0);
	if (huge == MAP_FAILED) {
		fprintf(layout, "nohugetlb_1g %s\n", strerror(errno));
	} else {
		((volatile char *)huge)[0] = 0;
		record("hugetlb_1g", huge, GB1);
	}

	/* 2 GiB of THP first, while free memory is in large blocks */
	char *raw = map(2 * GB1 + MB2, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *thp = (char *)(((uintptr_t)raw + MB2 - 1) & ~(MB2 - 1));
	if (thp > raw)
		munmap(raw, (size_t)(thp - raw));
	munmap(thp + 2 * GB1, (size_t)(raw + 2 * GB1 + MB2 - (thp + 2 * GB1)));
	if (madvise(thp, 2 * GB1, MADV_HUGEPAGE))
		die("madvise(MADV_HUGEPAGE)");
	for (size_t off = 0; off < 2 * GB1; off += MB2)
		((volatile char *)thp)[off + 123] = 1;
	record("thp", thp, 2 * GB1);

	/* 3 GiB of 4 KiB pages */
	char *a4 = map(3 * GB1, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (madvise(a4, 3 * GB1, MADV_NOHUGEPAGE))
		die("madvise(MADV_NOHUGEPAGE)");
	write_zeros(a4, 3 * GB1);
	record("anon4k", a4, 3 * GB1);

	/* a 1 GiB tmpfs file, MAP_SHARED */
	int fd = open("/tmp/big-shmem", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("/tmp/big-shmem");
	if (ftruncate(fd, GB1))
		die("ftruncate");
	char *sh = map(GB1, rw, MAP_SHARED, fd, 0);
	write_zeros(sh, GB1);
	record("shmem", sh, GB1);

	/* 1 TiB reserved, one page per 64 MiB */
	char *sp = map(TB1, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (madvise(sp, TB1, MADV_NOHUGEPAGE))
		die("madvise(MADV_NOHUGEPAGE) sparse");
	for (size_t off = 0; off < TB1; off += MB64)
		((volatile char *)sp)[off] = 0;
	record("sparse", sp, TB1);

	int ready[2];
	if (pipe(ready) < 0)
		die("pipe");
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		fprintf(layout, "pid child %d\n", getpid());
		read_all(sh, GB1);
		record("shmem_child", sh, GB1);
		fflush(layout);
		if (write(ready[1], "x", 1) != 1)
			die("write ready");
		for (;;)
			pause();
	}
	char c;
	if (read(ready[0], &c, 1) != 1)
		die("read ready");
	child = fork();
	if (child < 0)
		die("fork dense");
	if (child == 0) {
		/* dense: the THPs and 4 KiB pages (shared copy-on-write) and
		 * the tmpfs file, without the sparse reservation and the
		 * hugetlb page: every vma mapped page by page */
		fprintf(layout, "pid dense %d\n", getpid());
		munmap(sp, TB1);
		if (huge != MAP_FAILED)
			munmap(huge, GB1);
		read_all(sh, GB1);
		record("shmem_dense", sh, GB1);
		fflush(layout);
		if (write(ready[1], "x", 1) != 1)
			die("write ready");
		for (;;)
			pause();
	}
	if (read(ready[0], &c, 1) != 1)
		die("read ready");
	fclose(layout);
	rename("/tmp/layout.tmp", "/tmp/layout");
	close(open("/tmp/ready", O_WRONLY | O_CREAT, 0600));
	for (;;)
		pause();
}
