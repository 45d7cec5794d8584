"""QEMU x86-64 ELF dumps without VMCOREINFO (the "noinfo" twins of the
6.1-4level and 6.12-5level labs: the same boot's ELF dump with the VMCOREINFO
note cut out, as QEMU writes it for a guest without -device vmcoreinfo or
without qemu_fw_cfg).  drgn refuses them; the tool finds the KASLR offset
from QEMU's CPU state (IDT gate 0 -> asm_exc_divide_error), phys_base from
the page tables, and then prints what the guest's /proc printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from drgn_pagewalk.openers.noinfo import ElfDump, vmcoreinfo_of
from drgn_pagewalk.openers.rawkernel import VmlinuxSymbols
from vmcores.build import manifest
from vmcores.lab import Lab

from .counts import count
from .labcache import get_lab
from .test_proc_lab import PROC_COMMANDS, proc_truth

TOOL = str(Path(sys.executable).with_name("drgn-pagewalk"))
NOINFO = {spec["noinfo"]: name for name, spec in manifest()["labs"].items()
          if spec.get("noinfo")}


def tool(lab: Lab, args: List[str], vmlinux: Any = None) -> subprocess.CompletedProcess:
    return subprocess.run([TOOL, "-c", str(lab.vmcore), "-s", str(vmlinux or lab.vmlinux),
                           *args], capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)


def note_line(lab: Lab, stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("drgn-pagewalk: note: no VMCOREINFO in the dump: "
                               "KASLR offset 0x"), stderr
    return lines[0]


def test_the_twins_are_declared():
    assert sorted(NOINFO.values()) == ["6.1-4level", "6.12-5level"]


@pytest.fixture(scope="module", params=sorted(NOINFO))
def pair(request: Any) -> Dict[str, Lab]:
    """The noinfo lab and the full lab it was made from."""
    twin = get_lab(request.param)
    return {"noinfo": twin, "full": get_lab(NOINFO[request.param])}


def test_the_dump_is_the_full_one_without_vmcoreinfo(pair):
    """Same memory and CPU state, no VMCOREINFO note, PT_NOTE and offsets
    rewritten, stored sparse; drgn 0.3.0 refuses it."""
    import drgn

    twin, full = pair["noinfo"], pair["full"]
    assert twin.meta["dump_format"] == "elf-noinfo"
    assert twin.meta["source_built"] == full.meta["built"]
    a, b = ElfDump(str(full.vmcore)), ElfDump(str(twin.vmcore))
    assert a.has_note("VMCOREINFO") and not b.has_note("VMCOREINFO")
    assert [n for n in a.notes if n[0] != "VMCOREINFO"] == b.notes
    assert [(p, s) for p, s, _ in a.loads] == [(p, s) for p, s, _ in b.loads]
    removed = twin.meta["vmcoreinfo_bytes_removed"]
    assert [o - removed for _, _, o in a.loads] == [o for _, _, o in b.loads]
    assert b.loads[0][2] == 0x210 + 0x330  # headers, then the two CPU notes (1 CPU)
    assert os.path.getsize(twin.vmcore) == os.path.getsize(full.vmcore) - removed
    for paddr, size, _ in b.loads:
        for addr in range(paddr, paddr + size, max(size // 64, 4096) & ~4095):
            assert a.read_phys(addr, 4096) == b.read_phys(addr, 4096), hex(addr)
            count("noinfo dump pages compared with the full dump")
    assert os.stat(twin.vmcore).st_blocks * 512 < os.path.getsize(twin.vmcore) // 4
    with pytest.raises(ValueError, match="unrecognized QEMU memory dump"):
        drgn.Program().set_core_dump(str(twin.vmcore))


def _kallsyms(lab: Lab, name: str) -> int:
    for line in lab.truth_global("kallsyms").splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == name:
            return int(fields[0], 16)
    raise AssertionError(f"{name} not in the guest's /proc/kallsyms")


def test_kaslr_offset_and_phys_base(pair):
    """The offset found equals what the guest's /proc/kallsyms implies, and
    phys_base the kernel's own (the full dump's VMCOREINFO)."""
    twin, full = pair["noinfo"], pair["full"]
    syms = VmlinuxSymbols(str(twin.vmlinux))
    try:
        text_link = syms.lookup(["_text"])["_text"][0]
    finally:
        syms.close()
    offset = _kallsyms(twin, "_text") - text_link
    info = vmcoreinfo_of(ElfDump(str(full.vmcore)))
    assert int(info["KERNELOFFSET"], 16) == offset
    prog = twin.program()
    found = prog.cache["drgn_pagewalk_noinfo"]
    assert found.kaslr_offset == offset
    assert found.phys_base == int(info["NUMBER(phys_base)"])
    assert found.method == "the IDT (QEMU CPU state)"
    assert found.levels == twin.levels
    assert found.release == twin.kernel_release == info["OSRELEASE"]
    derived = dict(line.split("=", 1) for line in found.vmcoreinfo.decode().splitlines())
    assert {k: info.get(k) for k in derived} == derived  # the kernel's own values
    count("derived VMCOREINFO lines equal to the kernel's", len(derived))
    for line in twin.truth_global("kallsyms").splitlines():  # _text, init_top_pgt ...
        addr, _kind, name = line.split()[:3]
        assert prog.symbol(name).address == int(addr, 16), name
    assert prog["init_uts_ns"].name.release.string_().decode() == twin.kernel_release
    p = tool(twin, ["ps"])
    assert p.returncode == 0, p.stderr
    line = note_line(twin, p.stderr)
    assert line == (f"drgn-pagewalk: note: no VMCOREINFO in the dump: KASLR offset "
                    f"{offset:#x} found from the IDT (QEMU CPU state); phys_base "
                    f"{found.phys_base:#x}; Linux {twin.kernel_release}, "
                    f"{twin.levels}-level paging; the kernel's own VMCOREINFO read "
                    "from its vmcoreinfo_data")
    # what the kernel wrote at boot is what QEMU put in the full dump's note
    full_note = full.program()["VMCOREINFO"].string_()
    assert prog["VMCOREINFO"].string_() == full_note
    count("noinfo dumps: VMCOREINFO lines equal to the full dump's note",
          len(full_note.splitlines()))
    count("noinfo dumps: KASLR offset and phys_base equal the kernel's")


def test_proc_reports_equal_the_guests_proc(pair):
    """--format proc smaps, smaps-rollup, numa-maps, status and pagemap of
    every process, byte for byte against the guest's /proc."""
    lab = pair["noinfo"]
    for role, pid in lab.pids.items():
        for command, name in PROC_COMMANDS:
            p = tool(lab, ["--format", "proc", command, str(pid)])
            assert p.returncode == 0, p.stderr
            note_line(lab, p.stderr)
            expected = proc_truth(lab, pid, name)
            assert p.stdout == expected, f"{lab.name} {role} {command} differs"
            count("noinfo dump lines identical to the guest's /proc",
                  len(expected.splitlines()))


