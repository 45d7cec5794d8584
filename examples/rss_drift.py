"""Processes whose rss counters disagree with their page tables.

    drgn -c VMCORE -s VMLINUX examples/rss_drift.py
    python examples/rss_drift.py -c VMCORE -s VMLINUX

For every process, the memory lines of /proc/PID/status as the kernel
computes them from the mm's counters (RssAnon, RssFile, RssShmem, VmSwap,
VmPTE), beside the same quantities recomputed by walking its page tables
(drgn_pagewalk.ops.status.status_fields).  On 6.1, counts each thread has
not yet folded into the mm (SPLIT_RSS_COUNTING) are added to the counters
first.  A line per field that still disagrees; a leaked or corrupted
counter shows here.
"""

import argparse

from drgn.helpers.linux.pid import for_each_task

from drgn_pagewalk.ops.status import status_fields

FIELDS = ("RssAnon", "RssFile", "RssShmem", "VmSwap", "VmPTE")


def rss_drift(prog):
    """[(task, field, counters kB (with pending), walk kB)] of every
    field that disagrees."""
    drift = []
    for task in for_each_task(prog):
        if task.mm and task.pid == task.tgid:
            fields = status_fields(task, walk=True)
            for name in FIELDS:
                f = fields[name]
                if not f["agree"]:
                    drift.append((task, name, f["counters"] + (f["pending"] or 0),
                                  f["walk"]))
    return drift


def main(prog, args):
    drift = rss_drift(prog)
    for task, name, counted, walked in drift:
        comm = task.comm.string_().decode(errors="replace")
        print(f"PID {task.pid.value_()} ({comm}) {name}: counters {counted} kB, "
              f"page tables {walked} kB, drift {counted - walked:+} kB")
    if not drift:
        print("every process's counters agree with its page tables")


if __name__ == "__main__":
    from drgn_pagewalk.cli import script_program

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    main(*script_program(parser, globals()))
