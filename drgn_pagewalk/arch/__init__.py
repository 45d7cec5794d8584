"""Page-table formats.  The walker asks an :class:`~.base.Arch` every question
that the kernel answers with an architecture macro (pXd_none, pXd_leaf, ...)."""

from .base import LEVEL_NAMES, P4D, PGD, PMD, PTE, PUD, Arch
from .x86_64 import X86_64

__all__ = ["Arch", "X86_64", "LEVEL_NAMES", "PGD", "P4D", "PUD", "PMD", "PTE"]