def test_another_kernels_vmlinux(pair):
    """A noinfo dump given another kernel's vmlinux: one line, exit 1."""
    twin = pair["noinfo"]
    other = next(get_lab(n) for n in NOINFO if n != twin.name)
    p = tool(twin, ["ps"], vmlinux=other.vmlinux)
    assert p.returncode == 1
    assert "Traceback" not in p.stderr
    assert p.stderr.splitlines() == [
        f"drgn-pagewalk: error: vmlinux is for {other.kernel_release} but the dump "
        f"is of {twin.kernel_release}"], p.stderr
    assert p.stdout == ""


def test_no_vmcoreinfo_no_qemu_note(tmp_path):
    """An ELF dump with neither VMCOREINFO nor QEMU's CPU state: one line."""
    twin = get_lab(sorted(NOINFO)[0])
    note_off = 0x210
    with open(twin.vmcore, "rb") as f:
        head = bytearray(f.read(note_off + 0x330))
    # Rename the QEMU note ("QEMU" -> "XEMU"): drgn and the tool see no CPU state.
    at = head.index(b"QEMU\0", note_off)
    head[at] = ord("X")
    bad = tmp_path / "vmcore"
    with open(bad, "wb") as f:
        f.write(head)
        f.truncate(os.path.getsize(twin.vmcore))
    p = subprocess.run([TOOL, "-c", str(bad), "-s", str(twin.vmlinux), "ps"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 1
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert lines[0] == (f"drgn-pagewalk: error: cannot open vmcore {bad}: not a Linux "
                        "kernel's dump (no VMCOREINFO and no QEMU CPU state; a "
                        "process's core?)"), p.stderr


def test_without_the_idt_the_image_mapping_gives_the_offset(tmp_path):
    """IDT base zeroed in the QEMU note: the kernel image mapping at
    __START_KERNEL_map gives the same offset (the fallback, as for gdb)."""
    twin = get_lab(sorted(NOINFO)[0])
    full = get_lab(NOINFO[twin.name])
    copy = tmp_path / "vmcore"
    subprocess.run(["cp", "--sparse=always", str(twin.vmcore), str(copy)], check=True)
    with open(copy, "r+b") as f:
        head = f.read(0x540)
        at = head.index(b"QEMU\0", 0x210) + 8  # the note's descriptor
        f.seek(at + 8 + 18 * 8 + 9 * 24 + 16)  # the IDT's base
        f.write(bytes(8))
    p = subprocess.run([TOOL, "-c", str(copy), "-s", str(twin.vmlinux), "--format", "proc",
                        "smaps-rollup", str(twin.pids["workload"])],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    info = vmcoreinfo_of(ElfDump(str(full.vmcore)))
    assert p.stderr.splitlines() == [
        f"drgn-pagewalk: note: no VMCOREINFO in the dump: KASLR offset "
        f"{int(info['KERNELOFFSET'], 16):#x} found from the kernel image mapping at "
        f"0xffffffff80000000; phys_base {int(info['NUMBER(phys_base)']):#x}; Linux "
        f"{twin.kernel_release}, {twin.levels}-level paging; the kernel's own "
        "VMCOREINFO read from its vmcoreinfo_data"]
    assert p.stdout == twin.truth_text(twin.pids["workload"], "smaps_rollup")
