"""Page-table pages per level of every process: what VmPTE sums.

    drgn -c VMCORE -s VMLINUX examples/pt_pages.py
    python examples/pt_pages.py -c VMCORE -s VMLINUX

A template for writing your own MmWalkOps: each callback below is called
as the kernel's mm_walk_ops callback of the same name would be, with the
entry (``entry.val`` is the raw value), the range [addr, next) it covers
and the walk (``walk.private`` is what you passed; ``walk.arch`` decodes
entries).  Copy it, keep the callbacks you need, change what they count.

What it counts: a table page is pointed to by a present, non-leaf entry of
the level above.  The kernel's mm->pgtables_bytes (status's VmPTE) counts
the PUD, PMD and PTE tables, not the PGD page nor (5-level) the P4D
tables, plus one PTE table deposited with each anonymous THP mapping
(pgtable_trans_huge_deposit()), to split it later without allocating.
"""

import argparse

from drgn.helpers.linux.mm import vma_find
from drgn.helpers.linux.pid import for_each_task

from drgn_pagewalk import ACTION_CONTINUE, PUD, MmWalkOps, walk_page_range_novma

LEVELS = ("p4d", "pud", "pmd", "pte", "deposited")


def pgd_entry(pgd, addr, next, walk):
    """A non-empty pgd entry (the walker skips empty ones and reports
    pte_hole() instead).  With 5-level paging it points to a P4D table;
    with 4 levels the p4d level is folded: p4d_entry() sees the same entry."""
    if walk.arch.levels == 5:
        walk.private["p4d"] += 1
    return 0  # 0: go on; anything else stops the walk and is returned


def p4d_entry(p4d, addr, next, walk):
    """A non-empty p4d entry: it points to a PUD table, unless the PUD level
    is folded (3 levels, as arm64 with 16 KiB pages on a 47-bit CPU: the
    pud entries in the pgd page itself)."""
    if walk.arch.has_tables(PUD):
        walk.private["pud"] += 1
    return 0


def pud_entry(pud, addr, next, walk):
    """A non-empty pud entry: a PMD table, or a 1 GiB page (a leaf)."""
    if walk.arch.pud_present(pud.val) and not walk.arch.pud_leaf(pud.val):
        walk.private["pmd"] += 1
    return 0


def pmd_entry(pmd, addr, next, walk):
    """A non-empty pmd entry: a PTE table, or a PMD-sized page (THP or
    hugetlb: 2 MiB with 4 KiB pages, 32 MiB with 16 KiB pages)."""
    arch = walk.arch
    if arch.pmd_present(pmd.val) and not arch.pmd_leaf(pmd.val):
        walk.private["pte"] += 1
    elif arch.pmd_trans_huge(pmd.val):
        # A novma walk has no walk.vma: find the vma to see whether it is
        # anonymous (no vm_ops), where the kernel deposits a table.
        vma = vma_find(walk.mm.obj, addr)
        if vma and not vma.vm_ops:
            walk.private["deposited"] += 1
    # We count tables, not entries: do not descend to the PTEs (as a kernel
    # pmd_entry does by setting walk->action).
    walk.action = ACTION_CONTINUE
    return 0


# pte_entry, pte_hole, hugetlb_entry, test_walk, pre_vma and post_vma are
# the other callbacks; a walk calls only those set.
OPS = MmWalkOps(pgd_entry=pgd_entry, p4d_entry=p4d_entry, pud_entry=pud_entry,
                pmd_entry=pmd_entry)


def pt_pages(task):
    """{level: table pages} of a process's user half, from its page tables."""
    counts = dict.fromkeys(LEVELS, 0)
    mm = task.mm
    # _novma: every table under mm->pgd, whatever the vmas (hugetlb too)
    walk_page_range_novma(mm, 0, mm.task_size.value_(), OPS, private=counts)
    return counts


def vm_pte_kb(counts, page_size):
    """What status's VmPTE shows: PUD + PMD + PTE (and deposited) tables,
    a page each."""
    return (counts["pud"] + counts["pmd"] + counts["pte"] + counts["deposited"]) \
        * page_size // 1024


def main(prog, args):
    print(f"{'PID':>7}  {'COMM':<16}" + "".join(f"{n.upper():>10}" for n in LEVELS)
          + f"{'VmPTE_kB':>10}")
    for task in for_each_task(prog):
        if task.mm and task.pid == task.tgid:
            counts = pt_pages(task)
            comm = task.comm.string_().decode(errors="replace")
            print(f"{task.pid.value_():>7}  {comm:<16}"
                  + "".join(f"{counts[n]:>10}" for n in LEVELS)
                  + f"{vm_pte_kb(counts, prog['PAGE_SIZE'].value_()):>10}")


if __name__ == "__main__":
    from drgn_pagewalk.cli import script_program

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    main(*script_program(parser, globals()))
