/*
 * The lab's workload: a process (and a forked child) whose memory layout
 * takes every path of mm/pagewalk.c and of fs/proc/task_mmu.c.  It writes
 * its layout to /tmp/layout, creates /tmp/ready and then sleeps forever in
 * pause(), touching nothing, so the dump sees what /proc showed.
 *
 * Built with gcc -static; runs as PID != 1 under the busybox init script.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

#define PAGE 4096UL
#define MB2 (2UL << 20)
#define GB1 (1UL << 30)
#define KB64 (64UL << 10)
#define MB32 (32UL << 20)

static FILE *layout;

static void die(const char *what)
{
	fprintf(stderr, "workload: %s: %s\n", what, strerror(errno));
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

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		die(path);
	close(fd);
}

int main(void)
{
	layout = fopen("/tmp/layout.tmp", "w");
	if (!layout)
		die("/tmp/layout.tmp");
	setvbuf(layout, NULL, _IOLBF, 0);
	fprintf(layout, "pid workload %d\n", getpid());

	/* Anonymous, 4 KiB pages, every other page touched. */
	char *partial = anon(64 * PAGE);
	madvise(partial, 64 * PAGE, MADV_NOHUGEPAGE);
	touch(partial, 64 * PAGE, 2 * PAGE, 1);
	record("anon_partial", partial, 64 * PAGE);

	/* THP: 2 MiB aligned, MADV_HUGEPAGE, two huge pages touched. */
	char *thp = aligned(4 * MB2, MB2);
	madvise(thp, 4 * MB2, MADV_HUGEPAGE);
	touch(thp, 2 * MB2, PAGE, 2);
	record("thp", thp, 4 * MB2);

	/* PTE-mapped THP: mprotect of 16 pages in the middle splits the PMD;
	 * the folio stays whole (order 9), mapped by 512 PTEs in three vmas. */
	char *ptethp = aligned(MB2, MB2);
	madvise(ptethp, MB2, MADV_HUGEPAGE);
	touch(ptethp, MB2, PAGE, 13);
	mprotect(ptethp + MB2 / 2, 16 * PAGE, PROT_READ);
	record("thp_pte", ptethp, MB2);

	/* hugetlb 2 MiB: three pages reserved, two touched. */
	char *h2m = map(3 * MB2, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (21 << MAP_HUGE_SHIFT), -1, 0);
	touch(h2m, 2 * MB2, MB2, 3);
	record("hugetlb_2m", h2m, 3 * MB2);

#if defined(__aarch64__)
	/* arm64's other hugetlb sizes (hugepagesz=64K and 32M on the command
	 * line): 64 KiB pages are 16 contiguous PTEs, eight reserved and six
	 * touched; 32 MiB pages are 16 contiguous PMDs, both touched. */
	char *h64k = map(8 * KB64, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (16 << MAP_HUGE_SHIFT), -1, 0);
	touch(h64k, 6 * KB64, KB64, 15);
	record("hugetlb_64k", h64k, 8 * KB64);
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

	/* mTHP (6.8 on: /init sets hugepages-64kB to "madvise"): 1 MiB with
	 * MADV_HUGEPAGE is too small for a PMD THP, so its write faults get
	 * 64 KiB folios, which arm64 maps with the contiguous bit (CONTPTE,
	 * 6.9 on).  The first half is then made old (MADV_COLD: the kernel
	 * unfolds those blocks) and one page of every other block of it
	 * written again.  Older kernels give 4 KiB pages. */
	char *mthp = aligned(16 * KB64, MB2);
	madvise(mthp, 16 * KB64, MADV_HUGEPAGE);
	touch(mthp, 16 * KB64, KB64, 17);
	madvise(mthp, 8 * KB64, MADV_COLD);
	for (int i = 0; i < 8; i += 2)
		mthp[i * KB64 + 3 * PAGE] = 1;
	record("mthp", mthp, 16 * KB64);

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

	/* An emptied PTE table: a 2 MiB-aligned 2 MiB region of 4 KiB pages,
	 * all 512 written, then all MADV_DONTNEED'ed.  The PMD entry stays
	 * present and points to a PTE table page that is all zeros (which
	 * makedumpfile -d 31 leaves out as a zero page).  Two calls of half a
	 * table each: with CONFIG_PT_RECLAIM (6.14+, Debian's 7.2) one
	 * MADV_DONTNEED over a whole PMD's range frees the emptied table
	 * (reclaim_pt_is_enabled() wants end - start >= PMD_SIZE). */
	char *emptied = aligned(MB2, MB2);
	madvise(emptied, MB2, MADV_NOHUGEPAGE);
	touch(emptied, MB2, PAGE, 14);
	if (madvise(emptied, MB2 / 2, MADV_DONTNEED) < 0 ||
	    madvise(emptied + MB2 / 2, MB2 / 2, MADV_DONTNEED) < 0)
		die("MADV_DONTNEED");
	record("emptied_pte", emptied, MB2);

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

	/* Bulk: 1 GiB of RSS for the benchmarks, 256 MiB in 4 KiB pages and
	 * 768 MiB in THPs.  Zeros are written, so the pages are real but the
	 * dump stays sparse. */
	char *bulk4k = anon(256UL << 20);
	madvise(bulk4k, 256UL << 20, MADV_NOHUGEPAGE);
	for (size_t off = 0; off < (256UL << 20); off += PAGE)
		((volatile char *)bulk4k)[off] = 0;
	record("bulk_4k", bulk4k, 256UL << 20);
	char *bulkthp = aligned(768UL << 20, MB2);
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
	 * on 6.12, for all 512 entries on 7.x, where the folio's first page
	 * decides): page 5 of the first THP, page 0 of the second. */
	char *thpcow = aligned(2 * MB2, MB2);
	madvise(thpcow, 2 * MB2, MADV_HUGEPAGE);
	touch(thpcow, 2 * MB2, PAGE, 15);
	record("thp_cow", thpcow, 2 * MB2);

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
		thpcow[MB2] = 'c';
		/* The same tmpfs file, private: read it all, write 4 pages. */
		char *priv = map(32 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
		volatile char s = 0;
		for (int i = 0; i < 24; i++)
			s += priv[i * PAGE];
		for (int i = 0; i < 4; i++)
			priv[i * PAGE] = 'p';
		record("shmem_private", priv, 32 * PAGE);
		shared[0] = 's';
		fflush(layout);
		if (write(ready[1], "x", 1) != 1)
			die("write");
		for (;;)
			pause();
	}
	char c;
	if (read(ready[0], &c, 1) != 1)
		die("read");
	fclose(layout);
	rename("/tmp/layout.tmp", "/tmp/layout");
	close(open("/tmp/ready", O_WRONLY | O_CREAT, 0600));
	for (;;)
		pause();
}
