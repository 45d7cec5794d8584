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
        "(known: 6.1-4level, 6.1-5level, 6.12-4level, 6.12-5level)"]
