/*
 * Live lab guests only: a process that keeps faulting pages in and out, so
 * that a walk of a running guest (drgn-pagewalk --qmp --no-stop) sees page
 * tables change under it.  It waits for a line on /dev/ttyS2, which the
 * host sends when a test wants the churn (vmcores/live.py churn()), then
 * maps, touches and unmaps 8 MiB of anonymous memory in a loop.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#define SIZE (8UL << 20)

int main(void)
{
	char go;
	int fd = open("/dev/ttyS2", O_RDONLY | O_NOCTTY);

	if (fd < 0 || read(fd, &go, 1) != 1)
		return 1;
	for (;;) {
		char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 1;
		madvise(p, SIZE, MADV_NOHUGEPAGE);
		for (unsigned long off = 0; off < SIZE; off += 4096)
			p[off] = 1;
		munmap(p, SIZE);
		usleep(1000);
	}
}
