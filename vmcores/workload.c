/*
 * The labs' workloads.
 *
 *   workload         the standard labs' (vmcores/init.sh)
 *   workload large   the large lab's (vmcores/large.py)
 *
 * "workload": a process (and a forked child) whose memory layout takes
 * every path of mm/pagewalk.c and of fs/proc/task_mmu.c (standard()).
 *
 * "workload large": for benchmarks (large()), one process, role "bigload",
 * and a forked child with about 6 GiB of RSS each (7 GiB with the hugetlb
 * page, which /proc counts apart from Rss):
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
 * tmpfs PTEs), the kind users inspect most, for the pagemap benchmark.
 *
 * Both write their layout to /tmp/layout ("pid ROLE PID", "vma NAME PID
 * START END"), create /tmp/ready and then sleep forever in pause(),
 * touching nothing, so the dump sees what /proc showed.  A fatal error is
 * also a LAB-ERROR line on the console.
 *
 * Built with gcc -static; runs as PID != 1 under the busybox init script.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_MERGEABLE
#define MADV_MERGEABLE 12
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* include/uapi/linux/mempolicy.h */
#define MPOL_DEFAULT 0
#define MPOL_PREFERRED 1
#define MPOL_BIND 2
#define MPOL_INTERLEAVE 3
#define MPOL_LOCAL 4
#define MPOL_PREFERRED_MANY 5
#define MPOL_WEIGHTED_INTERLEAVE 6
#define MPOL_F_STATIC_NODES (1 << 15)
#define MPOL_F_RELATIVE_NODES (1 << 14)
#define MPOL_F_NUMA_BALANCING (1 << 13)
#define MAXNODE 64 /* bits of one unsigned long, as get_nodes() counts them */
#define THREADS 3

#define MB2 (2UL << 20)
#define GB1 (1UL << 30)
#define KB64 (64UL << 10)
#define MB32 (32UL << 20)
#define MB64 (64UL << 20)
#define TB1 (1UL << 40)

/* The kernel's page size (sysconf): 4 KiB, or 16 KiB (Debian's arm64-16k
 * flavour); and a PMD's reach, the size of a PMD-mapped THP: a page of
 * PAGE / 8 entries, each mapping a page (2 MiB with 4 KiB pages, 32 MiB
 * with 16 KiB).  Every region is made of these, so one source gives the
 * same layout on every page size. */
static size_t PAGE;
static size_t PMD;

static FILE *layout;
static const char *me = "workload";

static void die(const char *what)
{
	int err = errno;

	fprintf(stderr, "%s: %s: %s\n", me, what, strerror(err));
	int con = open("/dev/console", O_WRONLY);
	if (con >= 0)
		dprintf(con, "LAB-ERROR %s: %s: %s\n", me, what, strerror(err));
	exit(1);
}

/* /tmp/layout.tmp, its first line "pid ROLE PID". */
static void open_layout(const char *role)
{
	layout = fopen("/tmp/layout.tmp", "w");
	if (!layout)
		die("/tmp/layout.tmp");
	setvbuf(layout, NULL, _IOLBF, 0);
	fprintf(layout, "pid %s %d\n", role, getpid());
}

/* A forked child is done: its layout lines out, a byte to the parent
 * waiting in wait_child(), then pause() forever. */
static void child_ready(int fd)
{
	fflush(layout);
	if (write(fd, "x", 1) != 1)
		die("write");
	for (;;)
		pause();
}

static void wait_child(int fd)
{
	char c;

	if (read(fd, &c, 1) != 1)
		die("read");
}

/* The layout complete: /tmp/layout, /tmp/ready, then pause() forever. */
static void publish(void)
{
	fclose(layout);
	rename("/tmp/layout.tmp", "/tmp/layout");
	close(open("/tmp/ready", O_WRONLY | O_CREAT, 0600));
	for (;;)
		pause();
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

static void *anon(size_t len)
{
	return map(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void *aligned(size_t len, size_t align)
{
	char *p = anon(len + align);
	char *a = (char *)(((uintptr_t)p + align - 1) & ~(align - 1));

	if (a > p)
		munmap(p, a - p);
	munmap(a + len, p + len + align - (a + len));
	return a;
}

static void touch(char *p, size_t len, size_t step, int seed)
{
	for (size_t off = 0; off < len; off += step)
		p[off] = (char)(seed + off / PAGE + 1);
}

/* Write a zero into every page: a write fault allocates a zeroed page. */
static void write_zeros(char *p, size_t len)
{
	if (madvise(p, len, MADV_POPULATE_WRITE) == 0)
		return;
	for (size_t off = 0; off < len; off += PAGE)
		((volatile char *)p)[off] = 0;
}

/* Read every page (of a file mapping: maps the page cache's pages). */
static void read_all(char *p, size_t len)
{
	if (madvise(p, len, MADV_POPULATE_READ) == 0)
		return;
	for (size_t off = 0; off < len; off += PAGE)
		(void)((volatile char *)p)[off];
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		die(path);
	close(fd);
}

static long read_number(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY);

	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) < 0)
		die(path);
	close(fd);
	return strtol(buf, NULL, 10);
}

