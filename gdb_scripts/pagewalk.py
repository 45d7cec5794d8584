# SPDX-License-Identifier: GPL-2.0
"""lx-pagewalk: drgn-pagewalk's commands in gdb, on a live QEMU guest.

    gdb VMLINUX -ex 'target remote 127.0.0.1:PORT' -ex 'source gdb_scripts/pagewalk.py'
    (gdb) lx-pagewalk --format proc smaps 92

gdb talks to QEMU's gdbstub (``-s`` / ``-gdb tcp::PORT``).  The kernel is
found from the guest itself: CR3 and CR4 of the stopped vCPU lead through the
page tables to the kernel image, which gives the KASLR offset; the vmlinux
must be the guest's kernel (linux_banner is compared byte for byte).  Guest
memory is read physically (QEMU's ``qqemu.PhyMemMode`` packet), page by
page, cached for one command.  The drgn Program is built once per stop and
rebuilt after the guest has run.

drgn must be importable by gdb's Python: put the site-packages of a venv with
drgn on PYTHONPATH (the repository's own .venv is used if it matches gdb's
Python version).
"""

import contextlib
import io
import os
import re
import sys
import time

import gdb

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

NAME = "lx-pagewalk"
_PAGE = 4096
_MAX_READ = 1 << 20  # bytes per gdbstub read
_MEM_SIZE = 1 << 52  # the physical address space (MAX_PHYSMEM_BITS, 5-level)


def _import_drgn():
    """Import drgn; None, or why it cannot be imported.  The repository's
    .venv is tried too, if it is for gdb's Python version.

    gdb itself links the system's libdw and libelf: drgn's own copies (in
    drgn.libs) must bind to each other, not to gdb's, or libdw crashes
    loading the vmlinux.  Hence RTLD_DEEPBIND while _drgn is loaded."""
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | getattr(os, "RTLD_DEEPBIND", 0))
    try:
        try:
            import drgn  # noqa: F401
            return None
        except ImportError as e:
            first = e
        venv = os.path.join(_ROOT, ".venv", "lib",
                            "python%d.%d" % sys.version_info[:2], "site-packages")
        if os.path.isdir(os.path.join(venv, "drgn")):
            sys.path.append(venv)
            try:
                import drgn  # noqa: F401,F811
                return None
            except ImportError as e:
                first = e
    finally:
        sys.setdlopenflags(flags)
    if not os.path.isdir(venv):
        venv = "VENV/lib/python%d.%d/site-packages" % sys.version_info[:2]
    return ("cannot import drgn (%s): put the site-packages of a venv with drgn "
            "for gdb's Python %d.%d on PYTHONPATH: PYTHONPATH=%s gdb ..."
            % (first, sys.version_info[0], sys.version_info[1], venv))


_DRGN_ERROR = _import_drgn()


class _Error(Exception):
    """One line for gdb.GdbError."""


# -- guest physical memory through the gdbstub ----------------------------------

def _packet(text):
    """Send a remote packet; the reply's payload ('' if unsupported)."""
    out = gdb.execute("maint packet " + text, to_string=True)
    m = re.search(r'received: "(.*)"', out)
    return m.group(1) if m else ""


