"""How much the lab tests compared, printed at the end of the test run
(conftest.py's pytest_terminal_summary), so every report says it."""

from __future__ import annotations

from collections import Counter

COUNTS: Counter = Counter()


def count(what: str, n: int = 1) -> None:
    """Add ``n`` to the tally named ``what``."""
    COUNTS[what] += n
