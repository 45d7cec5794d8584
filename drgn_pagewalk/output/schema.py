"""The JSON schema of ``--format json``, written down as data: one place
that the commands follow, docs/json.md shows (markdown()) and the tests
check every output against (validate()).

Every JSON output is one object, the envelope::

    {"schema": 1, "command": "smaps", "tool": {"name", "version"},
     "kernel": RELEASE, "results": [RESULT, ...], "missing": [MISSING, ...]}

with one RESULT per process (or per target: the kernel, a file, a PFN);
each RESULT is ``{"title", KEYS..., DATA_KEY: DATA, "notes"}``, DATA_KEY
fixed per command (COMMANDS[command].key).  Integers are integers
(addresses too), ``null`` means "does not apply" (or, in ps, "could not be
read").  SCHEMA_VERSION grows when a key is renamed, removed or changes
type; new keys may appear without it.

Types are written as strings: ``int``, ``str``, ``bool``, ``float``,
``null``, ``object`` (any object), ``any``, or alternatives ``int|null``;
``[T]`` (a one-item list) is an array of T; a dict is an object with these
keys (a key ending in ``?`` may be absent; other keys may appear); MapOf(T)
an object whose every value is T.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

SCHEMA_VERSION = 1
TOOL_NAME = "drgn-pagewalk"


@dataclass(frozen=True)
class MapOf:
    """An object whose keys are names (fields, ...) and every value a T."""

    value: Any
    key_meaning: str = "name"


#: A field: (type, meaning).
Field = Tuple[Any, str]


@dataclass
class Command:
    """One JSON form: the command line that gives it, its data key and the
    type of the data, the result's other keys, a description."""

    usage: str
    key: str
    data: Any
    about: str
    keys: Dict[str, Field] = field(default_factory=dict)


TOOL: Dict[str, Field] = {
    "name": ("str", f'always "{TOOL_NAME}"'),
    "version": ("str", "the tool's version (the installed package's, else pyproject.toml's)"),
}

MISSING: Dict[str, Field] = {
    "context": ("str|null", 'what it was for ("PID 92 (workload)"), null: the whole command'),
    "left_out": ("str", "what the output lacks because of it"),
    "what": ("str", "what could not be read (\"a task_struct object at 0x...\")"),
    "address": ("int|null", "the address that faulted"),
}

ENVELOPE: Dict[str, Field] = {
    "schema": ("int", f"the schema version: {SCHEMA_VERSION}"),
    "command": ("str", 'which form this is: a key of the sections below ("smaps", '
                '"vm -p", "ptdump --checkwx" ...)'),
    "tool": (TOOL, "the tool that wrote it"),
    "kernel": ("str|null", "the dump's kernel release (null: unknown)"),
    "results": (["object"], "one result object per process or target, in order"),
    "missing": ([MISSING], "what the dump lacks that the output needed: each part left "
                "out, as the `missing:` lines on stderr say it (empty: nothing; the exit "
                "status is then not 3)"),
}

#: Every result object has these.
RESULT: Dict[str, Field] = {
    "title": ("str", "what the table form prints above the table"),
    "notes": (["str"], "the lines the table form prints below it (damage met, summaries)"),
}

#: The result of a command run on a process.
TASK: Dict[str, Field] = {
    "pid": ("int", "the process's PID"),
    "comm": ("str", "its command name"),
    "task": ("int", "its task_struct address"),
}

PAGE: Dict[str, Field] = {
    "pfn": ("int", "the page frame number"),
    "valid": ("bool", "pfn_valid(): the PFN has a struct page (if false, only pfn)"),
    "address?": ("int", "the struct page address"),
    "refcount?": ("int", "_refcount (of the folio)"),
    "mapcount?": ("int|null", "page_mapcount()"),
    "folio_mapcount?": ("int|null", "folio_mapcount() (6.12; null on 6.1)"),
    "folio_order?": ("int", "the folio's order"),
    "flag_names?": ("str", "the folio's flags by name, |-separated"),
    "anon?": ("bool", "PageAnon()"),
    "file?": ("str|null", "the file's path, if a file page"),
    "slab?": ("str|null", "the slab cache's name, if a slab page"),
    "index?": ("int|null", "page_index()"),
}

