"""More files for a lab guest, appended to the lab's initramfs as another
cpio archive (the kernel unpacks them all, in order, later files replacing
earlier ones): the live guests' churn process (vmcores/live.py) and the
local-kernel guest's Python runtime and runner (vmcores/local.py).

Each brings an /init that starts its program in the background, waiting
for the host on a serial port (ttyS2; the live arm64 guests' churn: ttyS0,
a PCI 16550), and then runs the lab's own init, moved to
/lab/init (so that PID 1 is still called "init").  The dump labs' guests
are not changed.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
from pathlib import Path
from typing import Any, Iterable, List, Tuple

HERE = Path(__file__).resolve().parent

#: (name, mode, bytes | Path | None for a directory, mtime)
Entry = Tuple[str, int, Any, int]


def init_wrapper(command: str, what: str, env: str = "", tty: str = "ttyS2") -> str:
    """An /init running ``command`` in the background once /dev/``tty``
    exists, then the lab's own init.  ash opens /dev/null for a background
    job: make one until the lab's init mounts devtmpfs over /dev."""
    return f"""#!/bin/sh
# {what}: start it (it waits for the host on {tty}), then run the lab's
# own init.
{env}/bin/busybox mkdir -p /dev
[ -e /dev/null ] || /bin/busybox mknod /dev/null c 1 3
( while [ ! -e /dev/{tty} ]; do sleep 0.2; done
  exec {command} ) &
exec /lab/init
"""


def add_lab_init(root: Path, wrapper: str) -> None:
    """/init (the wrapper) and /lab/init (the lab's init.sh) under root."""
    (root / "lab").mkdir(exist_ok=True)
    shutil.copy(HERE / "init.sh", root / "lab" / "init")
    (root / "init").write_text(wrapper)
    for f in ("init", "lab/init"):
        (root / f).chmod(0o755)


def write_newc(out: Any, entries: Iterable[Entry]) -> None:
    """Write a newc cpio archive of ``entries``; ends with the trailer."""
    ino = 1

    def header(name: str, mode: int, size: int, mtime: int = 0) -> None:
        nonlocal ino
        fields = [ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, mtime, size, 0, 0, 0,
                  0, len(name) + 1, 0]
        ino += 1
        head = b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
        out.write(head + b"\0" * (-len(head) % 4))

    for name, mode, data, mtime in entries:
        if isinstance(data, Path):
            size = data.stat().st_size
            header(name, mode, size, mtime)
            with open(data, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 22)
        else:
            data = data or b""
            header(name, mode, len(data), mtime)
            out.write(data)
        out.write(b"\0" * (-out.tell() % 4))
    header("TRAILER!!!", 0, 0)
    out.write(b"\0" * (-out.tell() % 512))


def tree_entries(root: Path) -> List[Entry]:
    """Every file under ``root``, with its mode and mtime (the mtimes keep
    .pyc files valid).  "." first, 0755: the lab's archive gives the root
    directory its temporary directory's 0700, which would keep a non-root
    user from everything."""
    entries: List[Entry] = [(".", 0o40755, None, 0)]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        d = Path(dirpath)
        for n in sorted(dirnames) + sorted(filenames):
            p = d / n
            rel = str(p.relative_to(root))
            st = p.lstat()
            mtime = int(st.st_mtime)
            if stat.S_ISLNK(st.st_mode):
                entries.append((rel, st.st_mode, os.readlink(p).encode(), mtime))
            elif stat.S_ISDIR(st.st_mode):
                entries.append((rel, st.st_mode, None, mtime))
            else:
                entries.append((rel, st.st_mode, p.read_bytes(), mtime))
    return entries


def append_tree(initrd: Path, root: Path) -> None:
    """Append everything under ``root`` to ``initrd`` as a gzip'd archive,
    padded to 512 bytes for whatever follows."""
    buf = io.BytesIO()
    write_newc(buf, tree_entries(root))
    with open(initrd, "ab") as f:
        f.write(gzip.compress(buf.getvalue(), 6))
        f.write(b"\0" * (-f.tell() % 512))
