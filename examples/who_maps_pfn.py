"""Which processes map a physical page (PFN), and at which addresses.

    drgn -c VMCORE -s VMLINUX examples/who_maps_pfn.py PFN [PFN ...]
    python examples/who_maps_pfn.py -c VMCORE -s VMLINUX PFN [PFN ...]

Walks every process's page tables (walk_page_range) and prints one line
per mapping: PFN, PID, COMM, the user address mapping that very page
(also inside a THP or a hugetlb page), and the page size of the mapping.
"""

import argparse

from drgn.helpers.linux.pid import for_each_task

from drgn_pagewalk import ACTION_CONTINUE, PMD, MmWalkOps, walk_page_range


def _found(walk, pfn, addr, size):
    walk.private["found"].append((pfn, walk.private["task"], addr, size))


def _pmd_entry(pmd, addr, next, walk):
    """A THP: look for the PFNs among its subpages, and do not split it."""
    arch = walk.arch
    if arch.pmd_present(pmd.val) and arch.pmd_leaf(pmd.val):
        first = arch.pmd_pfn(pmd.val)
        size = 1 << arch.shifts[PMD]  # PMD_SIZE: 2 MiB with 4 KiB pages
        start = addr & ~(size - 1)  # where the THP is mapped
        for pfn in walk.private["pfns"]:
            vaddr = start + ((pfn - first) << arch.page_shift)
            if 0 <= pfn - first < size >> arch.page_shift and addr <= vaddr < next:
                _found(walk, pfn, vaddr, f"{size >> 20}M")
        walk.action = ACTION_CONTINUE  # no pte_entry calls under it
    return 0


def _pte_entry(pte, addr, next, walk):
    arch = walk.arch
    if arch.pte_present(pte.val) and arch.pte_pfn(pte.val) in walk.private["pfns"]:
        _found(walk, arch.pte_pfn(pte.val), addr, f"{arch.page_size >> 10}K")
    return 0


def _hugetlb_entry(pte, hmask, addr, next, walk):
    """A hugetlb page (2 MiB or 1 GiB): the PFN of ``addr`` is the huge
    page's first PFN plus the offset in it, as pagemap computes it."""
    arch = walk.arch
    if arch.pte_present(pte.val):
        first = arch.leaf_pfn(pte.level, pte.val)  # pte.level: PMD (2M) or PUD (1G)
        size = (~hmask & 0xFFFFFFFFFFFFFFFF) + 1
        for pfn in walk.private["pfns"]:
            vaddr = (addr & hmask) + ((pfn - first) << arch.page_shift)
            if 0 <= pfn - first < size >> arch.page_shift and addr <= vaddr < next:
                _found(walk, pfn, vaddr, f"{size >> 20}M")
    return 0


OPS = MmWalkOps(pmd_entry=_pmd_entry, pte_entry=_pte_entry, hugetlb_entry=_hugetlb_entry)


def who_maps_pfn(prog, pfns):
    """[(pfn, task, vaddr, page size)] of every process mapping any of ``pfns``."""
    private = {"pfns": set(pfns), "found": []}
    for task in for_each_task(prog):
        if task.mm and task.pid == task.tgid:  # a process with an address space
            private["task"] = task
            walk_page_range(task.mm, 0, task.mm.task_size.value_(), OPS, private)
    return private["found"]


def main(prog, args):
    found = who_maps_pfn(prog, args.pfns)
    for pfn, task, vaddr, size in found:
        comm = task.comm.string_().decode(errors="replace")
        print(f"PFN {pfn:#x}  PID {task.pid.value_():<6} {comm:<16} {vaddr:#x}  {size}")
    for pfn in set(args.pfns) - {f[0] for f in found}:
        print(f"PFN {pfn:#x}  mapped by no process")


if __name__ == "__main__":
    from drgn_pagewalk.cli import script_program

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pfns", metavar="PFN", nargs="+", type=lambda s: int(s, 0),
                        help="page frame number (decimal, or hex with 0x)")
    main(*script_program(parser, globals()))