PAGEMAP_ROW: Dict[str, Field] = {
    "vaddr": ("int", "virtual address of the first page"),
    "pages": ("int", "how many pages from vaddr have this entry (a run of empty "
              "entries is one row)"),
    "entry": ("int", "the 64-bit pagemap entry (Documentation/admin-guide/mm/pagemap.rst)"),
    "present": ("bool", "bit 63: page present"),
    "swap": ("bool", "bit 62: swapped (or a migration entry)"),
    "pfn": ("int|null", "bits 0-54 of a present page"),
    "swap_type": ("int|null", "swap type of a swap entry"),
    "swap_offset": ("int|null", "swap offset of a swap entry"),
    "soft_dirty": ("bool", "bit 55"),
    "exclusive": ("bool", "bit 56: mapped exclusively"),
    "file": ("bool", "bit 61: file page or shared anon"),
}

VM_PAGE_ROW: Dict[str, Field] = {
    "vaddr": ("int", "virtual address"),
    "state": ("str", '"present", "protnone", "swap", "migration", "marker" (a '
              'non-swap PTE marker), "none" (not mapped), "bad" (a damaged entry)'),
    "phys": ("int|null", "physical address (present pages)"),
    "size": ("int", "page size in bytes (4096, 2 MiB, 1 GiB)"),
    "swap_type": ("int|null", "swap type (swap entries)"),
    "swap_offset": ("int|null", "swap offset (swap entries)"),
    "file": ("str|null", "the vma's file"),
    "file_offset": ("int|null", "offset in the file in bytes"),
}

VM_RUN_ROW: Dict[str, Field] = dict(
    [("vaddr", ("int", "virtual address of the first page")),
     ("end", ("int", "end of the run (exclusive)")),
     ("pages", ("int", "pages in the run"))]
    + [(k, v) for k, v in VM_PAGE_ROW.items() if k != "vaddr"])

