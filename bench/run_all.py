"""One benchmark run over the lab dumps and the large lab (entry: bench/run).

    bench/run [--labs 6.1-4level,large] [--quick] [--timeout SECONDS]

For the biggest process of each lab (and the 1 GiB ``workload`` process of
6.1-4level), measures:

- every ``drgn-pagewalk -c VMCORE -s VMLINUX --format F COMMAND PID`` for
  COMMAND in smaps, smaps-rollup, pagemap, numa-maps, status, vmas, vm -p,
  vtop (the first page of the process's biggest vma), ptcheck
  and F in proc, table, json: wall time end to end (a new process, start-up
  and debug info included), the peak RSS of that process (wait4), and the
  lines it printed (counted from a pipe, never kept); pagemap and vm -p
  also give entries per second;
- in process (drgn_pagewalk.commands.run.run() on a loaded Program, the command
  only): smaps --format proc;
- what a drgn user does today (skipped with --quick): drgn's follow_phys
  per page over every page of every vma (a uniform stride sample when the
  process is too big for the time cap), and follow_phys + struct page reads
  (flags, _mapcount, mapping, _refcount) per present page for smaps-like
  counts, extrapolated to every present page;
- the large lab's dense process (mapped page by page, no sparse
  reservation), first: pagemap in each format, vm -p, smaps, numa-maps and
  status --walk end to end, and crash's whole session with vm -p (start-up
  included), medians of 3 runs made in turn; the present 4 KiB PTEs per
  second of pagemap proc (from the guest's smaps: Rss less PMD-mapped THP);
- crash 9.0.2 (Debian sid's package, unpacked under
  ~/.cache/drgn-pagewalk/tools/crash9, fetched on first use): start-up
  (``exit`` only) and ``vm -p PID > /dev/null`` minus start-up;
- the guest kernel's own smaps time (large lab: truth/PID/smaps_time,
  measured in the guest under QEMU TCG).

Before timing a lab, ``--format proc smaps PID`` must equal the guest's
truth byte for byte (MISMATCH is printed otherwise).  Prints tables, then
one JSON line.  A benchmark, never a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent
TOOL = str(ROOT / ".venv" / "bin" / "drgn-pagewalk")
#: every lab of vmcores/manifest.json (x86-64 and arm64, 4 and 16 KiB pages)
STANDARD = list(json.loads((ROOT / "vmcores" / "manifest.json").read_text())["labs"])
LARGE = "large"
COMMANDS: List[Tuple[str, List[str]]] = [
    ("smaps", ["smaps"]), ("smaps-rollup", ["smaps-rollup"]),
    ("pagemap", ["pagemap"]), ("numa-maps", ["numa-maps"]), ("status", ["status"]),
    ("vmas", ["vmas"]), ("vm -p", ["vm", "-p"]), ("vtop", ["vtop", "ADDR"]),
    ("ptcheck", ["ptcheck"]),
]
FORMATS = ["proc", "table", "json"]
#: lines around the entries of pagemap / vm -p output, per format
#: (table: title, header, rule; json: the envelope's 9 lines (docs/json.md)
#: and the result object's 9: braces, title, pid, comm, task, the data
#: key's brackets, notes)
PAGEMAP_FRAME = {"proc": 0, "table": 3, "json": 18}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- running things -------------------------------------------------------------

def run_counted(cmd: List[str], timeout: float, stdin: Any = subprocess.DEVNULL,
                capture: bool = False) -> Dict[str, Any]:
    """Run cmd with its stdout counted (lines, bytes), never kept (unless
    capture): wall seconds, peak RSS of the process (wait4), exit status;
    killed after ``timeout`` seconds (then "timeout": True, counts so far)."""
    # /usr/bin/time reports the peak RSS: wait4's ru_maxrss of a child of
    # this (big) process starts at this process's own high-water mark.
    rss_file = tempfile.NamedTemporaryFile(prefix="bench-rss-", delete=False)
    rss_file.close()
    cmd = ["/usr/bin/time", "-f", "%M", "-o", rss_file.name, *cmd]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=stdin, cwd=ROOT)
    lines = nbytes = 0
    kept: List[bytes] = []
    timed_out = False
    fd = p.stdout.fileno()
    import select

    while True:
        if time.perf_counter() - t0 > timeout:
            timed_out = True
            p.kill()
            break
        r, _, _ = select.select([fd], [], [], 1.0)
        if not r:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        lines += chunk.count(b"\n")
        nbytes += len(chunk)
        if capture:
            kept.append(chunk)
    err = p.stderr.read()
    _, status, _ = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    try:
        peak_kb = int(Path(rss_file.name).read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        peak_kb = 0  # killed at the timeout: time wrote nothing
    os.unlink(rss_file.name)
    p.returncode = os.waitstatus_to_exitcode(status)
    p.stdout.close()
    p.stderr.close()
    return {"wall_s": wall, "peak_rss_mib": peak_kb / 1024, "lines": lines,
            "bytes": nbytes, "status": p.returncode, "timeout": timed_out,
            "stderr": err.decode(errors="replace").strip()[-300:],
            "stdout": b"".join(kept) if capture else None}


class Counter(io.TextIOBase):
    """A text sink counting what is written to it."""

    def __init__(self) -> None:
        self.chars = 0
        self.lines = 0

    def write(self, s: str) -> int:  # type: ignore[override]
        self.chars += len(s)
        self.lines += s.count("\n")
        return len(s)


# -- labs -----------------------------------------------------------------------

def load_lab(name: str) -> Any:
    if name == LARGE:
        from vmcores.large import ensure_large_lab

        log("large lab: building it if needed (a few minutes under TCG)")
        return ensure_large_lab()
    from vmcores.lab import ensure_lab

    return ensure_lab(name)


def status_kb(lab: Any, pid: int, field: str) -> int:
    for line in lab.truth_text(pid, "status").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def targets(lab: Any) -> List[Tuple[str, int]]:
    """(role, pid) of the biggest process (VmRSS + HugetlbPages), the
    large lab's dense one first, and, on 6.1-4level, of the 1 GiB workload
    process."""
    roles = {r: p for r, p in lab.pids.items() if r != "init"}
    size = {r: status_kb(lab, p, "VmRSS") + status_kb(lab, p, "HugetlbPages")
            for r, p in roles.items()}
    biggest = max(size, key=size.get)
    out = [(biggest, roles[biggest])]
    if "dense" in roles:  # the large lab's process mapped page by page: first
        out.insert(0, ("dense", roles["dense"]))
    if lab.name == "6.1-4level" and "workload" in roles and biggest != "workload":
        out.append(("workload", roles["workload"]))
    return out


def tool_cmd(lab: Any, fmt: str, args: List[str], pid: int) -> List[str]:
    return [TOOL, "-c", str(lab.vmcore), "-s", str(lab.vmlinux), "--format", fmt,
            *args, str(pid)]


def check_smaps(lab: Any, pid: int, timeout: float) -> bool:
    r = run_counted(tool_cmd(lab, "proc", ["smaps"], pid), timeout, capture=True)
    truth = (lab.truth / str(pid) / "smaps").read_bytes()
    if r["status"] or r["stdout"] != truth:
        log(f"MISMATCH MISMATCH MISMATCH: {lab.name} PID {pid}: --format proc smaps "
            f"differs from the guest's /proc/{pid}/smaps "
            f"(status {r['status']}, {len(r['stdout'] or b'')} vs {len(truth)} bytes) "
            f"{r['stderr']}")
        return False
    return True


# -- in process ----------------------------------------------------------------------

def in_process(lab: Any, pid: int, argv: List[str], repeat: int = 2) -> Dict[str, Any]:
    """Program load time, then the best time of commands.run alone (a new
    walker target each run: nothing carried over)."""
    from drgn_pagewalk.commands.registry import build_parser
    from drgn_pagewalk.commands.run import run
    from drgn_pagewalk.openers.dump import open_program

    t0 = time.perf_counter()
    prog = open_program(str(lab.vmcore), [str(lab.vmlinux)])
    load = time.perf_counter() - t0
    args = build_parser("drgn-pagewalk").parse_args([*argv, str(pid)])
    best = float("inf")
    lines = 0
    for _ in range(repeat):
        prog.cache.pop("drgn_pagewalk_target", None)
        out = Counter()
        t1 = time.perf_counter()
        run(prog, args, out, "drgn-pagewalk")
        best = min(best, time.perf_counter() - t1)
        lines = out.lines
    return {"load_s": load, "run_s": best, "lines": lines}


# -- what a drgn user does today ------------------------------------------------------

def drgn_baseline(lab: Any, pid: int, max_pages: int, seconds: float) -> Dict[str, Any]:
    """follow_phys per page over every page of every vma (a uniform stride
    sample, capped in time), then follow_phys + struct page reads per present
    page of that sample, extrapolated to the whole process."""
    from drgn import FaultError
    from drgn.helpers.linux.mm import follow_phys, for_each_vma, phys_to_page
    from drgn.helpers.linux.pid import find_task

    prog = lab.program()
    mm = find_task(prog, pid).mm
    spans = [(v.vm_start.value_(), v.vm_end.value_()) for v in for_each_vma(mm)]
    spans = [(s, e) for s, e in spans if s < 0xffffffffff600000]
    shift = lab.page_size.bit_length() - 1
    total = sum((e - s) >> shift for s, e in spans)
    stride = max(1, total // max_pages)

    def pages():
        i = 0
        for s, e in spans:
            n = (e - s) >> shift
            # the first page of this span at a multiple of the stride
            j = (-i) % stride
            while j < n:
                yield s + (j << shift)
                j += stride
            i += n

    done = present = 0
    present_addrs: List[int] = []
    t0 = time.perf_counter()
    for addr in pages():
        try:
            follow_phys(mm, addr)
            present += 1
            if len(present_addrs) < 20000:
                present_addrs.append(addr)
        except FaultError:
            pass
        done += 1
        if not done & 255 and time.perf_counter() - t0 > seconds:
            break
    fsecs = time.perf_counter() - t0
    rate = done / fsecs if fsecs else None
    # struct page per present page, as smaps needs (flags, mapcount, mapping, refcount)
    t1 = time.perf_counter()
    for addr in present_addrs:
        try:
            page = phys_to_page(prog, follow_phys(mm, addr))
            page.flags.value_()
            page._mapcount.counter.value_()
            page.mapping.value_()
            page._refcount.counter.value_()
        except FaultError:
            pass
    psecs = time.perf_counter() - t1
    per_present = psecs / len(present_addrs) if present_addrs else None
    est_present = present * total / done if done else 0
    return {"pages_total": total, "pages_done": done, "stride": stride,
            "follow_phys_pages_per_s": rate,
            "follow_phys_all_est_s": total / rate if rate else None,
            "smaps_like_pages": len(present_addrs),
            "smaps_like_est_s": per_present * est_present if per_present else None,
            "smaps_like_pages_per_s": 1 / per_present if per_present else None}


# -- crash ---------------------------------------------------------------------------------

def crash_dir() -> Path:
    from vmcores.build import cache_dir

    return cache_dir() / "tools" / "crash9"


CRASH_DEBS = ["crash", "libc6", "libgcc-s1", "libgmp10", "liblzo2-2", "libmpfr6",
              "libncursesw6", "libsnappy1v5", "libstdc++6", "libtinfo6", "libzstd1",
              "zlib1g", "liblzma5"]


def ensure_crash() -> Optional[Path]:
    """crash 9 from Debian sid (LAB.md): apt-get download through a separate
    sources list and lists directory, dpkg-deb -x, and a wrapper running it
    with its own ld.so and libraries.  None if that fails."""
    d = crash_dir()
    wrapper = d / "crash"
    if wrapper.exists():
        return wrapper
    apt = d.parent / "sid-apt"
    try:
        for sub in ("lists/partial", "cache/archives/partial", "debs"):
            (apt / sub).mkdir(parents=True, exist_ok=True)
        (apt / "sources.list").write_text(
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
            "http://deb.debian.org/debian sid main\n")
        (apt / "status").write_text("")
        opts = [f"-oDir::Etc::sourcelist={apt / 'sources.list'}",
                "-oDir::Etc::sourceparts=-", f"-oDir::State::Lists={apt / 'lists'}",
                f"-oDir::State::status={apt / 'status'}", f"-oDir::Cache={apt / 'cache'}"]
        subprocess.run(["apt-get", *opts, "update", "-qq"], check=True, capture_output=True)
        subprocess.run(["apt-get", *opts, "download", *CRASH_DEBS], check=True,
                       capture_output=True, cwd=apt / "debs")
        tmp = Path(tempfile.mkdtemp(dir=d.parent, prefix=".crash9-"))
        for deb in sorted((apt / "debs").glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
        if not (tmp / "lib").exists():
            (tmp / "lib").symlink_to("usr/lib")  # sid is usr-merged
        (tmp / "crash").write_text(
            '#!/bin/sh\n# crash 9 from Debian sid, unpacked with dpkg-deb -x (LAB.md)\n'
            'D=$(dirname "$(readlink -f "$0")")\n'
            'exec "$D/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path '
            '"$D/lib/x86_64-linux-gnu:$D/usr/lib/x86_64-linux-gnu" "$D/usr/bin/crash" "$@"\n')
        (tmp / "crash").chmod(0o755)
        if d.exists():
            shutil.rmtree(d)
        tmp.rename(d)
    except (OSError, subprocess.CalledProcessError) as e:
        log(f"crash 9 could not be installed: {e}")
        return None
    return wrapper


def crash_bench(crash: Path, lab: Any, pid: int, timeout: float) -> Dict[str, Any]:
    """crash -s VMLINUX VMCORE -i FILE: start-up (exit only), vm -p PID >
    /dev/null, and whether crash saw the process at all."""
    with tempfile.TemporaryDirectory() as t:
        def go(cmds: str, capture: bool = False) -> Dict[str, Any]:
            f = Path(t) / "cmds"
            f.write_text(cmds + "exit\n")
            return run_counted([str(crash), "-s", str(lab.vmlinux), str(lab.vmcore),
                                "-i", str(f)], timeout, capture=capture)

        check = go(f"vm {pid}\n", capture=True)
        text = (check["stdout"] or b"").decode(errors="replace")
        if check["status"] or f"PID: {pid} " not in text:
            return {"ok": False, "status": check["status"],
                    "why": (check["stderr"] or text.strip()[-200:])}
        start = go("")
        vmp = go(f"vm -p {pid} > /dev/null\n")
        out: Dict[str, Any] = {"ok": not vmp["status"] and not vmp["timeout"],
                               "startup_s": start["wall_s"], "total_s": vmp["wall_s"],
                               "vm_p_s": max(vmp["wall_s"] - start["wall_s"], 0.0),
                               "peak_rss_mib": vmp["peak_rss_mib"],
                               "timeout": vmp["timeout"], "status": vmp["status"]}
        return out


# -- the dense process -------------------------------------------------------------------

def present_4k_ptes(lab: Any, pid: int) -> int:
    """Present 4 KiB PTEs of a process, from the guest's smaps: Rss less
    the PMD-mapped THPs (hugetlb pages are not in Rss)."""
    kb = 0
    for line in (lab.truth / str(pid) / "smaps").read_text().splitlines():
        name, _, rest = line.partition(":")
        value = rest.split()[0] if rest.split() else ""
        if name == "Rss":
            kb += int(value)
        elif name in ("AnonHugePages", "ShmemPmdMapped", "FilePmdMapped"):
            kb -= int(value)
    return kb // 4


def dense_bench(crash: Optional[Path], lab: Any, pid: int, timeout: float,
                runs: int = 3) -> Dict[str, Any]:
    """The dense process: ``--format proc pagemap`` (and table, json, vm -p)
    end to end and crash's whole session with ``vm -p`` (start-up
    included), ``runs`` times each, in turn; medians."""
    from statistics import median

    times: Dict[str, List[float]] = {"pagemap|proc": [], "pagemap|table": [],
                                     "pagemap|json": [], "vm -p|proc": [], "crash": []}
    lines = 0
    for _ in range(runs):
        for fmt in FORMATS:
            r = run_counted(tool_cmd(lab, fmt, ["pagemap"], pid), timeout)
            times[f"pagemap|{fmt}"].append(r["wall_s"])
            if fmt == "proc":
                lines = r["lines"]
        times["vm -p|proc"].append(run_counted(tool_cmd(lab, "proc", ["vm", "-p"], pid),
                                               timeout)["wall_s"])
        if crash is not None:
            c = crash_bench(crash, lab, pid, timeout)
            if c.get("ok"):
                times["crash"].append(c["total_s"])
    out: Dict[str, Any] = {k: median(v) for k, v in times.items() if v}
    ptes = present_4k_ptes(lab, pid)
    out.update(entries=lines, present_4k_ptes=ptes,
               present_4k_ptes_per_s=ptes / out["pagemap|proc"], runs=runs)
    if "crash" in out:
        out["vs_crash"] = out["pagemap|proc"] / out["crash"]
    for cmd in ("smaps", "numa-maps", "status"):
        # status --walk: the walk column is in the table (proc is the kernel's lines)
        argv, fmt = (["status", "--walk"], "table") if cmd == "status" else ([cmd], "proc")
        out[f"{cmd}|proc"] = median(run_counted(tool_cmd(lab, fmt, argv, pid),
                                                timeout)["wall_s"] for _ in range(runs))
    return out


# -- main -------------------------------------------------------------------------------------

def entries(r: Dict[str, Any], fmt: str) -> int:
    return max(r["lines"] - PAGEMAP_FRAME[fmt], 0)


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    parser.add_argument("--labs", default=",".join(STANDARD + [LARGE]),
                        help="comma-separated: " + ", ".join(STANDARD + [LARGE]))
    parser.add_argument("--quick", action="store_true",
                        help="skip the slow drgn baselines (follow_phys, struct page)")
    parser.add_argument("--timeout", type=float, default=120,
                        help="seconds per command before it is killed (counts so far kept)")
    parser.add_argument("--follow-seconds", type=float, default=20,
                        help="time cap of the follow_phys baseline per process")
    parser.add_argument("--follow-pages", type=int, default=600000,
                        help="at most this many pages for follow_phys (a uniform sample)")
    parser.add_argument("--no-crash", action="store_true")
    args = parser.parse_args()
    names = [n.strip() for n in args.labs.split(",") if n.strip()]
    for n in names:
        if n not in STANDARD + [LARGE]:
            parser.error(f"unknown lab {n}")

    crash = None if args.no_crash else ensure_crash()
    rows: List[List[Any]] = []
    summary: List[List[Any]] = []
    results: Dict[str, Any] = {}
    mismatches = 0
    peak = 0.0
    for name in names:
        lab = load_lab(name)
        labres: Dict[str, Any] = {}
        results[lab.name] = labres
        for role, pid in targets(lab):
            key = f"{role}:{pid}"
            res: Dict[str, Any] = {"role": role, "pid": pid, "cli": {}}
            labres[key] = res
            res["rss_kb"] = status_kb(lab, pid, "VmRSS")
            res["hugetlb_kb"] = status_kb(lab, pid, "HugetlbPages")
            log(f"{lab.name} PID {pid} ({role}): checking smaps against the guest")
            res["smaps_matches_guest"] = check_smaps(lab, pid, args.timeout)
            mismatches += not res["smaps_matches_guest"]
            # vtop: the first page of the process's biggest vma
            biggest = max(lab.maps(pid), key=lambda m: m.end - m.start)
            for cname, cargs in COMMANDS:
                cargs = [hex(biggest.start) if a == "ADDR" else a for a in cargs]
                for fmt in FORMATS:
                    log(f"{lab.name} PID {pid}: {fmt} {cname}")
                    r = run_counted(tool_cmd(lab, fmt, cargs, pid), args.timeout)
                    peak = max(peak, r["peak_rss_mib"])
                    rec = {k: r[k] for k in ("wall_s", "peak_rss_mib", "lines", "bytes",
                                             "status", "timeout")}
                    rate = None
                    if cname in ("pagemap", "vm -p"):
                        rec["entries"] = entries(r, fmt)
                        rate = rec["entries"] / r["wall_s"]
                        rec["entries_per_s"] = rate
                    if r["status"] and not r["timeout"]:
                        rec["error"] = r["stderr"]
                    res["cli"][f"{cname}|{fmt}"] = rec
                    rows.append([lab.name, pid, cname, fmt,
                                 f"{r['wall_s']:.2f}" + (" TIMEOUT" if r["timeout"] else "")
                                 + (f" EXIT {r['status']}" if r["status"] and
                                    not r["timeout"] else ""),
                                 f"{r['peak_rss_mib']:.0f}", r["lines"],
                                 f"{rate / 1e6:.2f}" if rate else ""])
            log(f"{lab.name} PID {pid}: in process")
            ip = in_process(lab, pid, ["--format", "proc", "smaps"])
            res["in_process_smaps"] = ip
            if not args.quick:
                log(f"{lab.name} PID {pid}: drgn follow_phys baseline")
                res["drgn"] = drgn_baseline(lab, pid, args.follow_pages, args.follow_seconds)
            # crash is built for one architecture: Debian's x86-64 one reads
            # x86-64 dumps only
            if crash is not None and getattr(lab, "arch", "x86_64") == "x86_64":
                log(f"{lab.name} PID {pid}: crash")
                res["crash"] = crash_bench(crash, lab, pid, args.timeout)
            if role == "dense":
                log(f"{lab.name} PID {pid}: the dense process, medians of 3")
                res["dense"] = dense_bench(crash, lab, pid, args.timeout)
            st = lab.truth / str(pid) / "smaps_time"
            if st.exists():
                best = [l for l in st.read_text().splitlines() if l.startswith("best ")]
                res["guest_smaps_s_tcg"] = float(best[0].split()[1]) if best else None
            pm = res["cli"]["pagemap|proc"]
            d = res.get("drgn") or {}
            c = res.get("crash") or {}
            summary.append([
                lab.name, f"{pid} ({role})",
                f"{(res['rss_kb'] + res['hugetlb_kb']) / 2**20:.2f}",
                f"{ip['load_s']:.2f}", f"{ip['run_s']:.2f}",
                f"{res['cli']['smaps|proc']['wall_s']:.2f}",
                f"{pm.get('entries_per_s', 0) / 1e6:.2f}",
                f"{d['follow_phys_pages_per_s'] / 1e3:.1f}" if d.get("follow_phys_pages_per_s")
                else "-",
                f"{d['smaps_like_est_s']:.1f}" if d.get("smaps_like_est_s") else "-",
                f"{c['startup_s']:.2f}" if c.get("ok") else "null",
                f"{c['vm_p_s']:.2f}" if c.get("ok") else "null",
                f"{res['cli']['vm -p|proc']['wall_s']:.2f}",
                f"{res['guest_smaps_s_tcg']:.2f}" if res.get("guest_smaps_s_tcg") else "-",
                "yes" if res["smaps_matches_guest"] else "MISMATCH",
            ])

    dump = Path(tempfile.gettempdir()) / "bench_run_results.json"
    dump.write_text(json.dumps({"results": results, "rows": rows, "summary": summary,
                                "peak": peak, "mismatches": mismatches}, default=str))
    log(f"raw results: {dump}")
    print(tabulate(rows, headers=["lab", "pid", "command", "format", "wall s",
                                  "peak MiB", "lines", "M entries/s"]))
    print()
    print(tabulate(summary, headers=[
        "lab", "process", "GiB", "load s", "smaps in-proc s", "smaps CLI s",
        "pagemap M/s", "follow_phys k/s", "drgn smaps-like est s", "crash start s",
        "crash vm -p s", "our vm -p s", "guest smaps s (TCG)", "smaps == guest"]))
    print()
    print(json.dumps(headline(results, peak, mismatches)))
    return 1 if mismatches else 0


def headline(results: Dict[str, Any], peak: float, mismatches: int) -> Dict[str, Any]:
    """The JSON line: the numbers the goals are about."""
    out: Dict[str, Any] = {"peak_rss_mib": round(peak, 1), "smaps_mismatches": mismatches}

    def find(lab: str, role: Optional[str] = None) -> Optional[Dict[str, Any]]:
        for key, res in (results.get(lab) or {}).items():
            if role is None or res["role"] == role:
                return res
        return None

    w = find("6.1-4level", "workload")
    if w:
        out["smaps_1g_s"] = round(w["in_process_smaps"]["run_s"], 3)
        out["smaps_1g_cli_s"] = round(w["cli"]["smaps|proc"]["wall_s"], 3)
        out["program_load_1g_s"] = round(w["in_process_smaps"]["load_s"], 3)
    big = find("large-6.1-4level")
    dense = find("large-6.1-4level", "dense")
    if dense and dense.get("dense"):
        d = dense["dense"]
        out["dense"] = {
            "process": f"large-6.1-4level PID {dense['pid']}",
            "pagemap_entries": d["entries"], "present_4k_ptes": d["present_4k_ptes"],
            "pagemap_proc_s": round(d["pagemap|proc"], 2),
            "pagemap_table_s": round(d["pagemap|table"], 2),
            "pagemap_json_s": round(d["pagemap|json"], 2),
            "vm_p_s": round(d["vm -p|proc"], 2),
            "crash_session_s": round(d["crash"], 2) if "crash" in d else None,
            "vs_crash": round(d["vs_crash"], 2) if "vs_crash" in d else None,
            "present_4k_ptes_per_s": round(d["present_4k_ptes_per_s"]),
            "smaps_s": round(d["smaps|proc"], 2), "numa_maps_s": round(d["numa-maps|proc"], 2),
            "status_walk_s": round(d["status|proc"], 2)}
    big = next((r for r in (results.get("large-6.1-4level") or {}).values()
                if r["role"] != "dense"), None)
    ref = big or w
    if ref:
        cli = ref["cli"]
        pm = cli["pagemap|proc"]
        out["reference_process"] = f"{'large-6.1-4level' if big else '6.1-4level'} " \
                                   f"PID {ref['pid']}"
        out["pagemap_pages_per_s"] = round(pm["entries_per_s"])
        out["pagemap_rows"] = {f: cli[f"pagemap|{f}"]["entries"] for f in FORMATS}
        out["pagemap_timeout"] = {f: cli[f"pagemap|{f}"]["timeout"] for f in FORMATS}
        # Table and JSON show a run of empty entries as one row ("pages"):
        # they cover the same pages as proc's one line per page, so pages
        # per second is proc's page count over each format's time.
        pages = pm["entries"]
        whole = not any(out["pagemap_timeout"].values())
        out["pagemap_pages_per_s_by_format"] = {
            f: round((pages if whole else cli[f"pagemap|{f}"]["entries"])
                     / cli[f"pagemap|{f}"]["wall_s"]) for f in FORMATS}
        if whole:
            out["table_vs_proc"] = round(cli["pagemap|table"]["wall_s"] / pm["wall_s"], 2)
            out["json_vs_proc"] = round(cli["pagemap|json"]["wall_s"] / pm["wall_s"], 2)
        else:  # time per entry: also holds when a run hit the timeout
            out["table_vs_proc"] = round(pm["entries_per_s"] /
                                         cli["pagemap|table"]["entries_per_s"], 2)
            out["json_vs_proc"] = round(pm["entries_per_s"] /
                                        cli["pagemap|json"]["entries_per_s"], 2)
        d = ref.get("drgn") or {}
        fp = d.get("follow_phys_pages_per_s")
        out["follow_phys_pages_per_s"] = round(fp) if fp else None
        out["vs_follow_phys"] = round(pm["entries_per_s"] / fp, 1) if fp else None
        c = ref.get("crash") or {}
        ours = cli["vm -p|proc"]["wall_s"]
        out["vm_p_s"] = round(ours, 2)
        if c.get("ok"):
            out["crash_vm_p_s"] = round(c["vm_p_s"], 2)
            out["crash_startup_s"] = round(c["startup_s"], 2)
            out["crash_total_s"] = round(c["total_s"], 2)
            # how many times faster than crash (start-up included on both sides)
            out["vs_crash"] = round(c["total_s"] / ours, 2)
            out["vs_crash_is_lower_bound"] = cli["vm -p|proc"]["timeout"]
        else:
            out["vs_crash"] = None
        if big:
            out["guest_smaps_large_s_tcg"] = big.get("guest_smaps_s_tcg")
    if big:
        out["smaps_large_s"] = round(big["in_process_smaps"]["run_s"], 3)
        out["smaps_large_cli_s"] = round(big["cli"]["smaps|proc"]["wall_s"], 3)
    return out


if __name__ == "__main__":
    sys.exit(main())
