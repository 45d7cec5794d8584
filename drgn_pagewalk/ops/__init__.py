"""The kernel's callers of the page-table walker, one module each."""