COMMANDS: Dict[str, Command] = {
    "ps": Command(
        "ps", "processes",
        [{"pid": ("int", "PID"), "comm": ("str", "command name"),
          "task": ("int", "task_struct address"), "mm": ("int", "mm_struct address"),
          "rss_kb": ("int|null", "RSS from the counters in kB (null: not in the dump)"),
          "vmas": ("int|null", "number of vmas (null: not in the dump)")}],
        "Every process with an mm (one result).",
        {"version": ({"tool": ("str", "the tool's version"),
                      "drgn": ("str", "drgn's version"),
                      "kernel": ("str|null", "the target's kernel release")},
                     "what a bug report needs")}),
    "vmas": Command(
        "vmas PID", "vmas",
        [{"start": ("int", "vm_start"), "end": ("int", "vm_end"),
          "perms": ("str", 'as in maps: "rw-p"'), "kb": ("int", "size in kB"),
          "present_kb": ("int", "present pages from the walk, kB"),
          "swap_kb": ("int", "swap entries, kB"), "thp_kb": ("int", "PMD-mapped THP, kB"),
          "hugetlb_kb": ("int", "hugetlb pages, kB"),
          "name": ("str|null", "the maps name column (null: anonymous)")}],
        "Per-vma page counts from the page-table walk.",
        dict(TASK, paging_levels=("int", "4 or 5"),
             totals=({"kb": ("int", ""), "present_kb": ("int", ""), "swap_kb": ("int", ""),
                      "thp_kb": ("int", ""), "hugetlb_kb": ("int", ""),
                      "vmas": ("int", "number of vmas")}, "sums over the vmas"))),
    "smaps": Command(
        "smaps PID [ADDR]", "vmas",
        [{"start": ("int", "vm_start"), "end": ("int", "vm_end"), "perms": ("str", "rw-p"),
          "name": ("str|null", "the maps name column (null: anonymous)"),
          "Size": ("int", "kB, and so on: every field /proc/PID/smaps prints for the vma, "
                   "by its name, in kB"),
          "Rss": ("int", "kB"), "Pss": ("int", "kB"), "Swap": ("int", "kB"),
          "THPeligible": ("int", "0 or 1"),
          "VmFlags": (["str"], "the two-letter VmFlags names")}],
        "/proc/PID/smaps: every field of every vma (ADDR: only the vma that holds it).",
        dict(TASK)),
    "smaps-rollup": Command(
        "smaps-rollup PID", "fields",
        {"start": ("int", "first vma's start"), "end": ("int", "last vma's end"),
         "Rss": ("int", "kB, and so on: every field smaps_rollup prints, by its name, "
                 "in the kernel's order"),
         "Pss": ("int", "kB")},
        "/proc/PID/smaps_rollup.", dict(TASK)),
    "pagemap": Command(
        "pagemap PID [START [END]]", "entries", [PAGEMAP_ROW],
        "/proc/PID/pagemap decoded, streamed row by row.", dict(TASK)),
    "numa-maps": Command(
        "numa-maps PID", "vmas",
        [{"start": ("int", "vm_start"), "policy": ("str", 'the mempolicy ("default")'),
          "details": ("str", "the rest of the numa_maps line")}],
        "/proc/PID/numa_maps.", dict(TASK)),
    "status": Command(
        "status PID [--walk]", "fields",
        MapOf({"counters_kb": ("int", "as /proc/PID/status prints it"),
               "pending_kb": ("int|null", "per-thread counts not yet in the mm (6.1 "
                              "SPLIT_RSS_COUNTING; null: none)"),
               "walk_kb": ("int|null", "recomputed from the page tables (--walk; null: "
                           "not walked or not walkable)"),
               "agree": ("bool|null", "walk == counters + pending (null: no walk value)")},
              "the status field (VmRSS, RssAnon ...)"),
        "The memory lines of /proc/PID/status; --walk: counters beside the walk.",
        dict(TASK, walk=("bool", "whether --walk was given"))),
    "vtop": Command(
        "vtop ADDR [PID | --kernel] [--user-pgd]", "levels",
        [{"level": ("str", "PGD, P4D, PUD, PMD, PTE"),
          "entry_virt": ("int|null", "the entry's kernel virtual address"),
          "entry_phys": ("int|null", "its physical address"),
          "value": ("int", "the raw entry"), "flags": (["str"], "its flags by name")}],
        "One address through every page-table level (one result).",
        {"pid": ("int|null", "the process (null: init_mm)"),
         "comm": ("str|null", "its command name"), "task": ("int|null", "task_struct"),
         "virtual": ("int", "the address"), "physical": ("int|null", "where it maps"),
         "page_size": ("int|null", "bytes"), "pfn": ("int|null", "page frame number"),
         "pgd_phys": ("int", "the pgd walked (physical)"),
         "stop": ({"level": ("str", "where the walk stopped"),
                   "reason": ("str", '"leaf", "none", "not present", "swap entry", '
                              '"migration entry", "protnone", "bad entry"')}, ""),
         "page": ("object|null", "the struct page behind a leaf (see rmap --pfn's page)"),
         "swap": ("object|null", "a swap entry: type, offset, device (or migration_pfn)"),
         "problems": (["str"], "damaged entries met"),
         "vma": ({"start": ("int", ""), "end": ("int", ""), "perms": ("str", ""),
                  "name": ("str", "")}, "the vma holding a user address; null otherwise"),
         "user_pgd": ("bool", "--user-pgd: the PTI user copy was walked")}),
    "vm": Command(
        "vm PID", "vmas",
        [{"vma": ("int", "vm_area_struct address"), "start": ("int", "vm_start"),
          "end": ("int", "vm_end"), "perms": ("str", "rw-p"), "flags": ("int", "vm_flags"),
          "flag_names": (["str"], "vm_flags by name (READ, WRITE ...)"),
          "kind": ("str", "hugetlb, pfnmap, shmem, file, anon or special"),
          "file": ("str|null", "the maps name column (null: anonymous)")}],
        "The vmas of a process, like crash's vm.",
        dict(TASK, mm=("int", "mm_struct address"), pgd_phys=("int", "the pgd (physical)"))),
    "vm -p": Command(
        "vm -p PID", "pages", [VM_PAGE_ROW],
        "Every page of every vma, streamed row by row, like crash's vm -p.", dict(TASK)),
    "vm -p --fold": Command(
        "vm -p --fold PID", "runs", [VM_RUN_ROW],
        "vm -p with runs of like, contiguous pages as one row.", dict(TASK)),
    "rmap": Command(
        "rmap FILE [FIRST [NR]] | rmap --pfn PFN", "mappings",
        [{"pid": ("int", "PID"), "comm": ("str", "command name"),
          "vaddr": ("int", "where it maps the page"), "pfn": ("int", "the page mapped"),
          "level": ("str", "pte, pmd, pud"), "write": ("bool", "writable"),
          "dirty": ("bool", ""), "young": ("bool", ""),
          "maps": ("str", '"file page" (the page cache\'s page), "private copy" '
                   '(a COW copy of it), "anon" (--pfn of an anonymous page)')}],
        "Who maps a file's pages (walk_page_mapping()) or one page (rmap_walk()); "
        "one result.",
        {"file": ("str|null", "the FILE (or inode) asked; null with --pfn"),
         "first": ("int|null", "first page index; null with --pfn"),
         "nr": ("int|null", "number of pages; null with --pfn"),
         "pfn": ("int|null", "--pfn: the page; null with FILE"),
         "page": (PAGE, "--pfn: the struct page (null with FILE)")}),
    "walk": Command(
        "walk PID [START [END]] [--ops LIST]", "callbacks",
        [{"callback": ("str", "pgd_entry ... pte_entry, pte_hole, hugetlb_entry, test_walk, "
                       "pre_vma, post_vma"),
          "addr": ("int", "addr argument"), "next": ("int", "next (end) argument"),
          "level": ("str|null", "the entry's level"),
          "depth": ("int|null", "pte_hole's depth"),
          "entry_phys": ("int|null", "the entry's physical address (null: synthesized)"),
          "value": ("int|null", "the raw entry"),
          "note": ("str|null", "synthesized, hmask, the vma")}],
        "The walker's callbacks over a range, streamed (one result).",
        dict(TASK, start=("int", "first address"), end=("int", "end address"))),
    "ptdump": Command(
        "ptdump [--pid PID [--user]]", "ranges",
        [{"start": ("int", ""), "end": ("int", ""), "size": ("int", "bytes"),
          "level": ("str", "pgd ... pte"), "marker": ("str|null", "the address marker "
                                                       "(\"Kernel Space\" ...)"),
          "flags": ("str", "the flags column of the kernel's ptdump"),
          "present": ("bool", ""), "user": ("bool", ""), "rw": ("bool", ""),
          "nx": ("bool", ""), "prot": ("int", "the protection bits"),
          "effective_prot": ("int", "with the upper levels' bits")}],
        "The page tables as /sys/kernel/debug/page_tables/* prints them (one result).",
        {"pid": ("int|null", "--pid (null: init_mm)"),
         "user": ("bool", "--user: the PTI user pgd")}),
    "ptdump --checkwx": Command(
        "ptdump --checkwx", "ranges",
        [{"start": ("int", ""), "end": ("int", ""), "size": ("int", "bytes"),
          "level": ("str", ""), "flags": ("str", ""),
          "pgd": ("str", '"kernel" or "user" (the PTI user pgd)')}],
        "The boot-time W+X check: the W+X ranges (exit status 1 if any; one result).",
        {"passed": ("bool", "no W+X range"),
         "lines": (["str"], "what the kernel logs")}),
    "ptcheck": Command(
        "ptcheck PID | --all | --kernel", "damage",
        [{"pid": ("int|null", "the process (null: init_mm)"), "level": ("str", ""),
          "start": ("int", "range the entry covers"), "end": ("int", ""),
          "entry_phys": ("int|null", "the entry's physical address"),
          "value": ("int", "the raw entry"), "what": ("str", "what is wrong")}],
        "Damaged page tables (exit status 1 if any; one result).",
        {"checked": ("str", '"init_mm" or "N process(es)"')}),
}


