"""What the walker reads: base.py is what it needs from a kernel (Target,
Mm, Vma: no drgn), drgn_target.py that over a drgn.Program, kernel.py what
the dump's kernel has (its features, probed once), mmvmas.py an mm's vmas
as the dump holds them (maple tree or list, past the parts it lacks), and
missing.py what a command leaves out because the dump lacks it.  Below it
are only arch/, output/ and errors.py.

Nothing is imported here, so that the walker, which imports base.py, does
not import drgn."""
