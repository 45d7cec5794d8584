"""Build the lab: real Debian kernels booted under QEMU, with the guest's own
/proc output captured just before a dump.

    python -m vmcores.build [--only NAME ...] [--arch ARCH] [--force]

A lab's "arch" in manifest.json (default "x86_64") picks its guest: x86-64
under qemu-system-x86_64 (q35, ground truth on ttyS1), or arm64 under
qemu-system-aarch64 (virt, TCG, the workload cross-compiled, Debian's arm64
kernel and busybox-static, ground truth on the console; its kdump twin is
the ELF dump through Debian's makedumpfile:arm64 under qemu-user).

Labs go to $DRGN_PAGEWALK_CACHE/labs/NAME (default ~/.cache/drgn-pagewalk).
Each is built in a temporary directory and renamed into place with lab.json
written last, so a half-built lab is never trusted.  A lab whose lab.json
names the current recipe (kernel package versions and a hash of the guest
sources) is kept as it is.  Failures are one line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
BOOT_TIMEOUT = 300  # seconds from QEMU start to LAB-READY
SOURCES = ("workload.c", "capture.c", "init.sh")


class LabError(Exception):
    """A lab cannot be built or used; the message is one line."""


def cache_dir() -> Path:
    return Path(os.environ.get("DRGN_PAGEWALK_CACHE",
                               Path.home() / ".cache" / "drgn-pagewalk"))


def work_dir(parent: Path, prefix: str) -> Path:
    """A new, empty temporary folder inside ``parent``, which is made first
    (with its parents) if it is not there: on a fresh machine nothing under
    the cache exists yet.  Every work folder of the builder comes from
    here; tests/test_build.py builds the tools into an empty cache."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=parent, prefix=prefix))


def manifest() -> Dict[str, Any]:
    return json.loads((HERE / "manifest.json").read_text())


#: What differs between the guest architectures: the C compiler of the
#: workload, QEMU, Debian's architecture name (its packages come through a
#: separate apt configuration, foreign_apt_options) and how the ground truth
#: leaves the guest ("serial": a second serial port, ttyS1; "console": the
#: only UART, between marker lines, LAB.md).
ARCHES: Dict[str, Dict[str, str]] = {
    "x86_64": {"gcc": "gcc", "qemu": "qemu-system-x86_64", "deb": "amd64",
               "truth": "serial"},
    "arm64": {"gcc": "aarch64-linux-gnu-gcc", "qemu": "qemu-system-aarch64", "deb": "arm64",
              "truth": "console", "qemu_user": "qemu-aarch64-static"},
}
HOST_ARCH = "x86_64"
# The marker lines around the ground truth on an arm64 guest's console.
TRUTH_BEGIN = b"LAB-TRUTH-BEGIN\n"
TRUTH_END = b"LAB-TRUTH-END\n"
# makedumpfile options of an arm64 lab's kdump twin (LAB.md: what a real arm64
# machine writes, from the ELF dump, nothing filtered out).
ARM64_KDUMP_OPTIONS = ["-c", "-d", "0"]


def lab_arch(spec: Dict[str, Any]) -> str:
    """The architecture of a manifest lab or kernel entry ("x86_64" unless
    it says otherwise)."""
    arch = spec.get("arch", HOST_ARCH)
    if arch not in ARCHES:
        raise LabError(f"unknown architecture {arch!r} in manifest.json")
    return arch


def guest_settings(arch: str = HOST_ARCH) -> Dict[str, Any]:
    """manifest.json's guest parameters of architecture ``arch``."""
    return manifest()["guest"][arch]


def guest_cmdline(spec: Dict[str, Any]) -> str:
    """The kernel command line of a lab's guest: its kernel's own "cmdline"
    in manifest.json if it has one (a 16 KiB-page kernel has other hugetlb
    sizes: no 64K, LAB.md), else its architecture's guest setting."""
    k = manifest()["kernels"][spec["kernel"]]
    return k.get("cmdline", guest_settings(lab_arch(spec))["cmdline"])


def machine_shape(spec: Dict[str, Any]) -> Dict[str, int]:
    """A lab's machine: "memory_mb" (default: its architecture's guest
    setting), "smp" CPUs (default 1) and "numa_nodes" (default 1: no -numa);
    the memory and the CPUs are shared out evenly over the nodes."""
    shape = {"memory_mb": spec.get("memory_mb", guest_settings(lab_arch(spec))["memory_mb"]),
             "smp": spec.get("smp", 1), "numa_nodes": spec.get("numa_nodes", 1)}
    nodes = shape["numa_nodes"]
    if shape["smp"] % nodes or shape["memory_mb"] % nodes:
        raise LabError(f"{spec['kernel']}: {shape['smp']} CPUs and {shape['memory_mb']} MB "
                       f"do not share out over {nodes} NUMA nodes")
    return shape


def machine_options(spec: Dict[str, Any]) -> List[str]:
    """QEMU's -m, -smp and, for several nodes, a RAM backend and a -numa
    node of each node's share (LAB.md: NUMA and SMP guests)."""
    shape = machine_shape(spec)
    opts = ["-m", str(shape["memory_mb"]), "-smp", str(shape["smp"])]
    nodes = shape["numa_nodes"]
    if nodes > 1:
        cpus, mb = shape["smp"] // nodes, shape["memory_mb"] // nodes
        for n in range(nodes):
            first = n * cpus
            cpu_list = str(first) if cpus == 1 else f"{first}-{first + cpus - 1}"
            opts += ["-object", f"memory-backend-ram,id=m{n},size={mb}M",
                     "-numa", f"node,nodeid={n},cpus={cpu_list},memdev=m{n}"]
    return opts


def recipe_hash(name: str) -> str:
    """The recipe lab ``name`` was built from: the guest sources, its own
    entry in manifest.json, its kernel's packages and the guest parameters.

    Only what goes into that lab's boot counts: adding another lab or kernel
    to manifest.json leaves a built lab current, and so does changing the
    guest parameters of another architecture.  A lab's "noinfo" and
    "filtered" twins are made from its dump after the boot, so naming them
    does not change the recipe of the boot either (a filtered twin's own
    recipe is its makedumpfile command)."""
    m = manifest()
    spec = {k: v for k, v in m["labs"][name].items() if k not in ("noinfo", "filtered")}
    h = hashlib.sha256()
    for source in SOURCES:
        h.update((HERE / source).read_bytes())
    h.update(json.dumps([spec, m["kernels"][spec["kernel"]], m["guest"][lab_arch(spec)]],
                        sort_keys=True).encode())
    return h.hexdigest()[:16]


def source_lab(name: str) -> str:
    """The lab whose boot made lab or twin ``name``."""
    for lab, spec in manifest()["labs"].items():
        if name == lab or name in (spec.get("kdump"), spec.get("noinfo")) \
                or name in spec.get("filtered", {}):
            return lab
    raise LabError(f"unknown lab {name}")


TWINS = ("kdump", "noinfo")  # manifest keys of the dumps made from a lab's boot


def lab_names(arch: Optional[str] = HOST_ARCH) -> List[str]:
    """The labs of architecture ``arch`` (None: all) and their kdump and
    noinfo twins: every test of a lab runs on each of them.  The filtered
    twins are apart (filtered_names)."""
    names = []
    for name, lab in manifest()["labs"].items():
        if arch is not None and lab_arch(lab) != arch:
            continue
        names.append(name)
        names.extend(lab[t] for t in TWINS if lab.get(t))
    return names