# -- the forms commands write ---------------------------------------------------------

def command_form(args: Any) -> str:
    """The COMMANDS key of a parsed command line."""
    name = args.command
    if name == "vm" and getattr(args, "pages", False):
        return "vm -p --fold" if getattr(args, "fold", False) else "vm -p"
    if name == "ptdump" and getattr(args, "checkwx", False):
        return "ptdump --checkwx"
    return name


def tool_version() -> str:
    """drgn-pagewalk's version: from pyproject.toml when run from a source
    checkout (the code that runs), else from the installed package's
    metadata."""
    import re
    from importlib import metadata
    from pathlib import Path

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        text = pyproject.read_text()
    except OSError:
        text = ""
    if re.search(r'^name\s*=\s*"drgn-pagewalk"', text, re.M):
        found = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
        if found:
            return found.group(1)
    try:
        return metadata.version(TOOL_NAME)
    except metadata.PackageNotFoundError:
        return "unknown"


def kernel_release(prog: Any) -> Optional[str]:
    """The release of the kernel a Program is of: its init_uts_ns (what
    the dump ran), else the vmlinux's UTS_RELEASE; None if neither reads."""
    for read in (lambda: prog["init_uts_ns"].name.release.string_(),
                 lambda: prog["UTS_RELEASE"].string_()):
        try:
            return read().decode(errors="replace")
        except Exception:  # no debug info, not in the dump ...
            continue
    return None


def versions(prog: Any) -> Dict[str, Optional[str]]:
    """ps's ``version``: the tool's, drgn's, the target kernel's."""
    import drgn

    return {"tool": tool_version(), "drgn": drgn.__version__,
            "kernel": kernel_release(prog)}


def header(prog: Any, form: str) -> Dict[str, Any]:
    """The envelope's keys before ``results``."""
    return {"schema": SCHEMA_VERSION, "command": form,
            "tool": {"name": TOOL_NAME, "version": tool_version()},
            "kernel": kernel_release(prog)}


