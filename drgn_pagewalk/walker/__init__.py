"""The walker: walk.py is the port of the kernel's mm/pagewalk.c, function
by function.  It reads a kernel only through target/ and arch/, and imports
nothing from drgn; ops/ and the API in drgn_pagewalk/__init__.py call it."""