def filtered_twins() -> Dict[str, Tuple[str, str]]:
    """{twin: (source lab, makedumpfile options)} of manifest.json's
    "filtered" twins: a lab's ELF dump through makedumpfile.  The options
    start with the makedumpfile to use ("sid": the newest Debian one, fetched
    by ensure_makedumpfile; "system": Debian 12's own, APT_PACKAGES)."""
    out = {}
    for name, lab in manifest()["labs"].items():
        for twin, options in lab.get("filtered", {}).items():
            out[twin] = (name, options)
    return out


def filtered_names(newest_only: bool = False) -> List[str]:
    """The filtered twins (with ``newest_only``: those of sid's makedumpfile
    that hold every kernel page the reports read, the ones whose reports
    must equal the guest's /proc)."""
    over = over_filtered_names()
    return [t for t, (_, o) in filtered_twins().items()
            if not newest_only or (o.split()[0] == "sid" and t not in over)]


def over_filtered_names() -> List[str]:
    """The filtered twins whose makedumpfile left out kernel pages (slab
    pages it took for user pages): manifest.json's "over_filtered"."""
    return list(manifest().get("over_filtered", []))


def _run(cmd: List[str], what: str, **kw: Any) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, check=True, capture_output=True, **kw)
    except FileNotFoundError:
        raise LabError(f"{what}: {cmd[0]} is not installed (run setup.sh)") from None
    except subprocess.CalledProcessError as e:
        err = (e.stderr or b"").decode(errors="replace").strip().splitlines()
        raise LabError(f"{what} failed: {err[-1] if err else e}") from None


# -- kernels -------------------------------------------------------------------

_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# The Debian suites a lab's kernel or tool comes from through its own apt
# configuration (LAB.md, DESIGN.md "Kernel versions"): a sources list, lists
# directory and empty dpkg status per suite and architecture, so the host's
# apt, its dpkg architectures and its installed versions stay out of it.
SUITE_APT_SOURCES = {
    suite: "".join(f"deb [signed-by={_KEYRING}] {url} {dist} main\n" for url, dist in dists)
    for suite, dists in {
        "bookworm": (("http://deb.debian.org/debian", "bookworm"),
                     ("http://deb.debian.org/debian", "bookworm-updates"),
                     ("http://deb.debian.org/debian-security", "bookworm-security")),
        "bullseye": (("http://deb.debian.org/debian", "bullseye"),
                     ("http://deb.debian.org/debian", "bullseye-updates"),
                     ("http://deb.debian.org/debian-security", "bullseye-security")),
        "sid": (("http://deb.debian.org/debian", "sid"),),
    }.items()}
BOOKWORM_APT_SOURCES = SUITE_APT_SOURCES["bookworm"]