def task_keys(task: Any) -> Dict[str, Any]:
    """TASK's keys of a task_struct object."""
    return {"pid": task.pid.value_(),
            "comm": task.comm.string_().decode(errors="replace"),
            "task": task.value_()}


# -- validation ---------------------------------------------------------------

_PY = {"int": int, "str": str, "bool": bool, "float": (int, float), "object": dict,
       "array": list, "null": type(None)}


def _check(value: Any, t: Any, path: str, errors: List[str]) -> None:
    if isinstance(t, str):
        kinds = t.split("|")
        if "any" in kinds:
            return
        for k in kinds:
            want = _PY[k]
            if isinstance(value, bool) and k in ("int", "float"):
                continue  # JSON true is not a number
            if isinstance(value, want):
                return
        errors.append(f"{path}: {type(value).__name__} {value!r:.60} is not {t}")
    elif isinstance(t, list):
        if not isinstance(value, list):
            errors.append(f"{path}: not an array")
            return
        for i, item in enumerate(value):
            _check(item, t[0], f"{path}[{i}]", errors)
    elif isinstance(t, MapOf):
        if not isinstance(value, dict):
            errors.append(f"{path}: not an object")
            return
        for k, v in value.items():
            _check(v, t.value, f"{path}.{k}", errors)
    elif isinstance(t, dict):
        if not isinstance(value, dict):
            errors.append(f"{path}: {value!r:.60} is not an object")
            return
        for key, (ft, _) in t.items():
            name = key.rstrip("?")
            if name not in value:
                if not key.endswith("?"):
                    errors.append(f"{path}: no {name!r}")
                continue
            if isinstance(ft, dict) and value[name] is None:
                continue  # an object that does not apply (documented as such)
            _check(value[name], ft, f"{path}.{name}", errors)
    else:
        raise TypeError(f"bad type spec {t!r}")


def validate(doc: Any) -> List[str]:
    """What in a JSON output (parsed) does not follow the schema (empty:
    it does)."""
    errors: List[str] = []
    _check(doc, ENVELOPE, "$", errors)
    if errors:
        return errors
    if doc["schema"] != SCHEMA_VERSION:
        return [f"$.schema: {doc['schema']} is not {SCHEMA_VERSION}"]
    cmd = COMMANDS.get(doc["command"])
    if cmd is None:
        return [f"$.command: unknown {doc['command']!r}"]
    result = dict(RESULT, **cmd.keys)
    result[cmd.key] = (cmd.data, "")
    for i, r in enumerate(doc["results"]):
        _check(r, result, f"$.results[{i}]", errors)
    return errors


# -- documentation ----------------------------------------------------------------

def _type_name(t: Any) -> str:
    if isinstance(t, str):
        return t.replace("|", " or ")  # a | would end the markdown cell
    if isinstance(t, list):
        return f"[{_type_name(t[0])}]"
    if isinstance(t, MapOf):
        return "object of objects"
    return "object"


def _rows(fields: Dict[str, Field], prefix: str = "") -> List[str]:
    out = []
    for key, (t, meaning) in fields.items():
        name = prefix + key.rstrip("?")
        opt = " (may be absent)" if key.endswith("?") else ""
        out.append(f"| `{name}` | {_type_name(t)} | {meaning}{opt} |")
        inner = t[0] if isinstance(t, list) else t.value if isinstance(t, MapOf) else t
        if isinstance(inner, dict) and len(inner) <= 8:
            out.extend(_rows(inner, name + ("[]." if isinstance(t, list) else ".")))
    return out


def markdown(form: str) -> str:
    """The field table of one command's result object, as docs/json.md has it."""
    cmd = COMMANDS[form]
    lines = ["| key | type | meaning |", "|---|---|---|"]
    lines += _rows(dict(RESULT, **cmd.keys))
    data = cmd.data
    if isinstance(data, list):
        lines.append(f"| `{cmd.key}` | [object] | one object per row: |")
        lines += _rows(data[0], f"{cmd.key}[].")
    elif isinstance(data, MapOf):
        lines.append(f"| `{cmd.key}` | {_type_name(data)} | by {data.key_meaning}: |")
        lines += _rows(data.value, f"{cmd.key}.NAME.")
    else:
        lines.append(f"| `{cmd.key}` | object | |")
        lines += _rows(data, f"{cmd.key}.")
    return "\n".join(lines)


def markdown_envelope() -> str:
    lines = ["| key | type | meaning |", "|---|---|---|"]
    lines += _rows(ENVELOPE)
    return "\n".join(lines)
