"""/proc/PID/maps: show_map_vma() of fs/proc/task_mmu.c (6.1 and 6.12).

The line layout is show_vma_header_prefix(): the name starts after padding
to column 72 (seq_setwidth(m, 25 + sizeof(void *) * 6 - 1) and seq_pad()).
"""

from __future__ import annotations

from typing import Any, List, Optional

from drgn import FaultError, Object
from drgn.helpers.linux.fs import d_path, dentry_path

from ..target.base import VM_EXEC, VM_MAYSHARE, VM_READ, VM_WRITE
from ..target.drgn_target import get_target

PAD = 25 + 8 * 6 - 1


def vma_perms(vm_flags: int) -> str:
    """The rwxp/s column of /proc/PID/maps (show_vma_header_prefix())."""
    return "".join((
        "r" if vm_flags & VM_READ else "-",
        "w" if vm_flags & VM_WRITE else "-",
        "x" if vm_flags & VM_EXEC else "-",
        "s" if vm_flags & VM_MAYSHARE else "p",
    ))


def show_vma_header_prefix(start: int, end: int, flags: int, pgoff: int,
                           dev: int, ino: int) -> str:
    """show_vma_header_prefix(): the fixed columns of a maps/smaps line."""
    return "%08x-%08x %s %08x %02x:%02x %d " % (
        start, end, vma_perms(flags), pgoff, dev >> 20, dev & 0xFFFFF, ino)


def seq_pad(line: str) -> str:
    """seq_pad(m, ' '): pad to the width, then one space."""
    return line.ljust(PAD) + " "


def _mangle(path: str) -> str:
    """seq_file_path(m, file, "\\n"): newlines are printed as \\012."""
    return path.replace("\n", "\\012")


def _d_unlinked(dentry: Object) -> bool:
    """d_unlinked(): unhashed and not a root."""
    unhashed = not dentry.d_hash.pprev.value_()
    is_root = dentry.value_() == dentry.d_parent.value_()
    return unhashed and not is_root


def _d_dname(dentry: Object) -> Optional[str]:
    """dentry->d_op->d_dname(), for the pseudo files a process can map.

    Anonymous hugetlb and shared anonymous memory are files made by
    alloc_file_pseudo(), whose dentries use simple_dname():
    "/" + name + " (deleted)".
    """
    d_op = dentry.d_op
    if not d_op.value_() or not d_op.d_dname.value_():
        return None
    prog = dentry.prog_
    try:
        func = prog.symbol(d_op.d_dname.value_()).name
    except LookupError:
        return None
    name = dentry.d_name.name.string_().decode(errors="replace")
    if func == "simple_dname":
        return f"/{name} (deleted)"
    if func == "anon_inodefs_dname":
        return f"anon_inode:{name}"
    return None


def file_path(file: Object) -> str:
    """d_path() of a mapped file as seq_file_path() prints it.

    d_path() asks d_op->d_dname() first (pseudo files); otherwise drgn's
    d_path() gives the path, and an unlinked file gets " (deleted)" as the
    kernel's prepend_path() adds.
    """
    dentry = file.f_path.dentry
    path = _d_dname(dentry)
    if path is None:
        path = d_path(file.f_path).decode(errors="replace")
        if path.startswith("["):  # drgn names internal mounts by fs type
            path = dentry_path(dentry).decode(errors="replace")
        if _d_unlinked(dentry):
            path += " (deleted)"
    return _mangle(path)


def _vm_ops_name(vma: Object) -> Optional[str]:
    """vma->vm_ops->name(vma) for the ones a process can have on x86-64:
    special mappings ([vdso], [vvar], ...) and the vsyscall gate."""
    ops = vma.vm_ops
    if not ops.value_() or not ops.name.value_():
        return None
    prog = vma.prog_
    try:
        func = prog.symbol(ops.name.value_()).name
    except LookupError:
        return None
    if func == "special_mapping_name":
        sm = Object(prog, "struct vm_special_mapping *", vma.vm_private_data.value_())
        return sm.name.string_().decode()
    if func == "gate_vma_name":
        return "[vsyscall]"
    return None