def suite_apt_options(suite: str, arch: str = "amd64") -> List[str]:
    """apt-get options that see Debian ``suite``'s packages of architecture
    ``arch`` (a Debian name) through its own sources list, lists directory,
    empty status and package cache under tools/SUITE-apt of the cache
    (tools/SUITE-ARCH-apt for a foreign architecture).  The lists are
    fetched on demand by the callers (apt-get update with these options)."""
    if suite not in SUITE_APT_SOURCES:
        raise LabError(f"unknown Debian suite {suite!r} (known: {', '.join(SUITE_APT_SOURCES)})")
    foreign = arch != ARCHES[HOST_ARCH]["deb"]
    apt = cache_dir() / "tools" / (f"{suite}-{arch}-apt" if foreign else f"{suite}-apt")
    for sub in ("lists/partial", "cache/archives/partial"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    sources = apt / "sources.list"
    if not sources.exists() or sources.read_text() != SUITE_APT_SOURCES[suite]:
        sources.write_text(SUITE_APT_SOURCES[suite])
    if not (apt / "status").exists():
        (apt / "status").write_text("")
    opts = [f"-oDir::Etc::sourcelist={sources}",
            "-oDir::Etc::sourceparts=-", f"-oDir::State::Lists={apt / 'lists'}",
            f"-oDir::State::status={apt / 'status'}", f"-oDir::Cache={apt / 'cache'}"]
    if foreign:
        opts += [f"-oAPT::Architecture={arch}", f"-oAPT::Architectures::={arch}"]
    return opts


def foreign_apt_options(arch: str) -> List[str]:
    """apt-get options that see Debian 12's packages of architecture
    ``arch`` (a Debian name, e.g. "arm64") through a separate sources list,
    lists directory and empty status under tools/bookworm-ARCH-apt of the
    cache: the host's apt and dpkg architectures are left alone."""
    return suite_apt_options("bookworm", arch)


def _apt_options(arch: str, suite: Optional[str] = None) -> List[str]:
    """apt-get options for packages of guest architecture ``arch`` from
    Debian ``suite`` (None: the host's own apt for x86-64, bookworm for the
    others)."""
    if suite is None and arch == HOST_ARCH:
        return []
    return suite_apt_options(suite or "bookworm", ARCHES[arch]["deb"])


def _download(package: str, version: str, debs: Path, arch: str = HOST_ARCH,
              suite: Optional[str] = None) -> Path:
    """apt-get download PACKAGE=VERSION (of guest architecture ``arch``,
    from Debian ``suite``: _apt_options) into the cache (once), unless the
    folder $DRGN_PAGEWALK_DEBS has that very file (.ci/run's cold run)."""
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    mirror = os.environ.get("DRGN_PAGEWALK_DEBS")
    if mirror:
        # CI's cold run: the kernel packages of a warm cache's debs/ are
        # read in place (never written); everything else is made anew
        found = sorted(Path(mirror).glob(f"{package}_{version.replace(':', '%3a')}_*.deb"))
        if found:
            return found[-1]
    opts = _apt_options(arch, suite)
    cmd = ["apt-get", *opts, "download", f"{package}={version}"]
    try:
        _run(cmd, f"download {package}", cwd=debs)
    except LabError:
        _run(["apt-get", *opts, "update", "-qq"],
             f"apt-get update{f' ({suite})' if suite else ''}")
        try:
            _run(cmd, f"download {package}", cwd=debs)
        except LabError:
            where = f"Debian {suite}" if suite else "Debian's archive"
            raise LabError(f"package {package}={version} not found in {where}") \
                from None
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        raise LabError(f"download of {package} left no .deb")
    return found[-1]


def _modinfo_depends(path: Path) -> List[str]:
    out = _run(["modinfo", "-F", "depends", str(path)], f"modinfo {path.name}").stdout
    return [d for d in out.decode().strip().split(",") if d]


# Where a kernel's files sit in its packages, by manifest "layout":
# "image" (bookworm, bullseye): one linux-image-REL-unsigned package with
# boot/vmlinuz-REL and lib/modules/REL; "split" (sid from 7.x, usr-merged):
# linux-binary-unsigned-REL (usr/lib/modules/REL/vmlinuz.unsigned),
# linux-modules-REL and linux-base-REL (the manifest's "extra" packages).
# Both -dbg packages have usr/lib/debug/boot/vmlinux-REL (in "split" a
# symlink to ../lib/modules/REL/vmlinux).
KERNEL_LAYOUTS = {
    "image": {"vmlinuz": "boot/vmlinuz-{rel}", "modules": "lib/modules/{rel}",
              "extract": ["./boot", "./lib/modules"],
              "extract_dbg": ["./usr/lib/debug/boot"]},
    "split": {"vmlinuz": "usr/lib/modules/{rel}/vmlinuz.unsigned",
              "modules": "usr/lib/modules/{rel}", "extract": ["./usr/lib/modules"],
              "extract_dbg": ["./usr/lib/debug/boot",
                              "./usr/lib/debug/lib/modules/{rel}/vmlinux"]},
}


def kernel_packages(k: Dict[str, Any]) -> List[str]:
    """The packages a manifest kernel is made from: image, extras, dbg."""
    return [k["image"], *k.get("extra", []), k["dbg"]]


def ensure_kernel(key: str) -> Dict[str, Path]:
    """vmlinuz, vmlinux and the guest's modules of a manifest kernel.

    A kernel's manifest entry names its packages ("image", "dbg", and the
    "extra" ones of a "split" layout), their "version", the Debian "suite"
    they come from (none: the host's own apt sources for x86-64, bookworm
    for the others) and the "layout" of their files (KERNEL_LAYOUTS;
    default "image")."""
    k = manifest()["kernels"][key]
    arch = lab_arch(k)
    # x86-64 kernels under kernels/RELEASE, the others under kernels/ARCH/RELEASE
    # (the release, not the package version: Debian builds its flavours,
    # cloud, generic and rt, from one source version)
    root = cache_dir() / "kernels" / k["release"] if arch == HOST_ARCH \
        else cache_dir() / "kernels" / arch / k["release"]
    done = root / ".done"
    paths = {"vmlinuz": root / "vmlinuz", "vmlinux": root / "vmlinux",
             "modules": root / "modules"}
    if done.exists():
        return paths
    layout_name = k.get("layout", "image")
    if layout_name not in KERNEL_LAYOUTS:
        raise LabError(f"kernel {key}: unknown layout {layout_name!r} in manifest.json")
    layout = KERNEL_LAYOUTS[layout_name]
    release = k["release"]
    debs = cache_dir() / "debs"
    suite = k.get("suite")
    binaries = [_download(p, k["version"], debs, arch, suite)
                for p in [k["image"], *k.get("extra", [])]]
    dbg = _download(k["dbg"], k["version"], debs, arch, suite)
    tmp = work_dir(cache_dir(), ".kernel-")
    try:
        ex = tmp / "x"
        ex.mkdir()
        for packages, what in ((binaries, "extract"), ([dbg], "extract_dbg")):
            members = " ".join(f"'{m.format(rel=release)}'" for m in layout[what])
            for deb in packages:
                _run(["sh", "-c",
                      f"dpkg-deb --fsys-tarfile '{deb}' | tar -x -C '{ex}' {members}"],
                     f"extract {deb.name}")
        vmlinuz = ex / layout["vmlinuz"].format(rel=release)
        vmlinux = _in_tree(ex, ex / "usr/lib/debug/boot" / f"vmlinux-{release}")
        for what, path in (("vmlinuz", vmlinuz), ("vmlinux", vmlinux)):
            if not path.is_file():
                raise LabError(f"kernel {key}: no {what} at {path.relative_to(ex)} "
                               f"in its packages")
        shutil.move(str(vmlinuz), tmp / "vmlinuz")
        shutil.move(str(vmlinux), tmp / "vmlinux")
        mods = tmp / "modules"
        mods.mkdir()
        order = _module_order(ex / layout["modules"].format(rel=release), k["modules"], mods)
        (mods / "order").write_text("\n".join(order) + "\n")
        shutil.rmtree(ex)
        if root.exists():
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    done.write_text(k["version"] + "\n")
    return paths


def _in_tree(root: Path, path: Path) -> Path:
    """``path`` inside the extracted tree ``root`` with its relative
    symlinks followed inside that tree (sid's -dbg vmlinux-REL is a symlink
    to ../lib/modules/REL/vmlinux)."""
    for _ in range(8):
        if not path.is_symlink():
            return path
        target = os.readlink(path)
        if target.startswith("/"):
            path = root / target.lstrip("/")
        else:
            path = Path(os.path.normpath(path.parent / target))
    raise LabError(f"symlink loop at {path}")


def ensure_busybox(arch: str = HOST_ARCH) -> Tuple[Path, List[str]]:
    """The guest's busybox for ``arch`` and its applet names: the host's
    busybox-static (APT_PACKAGES) on x86-64; otherwise bin/busybox of
    Debian 12's busybox-static for that architecture, unpacked once under
    tools/busybox-ARCH of the cache, its applets listed by running it under
    qemu-user (qemu-user-static)."""
    if arch == HOST_ARCH:
        busybox = shutil.which("busybox") or "/bin/busybox"
        if not Path(busybox).exists():
            raise LabError("busybox is not installed (run setup.sh)")
        applets = _run([busybox, "--list"], "busybox --list").stdout.decode().split()
        return Path(busybox), applets
    d = cache_dir() / "tools" / f"busybox-{arch}"
    if not (d / ".done").exists():
        tmp = work_dir(cache_dir(), f".busybox-{arch}-")
        try:
            deb = foreign_download(["busybox-static"], arch, tmp / "debs")[0]
            _run(["dpkg-deb", "-x", str(deb), str(tmp / "x")], f"unpack {deb.name}")
            shutil.move(str(tmp / "x" / "bin" / "busybox"), tmp / "busybox")
            (tmp / "version").write_text(deb.name + "\n")
            shutil.rmtree(tmp / "x")
            shutil.rmtree(tmp / "debs")
            if d.exists():
                shutil.rmtree(d)
            d.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(d)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        (d / ".done").write_text("")
    applets = _run([ARCHES[arch]["qemu_user"], str(d / "busybox"), "--list"],
                   f"busybox --list ({arch})").stdout.decode().split()
    return d / "busybox", applets


def foreign_download(packages: List[str], arch: str, dest: Path) -> List[Path]:
    """apt-get download Debian 12's PACKAGES of guest architecture ``arch``
    into ``dest``, in the order given."""
    opts = _apt_options(arch)
    dest.mkdir(parents=True, exist_ok=True)
    cmd = ["apt-get", *opts, "download", *packages]
    try:
        _run(cmd, f"download {arch} packages", cwd=dest)
    except LabError:
        _run(["apt-get", *opts, "update", "-qq"], f"apt-get update ({arch})")
        _run(cmd, f"download {arch} packages", cwd=dest)
    out = []
    for package in packages:
        found = sorted(dest.glob(f"{package}_*.deb"))
        if not found:
            raise LabError(f"download of {package} ({arch}) left no .deb")
        out.append(found[-1])
    return out


def _module_order(moddir: Path, wanted: List[str], dest: Path) -> List[str]:
    """Copy the wanted modules and their modinfo dependencies (decompressed),
    in load order.  Debian ships no modules.dep in these packages' trees."""
    index = {}
    for p in moddir.rglob("*.ko*"):
        name = p.name.split(".ko")[0]
        index[name] = p
        index[name.replace("-", "_")] = p
    order: List[str] = []

    def add(name: str) -> None:
        p = index.get(name) or index.get(name.replace("-", "_"))
        if p is None:
            raise LabError(f"kernel module {name} not in the package")
        base = p.name.split(".ko")[0]
        if base in order:
            return
        for dep in _modinfo_depends(p):
            add(dep)
        data = p.read_bytes()
        if p.name.endswith(".xz"):
            import lzma

            data = lzma.decompress(data)
        elif p.name.endswith(".zst"):
            data = _run(["zstd", "-d", "-c", str(p)], f"decompress {p.name}").stdout
        elif p.name.endswith(".gz"):
            data = gzip.decompress(data)
        (dest / f"{base}.ko").write_bytes(data)
        order.append(base)

    for name in wanted:
        add(name)
    return order


# -- guest ---------------------------------------------------------------------

def build_initramfs(modules: Path, out: Path,
                    programs: Sequence[str] = ("workload", "capture"),
                    init: Optional[str] = None,
                    module_names: Optional[List[str]] = None,
                    arch: str = HOST_ARCH) -> None:
    """busybox + the static workload and capturer + modules, as newc cpio.

    ``programs``: the C files of vmcores/ compiled statically into / (by
    ``arch``'s compiler, with ``arch``'s busybox);
    ``init``: the text of /init (default: init.sh); ``module_names``: load
    only these (in this order) instead of every module of the kernel's
    list."""
    root = Path(tempfile.mkdtemp(prefix="lab-initramfs-"))
    try:
        for d in ("bin", "proc", "sys", "dev", "tmp", "modules"):
            (root / d).mkdir()
        busybox, applets = ensure_busybox(arch)
        shutil.copy(busybox, root / "bin" / "busybox")
        for a in applets:
            if a != "busybox":
                (root / "bin" / a).symlink_to("busybox")
        gcc = ARCHES[arch]["gcc"]
        for prog in programs:
            _run([gcc, "-static", "-O2", "-o", str(root / prog), str(HERE / f"{prog}.c")],
                 f"compile {prog}.c ({arch})")
        if module_names is None:
            for m in modules.iterdir():
                shutil.copy(m, root / "modules" / m.name)
        else:
            for m in module_names:
                shutil.copy(modules / f"{m}.ko", root / "modules" / f"{m}.ko")
            (root / "modules" / "order").write_text("\n".join(module_names) + "\n")
        init_path = root / "init"
        if init is None:
            shutil.copy(HERE / "init.sh", init_path)
        else:
            init_path.write_text(init)
        init_path.chmod(0o755)
        files = subprocess.run(["find", "."], cwd=root, capture_output=True,
                               check=True).stdout
        cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root,
                              input=files, capture_output=True)
        if cpio.returncode:
            raise LabError(f"cpio failed: {cpio.stderr.decode().strip()}")
        out.write_bytes(gzip.compress(cpio.stdout, 6))
    finally:
        shutil.rmtree(root, ignore_errors=True)


