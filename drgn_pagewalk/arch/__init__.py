"""Page-table formats: base.py is the Arch interface, x86_64.py and
arm64.py the two formats; above errors.py, below everything else.  The
walker asks an :class:`~.base.Arch` every question
that the kernel answers with an architecture macro (pXd_none, pXd_leaf, ...)."""

from .base import LEVEL_NAMES, P4D, PGD, PMD, PTE, PUD, Arch
from .x86_64 import X86_64

__all__ = ["Arch", "X86_64", "LEVEL_NAMES", "PGD", "P4D", "PUD", "PMD", "PTE"]