class GdbPhysMemory:
    """Guest physical memory, read with QEMU's PhyMemMode:1 and restoring the
    previous mode after each read; pages are cached until clear()."""

    def __init__(self):
        self.pages = {}
        self.ram = None  # [(start, end)] once known: reads elsewhere fault
        self.reads = 0
        self.bytes = 0

    def clear(self):
        self.pages = {}

    def read(self, address, size):
        if size <= 0:
            return b""
        first = address >> 12
        offset = address & (_PAGE - 1)
        if offset + size <= _PAGE:
            page = self.pages.get(first)
            if page is None:
                self._fetch(first, first + 1)
                page = self.pages[first]
            return page[offset:offset + size]
        last = (address + size - 1) >> 12
        pages = self.pages
        missing = [p for p in range(first, last + 1) if p not in pages]
        if missing:
            run_start = prev = missing[0]
            for p in missing[1:] + [None]:
                if p != prev + 1:
                    self._fetch(run_start, prev + 1)
                    run_start = p
                prev = p
        data = b"".join(pages[p] for p in range(first, last + 1))
        return data[offset:offset + size]

    def _fetch(self, first, end):
        """Read pages [first, end) into the cache."""
        import drgn

        start, stop = first * _PAGE, end * _PAGE
        if self.ram is not None and not any(s <= start and stop <= e for s, e in self.ram):
            raise drgn.FaultError("not RAM in the guest (/proc/iomem)", start)
        inferior = gdb.selected_inferior()
        with _physical_mode():
            for addr in range(start, stop, _MAX_READ):
                n = min(_MAX_READ, stop - addr)
                try:
                    data = bytes(inferior.read_memory(addr, n))
                except gdb.MemoryError as e:
                    raise drgn.FaultError("gdbstub: %s" % e, addr) from None
                except gdb.error as e:
                    raise _Error("reading guest physical memory at %#x: %s" % (addr, e)) \
                        from None
                self.reads += 1
                self.bytes += n
                for i in range(0, n, _PAGE):
                    self.pages[(addr + i) >> 12] = data[i:i + _PAGE]


_mode = {"previous": None}


@contextlib.contextmanager
def _physical_mode():
    previous = _mode["previous"]
    if previous == "1":
        yield
        return
    if _packet("Qqemu.PhyMemMode:1") != "OK":
        raise _Error("the gdbstub refused physical memory mode (Qqemu.PhyMemMode:1)")
    try:
        yield
    finally:
        _packet("Qqemu.PhyMemMode:" + (previous or "0"))


# -- the Program, once per stop ------------------------------------------------

class _State:
    prog = None
    key = None
    memory = None
    description = None
    stale = True


def _on_cont(event):
    _State.stale = True


def _on_exit(event):
    _State.prog = None
    _State.stale = True


def _connect_events():
    # Sourcing the script again must not add the handlers twice.
    old = getattr(gdb, "_lx_pagewalk_handlers", None)
    if old:
        for registry, handler in old:
            try:
                registry.disconnect(handler)
            except (ValueError, RuntimeError):
                pass
    handlers = [(gdb.events.cont, _on_cont), (gdb.events.exited, _on_exit),
                (gdb.events.memory_changed, _on_cont)]
    for registry, handler in handlers:
        registry.connect(handler)
    gdb._lx_pagewalk_handlers = handlers


def _check_target():
    inferior = gdb.selected_inferior()
    conn = getattr(inferior, "connection", None)
    if conn is None:
        raise _Error("not connected to a guest: 'target remote HOST:PORT' to QEMU's "
                     "gdbstub (QEMU -s or -gdb tcp::PORT) first")
    if conn.type not in ("remote", "extended-remote"):
        raise _Error("the target is %s, not QEMU's gdbstub: 'target remote HOST:PORT' "
                     "first" % conn.type)
    thread = gdb.selected_thread()
    if thread is None:
        raise _Error("no vCPU selected: is the guest connected and stopped?")
    if thread.is_running():
        raise _Error("the guest is running: stop it (Ctrl-C or 'interrupt') first")
    mode = _packet("qqemu.PhyMemMode")
    if mode not in ("0", "1"):
        raise _Error("the gdbstub has no physical memory mode (qqemu.PhyMemMode): "
                     "lx-pagewalk needs QEMU's gdbstub")
    return mode


def _guest_arch():
    """"arm64" or "x86_64": the architecture of the selected vCPU."""
    try:
        name = gdb.selected_frame().architecture().name()
    except gdb.error:
        name = gdb.selected_inferior().architecture().name()
    return "arm64" if name.startswith("aarch64") else "x86_64"


