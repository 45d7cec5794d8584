#!/usr/bin/env bash
# The test command: build any missing lab dump, then run every test.
# Needs what setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")"
.venv/bin/python -m vmcores.build
exec .venv/bin/python -m pytest -q "$@"
