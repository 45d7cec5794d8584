/*
 * Live lab guests only: a process that keeps faulting pages in and out, so
 * that a walk of a running guest (drgn-pagewalk --qmp --no-stop) sees page
 * tables change under it.  It waits for a line on its serial port, which
 * the host sends when a test wants the churn (vmcores/live.py churn()),
 * then maps, touches and unmaps 8 MiB of anonymous memory in a loop.  The
 * port, CHURN_TTY, is given by live.py: /dev/ttyS2 on x86-64 (the third
 * 16550); on arm64 (QEMU's virt machine has one PL011, the console) a PCI
 * 16550 (QEMU's pci-serial, the kernel's built-in 8250_pci), the first
 * 8250 port: /dev/ttyS0.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#define SIZE (8UL << 20)

#ifndef CHURN_TTY
#define CHURN_TTY "/dev/ttyS2"
#endif

int main(void)
{
	char go;
	int fd = open(CHURN_TTY, O_RDONLY | O_NOCTTY);

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