def _register(name, arch="x86_64"):
    try:
        return int(gdb.parse_and_eval("$" + name)) & 0xFFFFFFFFFFFFFFFF
    except (gdb.error, ValueError, TypeError):
        if arch == "arm64":
            raise _Error("no $%s register: QEMU's aarch64 gdbstub shows the system "
                         "registers (TTBR1_EL1, TCR_EL1, VBAR) from QEMU 7 on" % name) \
                from None
        raise _Error("no $%s register: is the guest an x86-64 QEMU vCPU?" % name) from None


def _vmlinux(explicit):
    if explicit:
        path = os.path.abspath(os.path.expanduser(explicit))
        if not os.path.isfile(path):
            raise _Error("vmlinux not found: %s" % explicit)
        return path
    path = gdb.current_progspace().filename
    if not path:
        raise _Error("no vmlinux: start gdb with it (gdb VMLINUX) or give "
                     "lx-pagewalk --vmlinux PATH ...")
    return path


def _program(vmlinux):
    """The drgn Program of the stopped guest (cached until it runs again)."""
    from drgn_pagewalk.openers.rawkernel import program_from_memory, system_ram
    from drgn_pagewalk.openers.rawkernel_arm64 import program_from_memory_arm64

    key = (vmlinux, gdb.selected_inferior().num)
    if _State.prog is not None and not _State.stale and _State.key == key:
        return _State.prog
    _State.prog = None
    memory = GdbPhysMemory()
    # Not "live" for drgn-pagewalk: the guest stays stopped while gdb holds
    # it, and the Program is dropped as soon as it runs again.
    if _guest_arch() == "arm64":
        # QEMU's names: VBAR and SCTLR are VBAR_EL1 and SCTLR_EL1
        ttbr1, tcr, vbar = (_register(n, "arm64") for n in ("TTBR1_EL1", "TCR_EL1", "VBAR"))
        try:
            sctlr = _register("SCTLR", "arm64")
        except _Error:
            sctlr = None
        prog = program_from_memory_arm64(memory.read, _MEM_SIZE, ttbr1, tcr, vbar, vmlinux,
                                         is_live=False, sctlr=sctlr)
    else:
        cr3, cr4 = _register("cr3"), _register("cr4")
        try:
            cr0 = _register("cr0")
        except _Error:
            cr0 = None
        prog = program_from_memory(memory.read, _MEM_SIZE, cr3, cr4, vmlinux,
                                   is_live=False, cr0=cr0)
    memory.ram = system_ram(prog) or None
    _State.prog, _State.key, _State.memory, _State.stale = prog, key, memory, False
    return prog


class _GdbOut:
    def write(self, text):
        gdb.write(text)

    def flush(self):
        gdb.flush()


def _split_front_options(argv):
    """lx-pagewalk's own options, before the drgn-pagewalk command."""
    vmlinux, stats, rest = None, False, list(argv)
    while rest:
        if rest[0] == "--vmlinux" and len(rest) > 1:
            vmlinux = rest[1]
            rest = rest[2:]
        elif rest[0].startswith("--vmlinux="):
            vmlinux = rest[0].split("=", 1)[1]
            rest = rest[1:]
        elif rest[0] == "--vmlinux":
            raise _Error("--vmlinux needs a PATH")
        elif rest[0] == "--stats":
            stats = True
            rest = rest[1:]
        else:
            break
    return vmlinux, stats, rest


def _check_usage(argv):
    """A usage error is found before the guest is looked at."""
    from drgn_pagewalk.commands.args import add_usage, parse_args
    from drgn_pagewalk.commands.registry import build_parser
    from drgn_pagewalk.errors import PagewalkError, error_line

    parser = build_parser(NAME)
    try:
        parse_args(parser, argv)
    except PagewalkError as e:
        raise gdb.GdbError(error_line(NAME, add_usage(parser, None, e))) from None