def _has_anon_vma_name(prog: Any) -> bool:
    """CONFIG_ANON_VMA_NAME: without it anon_vma_name() is NULL (and in 6.1
    vma->anon_name shares a union with vma->shared, so it must not be read)."""
    try:
        prog.symbol("anon_vma_name_alloc")
        return True
    except LookupError:
        return False


def _anon_name(vma: Object) -> Optional[str]:
    """anon_vma_name(): the prctl(PR_SET_VMA_ANON_NAME) name, if any."""
    if not _has_anon_vma_name(vma.prog_):
        return None
    if vma.vm_file.value_() and not hasattr(vma, "anon_name"):
        return None
    try:
        anon = vma.anon_name
    except AttributeError:
        return None
    if not anon.value_():
        return None
    return anon.name.string_().decode(errors="replace")


def vma_name(task: Any, vma: Object) -> str:
    """The name column: get_vma_name() (6.12) / show_map_vma() (6.1)."""
    mm = vma.vm_mm
    anon_name = _anon_name(vma) if mm.value_() else None
    if vma.vm_file.value_():
        if anon_name:  # 6.12: named anonymous shared memory
            return f"[anon_shmem:{anon_name}]"
        return file_path(vma.vm_file)
    name = _vm_ops_name(vma)
    if name:
        return name
    # arch_vma_name() is NULL on x86-64
    if not mm.value_():
        return "[vdso]"
    start, end = vma.vm_start.value_(), vma.vm_end.value_()
    if start <= mm.brk.value_() and end >= mm.start_brk.value_():
        return "[heap]"
    start_stack = mm.start_stack.value_()
    if start <= start_stack <= end:
        return "[stack]"
    if anon_name:
        return f"[anon:{anon_name}]"
    return ""


def show_map_vma(task: Any, vma: Object) -> str:
    """show_map_vma(): one line of /proc/PID/maps, with its newline."""
    file = vma.vm_file
    dev = ino = pgoff = 0
    if file.value_():
        inode = file.f_inode
        dev = inode.i_sb.s_dev.value_()
        ino = inode.i_ino.value_()
        pgoff = vma.vm_pgoff.value_() << get_target(task.prog_).arch.page_shift
    line = show_vma_header_prefix(vma.vm_start.value_(), vma.vm_end.value_(),
                                  vma.vm_flags.value_(), pgoff, dev, ino)
    name = vma_name(task, vma)
    if name:
        line = seq_pad(line) + name
    return line + "\n"


MM_CONTEXT_HAS_VSYSCALL = 1 << 1
VSYSCALL_NONE = 2  # enum { EMULATE, XONLY, NONE } vsyscall_mode


def get_gate_vma(mm: Object) -> Optional[Object]:
    """get_gate_vma() (arch/x86/entry/vsyscall/vsyscall_64.c): the
    [vsyscall] page that /proc/PID/maps lists after the last vma."""
    prog = mm.prog_
    try:
        gate = prog["gate_vma"]
        mode = prog["vsyscall_mode"].value_()
    except LookupError:
        return None
    if mm.context.type_.has_member("flags"):
        # 5.18 on: MM_CONTEXT_HAS_VSYSCALL, cleared for 32-bit and x32 tasks
        if not mm.context.flags.value_() & MM_CONTEXT_HAS_VSYSCALL:
            return None
    elif mm.context.ia32_compat.value_():  # 5.10 (CONFIG_COMPAT)
        return None
    if mode == VSYSCALL_NONE:
        return None
    try:
        gate.vm_start.value_()
    except FaultError:
        return None
    return gate.address_of_()


def task_vmas(task: Any) -> List[Object]:
    """The vmas /proc/PID/maps lists: every vma, then the gate vma (the
    target's vmas: those a dump lacks are left out and named)."""
    from ..target.drgn_target import get_target

    target = get_target(task.prog_)
    vmas = [v.obj for v in target.vmas(target.mm(task.mm))]
    gate = get_gate_vma(task.mm)
    if gate is not None:
        vmas.append(gate)
    return vmas


def show_maps(task: Any) -> str:
    """/proc/PID/maps."""
    return "".join(show_map_vma(task, vma) for vma in task_vmas(task))