class Qmp:
    """A minimal QMP client over a unix socket."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(600)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rwb")
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self) -> Dict[str, Any]:
        while True:
            line = self.file.readline()
            if not line:
                raise LabError("QMP connection closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def cmd(self, name: str, **args: Any) -> Any:
        self.file.write(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        self.file.flush()
        msg = self._read()
        if "error" in msg:
            raise LabError(f"QMP {name}: {msg['error'].get('desc')}")
        return msg.get("return")

    def hmp(self, line: str) -> str:
        return self.cmd("human-monitor-command", **{"command-line": line})

    def close(self) -> None:
        """Close the connection (QEMU serves one QMP client at a time)."""
        self.file.close()
        self.sock.close()


def parse_frames(data: bytes) -> Dict[str, bytes]:
    """The capturer's framed stream -> {name: bytes}, checked end to end."""
    files: Dict[str, bytes] = {}
    pos = 0
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise LabError("ground truth transfer truncated (no @@DONE)")
        head = data[pos:nl].decode(errors="replace")
        if head == "@@DONE":
            return files
        parts = head.split(" ")
        if len(parts) != 3 or parts[0] != "@@FILE":
            raise LabError(f"ground truth transfer garbled at byte {pos}")
        name, length = parts[1], int(parts[2])
        body = data[nl + 1: nl + 1 + length]
        end = nl + 1 + length
        nl2 = data.find(b"\n", end)
        trailer = data[end:nl2].decode(errors="replace").split(" ")
        if len(body) != length or len(trailer) != 3 or trailer[0] != "@@END":
            raise LabError(f"ground truth transfer truncated in {name}")
        h = 1469598103934665603
        for b in body:
            h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
        if f"{h:016x}" != trailer[2]:
            raise LabError(f"ground truth checksum mismatch in {name}")
        files[name] = body
        pos = nl2 + 1


def _dig_holes(path: Path) -> None:
    """Store a dump sparse: most of a guest's RAM is zeros."""
    subprocess.run(["fallocate", "--dig-holes", str(path)], capture_output=True)


def _notes(data: bytes) -> List[Tuple[str, int, int]]:
    """(name, start, end) of each ELF note in a PT_NOTE segment's bytes."""
    out = []
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, _type = struct.unpack_from("<III", data, pos)
        name = data[pos + 12:pos + 12 + namesz].rstrip(b"\0").decode(errors="replace")
        end = pos + 12 + (namesz + 3 & ~3) + (descsz + 3 & ~3)
        if end > len(data):
            raise LabError("ELF note runs past its PT_NOTE segment")
        out.append((name, pos, end))
        pos = end
    return out


def strip_vmcoreinfo(src: Path, dst: Path) -> int:
    """Write ``dst``: the ELF dump ``src`` without its VMCOREINFO note, laid
    out as QEMU writes a dump when the guest gives it none (no ``-device
    vmcoreinfo`` or no qemu_fw_cfg): the PT_NOTE segment shorter by that note
    and everything after it moved up, program and section header offsets
    following.  Only src's data extents are copied (the result is sparse).
    Returns the number of bytes removed."""
    with open(src, "rb") as f:
        ehdr = bytearray(f.read(64))
        if ehdr[:4] != b"\x7fELF" or ehdr[4] != 2 or ehdr[5] != 1:
            raise LabError(f"{src}: not a 64-bit little-endian ELF file")
        e_phoff, e_shoff = struct.unpack_from("<QQ", ehdr, 32)
        e_phentsize, e_phnum, e_shentsize, e_shnum = struct.unpack_from("<HHHH", ehdr, 54)
        f.seek(e_phoff)
        phdrs = bytearray(f.read(e_phentsize * e_phnum))
        f.seek(e_shoff)
        shdrs = bytearray(f.read(e_shentsize * e_shnum))
        pt_notes = [i for i in range(e_phnum)
                    if struct.unpack_from("<I", phdrs, i * e_phentsize)[0] == 4]
        if len(pt_notes) != 1:
            raise LabError(f"{src}: {len(pt_notes)} PT_NOTE segments, expected one")
        note_ph = pt_notes[0] * e_phentsize
        note_off, = struct.unpack_from("<Q", phdrs, note_ph + 8)
        note_size, = struct.unpack_from("<Q", phdrs, note_ph + 32)
        f.seek(note_off)
        notes = f.read(note_size)
        size = os.fstat(f.fileno()).st_size
    kept = b"".join(notes[a:b] for name, a, b in _notes(notes) if name != "VMCOREINFO")
    delta = len(notes) - len(kept)
    if not delta:
        raise LabError(f"{src}: no VMCOREINFO note to remove")
    old_end = note_off + note_size
    if e_phoff + len(phdrs) > note_off:
        raise LabError(f"{src}: program headers after the notes")
    for i in range(e_phnum):  # PT_LOADs (and anything else after the notes) move up
        o = i * e_phentsize
        p_offset, = struct.unpack_from("<Q", phdrs, o + 8)
        if p_offset >= old_end:
            struct.pack_into("<Q", phdrs, o + 8, p_offset - delta)
    struct.pack_into("<QQ", phdrs, note_ph + 32, len(kept), len(kept))
    for i in range(e_shnum):
        o = i * e_shentsize
        sh_offset, = struct.unpack_from("<Q", shdrs, o + 24)
        if sh_offset >= old_end:
            struct.pack_into("<Q", shdrs, o + 24, sh_offset - delta)
    new_shoff = e_shoff - delta if e_shoff >= old_end else e_shoff
    struct.pack_into("<Q", ehdr, 40, new_shoff)
    fd = os.open(src, os.O_RDONLY)
    try:
        with open(dst, "wb") as out:
            out.truncate(size - delta)
            out.write(os.pread(fd, note_off, 0))
            out.seek(0)
            out.write(ehdr)
            out.seek(e_phoff)
            out.write(phdrs)
            out.seek(note_off)
            out.write(kept)
            pos = old_end
            while pos < size:  # the data extents after the notes, moved up
                try:
                    start = os.lseek(fd, pos, os.SEEK_DATA)
                except OSError:  # ENXIO: only a hole is left
                    break
                end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
                while start < end:
                    chunk = os.pread(fd, min(8 << 20, end - start), start)
                    out.seek(start - delta)
                    out.write(chunk)
                    start += len(chunk)
                pos = end
            out.seek(new_shoff)
            out.write(shdrs)
    finally:
        os.close(fd)
    return delta


