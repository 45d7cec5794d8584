"""The kernel's callers of the page-table walker, one module each, named
after what they make: maps, smaps, pagemap, numa_maps and status as
fs/proc/task_mmu.c ... print them, vmas, vtop, vm, rmap, ptdump and ptcheck;
page.py reads struct pages for them.  They call walker/ over target/, and
commands/ turn their reports into output."""
