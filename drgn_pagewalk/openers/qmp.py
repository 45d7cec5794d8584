"""Opening a live QEMU guest over its QMP socket: stopped for the walk
(unless --no-stop), attached with drgn's set_qemu_qmp(), resumed when
done."""

from __future__ import annotations

import os
from typing import Sequence

from ..errors import PagewalkError, one_line
from .dump import _load_symbols


class QmpGuest:
    """A live QEMU guest over QMP: stopped for the walk (unless --no-stop),
    attached with drgn's set_qemu_qmp(), resumed when done."""

    def __init__(self, path: str, stop: bool) -> None:
        self.path = path
        self.stop = stop
        self.resume = False

    def _command(self, name: str) -> dict:
        """One QMP command on a connection of its own (QEMU serves one client
        at a time, and drgn holds the socket while it is attached)."""
        import json
        import socket

        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        try:
            s.connect(self.path)
        except FileNotFoundError:
            raise PagewalkError(f"QMP socket not found: {self.path} (run QEMU with "
                                f"-qmp unix:{self.path},server=on,wait=off)") from None
        except OSError as e:
            raise PagewalkError(f"cannot connect to QMP socket {self.path}: "
                                f"{e.strerror or e}") from None
        f = s.makefile("rwb")
        try:
            def read() -> dict:
                while True:
                    line = f.readline()
                    if not line:
                        raise PagewalkError(f"QMP socket {self.path} closed the connection")
                    msg = json.loads(line)
                    if "event" not in msg:
                        return msg
            greeting = read()
            if "QMP" not in greeting:
                raise PagewalkError(f"{self.path} is not a QMP socket")
            for cmd in ("qmp_capabilities", name):
                f.write(json.dumps({"execute": cmd}).encode() + b"\n")
                f.flush()
                reply = read()
                if "error" in reply:
                    raise PagewalkError(f"QMP {cmd}: {reply['error'].get('desc')}")
            return reply.get("return", {})
        except socket.timeout:
            raise PagewalkError(f"QMP socket {self.path} does not answer: another "
                                "client (a drgn session?) may be connected") from None
        except ValueError:
            raise PagewalkError(f"{self.path} is not a QMP socket") from None
        finally:
            f.close()
            s.close()

    def open(self, symbols: Sequence[str]):  # type: ignore[no-untyped-def]
        import logging

        import drgn

        if not os.path.exists(self.path):
            raise PagewalkError(f"QMP socket not found: {self.path} (run QEMU with "
                                f"-qmp unix:{self.path},server=on,wait=off)")
        if self.stop:
            status = self._command("query-status")
            if status.get("running"):
                self._command("stop")
                self.resume = True
        logging.getLogger("drgn").setLevel(logging.CRITICAL)
        prog = drgn.Program()
        try:
            prog.set_qemu_qmp(self.path)
        except Exception as e:  # drgn raises plain Exception for guest errors
            raise PagewalkError(
                f"cannot attach to the guest on {self.path}: {one_line(e)} "
                "(is it a Linux guest run with -device vmcoreinfo, with "
                "qemu_fw_cfg loaded?)") from None
        _load_symbols(prog, symbols, f"the guest on {self.path}")
        return prog

    def close(self) -> None:
        """Resume the guest if this run stopped it (drgn must be detached)."""
        if self.resume:
            import gc

            gc.collect()
            self._command("cont")
            self.resume = False