def qemu_command(spec: Dict[str, Any], kernel: Dict[str, Path], initrd: Path,
                 work: Path) -> List[str]:
    """The QEMU command line of a lab guest: console on ttyS0, the ground
    truth on ttyS1, QMP on work/qmp.sock.  An arm64 guest (``virt``, one
    PL011 UART) has its console, and the ground truth on it, on ttyAMA0."""
    arch = lab_arch(spec)
    guest = guest_settings(arch)
    if arch != HOST_ARCH:
        return [ARCHES[arch]["qemu"], "-machine", guest["machine"], "-accel", guest["accel"],
                "-cpu", spec["cpu"], *machine_options(spec), "-nographic", "-no-reboot",
                "-kernel", str(kernel["vmlinuz"]), "-initrd", str(initrd),
                "-append", guest_cmdline(spec), "-device", "vmcoreinfo",
                "-serial", f"file:{work / 'console.txt'}",
                "-monitor", "none", "-qmp", f"unix:{work / 'qmp.sock'},server=on,wait=off"]
    return ["qemu-system-x86_64", "-machine", guest["machine"], "-cpu", spec["cpu"],
            *machine_options(spec), "-nographic", "-no-reboot",
            "-kernel", str(kernel["vmlinuz"]), "-initrd", str(initrd),
            "-append", guest_cmdline(spec), "-device", "vmcoreinfo",
            "-serial", f"file:{work / 'console.txt'}",
            "-serial", f"file:{work / 'serial1.bin'}",
            "-monitor", "none", "-qmp", f"unix:{work / 'qmp.sock'},server=on,wait=off"]


def boot_guest(name: str, cmd: List[str], work: Path) -> "tuple[subprocess.Popen, float]":
    """Start QEMU and wait for the guest's LAB-READY (ground truth sent)."""
    console = work / "console.txt"
    t0 = time.time()
    try:
        qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
    except FileNotFoundError:
        raise LabError(f"{cmd[0]} is not installed (run setup.sh)") from None
    try:
        while True:
            text = console.read_text(errors="replace") if console.exists() else ""
            if "LAB-READY" in text:
                break
            errors = [l for l in text.splitlines() if "LAB-ERROR" in l]
            if errors:
                raise LabError(f"{name}: guest failed: {errors[0].strip()}")
            if qemu.poll() is not None:
                tail = " | ".join(text.strip().splitlines()[-3:])
                raise LabError(f"{name}: QEMU exited ({qemu.returncode}) before READY; "
                               f"console: {tail}")
            if time.time() - t0 > BOOT_TIMEOUT:
                tail = " | ".join(text.strip().splitlines()[-3:])
                raise LabError(f"{name}: READY not seen in {BOOT_TIMEOUT} s; console: {tail}")
            time.sleep(0.5)
    except BaseException:
        qemu.kill()
        qemu.wait()
        raise
    return qemu, time.time() - t0


def qemu_views(qmp: "Qmp", arch: str = HOST_ARCH) -> Dict[str, bytes]:
    """QEMU's own view of the stopped guest: registers and page tables
    (QEMU 7.2 has ``info mem`` and ``info tlb`` for x86 only)."""
    if arch != HOST_ARCH:
        return {"qemu_info_registers": qmp.hmp("info registers").encode()}
    return {"qemu_info_registers": qmp.hmp("info registers").encode(),
            "qemu_info_mem": qmp.hmp("info mem").encode(),
            "qemu_info_tlb": qmp.hmp("info tlb").encode()}


def console_truth(console: Path) -> bytes:
    """The ground truth an arm64 guest sent over its console: the bytes
    between the LAB-TRUTH-BEGIN and LAB-TRUTH-END lines.  console.txt is
    rewritten without them (the boot log alone, as on x86-64), with one line
    saying where they went."""
    data = console.read_bytes()
    begin = data.find(TRUTH_BEGIN)
    if begin < 0:
        raise LabError("ground truth not found on the console (no LAB-TRUTH-BEGIN)")
    start = begin + len(TRUTH_BEGIN)
    end = data.find(b"@@DONE\n" + TRUTH_END, start)
    if end < 0:
        raise LabError("ground truth transfer truncated (no @@DONE and LAB-TRUTH-END)")
    stop = end + len(b"@@DONE\n" + TRUTH_END)
    truth = data[start:end + len(b"@@DONE\n")]
    note = f"[{len(truth)} bytes of ground truth, now in truth/]\n".encode()
    console.write_bytes(data[:start] + note + data[stop:])
    return truth


def boot_and_dump(name: str, spec: Dict[str, Any], kernel: Dict[str, Path],
                  initrd: Path, work: Path, kdump_dir: Optional[Path]) -> Dict[str, Any]:
    arch = lab_arch(spec)
    qemu, boot_secs = boot_guest(name, qemu_command(spec, kernel, initrd, work), work)
    try:
        qmp = Qmp(work / "qmp.sock")
        qmp.cmd("stop")
        if ARCHES[arch]["truth"] == "console":
            files = parse_frames(console_truth(work / "console.txt"))
        else:
            files = parse_frames((work / "serial1.bin").read_bytes())
        files.update(qemu_views(qmp, arch))
        vmcore = work / "vmcore"
        qmp.cmd("dump-guest-memory", paging=False, protocol=f"file:{vmcore}")
        if kdump_dir is not None and arch == HOST_ARCH:
            flat = work / "vmcore.flat"
            qmp.cmd("dump-guest-memory", paging=False, protocol=f"file:{flat}",
                    format="kdump-zlib")
        qmp.cmd("quit")
        qemu.wait(60)
    finally:
        if qemu.poll() is None:
            qemu.kill()
            qemu.wait()
    expected = machine_shape(spec)["memory_mb"] << 20
    if vmcore.stat().st_size < expected:
        raise LabError(f"{name}: dump incomplete ({vmcore.stat().st_size} bytes)")
    _dig_holes(vmcore)
    result: Dict[str, Any] = {"files": files, "boot_seconds": round(boot_secs, 1)}
    if kdump_dir is not None and arch != HOST_ARCH:
        result["kdump"] = makedumpfile_kdump(vmcore, kdump_dir / "vmcore", arch)
    elif kdump_dir is not None:
        with open(flat, "rb") as src:
            p = subprocess.run(["makedumpfile", "-R", str(kdump_dir / "vmcore.tmp")],
                               stdin=src, capture_output=True)
        if p.returncode:
            raise LabError(f"makedumpfile -R failed: {p.stderr.decode().strip()[-200:]}")
        (kdump_dir / "vmcore.tmp").rename(kdump_dir / "vmcore")
        flat.unlink()
    return result