/* The NUMA nodes that exist, as a node mask (bit n: node n). */
static unsigned long node_mask(void)
{
	unsigned long mask = 0;
	char path[64];

	for (int n = 0; n < MAXNODE - 1; n++) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", n);
		if (access(path, F_OK) == 0)
			mask |= 1UL << n;
	}
	return mask ? mask : 1;
}

/* mbind() over [p, p + len); the mode is the kernel's word (numa_maps
 * shows what it kept), so a mode the kernel refuses is only noted. */
static void bind_to(char *p, size_t len, int mode, unsigned long mask)
{
	if (syscall(SYS_mbind, p, len, mode, mode == MPOL_DEFAULT || mode == MPOL_LOCAL
		    ? NULL : &mask, MAXNODE, 0) < 0)
		fprintf(stderr, "workload: mbind mode %#x: %s\n", mode, strerror(errno));
}

static void set_policy(int mode, unsigned long mask)
{
	if (syscall(SYS_set_mempolicy, mode, &mask, MAXNODE) < 0)
		fprintf(stderr, "workload: set_mempolicy %#x: %s\n", mode, strerror(errno));
}

/* Run on CPU ``cpu`` (modulo the CPUs there are). */
static void pin(int cpu)
{
	cpu_set_t set;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	CPU_ZERO(&set);
	CPU_SET(cpu % (n > 0 ? n : 1), &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static int thread_ready[2];

/* A thread of the workload: on CPU 1 + its number, it maps and writes a
 * region of its own and some of its stack, so the mm's rss counters get
 * deltas on that CPU (6.2 on: per-CPU counters), then sleeps. */
static void *thread_main(void *arg)
{
	int i = (int)(long)arg;
	volatile char stack[8 * PAGE];
	char name[32];

	pin(1 + i);
	char *mine = anon(32 * PAGE);
	madvise(mine, 32 * PAGE, MADV_NOHUGEPAGE);
	touch(mine, 32 * PAGE, PAGE, 20 + i);
	for (size_t off = 0; off < sizeof(stack); off += PAGE)
		stack[off] = (char)i;
	snprintf(name, sizeof(name), "thread%d", i);
	record(name, mine, 32 * PAGE);
	if (write(thread_ready[1], "t", 1) != 1)
		die("write");
	for (;;)
		pause();
	return NULL;
}

/* A region of 16 pages with its own policy, written after mbind(). */
static char *numa_region(const char *name, int mode, unsigned long mask)
{
	char *p = anon(16 * PAGE);

	madvise(p, 16 * PAGE, MADV_NOHUGEPAGE);
	bind_to(p, 16 * PAGE, mode, mask);
	touch(p, 16 * PAGE, PAGE, 30);
	record(name, p, 16 * PAGE);
	return p;
}

/* The standard labs' workload: "workload". */
static void standard(void)
{
	open_layout("workload");
	fprintf(layout, "page_size %zu\n", PAGE);

	/* Anonymous, 4 KiB pages, every other page touched. */
	char *partial = anon(64 * PAGE);
	madvise(partial, 64 * PAGE, MADV_NOHUGEPAGE);
	touch(partial, 64 * PAGE, 2 * PAGE, 1);
	record("anon_partial", partial, 64 * PAGE);

	/* THP: PMD aligned, MADV_HUGEPAGE, two huge pages touched. */
	char *thp = aligned(4 * PMD, PMD);
	madvise(thp, 4 * PMD, MADV_HUGEPAGE);
	touch(thp, 2 * PMD, PAGE, 2);
	record("thp", thp, 4 * PMD);

	/* PTE-mapped THP: mprotect of 16 pages in the middle splits the PMD;
	 * the folio stays whole (order 9; 11 with 16 KiB pages), mapped by a
	 * table of PTEs in three vmas. */
	char *ptethp = aligned(PMD, PMD);
	madvise(ptethp, PMD, MADV_HUGEPAGE);
	touch(ptethp, PMD, PAGE, 13);
	mprotect(ptethp + PMD / 2, 16 * PAGE, PROT_READ);
	record("thp_pte", ptethp, PMD);

	/* hugetlb 2 MiB: three pages reserved, two touched (a PMD each with
	 * 4 KiB pages; 128 contiguous PTEs each with 16 KiB pages). */
	char *h2m = map(3 * MB2, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (21 << MAP_HUGE_SHIFT), -1, 0);
	touch(h2m, 2 * MB2, MB2, 3);
	record("hugetlb_2m", h2m, 3 * MB2);

#if defined(__aarch64__)
	/* arm64's other hugetlb sizes (hugepagesz=64K and 32M on the command
	 * line): 64 KiB pages are 16 contiguous PTEs, eight reserved and six
	 * touched (4 KiB pages only: with 16 KiB pages there is no 64 KiB
	 * size); 32 MiB pages are 16 contiguous PMDs (with 16 KiB pages: one
	 * PMD each), both touched. */
	if (PAGE == 4096) {
		char *h64k = map(8 * KB64, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (16 << MAP_HUGE_SHIFT),
				 -1, 0);
		touch(h64k, 6 * KB64, KB64, 15);
		record("hugetlb_64k", h64k, 8 * KB64);
	}
	char *h32m = map(2 * MB32, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (25 << MAP_HUGE_SHIFT), -1, 0);
	touch(h32m, 2 * MB32, MB32, 16);
	record("hugetlb_32m", h32m, 2 * MB32);
#endif

	/* hugetlb 1 GiB, shared so the child maps the same page. */
	char *h1g = mmap(NULL, GB1, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB | (30 << MAP_HUGE_SHIFT), -1, 0);
	if (h1g != MAP_FAILED) {
		touch(h1g, GB1, GB1, 4);
		record("hugetlb_1g", h1g, GB1);
	} else {
		fprintf(layout, "nohugetlb_1g %s\n", strerror(errno));
	}

	/* mTHP (6.8 on: /init sets the mTHP size of arm64's contiguous PTEs,
	 * hugepages-64kB, or hugepages-2048kB with 16 KiB pages, to
	 * "madvise"): 16 blocks of that size with MADV_HUGEPAGE, where no PMD
	 * THP fits, so its write faults get folios of a block each, which
	 * arm64 maps with the contiguous bit (CONTPTE, 6.9 on).  The first half
	 * is then made old (MADV_COLD: the kernel unfolds those blocks) and
	 * one page of every other block of it written again.  Older kernels
	 * give base pages.  With 4 KiB pages the region is 1 MiB inside a PMD;
	 * with 16 KiB pages it is as big as a PMD (16 x 2 MiB), so it starts
	 * half a PMD in, where no PMD-sized THP can fault. */
	size_t blk = PAGE == 4096 ? KB64 : MB2;
	char *mthp;
	if (16 * blk < PMD) {
		mthp = aligned(16 * blk, PMD);
	} else {
		mthp = aligned(16 * blk + PMD, PMD);
		munmap(mthp, PMD / 2);
		munmap(mthp + PMD / 2 + 16 * blk, PMD / 2);
		mthp += PMD / 2;
	}
	madvise(mthp, 16 * blk, MADV_HUGEPAGE);
	touch(mthp, 16 * blk, blk, 17);
	madvise(mthp, 8 * blk, MADV_COLD);
	for (int i = 0; i < 8; i += 2)
		mthp[i * blk + 3 * PAGE] = 1;
	record("mthp", mthp, 16 * blk);

	/* Shared anonymous memory, inherited by the child. */
	char *shared = map(16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	touch(shared, 16 * PAGE, PAGE, 5);
	record("shared_anon", shared, 16 * PAGE);

	/* A tmpfs file: shared by the parent, private in the child. */
	int fd = open("/tmp/lab-shmem", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 32 * PAGE) < 0)
		die("/tmp/lab-shmem");
	char *shm = map(32 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	touch(shm, 24 * PAGE, PAGE, 6);
	record("shmem_shared", shm, 32 * PAGE);

	/* Copy-on-write: touched before fork, half written again by the child. */
	char *cow = anon(32 * PAGE);
	madvise(cow, 32 * PAGE, MADV_NOHUGEPAGE);
	touch(cow, 32 * PAGE, PAGE, 7);
	record("cow", cow, 32 * PAGE);

	/* VM_PFNMAP: /dev/mem below 1 MiB (allowed with STRICT_DEVMEM); on
	 * arm64's virt machine 0x100000, in the flash, with iomem=relaxed, and
	 * not read (remap_pfn_range fills the PTEs at mmap). */
	int memfd = open("/dev/mem", O_RDONLY);
	if (memfd < 0)
		die("/dev/mem");
#if defined(__aarch64__)
	char *pfnmap = map(16 * PAGE, PROT_READ, MAP_SHARED, memfd, 0x100000);
#else
	char *pfnmap = map(16 * PAGE, PROT_READ, MAP_SHARED, memfd, 0xf0000);
	volatile char sink = pfnmap[0];
	(void)sink;
#endif
	record("pfnmap", pfnmap, 16 * PAGE);

	/* Holes: PROT_NONE pages 4-7 (present, protnone), DONTNEED 10-11. */
	char *holes = anon(16 * PAGE);
	madvise(holes, 16 * PAGE, MADV_NOHUGEPAGE);
	touch(holes, 16 * PAGE, PAGE, 8);
	mprotect(holes + 4 * PAGE, 4 * PAGE, PROT_NONE);
	madvise(holes + 10 * PAGE, 2 * PAGE, MADV_DONTNEED);
	record("holes", holes, 16 * PAGE);

	/* An emptied PTE table: a PMD-aligned region of a PMD's reach in base
	 * pages (2 MiB of 4 KiB pages, 32 MiB of 16 KiB ones), all of a
	 * table's entries written, then all MADV_DONTNEED'ed.  The PMD entry stays
	 * present and points to a PTE table page that is all zeros (which
	 * makedumpfile -d 31 leaves out as a zero page).  Two calls of half a
	 * table each: with CONFIG_PT_RECLAIM (6.14+, Debian's 7.2) one
	 * MADV_DONTNEED over a whole PMD's range frees the emptied table
	 * (reclaim_pt_is_enabled() wants end - start >= PMD_SIZE). */
	char *emptied = aligned(PMD, PMD);
	madvise(emptied, PMD, MADV_NOHUGEPAGE);
	touch(emptied, PMD, PAGE, 14);
	if (madvise(emptied, PMD / 2, MADV_DONTNEED) < 0 ||
	    madvise(emptied + PMD / 2, PMD / 2, MADV_DONTNEED) < 0)
		die("MADV_DONTNEED");
	record("emptied_pte", emptied, PMD);

	/* mremap: moved to a new place. */
	char *old = anon(8 * PAGE);
	madvise(old, 8 * PAGE, MADV_NOHUGEPAGE);
	touch(old, 8 * PAGE, PAGE, 9);
	char *dest = anon(64 * PAGE);
	char *moved = mremap(old, 8 * PAGE, 8 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
			     dest + 32 * PAGE);
	if (moved == MAP_FAILED)
		die("mremap");
	munmap(dest, 32 * PAGE);
	munmap(dest + 40 * PAGE, 24 * PAGE);
	record("mremap", moved, 8 * PAGE);

	/* mlock. */
	char *locked = anon(8 * PAGE);
	madvise(locked, 8 * PAGE, MADV_NOHUGEPAGE);
	if (mlock(locked, 8 * PAGE) < 0)
		die("mlock");
	record("mlock", locked, 8 * PAGE);

	/* Swap: the first half paged out to zram. */
	char *swapped = anon(64 * PAGE);
	madvise(swapped, 64 * PAGE, MADV_NOHUGEPAGE);
	touch(swapped, 64 * PAGE, PAGE, 10);
	if (madvise(swapped, 32 * PAGE, MADV_PAGEOUT) < 0)
		die("MADV_PAGEOUT");
	record("swapped", swapped, 64 * PAGE);

	/* Bulk: 1 GiB of RSS for the benchmarks, 256 MiB in base pages and
	 * 768 MiB in THPs.  Zeros are written, so the pages are real but the
	 * dump stays sparse. */
	char *bulk4k = anon(256UL << 20);
	madvise(bulk4k, 256UL << 20, MADV_NOHUGEPAGE);
	for (size_t off = 0; off < (256UL << 20); off += PAGE)
		((volatile char *)bulk4k)[off] = 0;
	record("bulk_4k", bulk4k, 256UL << 20);
	char *bulkthp = aligned(768UL << 20, PMD);
	madvise(bulkthp, 768UL << 20, MADV_HUGEPAGE);
	for (size_t off = 0; off < (768UL << 20); off += PAGE)
		((volatile char *)bulkthp)[off] = 0;
	record("bulk_thp", bulkthp, 768UL << 20);

	/* Soft-dirty: clear_refs 4 clears the bits of the whole mm, then the
	 * first half of this region is written again. */
	char *sd = anon(16 * PAGE);
	madvise(sd, 16 * PAGE, MADV_NOHUGEPAGE);
	touch(sd, 16 * PAGE, PAGE, 11);
	write_file("/proc/self/clear_refs", "4");
	touch(sd, 8 * PAGE, PAGE, 12);
	record("softdirty", sd, 16 * PAGE);

	/* THPs shared by fork, then written by the child: its write fault
	 * splits its own PMD and copies one page, while the parent keeps both
	 * PMDs.  In the parent that page of the folio is then mapped once
	 * (folio_precise_page_mapcount() 1: PM_MMAP_EXCLUSIVE for that entry
	 * on 6.12, for all the folio's entries on 7.x, where the folio's first
	 * page decides): page 5 of the first THP, page 0 of the second. */
	char *thpcow = aligned(2 * PMD, PMD);
	madvise(thpcow, 2 * PMD, MADV_HUGEPAGE);
	touch(thpcow, 2 * PMD, PAGE, 15);
	record("thp_cow", thpcow, 2 * PMD);

	/* KSM: 16 pages of the same bytes, merged by ksmd into one KSM page
	 * (smaps' KSM line from 6.7), then ksmd stopped: nothing moves after. */
	char *ksm = anon(16 * PAGE);
	/* MADV_MERGEABLE first: with VM_MERGEABLE set this vma can never
	 * merge with "softdirty" (on some boots mapped right beside it),
	 * whose soft-dirty bits such a merge would set again (VM_SOFTDIRTY). */
	int mergeable = madvise(ksm, 16 * PAGE, MADV_MERGEABLE) == 0;
	madvise(ksm, 16 * PAGE, MADV_NOHUGEPAGE);
	memset(ksm, 0x5a, 16 * PAGE);
	if (mergeable) {
		write_file("/sys/kernel/mm/ksm/sleep_millisecs", "10");
		write_file("/sys/kernel/mm/ksm/run", "1");
		for (int i = 0; i < 3000 && read_number("/sys/kernel/mm/ksm/pages_sharing") < 15; i++)
			usleep(10000);
		write_file("/sys/kernel/mm/ksm/run", "0");
	}
	record("ksm", ksm, 16 * PAGE);

	/* Threads, each faulting on its own CPU. */
	pin(0);
	if (pipe(thread_ready) < 0)
		die("pipe");
	for (long i = 0; i < THREADS; i++) {
		pthread_t t;
		char c;

		if (pthread_create(&t, NULL, thread_main, (void *)i))
			die("pthread_create");
		if (read(thread_ready[0], &c, 1) != 1)
			die("read");
	}

	/* NUMA (a machine with two nodes or more): a region for each memory
	 * policy mode and flag (numa_maps prints mpol_to_str()), a THP bound
	 * to node 1, a tmpfs file and a memfd with shared policies (shmem's
	 * get_policy), mapped again by the child, and a task policy with
	 * MPOL_F_NUMA_BALANCING. */
	unsigned long nodes = node_mask();
	int numa = nodes & 2;
	int shmfd = -1, numafd = -1;
	if (numa) {
		numa_region("numa_interleave", MPOL_INTERLEAVE, 3);
		numa_region("numa_bind", MPOL_BIND, 2);
		numa_region("numa_prefer_static", MPOL_PREFERRED | MPOL_F_STATIC_NODES, 2);
		numa_region("numa_prefer_many", MPOL_PREFERRED_MANY | MPOL_F_RELATIVE_NODES, 3);
		numa_region("numa_weighted", MPOL_WEIGHTED_INTERLEAVE, 3);
		numa_region("numa_local", MPOL_LOCAL, 0);
		numa_region("numa_default", MPOL_DEFAULT, 0);
		char *nthp = aligned(PMD, PMD);
		madvise(nthp, PMD, MADV_HUGEPAGE);
		bind_to(nthp, PMD, MPOL_BIND, 2);
		touch(nthp, PMD, PAGE, 31);
		record("numa_thp", nthp, PMD);

		shmfd = open("/tmp/lab-numa-shm", O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (shmfd < 0 || ftruncate(shmfd, 16 * PAGE) < 0)
			die("/tmp/lab-numa-shm");
		char *nshm = map(16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, shmfd, 0);
		bind_to(nshm, 8 * PAGE, MPOL_BIND, 2);
		bind_to(nshm + 8 * PAGE, 8 * PAGE, MPOL_INTERLEAVE, 3);
		touch(nshm, 16 * PAGE, PAGE, 32);
		record("numa_shm", nshm, 16 * PAGE);

		numafd = memfd_create("lab-numa-memfd", 0);
		if (numafd < 0 || ftruncate(numafd, 16 * PAGE) < 0)
			die("memfd_create");
		char *nmemfd = map(16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, numafd, 0);
		bind_to(nmemfd, 16 * PAGE, MPOL_PREFERRED, 2);
		touch(nmemfd, 16 * PAGE, PAGE, 33);
		record("numa_memfd", nmemfd, 16 * PAGE);

		set_policy(MPOL_BIND | MPOL_F_NUMA_BALANCING, 3);
	}

	int ready[2];
	if (pipe(ready) < 0)
		die("pipe");
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		fprintf(layout, "pid child %d\n", getpid());
		/* Break COW on the even pages. */
		for (int i = 0; i < 32; i += 2)
			cow[i * PAGE] = 'c';
		/* Break COW on one page of each shared THP. */
		thpcow[5 * PAGE] = 'c';
		thpcow[PMD] = 'c';
		/* The same tmpfs file, private: read it all, write 4 pages. */
		char *priv = map(32 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
		volatile char s = 0;
		for (int i = 0; i < 24; i++)
			s += priv[i * PAGE];
		for (int i = 0; i < 4; i++)
			priv[i * PAGE] = 'p';
		record("shmem_private", priv, 32 * PAGE);
		shared[0] = 's';
		if (numa) {
			/* The shared policies seen from another mapping: the
			 * file from page 0 and from page 8, the memfd; and a
			 * task policy of the child's own. */
			char *c0 = map(16 * PAGE, PROT_READ, MAP_SHARED, shmfd, 0);
			char *c8 = map(8 * PAGE, PROT_READ, MAP_SHARED, shmfd, 8 * PAGE);
			char *cm = map(16 * PAGE, PROT_READ, MAP_SHARED, numafd, 0);
			for (int i = 0; i < 16; i++)
				s += c0[i * PAGE] + cm[i * PAGE] + (i < 8 ? c8[i * PAGE] : 0);
			record("numa_shm_child", c0, 16 * PAGE);
			record("numa_shm_child_8", c8, 8 * PAGE);
			record("numa_memfd_child", cm, 16 * PAGE);
			set_policy(MPOL_INTERLEAVE, 3);
		}
		child_ready(ready[1]);
	}
	wait_child(ready[0]);
	publish();
}

/* The large lab's workload: "workload large" (the header comment). */
static void large(void)
{
	const int rw = PROT_READ | PROT_WRITE;

	me = "workload large";
	open_layout("bigload");

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
	char *thp = aligned(2 * GB1, MB2);
	if (madvise(thp, 2 * GB1, MADV_HUGEPAGE))
		die("madvise(MADV_HUGEPAGE)");
	for (size_t off = 0; off < 2 * GB1; off += MB2)
		((volatile char *)thp)[off + 123] = 1;
	record("thp", thp, 2 * GB1);

	/* 3 GiB of 4 KiB pages */
	char *a4 = anon(3 * GB1);
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
		child_ready(ready[1]);
	}
	wait_child(ready[0]);
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
		child_ready(ready[1]);
	}
	wait_child(ready[0]);
	publish();
}

int main(int argc, char **argv)
{
	PAGE = (size_t)sysconf(_SC_PAGESIZE);
	PMD = PAGE * PAGE / 8;
	if (argc == 1)
		standard();
	else if (argc == 2 && strcmp(argv[1], "large") == 0)
		large();
	fprintf(stderr, "usage: workload [large]\n");
	return 2;
}
