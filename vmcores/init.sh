#!/bin/sh
# /init of the lab guest (busybox).  Loads the modules, sets up zram swap,
# hugetlb and THP, runs the workload, freezes the memory layout, then runs
# the capturer in the foreground: it sends the ground truth and pauses, so
# this shell stays blocked in wait() until the host dumps the guest.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t tmpfs tmpfs /tmp
for m in $(cat /modules/order); do
    insmod /modules/$m.ko || echo "LAB-ERROR insmod $m"
done
echo always > /sys/kernel/mm/transparent_hugepage/enabled
# mTHP (6.8 on): folios of arm64's contiguous-PTE size where a vma asks
# (MADV_HUGEPAGE) and a PMD does not fit (the workload's "mthp" region):
# 64 KiB, or 2 MiB with 16 KiB pages (whose PMD maps 32 MiB)
mthp=64
[ "$(cat /sys/kernel/mm/transparent_hugepage/hpage_pmd_size 2>/dev/null)" = 33554432 ] && mthp=2048
echo madvise > /sys/kernel/mm/transparent_hugepage/hugepages-${mthp}kB/enabled 2>/dev/null
echo 8 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
echo 64M > /sys/block/zram0/disksize || echo "LAB-ERROR zram disksize"
mkswap /dev/zram0 >/dev/null && swapon /dev/zram0 || echo "LAB-ERROR swapon"
# No NUMA hinting faults (a NUMA machine's kernel turns NUMA balancing on):
# they would make PTEs PROT_NONE and move pages between capture and dump.
echo 0 > /proc/sys/kernel/numa_balancing 2>/dev/null
/workload &
n=0
while [ ! -f /tmp/ready ]; do
    sleep 0.2
    n=$((n + 1))
    [ $n -gt 600 ] && echo "LAB-ERROR workload never got ready" && break
done
# Freeze the layout: no khugepaged collapse, no proactive compaction.
echo 3600000 > /sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs
echo 3600000 > /sys/kernel/mm/transparent_hugepage/khugepaged/alloc_sleep_millisecs
echo 0 > /proc/sys/vm/compaction_proactiveness 2>/dev/null
# The boot log (W+X check verdict) and where KASLR put the kernel.
dmesg > /tmp/dmesg
grep -E ' (_text|_stext|_end|init_top_pgt|page_offset_base|vmemmap_base)$' /proc/kallsyms > /tmp/kallsyms
/capture
echo "LAB-ERROR capture exited"
