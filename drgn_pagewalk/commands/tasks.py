"""Finding the tasks a command looks at, in a dump that may lack parts of
them: by PID or task_struct address, or every process with an mm (the PID
table, then the process list past its holes)."""

from __future__ import annotations

import argparse
import struct
from typing import Any, Callable, Iterable, Iterator, List, Tuple

from ..errors import MissingError, PagewalkError, UsageError
from ..target.missing import note_missing, reading
from .args import parse_task_spec


def find_task_obj(prog: Any, spec: str) -> Any:
    """The task a PID or ``task_struct`` address names; it must have an mm."""
    from drgn import FaultError, Object
    from drgn.helpers.linux.pid import find_task

    value = parse_task_spec(spec)
    if value < 0:
        raise UsageError(f"not a PID or task address: {spec!r}")
    if value >= 1 << 32:
        task = Object(prog, "struct task_struct *", value)
        try:
            pid = task.pid.value_()
            mm = task.mm.value_()
        except FaultError:
            raise PagewalkError(f"no task_struct at {value:#x}") from None
        desc = f"task {value:#x} (PID {pid})"
    else:
        try:
            task = find_task(prog, value)
            if not task:
                raise PagewalkError(f"no process with PID {value}")
            mm = task.mm.value_()
        except FaultError as e:
            # DUMP: the PID table or the task is not in the dump; the
            # process list may still reach the task
            for task in _task_list(prog):
                if task.pid.value_() == value:
                    mm = task.mm.value_()
                    break
            else:
                note_missing(prog, f"PID {value}", "everything asked", e)
                raise MissingError(f"PID {value} cannot be read from this dump "
                                   "(see the missing line)") from None
        desc = f"PID {value}"
    if not mm:
        raise PagewalkError(f"{desc} is a kernel thread: it has no mm")
    return task


def tasks_with_mm(prog: Any) -> List[Any]:
    """Every thread-group leader with an mm, by PID (for_each_task()).
    DUMP: a PID whose struct pid or task_struct the dump lacks is noted as
    missing and passed over; a PID table node it lacks ends the list."""
    from drgn.helpers.linux.pid import for_each_pid, pid_task

    from drgn import FaultError, Object

    pidtype = prog["PIDTYPE_PID"]
    found = {}
    idr = prog["init_pid_ns"].idr
    base = idr.idr_base.value_() if hasattr(idr, "idr_base") else 0

    def lost(e: Any, index: int) -> None:
        note_missing(prog, None, f"the PIDs under one PID table node (from {index + base})",
                     e)

    with reading(prog, None, "the rest of the PID table (the processes the task "
                 "list reaches are listed)"):
        if hasattr(idr.idr_rt, "xa_head"):
            pids: Iterable[Any] = (Object(prog, "struct pid *", entry) for _, entry in
                                   xa_entries(prog, idr.idr_rt.xa_head.value_(), lost))
        else:  # before 4.20
            pids = for_each_pid(prog)
        for pid in pids:
            try:
                nr = pid.numbers[0].nr.value_()
            except FaultError as e:
                note_missing(prog, None, "a task (process or kernel thread)", e)
                continue
            with reading(prog, f"PID {nr}", "its task (process or kernel thread)"):
                t = pid_task(pid, pidtype)
                if t and t.mm.value_() and t.pid.value_() == t.tgid.value_():
                    found[t.value_()] = t
    if target_missing(prog):
        # DUMP: the PID table has holes; the process list (init_task.tasks,
        # both ways from init_task) may reach processes behind them
        for t in _task_list(prog):
            if t.value_() not in found and t.mm.value_():
                found[t.value_()] = t
    return sorted(found.values(), key=lambda t: t.pid.value_())


def xa_entries(prog: Any, head: int, lost: Callable[[Any, int], None]
               ) -> Iterator[Tuple[int, int]]:
    """(index, entry) of every entry of an XArray (4.20 and later) whose
    xa_head is ``head``, as xa_for_each() finds them.  DUMP: a node the dump
    lacks is passed to ``lost(error, first index)`` and its subtree skipped;
    the walk goes on with the other nodes."""
    from drgn import FaultError, offsetof

    node_type = prog.type("struct xa_node")
    size = node_type.size
    shift_off = offsetof(node_type, "shift")
    slots_off = offsetof(node_type, "slots")
    nr_slots = node_type.member("slots").type.length
    stack = [(head, 0)]
    while stack:
        entry, index = stack.pop()
        if entry & 3 != 2:  # not internal: a pointer
            yield index, entry
            continue
        if entry <= 4096:  # sibling, retry or zero entry
            continue
        try:
            data = prog.read(entry - 2, size)
        except FaultError as e:
            lost(e, index)
            continue
        shift = data[shift_off]
        slots = struct.unpack_from(f"<{nr_slots}Q", data, slots_off)
        stack.extend((slot, index + (i << shift))
                     for i, slot in reversed(list(enumerate(slots))) if slot)


def target_missing(prog: Any) -> bool:
    """Has the current command left anything out so far?"""
    from ..target.drgn_target import get_target

    return bool(get_target(prog).missing)


def _task_list(prog: Any) -> Iterator[Any]:
    """The thread-group leaders on init_task.tasks, followed forwards and
    then backwards from init_task, each way until a task cannot be read
    (for_each_process() of a dump that lacks some task_structs)."""
    from drgn import FaultError, container_of

    head = prog["init_task"].tasks.address_of_()
    seen = {head.value_()}
    for way in ("next", "prev"):
        node = getattr(head, way)
        try:
            while node.value_() not in seen:
                seen.add(node.value_())
                task = container_of(node, "struct task_struct", "tasks")
                task.mm.read_()
                yield task
                node = getattr(node, way).read_()
        except FaultError:
            continue


def selected_tasks(prog: Any, args: argparse.Namespace) -> List[Any]:
    if getattr(args, "all", False):
        if args.task is not None:
            raise UsageError("give a PID or --all, not both")
        return tasks_with_mm(prog)
    if args.task is None:
        raise UsageError("a PID (or task_struct address) or --all is needed")
    return [find_task_obj(prog, args.task)]


def _task_desc(task: Any) -> str:
    return f"PID {task.pid.value_()} ({task.comm.string_().decode(errors='replace')})"
