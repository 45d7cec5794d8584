"""struct page / struct folio state that fs/proc/task_mmu.c reads, for 6.1
and 6.12: anon, mapcounts, dirty, young, hugetlb.

Each function mirrors the kernel helper of the same name.  A
:class:`PageCache` reads each struct page once per report (pages are
immutable in a dump).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from drgn import Object
from drgn.helpers.linux.mm import PageDoubleMap, compound_head, pfn_to_page

PAGE_MAPPING_ANON = 0x1


class PageCache:
    """Per-report cache of struct pages and flag bit numbers."""

    def __init__(self, prog: Any, kernel_version: tuple) -> None:
        self.prog = prog
        self.new = kernel_version >= (6, 12)
        self._pages: Dict[int, Object] = {}
        self._bits: Dict[str, int] = {}
        self.highest_memmap_pfn = prog["highest_memmap_pfn"].value_()

    def page(self, pfn: int) -> Object:
        page = self._pages.get(pfn)
        if page is None:
            page = pfn_to_page(self.prog, pfn)
            self._pages[pfn] = page
        return page

    def bit(self, name: str) -> int:
        bit = self._bits.get(name)
        if bit is None:
            bit = self.prog.constant(name).value_()
            self._bits[name] = bit
        return bit

    def test(self, page: Object, name: str) -> bool:
        return bool(page.flags.value_() & (1 << self.bit(name)))


def PageAnon(pc: PageCache, page: Object) -> bool:
    """PageAnon() / folio_test_anon(): the folio's mapping has bit 0 set."""
    head = compound_head(page)
    return bool(head.mapping.value_() & PAGE_MAPPING_ANON)


def PageCompound(pc: PageCache, page: Object) -> bool:
    return pc.test(page, "PG_head") or bool(page.compound_head.value_() & 1)


def folio_test_large(pc: PageCache, head: Object) -> bool:
    return pc.test(head, "PG_head")


def PageHuge(pc: PageCache, page: Object) -> bool:
    """PageHuge() / folio_test_hugetlb()."""
    head = compound_head(page)
    if not pc.test(head, "PG_head"):
        return False
    if pc.new:
        # 6.12: a page type on the folio (PGTY_hugetlb in page_type's top byte)
        folio = Object(pc.prog, "struct folio *", head.value_())
        page_type = folio.page.page_type.value_()
        return (page_type >> 24) == pc.prog.constant("PGTY_hugetlb").value_()
    tail = Object(pc.prog, "struct page *", head.value_() + pc.prog.type("struct page").size)
    return tail.compound_dtor.value_() == pc.prog.constant("HUGETLB_PAGE_DTOR").value_()


def _mapcount(page: Object) -> int:
    return page._mapcount.counter.value_() + 1


def _folio(pc: PageCache, page: Object) -> Object:
    return Object(pc.prog, "struct folio *", compound_head(page).value_())


def folio_entire_mapcount(pc: PageCache, folio: Object) -> int:
    """folio_entire_mapcount() (6.1: compound_mapcount())."""
    if pc.new:
        return folio._entire_mapcount.counter.value_() + 1
    tail = Object(pc.prog, "struct page *", folio.value_() + pc.prog.type("struct page").size)
    return tail.compound_mapcount.counter.value_() + 1


def page_mapcount_is_type(pc: PageCache, mapcount: int) -> bool:
    """page_mapcount_is_type() (6.12): the _mapcount word holds a page type."""
    val = (mapcount - 1) & 0xFFFFFFFF
    signed = val - (1 << 32) if val & 0x80000000 else val
    # page_type_has_type(): page_type < (PGTY_mapcount_underflow << 24)
    return signed < -(1 << 24)


def page_mapcount(pc: PageCache, page: Object) -> int:
    """page_mapcount() of 6.1 (with __page_mapcount() for compound pages)."""
    if not PageCompound(pc, page):
        return _mapcount(page)
    ret = _mapcount(page)
    if not PageAnon(pc, page) and not PageHuge(pc, page):
        return ret
    head = compound_head(page)
    ret += folio_entire_mapcount(pc, Object(pc.prog, "struct folio *", head.value_()))
    if PageDoubleMap(head):
        ret -= 1
    return ret


def folio_precise_page_mapcount(pc: PageCache, folio: Object, page: Object) -> int:
    """folio_precise_page_mapcount() (6.12, fs/proc/internal.h)."""
    mapcount = _mapcount(page)
    if page_mapcount_is_type(pc, mapcount):
        mapcount = 0
    if folio_test_large(pc, folio.page.address_of_()):
        mapcount += folio_entire_mapcount(pc, folio)
    return mapcount


def folio_mapcount(pc: PageCache, folio: Object) -> int:
    """folio_mapcount() (6.12)."""
    if not folio_test_large(pc, folio.page.address_of_()):
        mapcount = _mapcount(folio.page.address_of_())
        return 0 if page_mapcount_is_type(pc, mapcount) else mapcount
    return folio._large_mapcount.counter.value_() + 1


def folio_likely_mapped_shared(pc: PageCache, folio: Object) -> bool:
    """folio_likely_mapped_shared() (6.12)."""
    mapcount = folio_mapcount(pc, folio)
    if not folio_test_large(pc, folio.page.address_of_()) or PageHuge(pc, folio.page.address_of_()):
        return mapcount > 1
    if mapcount <= 1:
        return False
    nr = 1 << (folio._flags_1.value_() & 0xFF)
    if folio_entire_mapcount(pc, folio) or mapcount > nr:
        return True
    return folio._mapcount.counter.value_() > 0


def hugetlb_pmd_shared(pc: PageCache, table_phys: int) -> bool:
    """hugetlb_pmd_shared(ptep) (6.12): the ptdesc of the table holding the
    entry has a non-zero pt_share_count."""
    page = pc.page(table_phys >> 12)
    ptdesc = Object(pc.prog, "struct ptdesc *", page.value_())
    try:
        return bool(ptdesc.pt_share_count.counter.value_())
    except AttributeError:
        return False


def vm_normal_page(pc: PageCache, arch: Any, vma: Any, pte: int) -> Optional[Object]:
    """vm_normal_page() with CONFIG_ARCH_HAS_PTE_SPECIAL (x86-64)."""
    pfn = arch.pte_pfn(pte)
    if arch.pte_special(pte):
        return None  # pfnmap/mixedmap, the zero page, devmap: no normal page
    if pfn > pc.highest_memmap_pfn:
        return None
    return pc.page(pfn)
