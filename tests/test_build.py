"""The lab builder refuses a damaged ground-truth transfer and bad
arguments with one line (no half-built lab is ever trusted)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vmcores.build import LabError, parse_frames


def frame(name: str, body: bytes) -> bytes:
    h = 1469598103934665603
    for b in body:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return (f"@@FILE {name} {len(body)}\n".encode() + body
            + f"@@END {name} {h:016x}\n".encode())


def test_frames_round_trip():
    data = frame("1/maps", b"00400000-00401000 r--p\n") + frame("meminfo", b"x") + b"@@DONE\n"
    assert parse_frames(data) == {"1/maps": b"00400000-00401000 r--p\n", "meminfo": b"x"}


def test_truncated_transfer_is_refused():
    data = frame("1/smaps", b"Rss: 4 kB\n" * 100)
    with pytest.raises(LabError, match="truncated"):
        parse_frames(data[:-40])
    with pytest.raises(LabError, match="no @@DONE"):
        parse_frames(data)


def test_corrupted_transfer_is_refused():
    data = bytearray(frame("1/smaps", b"Rss: 4 kB\n") + b"@@DONE\n")
    data[data.index(b"4 kB")] = ord("5")
    with pytest.raises(LabError, match="checksum"):
        parse_frames(bytes(data))


def test_unknown_lab_is_a_usage_error():
    p = subprocess.run([sys.executable, "-m", "vmcores.build", "--only", "2.6-3level"],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "vmcores.build: error: unknown lab 2.6-3level "
        "(known: 6.1-4level, 6.1-5level, 6.12-4level, 6.12-5level, "
        "5.10-4level, 7.2-4level, 7.2-5level, 6.12-numa, 6.12-rt, "
        "6.1-arm64, 6.12-arm64-4level, 6.12-arm64-5level, "
        "6.12-arm64-16k, 6.12-arm64-16k-3level)"]


def test_every_kernel_says_where_its_files_come_from():
    """Each manifest kernel's suite (none: the host's apt) and file layout
    are ones ensure_kernel knows, and a "split" kernel names its extra
    packages."""
    from vmcores import build

    for key, k in build.manifest()["kernels"].items():
        assert k.get("suite") in (None, *build.SUITE_APT_SOURCES), key
        assert k.get("layout", "image") in build.KERNEL_LAYOUTS, key
        assert (k.get("layout") == "split") == bool(k.get("extra")), key
        assert build.kernel_packages(k)[0] == k["image"]
        assert build.kernel_packages(k)[-1] == k["dbg"]


def test_a_dbg_symlink_is_followed_inside_the_extracted_tree(tmp_path):
    """sid's -dbg package: usr/lib/debug/boot/vmlinux-REL is a relative
    symlink to ../lib/modules/REL/vmlinux."""
    from vmcores.build import _in_tree

    target = tmp_path / "usr/lib/debug/lib/modules/7.2/vmlinux"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"ELF")
    link = tmp_path / "usr/lib/debug/boot/vmlinux-7.2"
    link.parent.mkdir(parents=True)
    link.symlink_to("../lib/modules/7.2/vmlinux")
    assert _in_tree(tmp_path, link) == target
    plain = tmp_path / "vmlinux"
    assert _in_tree(tmp_path, plain) == plain


def test_a_suite_has_its_own_apt_directories(monkeypatch, tmp_path):
    """Another suite's packages come through its own sources list, lists
    directory and empty dpkg status under the cache, never the host's; a
    foreign architecture gets its own directories too."""
    from vmcores import build

    monkeypatch.setenv("DRGN_PAGEWALK_CACHE", str(tmp_path))
    opts = build.suite_apt_options("bullseye")
    apt = tmp_path / "tools" / "bullseye-apt"
    assert f"-oDir::State::Lists={apt / 'lists'}" in opts
    assert f"-oDir::State::status={apt / 'status'}" in opts
    assert not any("APT::Architecture" in o for o in opts)
    assert (apt / "status").read_text() == ""
    assert "bullseye-security" in (apt / "sources.list").read_text()
    arm = build.foreign_apt_options("arm64")
    assert f"-oDir::State::Lists={tmp_path / 'tools' / 'bookworm-arm64-apt' / 'lists'}" in arm
    assert "-oAPT::Architectures::=arm64" in arm
    assert build._apt_options("x86_64") == []
    assert build._apt_options("x86_64", "sid") == build.suite_apt_options("sid")
    with pytest.raises(build.LabError, match="unknown Debian suite"):
        build.suite_apt_options("potato")


def test_a_twin_is_remade_with_its_lab_or_its_options(monkeypatch, tmp_path):
    """A filtered twin is current only while its lab's dump is the one it was
    made from and its makedumpfile options are the manifest's."""
    import json

    from vmcores import build

    monkeypatch.setenv("DRGN_PAGEWALK_CACHE", str(tmp_path))
    options = {"lab-d31": ("lab", "sid -c -d 31")}
    monkeypatch.setattr(build, "filtered_twins", lambda: options)
    monkeypatch.setattr(build, "source_lab", lambda name: "lab")
    monkeypatch.setattr(build, "recipe_hash", lambda name: "R1")
    recipe = "R1"
    for name, meta in (("lab", {"built": "T1"}),
                       ("lab-d31", {"built": "T2", "source_lab": "lab", "source_built": "T1",
                                    "twin_options": "sid -c -d 31"})):
        (tmp_path / "labs" / name).mkdir(parents=True)
        (tmp_path / "labs" / name / "vmcore").write_bytes(b"")
        (tmp_path / "labs" / name / "lab.json").write_text(
            json.dumps(dict(meta, name=name, recipe=recipe)))
    assert build.lab_current("lab-d31")
    options["lab-d31"] = ("lab", "sid -l -d 31")
    assert not build.lab_current("lab-d31")
    options["lab-d31"] = ("lab", "sid -c -d 31")
    (tmp_path / "labs" / "lab" / "lab.json").write_text(
        json.dumps({"name": "lab", "recipe": recipe, "built": "T3"}))
    assert not build.lab_current("lab-d31")