class LxPagewalk(gdb.Command):
    """The kernel's page-table walker (mm/pagewalk.c) on the stopped guest:
/proc/PID/smaps, smaps_rollup, pagemap, numa_maps and status, as the guest's
kernel would print them, and the page-level commands (drgn-pagewalk's
commands, run through drgn).

Usage: lx-pagewalk [--vmlinux PATH] [--stats] [--format table|json|proc] COMMAND [ARGS]

COMMAND is one of: ps, vmas PID, smaps PID [ADDR], smaps-rollup PID,
pagemap PID [START [END]], numa-maps PID, status PID (PID may be a
task_struct address 0x...; --all instead of PID: every process), and the
page-level commands: vtop ADDR [PID | --kernel], vm PID [-p] [--fold],
rmap FILE | --pfn PFN, walk PID (trace of the walker's callbacks) and
ptdump [--pid PID] [--checkwx] (page tables as the kernel's ptdump shows them).
"lx-pagewalk --help" and "lx-pagewalk COMMAND --help" give the details.

--vmlinux: the guest kernel's vmlinux, if gdb was not started with it.
--stats: print the time taken and the guest memory read.

Needs gdb connected to QEMU's gdbstub (target remote) with the guest stopped.
The KASLR offset is found from the guest's page tables (CR3) and the vmlinux
is checked against the guest's linux_banner."""

    def __init__(self):
        super(LxPagewalk, self).__init__(NAME, gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        self.dont_repeat()
        if _DRGN_ERROR:
            raise gdb.GdbError("%s: error: %s" % (NAME, _DRGN_ERROR))
        argv = gdb.string_to_argv(arg)
        try:
            self._invoke(argv)
        except gdb.GdbError:
            raise
        except KeyboardInterrupt:
            raise gdb.GdbError("%s: error: interrupted" % NAME) from None
        except _Error as e:
            raise gdb.GdbError("%s: error: %s" % (NAME, e)) from None
        except Exception as e:
            if os.environ.get("DRGN_PAGEWALK_DEBUG"):
                raise
            from drgn_pagewalk.errors import PagewalkError, error_line, one_line

            if isinstance(e, PagewalkError):
                raise gdb.GdbError(error_line(NAME, e)) from None
            raise gdb.GdbError("%s: error: %s: %s (DRGN_PAGEWALK_DEBUG=1 shows the "
                               "traceback)" % (NAME, type(e).__name__, one_line(e))) from None

    def _invoke(self, argv):
        vmlinux, stats, argv = _split_front_options(argv)
        if not argv or "-h" in argv or "--help" in argv:
            # Help needs no guest.
            self._run(None, argv or ["--help"])
            return
        _check_usage(argv)
        vmlinux = _vmlinux(vmlinux)
        mode = _check_target()
        _mode["previous"] = mode
        t0 = time.time()
        try:
            before = _State.prog
            prog = _program(vmlinux)
            built = prog is not before
            t1 = time.time()
            memory = _State.memory
            memory.clear()
            reads0, bytes0 = memory.reads, memory.bytes
            try:
                self._run(prog, argv)
            finally:
                memory.clear()
        finally:
            _mode["previous"] = None
        if stats:
            if built:
                gdb.write("%s: %s; Program built in %.2f s\n"
                          % (NAME, prog.cache.get("drgn_pagewalk_rawkernel"), t1 - t0))
            gdb.write("%s: command %.2f s, %d reads, %d KiB of guest memory\n"
                      % (NAME, time.time() - t1, memory.reads - reads0,
                         (memory.bytes - bytes0) >> 10))

    def _run(self, prog, argv):
        from drgn_pagewalk.commands.run import run_argv

        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                status = run_argv(prog, argv, _GdbOut(), prog_name=NAME)
        except SystemExit:  # argparse's --help
            return
        lines = err.getvalue().strip().splitlines()
        if not status:
            # notes after the output (damaged entries, missing parts)
            for line in lines:
                gdb.write(line + "\n")
            return
        for line in lines[:-1]:
            gdb.write(line + "\n")
        raise gdb.GdbError(lines[-1] if lines else "%s: failed (%d)" % (NAME, status))


_connect_events()
LxPagewalk()
