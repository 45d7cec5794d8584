"""Walker throughput on a lab dump, against drgn's follow_phys per page.

    .venv/bin/python -m bench.bench_walk [--lab 6.1-4level] [--repeat 3]

Walks every vma of the lab's largest process with a trivial pte_entry (and a
hugetlb_entry), counts the PTEs per second, then resolves the same present
pages with drgn's follow_phys() one by one, and prints the ratio.  Also times
smaps (the kernel's smaps_pte_range over the walker) against follow_phys plus
a struct page read per page.  This is a benchmark, never a test: numbers
depend on the machine.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable, List, Tuple

from drgn import FaultError
from drgn.helpers.linux.mm import follow_phys, phys_to_page
from drgn.helpers.linux.pid import find_task

from drgn_pagewalk import MmWalkOps, walk_page_range
from drgn_pagewalk.target.drgn_target import get_target
from vmcores.lab import ensure_lab


def best_of(repeat: int, func: Callable[[], Any]) -> Tuple[float, Any]:
    """The fastest of ``repeat`` runs: (seconds, what func returned)."""
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="6.1-4level")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--follow-limit", type=int, default=20000,
                        help="pages resolved with follow_phys (a sample: it is slow)")
    args = parser.parse_args()

    lab = ensure_lab(args.lab)
    prog = lab.program()
    target = get_target(prog)
    arch = target.arch
    rss = {}
    for role, pid in lab.pids.items():
        task = find_task(prog, pid)
        from drgn.helpers.linux.mm import task_rss

        rss[pid] = task_rss(prog, task).total
    pid = max(rss, key=rss.get)
    mm = find_task(prog, pid).mm
    print(f"lab {lab.name} ({target.release}, {arch.levels}-level), PID {pid}, "
          f"RSS {rss[pid] * 4 // 1024} MiB")

    present: List[int] = []

    def trivial_walk() -> int:
        n = [0]

        def pte_entry(pte, addr, next, walk):
            n[0] += 1
            return 0

        # a fresh target (no cached vmas) each run: nothing carried over
        prog.cache.pop("drgn_pagewalk_target", None)
        walk_page_range(mm, 0, arch.task_size, MmWalkOps(pte_entry=pte_entry))
        return n[0]

    def collect(pte, addr, next, walk):
        if arch.pte_present(pte.val):
            present.append(addr)
        return 0

    walk_page_range(mm, 0, arch.task_size, MmWalkOps(pte_entry=collect))
    secs, ptes = best_of(args.repeat, trivial_walk)
    walk_rate = ptes / secs
    print(f"walk_page_range, trivial pte_entry: {ptes} pte_entry calls in {secs:.3f} s "
          f"= {walk_rate / 1e6:.2f} M PTEs/s")

    # every present page, spread over the whole process, up to the limit
    stride = max(1, len(present) // args.follow_limit)
    sample = present[::stride][: args.follow_limit]

    def follow() -> int:
        n = 0
        for addr in sample:
            try:
                follow_phys(mm, addr)
            except FaultError:
                pass
            n += 1
        return n

    fsecs, fn = best_of(1, follow)
    follow_rate = fn / fsecs
    print(f"follow_phys per page: {fn} pages in {fsecs:.3f} s "
          f"= {follow_rate / 1e3:.1f} k pages/s")
    print(f"ratio walk/follow_phys: {walk_rate / follow_rate:.1f}x")

    try:
        from drgn_pagewalk.ops import smaps
    except ImportError:
        return
    task = find_task(prog, pid)

    def run_smaps() -> int:
        prog.cache.pop("drgn_pagewalk_target", None)
        return len(smaps.show_smaps(task))

    ssecs, _ = best_of(args.repeat, run_smaps)
    print(f"smaps of PID {pid}: {ssecs:.3f} s")

    def follow_and_page() -> int:
        n = 0
        for addr in sample:
            try:
                phys = follow_phys(mm, addr)
                page = phys_to_page(prog, phys)
                page.flags.value_()
                page._mapcount.counter.value_()
            except FaultError:
                pass
            n += 1
        return n

    psecs, pn = best_of(1, follow_and_page)
    per_page = psecs / max(pn, 1)
    est = per_page * len(present)
    print(f"follow_phys + struct page per page: {pn} pages in {psecs:.3f} s; "
          f"for all {len(present)} present pages about {est:.1f} s "
          f"= {est / ssecs:.1f}x the smaps time")


if __name__ == "__main__":
    main()