def test_twins_do_not_change_the_recipe_of_the_boot(monkeypatch, tmp_path):
    """Adding or removing a lab's noinfo or filtered twins, or another lab,
    in manifest.json leaves recipe_hash(lab) (the boot's recipe) as it was;
    changing the lab's own entry or its kernel does not."""
    from vmcores import build

    before = build.recipe_hash("6.1-4level")
    text = (build.HERE / "manifest.json").read_text()
    for name in build.SOURCES:
        (tmp_path / name).write_bytes((build.HERE / name).read_bytes())
    monkeypatch.setattr(build, "HERE", tmp_path)
    twin = '"6.1-4level-d31": "sid -c -d 31"'
    more = text.replace(twin, twin + ', "6.1-4level-d31-bz": "sid -c -d 31"')
    fewer = text.replace(', "noinfo": "6.1-4level-noinfo"', "")
    other = text.replace('"labs": {', '"labs": {\n    "9.9-4level": {"kernel": "6.1", "cpu": "max", "levels": 4},')
    for variant in (more, fewer, other):
        assert variant != text
        (tmp_path / "manifest.json").write_text(variant)
        assert build.recipe_hash("6.1-4level") == before
    (tmp_path / "manifest.json").write_text(text.replace('"levels": 4', '"levels": 6', 1))
    assert build.recipe_hash("6.1-4level") != before
    (tmp_path / "manifest.json").write_text(text.replace('"6.1.192-2"', '"6.1.192-3"'))
    assert build.recipe_hash("6.1-4level") != before


