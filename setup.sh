#!/usr/bin/env bash
# Set up drgn-pagewalk on a Debian 12 machine, as root: apt packages, the
# Python venv, the lab kernels and dumps; then show the main job on the
# default lab dump.  Safe to run again: every step skips what is done.
#
#   bash setup.sh            # everything, then the demo
#   bash setup.sh --no-demo  # everything but the demo (what CI runs)
set -euo pipefail
cd "$(dirname "$0")"

demo=1
[ "${1:-}" = "--no-demo" ] && demo=0

say() { printf '==> %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: run as root (it installs Debian packages)" >&2
    exit 1
fi

# Debian packages: Python, a C compiler for the lab's workload, QEMU and the
# initramfs tools; vmcores/APT_PACKAGES lists what the lab builder needs.
packages="python3 python3-venv python3-pip ca-certificates"
if [ -f vmcores/APT_PACKAGES ]; then
    packages="$packages $(grep -v '^#' vmcores/APT_PACKAGES | tr '\n' ' ')"
fi
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
if [ -n "$missing" ]; then
    say "installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The venv with the project and its test extra.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import drgn_pagewalk, drgn, tabulate, pytest' 2>/dev/null; then
    say "creating .venv"
    python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[test]'
fi

# The labs: real Debian kernels booted under QEMU, dumped with ground truth
# (x86-64 and arm64 guests; the arm64 kernels, busybox and makedumpfile are
# fetched from Debian's archive through the builder's own apt configuration).
say "building the lab dumps (cached in ${DRGN_PAGEWALK_CACHE:-$HOME/.cache/drgn-pagewalk})"
.venv/bin/python -m vmcores.build

if [ "$demo" = 1 ]; then
    .venv/bin/python -m vmcores.demo
fi