def makedumpfile_kdump(vmcore: Path, out: Path, arch: str) -> Dict[str, Any]:
    """Write ``out``: the ELF dump ``vmcore`` of an ``arch`` guest as a
    kdump-compressed file by Debian 12's makedumpfile of that architecture
    under qemu-user, with ARM64_KDUMP_OPTIONS (LAB.md: QEMU's own
    kdump-zlib for aarch64 is unreadable by drgn).  Returns the lab.json
    keys that say how it was made."""
    cmd = ensure_makedumpfile(arch)
    version = makedumpfile_version(cmd)
    elf = out.parent / "vmcore.elf"
    t0 = time.time()
    try:
        phdrs_after_ehdr(vmcore, elf)
        p = subprocess.run(cmd + ARM64_KDUMP_OPTIONS + [str(elf), str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if p.returncode:
            lines = [l for l in p.stderr.decode(errors="replace").splitlines() if l.strip()]
            raise LabError(f"makedumpfile {' '.join(ARM64_KDUMP_OPTIONS)} ({arch}) failed: "
                           f"{lines[-1] if lines else p.returncode}")
    finally:
        if elf.exists():
            elf.unlink()
    (out.parent / "makedumpfile.txt").write_bytes(p.stderr)
    return {"compression": "zlib", "dump_level": 0, "makedumpfile": arch,
            "makedumpfile_version": version,
            "makedumpfile_command": " ".join(["makedumpfile", *ARM64_KDUMP_OPTIONS,
                                              "VMCORE.ELF", "vmcore"]),
            "makedumpfile_seconds": round(time.time() - t0, 1)}


def write_truth(files: Dict[str, bytes], truth: Path) -> Dict[str, Any]:
    """Lay the captured files out as truth/PID/NAME and truth/NAME."""
    for name, body in files.items():
        path = truth / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    layout: Dict[str, Any] = {"pids": {"init": 1}, "vmas": {}}
    for line in files["layout"].decode().splitlines():
        parts = line.split()
        if parts[0] == "pid":
            layout["pids"][parts[1]] = int(parts[2])
        elif parts[0] == "vma":
            layout["vmas"][parts[1]] = {"pid": int(parts[2]), "start": int(parts[3], 16),
                                        "end": int(parts[4], 16)}
        elif parts[0] == "nohugetlb_1g":
            layout["hugetlb_1g"] = False
        elif parts[0] == "page_size":
            layout["page_size"] = int(parts[1])
    layout.setdefault("hugetlb_1g", "hugetlb_1g" in layout["vmas"])
    return layout


def build_lab(name: str, force: bool = False) -> None:
    """Build one lab configuration and its twins unless they are current:
    the kdump twin comes from the same boot, the noinfo twin from the lab's
    ELF dump (made again whenever that dump is)."""
    m = manifest()
    spec = m["labs"][name]
    labs = cache_dir() / "labs"
    outputs = [name] + ([spec["kdump"]] if spec.get("kdump") else [])
    recipe = recipe_hash(name)
    booted = force or not all(_current(labs / n, recipe) for n in outputs)
    if booted:
        _boot_lab(name, spec, labs, recipe)
    made = False
    if spec.get("noinfo") and (booted or not lab_current(spec["noinfo"])):
        make_noinfo_twin(name, spec["noinfo"])
        made = True
    for twin, options in spec.get("filtered", {}).items():
        if booted or not lab_current(twin):
            make_filtered_twin(name, twin, options)
            made = True
    if not booted and not made:
        print(f"lab {name}: up to date")


def _boot_lab(name: str, spec: Dict[str, Any], labs: Path, recipe: str) -> None:
    """Boot the lab's guest, dump it, and lay out the lab and its kdump twin."""
    m = manifest()
    arch = lab_arch(spec)
    t0 = time.time()
    kernel = ensure_kernel(spec["kernel"])
    labs.mkdir(parents=True, exist_ok=True)
    work = work_dir(labs, f".{name}-")
    kdump_work = work_dir(labs, f".{name}-kdump-") \
        if spec.get("kdump") else None
    try:
        initrd = work / "initrd.gz"
        build_initramfs(kernel["modules"], initrd, arch=arch)
        result = boot_and_dump(name, spec, kernel, initrd, work, kdump_work)
        initrd.unlink()
        truth = work / "truth"
        layout = write_truth(result["files"], truth)
        k = m["kernels"][spec["kernel"]]
        meta = {
            "name": name, "arch": arch, "recipe": recipe, "kernel_release": k["release"],
            "packages": {p: k["version"] for p in kernel_packages(k)},
            "levels": spec["levels"], "cpu": spec["cpu"],
            "guest_memory_mb": machine_shape(spec)["memory_mb"],
            "smp": machine_shape(spec)["smp"], "numa_nodes": machine_shape(spec)["numa_nodes"],
            "dump_format": "elf",
            "vmlinux": str(kernel["vmlinux"]), "pids": layout["pids"],
            "vmas": layout["vmas"], "hugetlb_1g": layout["hugetlb_1g"],
            "page_size": layout.get("page_size", 4096),
            "tmpfs_file": "/tmp/lab-shmem", "boot_seconds": result["boot_seconds"],
            "build_seconds": round(time.time() - t0, 1),
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        pairs = [(work, name, meta)]
        if kdump_work is not None:
            shutil.copytree(truth, kdump_work / "truth")
            shutil.copy(work / "console.txt", kdump_work / "console.txt")
            pairs.append((kdump_work, spec["kdump"], dict(meta, name=spec["kdump"],
                                                          dump_format="kdump",
                                                          **result.get("kdump", {}))))
        for d, n, md in pairs:
            for junk in ("qmp.sock", "serial1.bin"):
                if (d / junk).exists():
                    (d / junk).unlink()
            md["vmcore"] = str(labs / n / "vmcore")
            md["vmcore_bytes"] = (d / "vmcore").stat().st_size
            final = labs / n
            if final.exists():
                shutil.rmtree(final)
            d.rename(final)
            # lab.json last: its presence marks a complete lab
            (final / "lab.json").write_text(json.dumps(md, indent=2) + "\n")
        print(f"lab {name}: built in {time.time() - t0:.0f} s "
              f"(boot to READY {result['boot_seconds']} s)")
    finally:
        for d in (work, kdump_work):
            if d is not None and d.exists():
                shutil.rmtree(d, ignore_errors=True)


def _current(path: Path, recipe: str) -> bool:
    try:
        meta = json.loads((path / "lab.json").read_text())
    except (OSError, ValueError):
        return False
    return meta.get("recipe") == recipe and (path / "vmcore").exists()


def lab_current(name: str) -> bool:
    """Is the lab (or twin) ``name`` built from the current recipe?  A noinfo
    or filtered twin must also come from its lab's current dump (and a
    filtered one with its current makedumpfile options)."""
    labs = cache_dir() / "labs"
    if not _current(labs / name, recipe_hash(source_lab(name))):
        return False
    meta = json.loads((labs / name / "lab.json").read_text())
    source = meta.get("source_lab")
    if source is None:
        return True
    twin = filtered_twins().get(name)
    if twin is not None and meta.get("twin_options") != twin[1]:
        return False
    try:
        src = json.loads((labs / source / "lab.json").read_text())
    except (OSError, ValueError):
        return False
    return src.get("built") == meta.get("source_built")


def _install_twin(work: Path, final: Path, meta: Dict[str, Any]) -> None:
    """Put a twin made in ``work`` in place of the old one, with its lab.json."""
    if final.exists():
        shutil.rmtree(final)
    work.rename(final)
    (final / "lab.json").write_text(json.dumps(meta, indent=2) + "\n")


def make_noinfo_twin(name: str, twin: str) -> None:
    """The lab ``twin``: lab ``name``'s ELF dump without its VMCOREINFO note,
    as QEMU writes it for a guest without -device vmcoreinfo or without
    qemu_fw_cfg (its CPU-state notes stay), with the same ground truth."""
    labs = cache_dir() / "labs"
    src = labs / name
    t0 = time.time()
    meta = json.loads((src / "lab.json").read_text())
    work = work_dir(labs, f".{twin}-")
    try:
        removed = strip_vmcoreinfo(src / "vmcore", work / "vmcore")
        _dig_holes(work / "vmcore")
        shutil.copytree(src / "truth", work / "truth")
        shutil.copy(src / "console.txt", work / "console.txt")
        md = dict(meta, name=twin, dump_format="elf-noinfo", source_lab=name,
                  source_built=meta["built"], vmcoreinfo_bytes_removed=removed,
                  vmcore=str(labs / twin / "vmcore"),
                  vmcore_bytes=(work / "vmcore").stat().st_size,
                  build_seconds=round(time.time() - t0, 1),
                  built=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        _install_twin(work, labs / twin, md)
        print(f"lab {twin}: made from {name}'s dump in {time.time() - t0:.0f} s")
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


# -- filtered twins: the dumps production machines write ----------------------

SID_APT_SOURCE = SUITE_APT_SOURCES["sid"]
# sid's makedumpfile and the libraries it runs with (sid's glibc, not the host's)
MAKEDUMPFILE_DEBS = ["makedumpfile", "libc6", "libdw1t64", "libelf1t64", "liblzo2-2",
                     "libzstd1", "zlib1g", "libbz2-1.0", "liblzma5"]


def sid_download(packages: List[str], dest: Path) -> List[Path]:
    """apt-get download sid's PACKAGES into ``dest`` through a separate
    sources list and lists directory (tools/sid-apt of the cache, LAB.md),
    leaving the host's apt alone."""
    opts = suite_apt_options("sid")
    dest.mkdir(parents=True, exist_ok=True)
    cmd = ["apt-get", *opts, "download", *packages]
    try:
        _run(cmd, "download from sid", cwd=dest)
    except LabError:
        _run(["apt-get", *opts, "update", "-qq"], "apt-get update (sid)")
        _run(cmd, "download from sid", cwd=dest)
    return sorted(dest.glob("*.deb"))


def ensure_makedumpfile(which: str) -> List[str]:
    """The command that runs makedumpfile ``which``: "system" is Debian 12's
    (APT_PACKAGES); "sid" the newest Debian one, unpacked with dpkg-deb -x
    under tools/makedumpfile-sid of the cache with sid's libraries and run
    through their ld.so (as crash 9, LAB.md)."""
    if which == "system":
        path = shutil.which("makedumpfile")
        if path is None:
            raise LabError("makedumpfile is not installed (run setup.sh)")
        return [path]
    if which in ARCHES and which != HOST_ARCH:
        return _foreign_makedumpfile(which)
    if which != "sid":
        raise LabError(f"unknown makedumpfile {which!r} in manifest.json")
    d = cache_dir() / "tools" / "makedumpfile-sid"
    ld = d / "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    cmd = [str(ld), "--library-path",
           f"{d / 'lib/x86_64-linux-gnu'}:{d / 'usr/lib/x86_64-linux-gnu'}",
           str(d / "usr/bin/makedumpfile")]
    return _unpacked_tool(d, cmd, lambda dest: sid_download(MAKEDUMPFILE_DEBS, dest),
                          usr_merged=True)


def _unpacked_tool(d: Path, cmd: List[str], download: Any, usr_merged: bool = False) -> List[str]:
    """A tool run from Debian packages unpacked (dpkg-deb -x) under ``d``:
    ``download(dest)`` fetches the .debs; done once (``d/.done``), checked
    by running ``cmd -v``.  ``usr_merged``: the suite is usr-merged, so
    ``lib`` is made a link to ``usr/lib``."""
    if (d / ".done").exists():
        return cmd
    tmp = work_dir(d.parent, f".{d.name}-")
    try:
        for deb in download(tmp / "debs"):
            _run(["dpkg-deb", "-x", str(deb), str(tmp)], f"unpack {deb.name}")
        shutil.rmtree(tmp / "debs")
        if usr_merged and not (tmp / "lib").exists():
            (tmp / "lib").symlink_to("usr/lib")
        if d.exists():
            shutil.rmtree(d)
        tmp.rename(d)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    makedumpfile_version(cmd)  # it runs
    (d / ".done").write_text("\n".join(cmd) + "\n")
    return cmd


# Debian 12's makedumpfile and the libraries it runs with, for a foreign guest
# architecture (LAB.md: run by qemu-user with -L, as on a real arm64 machine)
FOREIGN_MAKEDUMPFILE_DEBS = ["makedumpfile", "libc6", "libdw1", "libelf1", "liblzo2-2",
                             "zlib1g", "libbz2-1.0", "liblzma5", "libzstd1"]


def _foreign_makedumpfile(arch: str) -> List[str]:
    """makedumpfile of Debian 12 for ``arch``, unpacked with its libraries
    under tools/makedumpfile-ARCH of the cache and run by qemu-user."""
    d = cache_dir() / "tools" / f"makedumpfile-{arch}"
    cmd = [ARCHES[arch]["qemu_user"], "-L", str(d), str(d / "usr/bin/makedumpfile")]
    return _unpacked_tool(d, cmd, lambda dest: foreign_download(FOREIGN_MAKEDUMPFILE_DEBS,
                                                                arch, dest))


def makedumpfile_version(cmd: List[str]) -> str:
    """``makedumpfile -v``'s first line, e.g. "1.7.8 (released on ...)"."""
    out = _run(cmd + ["-v"], "makedumpfile -v").stdout.decode(errors="replace")
    m = re.search(r"version (\S+ \(released on [^)]*\))", out)
    if m is None:
        raise LabError(f"makedumpfile -v printed no version: {out.strip()[:200]!r}")
    return m.group(1)


def phdrs_after_ehdr(src: Path, dst: Path) -> None:
    """Write ``dst``: the ELF dump ``src`` (sparse) with its program headers
    moved right after the ELF header, where makedumpfile looks for them.
    QEMU writes its section headers there (one dummy section and a string
    table), and makedumpfile 1.7 then fails with "Can't get the number of
    PT_LOAD".  The section headers are dropped; nothing else moves."""
    _run(["cp", "--sparse=always", str(src), str(dst)], f"copy {src}")
    with open(dst, "r+b") as f:
        ehdr = bytearray(f.read(64))
        if ehdr[:4] != b"\x7fELF" or ehdr[4] != 2 or ehdr[5] != 1:
            raise LabError(f"{src}: not a 64-bit little-endian ELF file")
        e_phoff, = struct.unpack_from("<Q", ehdr, 32)
        e_phentsize, e_phnum = struct.unpack_from("<HH", ehdr, 54)
        e_ehsize = 64  # QEMU 7.2 writes 8 in e_ehsize
        f.seek(e_phoff)
        phdrs = f.read(e_phentsize * e_phnum)
        first = min(struct.unpack_from("<Q", phdrs, i * e_phentsize + 8)[0]
                    for i in range(e_phnum))
        if e_phoff + len(phdrs) > first:  # QEMU: headers, then the notes and data
            raise LabError(f"{src}: program headers after the data")
        struct.pack_into("<Q", ehdr, 32, e_ehsize)  # e_phoff
        struct.pack_into("<Q", ehdr, 40, 0)  # e_shoff
        struct.pack_into("<HHH", ehdr, 58, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
        f.seek(0)
        f.write(ehdr)
        f.write(phdrs)
        f.write(bytes(first - e_ehsize - len(phdrs)))  # where the headers were


DUMP_FORMATS = {"-c": "zlib", "-l": "lzo", "-z": "zstd", "-p": "snappy"}


def make_filtered_twin(name: str, twin: str, options: str) -> None:
    """The lab ``twin``: lab ``name``'s ELF dump written by makedumpfile
    (``options``: which makedumpfile, then its options, e.g. "sid -c -d 31"),
    as kdump-tools writes /var/crash on a production machine, with the same
    ground truth.  makedumpfile reads the kernel's VMCOREINFO from the
    dump's own note (no -x VMLINUX; with -x the 6.1-4level twin came out
    the same byte for byte)."""
    labs = cache_dir() / "labs"
    src = labs / name
    t0 = time.time()
    meta = json.loads((src / "lab.json").read_text())
    which, *args = options.split()
    cmd = ensure_makedumpfile(which)
    version = makedumpfile_version(cmd)
    flat = "-F" in args
    work = work_dir(labs, f".{twin}-")
    try:
        elf = work / "vmcore.elf"
        phdrs_after_ehdr(src / "vmcore", elf)
        out = work / "vmcore"
        argv = cmd + args + [str(elf)] + ([] if flat else [str(out)])
        with open(out if flat else os.devnull, "wb") as stdout:
            p = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE)
        messages = p.stderr.decode(errors="replace")
        if p.returncode:
            lines = [l for l in messages.splitlines() if l.strip()]
            raise LabError(f"{twin}: makedumpfile {' '.join(args)} failed: "
                           f"{lines[-1] if lines else p.returncode}")
        elf.unlink()
        shutil.copytree(src / "truth", work / "truth")
        shutil.copy(src / "console.txt", work / "console.txt")
        (work / "makedumpfile.txt").write_text(messages)
        compression = [DUMP_FORMATS[a] for a in args if a in DUMP_FORMATS]
        md = dict(meta, name=twin,
                  dump_format="kdump-flattened" if flat else "kdump-compressed",
                  compression=compression[0] if compression else None,
                  dump_level=int(args[args.index("-d") + 1]) if "-d" in args else None,
                  source_lab=name, source_built=meta["built"], twin_options=options,
                  makedumpfile=which, makedumpfile_version=version,
                  makedumpfile_command=" ".join(
                      ["makedumpfile", *args, "VMCORE.ELF"] + (["> vmcore"] if flat
                                                               else ["vmcore"])),
                  vmcore=str(labs / twin / "vmcore"), vmcore_bytes=out.stat().st_size,
                  build_seconds=round(time.time() - t0, 1),
                  built=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        _install_twin(work, labs / twin, md)
        print(f"lab {twin}: made from {name}'s dump by makedumpfile {version.split()[0]} "
              f"{' '.join(args)} in {time.time() - t0:.0f} s")
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def cold_labs() -> List[str]:
    """The fewest labs whose builds take every step of the builder: each
    guest architecture, each kind of twin (a kdump twin per architecture:
    QEMU's on x86-64, makedumpfile under qemu-user on arm64; noinfo; a
    filtered twin of each makedumpfile)."""
    picked: List[str] = []
    seen: set = set()
    for name, spec in manifest()["labs"].items():
        arch = lab_arch(spec)
        steps = {("arch", arch)}
        if spec.get("kdump"):
            steps.add(("kdump", arch))
        if spec.get("noinfo"):
            steps.add(("noinfo", arch))
        steps.update(("filtered", o.split()[0]) for o in spec.get("filtered", {}).values())
        if not steps <= seen:
            picked.append(name)
            seen |= steps
    return picked


def cold_kernels(labs: List[str]) -> List[str]:
    """The kernels of ``labs`` and one more of each way a kernel comes that
    those do not take (its architecture, Debian suite and file layout):
    every path of ensure_kernel(), without extracting each flavour."""
    m = manifest()
    keys = [m["labs"][name]["kernel"] for name in labs]
    ways = {(lab_arch(m["kernels"][k]), m["kernels"][k].get("suite"),
             m["kernels"][k].get("layout", "image")) for k in keys}
    for key, k in m["kernels"].items():
        way = (lab_arch(k), k.get("suite"), k.get("layout", "image"))
        if way not in ways:
            keys.append(key)
            ways.add(way)
    return keys


def cold_build(folder: Path) -> None:
    """The cold path, as on a fresh machine: into the empty ``folder`` (the
    cache for this run), the kernels of cold_kernels() (extracted), every
    tool, and the labs of cold_labs() with their twins.  Only the kernel
    packages are not downloaded again: they are read in place from this
    machine's cache (DRGN_PAGEWALK_DEBS), which is not written."""
    warm_debs = cache_dir() / "debs"
    if folder.exists() and any(folder.iterdir()):
        raise LabError(f"--cold {folder}: not empty")
    os.environ["DRGN_PAGEWALK_DEBS"] = str(warm_debs)
    os.environ["DRGN_PAGEWALK_CACHE"] = str(folder)
    t0 = time.time()
    labs = cold_labs()
    for name in labs:
        build_lab(name)
    kernels = cold_kernels(labs)
    for key in kernels:
        ensure_kernel(key)
    made = sorted(str(p.relative_to(folder)) for p in folder.glob("*/*"))
    print(f"cold build: kernels {', '.join(kernels)}, labs {', '.join(labs)} "
          f"and their twins from an empty cache in {time.time() - t0:.0f} s "
          f"({len(made)} entries: {', '.join(made)})")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vmcores.build",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="build only this configuration (repeatable)")
    parser.add_argument("--force", action="store_true", help="rebuild even if current")
    parser.add_argument("--arch", choices=sorted(ARCHES),
                        help="build only the labs of this guest architecture")
    parser.add_argument("--cold", metavar="DIR", type=Path,
                        help="the cold path (CI): a kernel of each kind, every tool and one lab "
                        "of each kind built into the empty folder DIR, as on a fresh "
                        "machine, the kernel packages read from this cache (cold_build)")
    args = parser.parse_args(argv)
    if args.cold is not None:
        try:
            cold_build(args.cold)
        except LabError as e:
            print(f"vmcores.build: error: {e}", file=sys.stderr)
            return 1
        return 0
    labs = manifest()["labs"]
    names = list(labs)
    if args.only:
        unknown = [n for n in args.only if n not in names]
        if unknown:
            print(f"vmcores.build: error: unknown lab {unknown[0]} "
                  f"(known: {', '.join(names)})", file=sys.stderr)
            return 2
        names = args.only
    if args.arch:
        names = [n for n in names if lab_arch(labs[n]) == args.arch]
    try:
        for name in names:
            build_lab(name, args.force)
    except LabError as e:
        print(f"vmcores.build: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
