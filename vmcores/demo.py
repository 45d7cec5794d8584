"""What setup.sh shows at the end: the tool on the default lab dump.

    python -m vmcores.demo [LAB]
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from .lab import ensure_lab

DEFAULT_LAB = "6.1-4level"


def main() -> int:
    lab = ensure_lab(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_LAB)
    tool = str(Path(sys.executable).with_name("drgn-pagewalk"))
    base = [tool, "-c", str(lab.vmcore), "-s", str(lab.vmlinux)]
    pid = str(lab.pids["workload"])
    for args in (["ps"], ["vmas", pid], ["smaps-rollup", pid, "--format", "proc"]):
        cmd = base + args
        print(f"\n$ {' '.join(shlex.quote(c) for c in ['drgn-pagewalk'] + cmd[1:])}",
              flush=True)
        if subprocess.run(cmd).returncode:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
