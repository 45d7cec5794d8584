"""The processes with the most swap, and their vmas that hold it.

    drgn -c VMCORE -s VMLINUX examples/top_swap.py [N]
    python examples/top_swap.py -c VMCORE -s VMLINUX [N]

Swap is counted from the page tables (walk_page_vma), not from the mm's
counters: a swap entry in a PTE is a page of that vma on a swap device, as
smaps_pte_entry() counts it.  (smaps also counts, for a shmem vma, the
shmem file's swapped pages that no PTE of the process points to.)
"""

import argparse

from drgn.helpers.linux.mm import for_each_vma
from drgn.helpers.linux.pid import for_each_task

from drgn_pagewalk import MmWalkOps, walk_page_vma


def _pte_entry(pte, addr, next, walk):
    arch = walk.arch
    if arch.is_swap_pte(pte.val):
        swap_type, _ = arch.swp_type_offset(pte.val)
        if swap_type < arch.max_swapfiles:  # not a migration or device entry
            walk.private[0] += 1
    return 0


OPS = MmWalkOps(pte_entry=_pte_entry)


def vma_swap(task):
    """[(vma, swapped pages)] of a process, every vma."""
    out = []
    for vma in for_each_vma(task.mm):
        pages = [0]
        walk_page_vma(vma, OPS, pages)
        out.append((vma, pages[0]))
    return out


def top_swap(prog, n):
    """The ``n`` processes with the most swapped pages: [(pages, task,
    [(vma, pages)] of its vmas with swap)], most first."""
    found = []
    for task in for_each_task(prog):
        if task.mm and task.pid == task.tgid:
            vmas = [(vma, pages) for vma, pages in vma_swap(task) if pages]
            if vmas:
                found.append((sum(pages for _, pages in vmas), task, vmas))
    found.sort(key=lambda f: (-f[0], f[1].pid.value_()))
    return found[:n]


def main(prog, args):
    kb = prog["PAGE_SIZE"].value_() // 1024  # kB per page
    for pages, task, vmas in top_swap(prog, args.n):
        comm = task.comm.string_().decode(errors="replace")
        print(f"PID {task.pid.value_()} ({comm}): {pages * kb} kB swapped")
        for vma, vma_pages in vmas:
            print(f"  {vma.vm_start.value_():#x}-{vma.vm_end.value_():#x}  "
                  f"{vma_pages * kb} kB")


if __name__ == "__main__":
    from drgn_pagewalk.cli import script_program

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", metavar="N", nargs="?", type=int, default=10,
                        help="how many processes (default 10)")
    main(*script_program(parser, globals()))