def test_console_truth_is_cut_out_of_the_console(tmp_path):
    """An arm64 guest sends its ground truth over the console between marker
    lines: console_truth() returns the frames and leaves the boot log."""
    from vmcores.build import TRUTH_BEGIN, TRUTH_END, console_truth

    frames = frame("1/maps", b"aaaa-bbbb r--p\n") + b"@@DONE\n"
    console = tmp_path / "console.txt"
    console.write_bytes(b"boot log\n\n" + TRUTH_BEGIN + frames + TRUTH_END
                        + b"\nLAB-READY capture=9\n")
    assert parse_frames(console_truth(console)) == {"1/maps": b"aaaa-bbbb r--p\n"}
    text = console.read_text()
    assert text.startswith("boot log\n") and "@@FILE" not in text
    assert text.endswith("LAB-READY capture=9\n")
    console.write_bytes(b"boot log\n" + TRUTH_BEGIN + frames[:-10])
    with pytest.raises(LabError, match="truncated"):
        console_truth(console)


def test_a_lab_hashes_only_its_own_architecture_s_guest(monkeypatch, tmp_path):
    """manifest.json's "guest" is keyed by architecture: changing the arm64
    guest leaves the x86-64 labs' recipes as they were, and the reverse."""
    import json

    from vmcores import build

    m = json.loads((build.HERE / "manifest.json").read_text())
    x86, arm = "6.1-4level", "6.1-arm64"
    assert build.lab_arch(m["labs"][x86]) == "x86_64"
    assert build.lab_arch(m["labs"][arm]) == "arm64"
    before = {n: build.recipe_hash(n) for n in (x86, arm)}
    for name in build.SOURCES:
        (tmp_path / name).write_bytes((build.HERE / name).read_bytes())
    monkeypatch.setattr(build, "HERE", tmp_path)
    for arch, same, changed in (("arm64", x86, arm), ("x86_64", arm, x86)):
        variant = json.loads(json.dumps(m))
        variant["guest"][arch]["cmdline"] += " foo=1"
        (tmp_path / "manifest.json").write_text(json.dumps(variant))
        assert build.recipe_hash(same) == before[same]
        assert build.recipe_hash(changed) != before[changed]
    assert all(n not in build.lab_names() for n in (arm, arm + "-kdump"))
    assert build.lab_names("arm64") == ["6.1-arm64", "6.1-arm64-kdump",
                                        "6.12-arm64-4level", "6.12-arm64-5level",
                                        "6.12-arm64-16k", "6.12-arm64-16k-3level"]


def test_the_builder_makes_every_folder_it_uses(monkeypatch, tmp_path):
    """On a fresh machine nothing under the cache exists: from a cache
    folder that is not there yet, the builder unpacks its tools (sid's
    makedumpfile, Debian 12's arm64 makedumpfile and busybox: real
    downloads) and extracts a kernel (its packages read in place from this
    machine's cache, DRGN_PAGEWALK_DEBS), making every folder it uses.
    Before work_dir(), sid's makedumpfile failed here with
    FileNotFoundError: mkdtemp() was asked for a folder in tools/, which
    nothing had made (.ci/run's cold build takes the whole path)."""
    from vmcores import build

    warm = build.cache_dir()
    cold = tmp_path / "fresh" / "cache"
    monkeypatch.setenv("DRGN_PAGEWALK_CACHE", str(cold))
    monkeypatch.setenv("DRGN_PAGEWALK_DEBS", str(warm / "debs"))
    for which in ("sid", "arm64"):
        cmd = build.ensure_makedumpfile(which)
        assert build.makedumpfile_version(cmd).startswith("1.7."), which
    busybox, applets = build.ensure_busybox("arm64")
    assert busybox.is_file() and "sh" in applets
    paths = build.ensure_kernel("6.1")
    assert all(p.exists() for p in paths.values())
    assert not list(cold.glob(".*-*")) and not list((cold / "tools").glob(".*-*")), \
        "a work folder was left behind"
    assert not (warm / "debs").samefile(cold / "debs") and not list((cold / "debs").iterdir())
