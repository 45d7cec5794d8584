"""The ways into kernel memory, beside the front ends: each opens a drgn
Program.  dump.py opens a crash dump and its vmlinux, noinfo.py a QEMU ELF
dump without VMCOREINFO, live.py the running kernel, qmp.py a live QEMU
guest; rawkernel.py finds a kernel in raw physical memory (noinfo.py, and
gdb_scripts/pagewalk.py over QEMU's gdbstub)."""
