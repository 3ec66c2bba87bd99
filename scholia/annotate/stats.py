"""``make_edition.py stats``: notes per part, type, status and author; the orphans and drafts."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..load import STATUS_ORPHANED, load_edition
from ..model import STATUSES, Note, blocks_of
from ..readers.notes import read_notes
from .notefile import part_folder


@dataclass
class Stats:
    total: int = 0
    by_part: Counter = field(default_factory=Counter)
    by_type: Counter = field(default_factory=Counter)
    by_status: Counter = field(default_factory=Counter)
    by_author: Counter = field(default_factory=Counter)
    orphans: list[str] = field(default_factory=list)
    drafts: list[str] = field(default_factory=list)
    unanchored: list[str] = field(default_factory=list)  # readable notes whose target does not resolve
    unreadable: int = 0  # files with errors in their front matter
    part_order: list[str] = field(default_factory=list)


def collect(root: Path) -> Stats:
    loaded = load_edition(root)
    st = Stats()
    ed = loaded.edition
    types = tuple(t.name for t in ed.note_types) if ed else ()
    notes: list[Note] = []
    if ed is not None:
        notes, diags = read_notes(root / "annotations" / "notes", root, types, STATUSES + (STATUS_ORPHANED,))
        st.unreadable = len({d.path for d in diags if d.severity == "error"})
        part_of = {b.id: part_folder(p) for b, p in blocks_of(ed.parts)}
        st.part_order = [part_folder(p) for p in ed.parts]
    anchored = {n.id: n for n in loaded.all_notes}
    for n in notes:
        st.total += 1
        a = anchored.get(n.id)
        part = part_of[a.anchor.block_id] if a else ("(orphaned)" if n.status == STATUS_ORPHANED else "(unanchored)")
        st.by_part[part] += 1
        st.by_type[n.type] += 1
        st.by_status[n.status] += 1
        for author in n.authors or ("(none)",):
            st.by_author[author] += 1
        if n.status == STATUS_ORPHANED:
            st.orphans.append(n.path)
        elif n.status == "draft":
            st.drafts.append(n.path)
        if a is None and n.status != STATUS_ORPHANED:
            st.unanchored.append(n.path)
    return st


def format_stats(st: Stats) -> str:
    out = [f"{st.total} note(s)"]

    def table(title: str, counts: Counter, order: list[str] | None = None) -> None:
        out.append(f"\n{title}:")
        keys = [k for k in (order or []) if counts.get(k)] + sorted(k for k in counts if k not in (order or []))
        width = max((len(k) for k in keys), default=0)
        out.extend(f"  {k:<{width}}  {counts[k]:>4}" for k in keys)

    table("per part", st.by_part, st.part_order)
    table("per type", st.by_type)
    table("per status", st.by_status, list(STATUSES) + [STATUS_ORPHANED])
    out.append("\nper author:")
    out.extend(f"  {name}  {n}" for name, n in sorted(st.by_author.items(), key=lambda kv: (-kv[1], kv[0])))
    out.append(f"\norphans ({len(st.orphans)}):")
    out.extend(f"  {p}" for p in st.orphans)
    out.append(f"\ndrafts ({len(st.drafts)}):")
    out.extend(f"  {p}" for p in st.drafts)
    if st.unanchored or st.unreadable:
        out.append(f"\nwith errors: {len(st.unanchored)} not anchored, {st.unreadable} unreadable "
                   "(run `make_edition.py check`)")
    return "\n".join(out)


def add_parser(sub: argparse._SubParsersAction, dir_arg) -> None:
    p = sub.add_parser("stats", help="notes per part, type, status and author; orphans and drafts",
                       description="Count the notes per part, type, status and author, and list the orphans "
                       "and the drafts.")
    dir_arg(p)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args: argparse.Namespace) -> int:
    root = args.dir.resolve()
    st = collect(root)
    if args.json:
        print(json.dumps({"total": st.total, "parts": dict(st.by_part), "types": dict(st.by_type),
                          "statuses": dict(st.by_status), "authors": dict(st.by_author), "orphans": st.orphans,
                          "drafts": st.drafts, "unanchored": st.unanchored, "unreadable": st.unreadable},
                         ensure_ascii=False, indent=2))
    else:
        print(format_stats(st))
    return 0
