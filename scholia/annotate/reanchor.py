"""``make_edition.py reanchor``: place every note again after the primary text was revised.

The notes are first anchored in the text they were written against (the *old* text: ``--old
FILE``, else ``source/.anchored/<recorded sha256>.txt``, else the version with that hash in git
history). Each is then found in the new text: its exact quote, told apart by the old context and
position; failing that, an approximate match near its former position (see ``matching``). Only
the ``quote``/``prefix``/``suffix``/``paragraph`` values that must change are rewritten, in
place; notes that cannot be placed get ``status: orphaned``. Nothing is ever deleted.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from ..anchoring import TextIndex, fold, resolve, shortest_context
from ..load import STATUS_ORPHANED
from ..model import DEFAULT_NOTE_TYPES, STATUSES, Anchor, Block, Note, Target, blocks_of
from ..readers.notes import read_note_types, read_notes
from ..readers.source import build_parts, read_metadata, read_structure
from . import matching
from .notefile import EditError, atomic_write, edit_front_matter

CACHE = Path("source") / ".anchored"


@dataclass
class Placement:
    note: Note
    kind: str  # "exact" | "approximate" | "orphaned" | "broken" (did not anchor in the old text either)
    old_quote: str = ""
    new_quote: str = ""
    old_where: str = ""
    new_where: str = ""
    anchor: Anchor | None = None
    reason: str = ""
    rewritten: bool = False


@dataclass
class Report:
    old_source: str
    changed: bool
    placements: list[Placement] = field(default_factory=list)
    old_sha: str = ""
    new_sha: str = ""
    structure_fixed: list[tuple[str, str]] = field(default_factory=list)  # (old, new) strings in structure.toml
    structure_missing: list[str] = field(default_factory=list)

    def of(self, kind: str) -> list[Placement]:
        return [p for p in self.placements if p.kind == kind]


class ReanchorError(Exception):
    pass


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _git_version(root: Path, path: Path, sha: str) -> tuple[bytes, str] | None:
    """The newest committed version of ``path`` whose SHA-256 is ``sha`` (with the commit), if any."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=60)

    try:
        top = git("rev-parse", "--show-toplevel")
    except (OSError, subprocess.TimeoutExpired):
        return None
    if top.returncode != 0:
        return None
    rel = path.resolve().relative_to(Path(top.stdout.decode().strip()).resolve()).as_posix()
    log = git("log", "--format=%H", "-n", "500", "--", rel)
    for commit in log.stdout.decode().split():
        blob = git("show", f"{commit}:{rel}")
        if blob.returncode == 0 and _sha(blob.stdout) == sha:
            return blob.stdout, commit[:10]
    return None


def find_old_text(root: Path, text_path: Path, recorded: str, old: Path | None) -> tuple[str, str] | None:
    """The text the notes were anchored to, and where it came from (for the report)."""
    if old is not None:
        return old.read_bytes().decode("utf-8"), str(old)
    if not recorded:
        return None
    cached = root / CACHE / f"{recorded.lower()}.txt"
    if cached.is_file() and _sha(cached.read_bytes()) == recorded.lower():
        return cached.read_bytes().decode("utf-8"), cached.relative_to(root).as_posix()
    found = _git_version(root, text_path, recorded.lower())
    if found:
        return found[0].decode("utf-8"), f"git {found[1]}:{text_path.relative_to(root).as_posix()}"
    return None


def _index(text: str, structure, markdown: bool) -> TextIndex:
    parts, _ = build_parts(text, structure, markdown, "source/structure.toml")
    return TextIndex([b for b, _ in blocks_of(parts)])


def _context(index: TextIndex, start: int, end: int) -> tuple[str, str]:
    t = index.text
    return t[max(0, start - matching.CONTEXT):start], t[end:end + matching.CONTEXT]


def _block_at(index: TextIndex, anchor: Anchor) -> Block:
    return next(f.block for f in index.blocks if f.block.id == anchor.block_id)


def place_quote(old: TextIndex, new: TextIndex, pmap: matching.PositionMap, note: Note,
                hits: dict[str, list[tuple[int, int]]], old_counts: dict[str, int]) -> matching.Match | None:
    """Where a note anchored at ``note.anchor`` in ``old`` stands in ``new`` (None: orphaned)."""
    os_, oe = matching.folded_span(old, note.anchor)
    quote = old.text[os_:oe]
    prefix, suffix = _context(old, os_, oe)
    hint, hint_end = pmap(os_), pmap(oe)
    exact = matching.exact_candidates(new, hits.get(quote, []), quote, prefix, suffix, hint)
    best = exact[0] if exact else None
    if best and abs(best.start - hint) <= max(64, len(quote)):
        return best
    reach = 48 + len(quote) // 2
    lo, hi = min(hint, hint_end) - reach, max(hint, hint_end) + reach
    if hi - lo > 4 * len(quote) + 800:  # the quote's region grew a lot: look around both ends only
        hi = lo + 2 * reach + len(quote)
    near = matching.approximate(new, quote, prefix, suffix, lo, hi, hint, extra=[(hint, max(hint_end, hint + 1))])
    if near is not None and not (near.exact or matching.acceptable(near)):
        near = None
    if best:  # the exact words elsewhere: moved there, unless what stands at the old place fits better
        sole = len(exact) == 1 and old_counts.get(quote, 0) == 1
        if (sole or max(best.prefix, best.suffix) >= 0.5) and (near is None or best.score >= near.score):
            return best
    return near
    return None


def _paragraph(old: TextIndex, new: TextIndex, pmap: matching.PositionMap, note: Note) -> Block | None:
    """The new block that the whole-paragraph note's paragraph became (the larger share of it)."""
    os_, oe = matching.folded_span(old, note.anchor)
    ns, ne = pmap(os_), pmap(oe)
    best: tuple[float, Block] | None = None
    old_text = old.text[os_:oe]
    for i, f in enumerate(new.blocks):
        bs, be = new.starts[i], new.starts[i] + len(f.text)
        overlap = min(be, ne) - max(bs, ns)
        if overlap <= 0 and not (bs <= ns < be):
            continue
        sim = 1 - Levenshtein.distance(f.text, old_text) / max(len(f.text), len(old_text), 1)
        key = max(overlap, 0) / max(len(old_text), 1) + sim
        if sim >= 0.4 and (best is None or key > best[0]):
            best = (key, f.block)
    return best[1] if best else None


def _selector(new: TextIndex, note: Note, anchor: Anchor) -> tuple[dict[str, str | None], str]:
    """The target edits that make ``note`` resolve to ``anchor`` in ``new`` ({} when none are needed)."""
    block = _block_at(new, anchor)
    exact_chars = block.text[anchor.start:anchor.end]
    t = note.target
    quote = t.quote if fold(t.quote) == fold(exact_chars) else exact_chars
    edits: dict[str, str | None] = {}
    if quote != t.quote:
        edits["quote"] = quote

    def works(target: Target) -> bool:
        got, _ = resolve(new, [dataclasses.replace(note, target=target)])
        return bool(got) and got[0].anchor == anchor

    if works(Target(quote, t.prefix, t.suffix)):
        return edits, ""
    q = fold(quote)
    span = matching.folded_span(new, anchor)
    hits = new.find_all([q]).get(q, [])
    others = [h for h in hits if h != span and matching.inside_one_block(new, *h)]
    if not others:
        drop: dict[str, str | None] = {k: None for k in ("prefix", "suffix") if getattr(t, k)}
        if works(Target(quote)):
            return {**edits, **drop}, ""
    kind, ctx = shortest_context(new, span, others)
    other = "suffix" if kind == "prefix" else "prefix"
    if works(Target(quote, **{kind: ctx})):
        edits[kind] = ctx
        if getattr(t, other):
            edits[other] = None
        return edits, ""
    return {}, "no prefix or suffix makes the quote unique"


def _where(index: TextIndex, anchor: Anchor | None) -> str:
    return f"¶ {_block_at(index, anchor).number}" if anchor else ""


def reanchor(root: Path, old_file: Path | None = None, dry_run: bool = False) -> Report:
    """Re-anchor every note of the edition at ``root`` to its current text; write the changes."""
    root = root.resolve()
    meta, diags = read_metadata(root)
    if meta is None:
        raise ReanchorError("; ".join(str(d) for d in diags) or "no source/edition.toml")
    structure, _ = read_structure(root)
    text_path = root / "source" / meta.text
    if not text_path.is_file():
        raise ReanchorError(f"text file source/{meta.text} not found")
    new_bytes = text_path.read_bytes()
    new_text = new_bytes.decode("utf-8")
    new_sha = _sha(new_bytes)
    recorded = meta.sha256.lower()
    if old_file is None and recorded == new_sha:
        old = (new_text, "unchanged")
    else:
        old = find_old_text(root, text_path, recorded, old_file)
    if old is None:
        where = f"sha256 {recorded[:12]}…" if recorded else "no sha256 recorded in source/edition.toml"
        raise ReanchorError(f"cannot find the text the notes were anchored to ({where}): give it with --old FILE "
                            f"(e.g. `git show HEAD:source/{meta.text} > old.txt`)")
    old_text, old_source = old
    markdown = text_path.suffix.lower() in (".md", ".markdown")
    annotations = root / "annotations"
    extra, _ = read_note_types(annotations / "note-types.toml", "annotations/note-types.toml")
    types = tuple(t.name for t in DEFAULT_NOTE_TYPES) + tuple(t.name for t in extra)
    notes, _ = read_notes(annotations / "notes", root, types, STATUSES + (STATUS_ORPHANED,))

    old_index = _index(old_text, structure, markdown)
    new_index = old_index if old_text == new_text else _index(new_text, structure, markdown)
    live = [n for n in notes if n.status != STATUS_ORPHANED]
    anchored, _ = resolve(old_index, live)
    by_id = {n.id: n for n in anchored}
    report = Report(old_source, old_text != new_text, old_sha=recorded, new_sha=new_sha)

    pmap = matching.PositionMap(old_index.text, new_index.text)
    quotes: dict[str, str] = {}
    for n in anchored:
        if not n.target.paragraph:
            s, e = matching.folded_span(old_index, n.anchor)
            quotes[n.id] = old_index.text[s:e]
    hits = new_index.find_all(sorted(set(quotes.values())))
    old_hits = old_index.find_all(sorted(set(quotes.values())))
    old_counts = {q: sum(matching.inside_one_block(old_index, s, e) for s, e in h) for q, h in old_hits.items()}

    for note in notes:
        if note.status == STATUS_ORPHANED:
            report.placements.append(Placement(note, "orphaned", note.target.quote, reason="already orphaned"))
            continue
        old_note = by_id.get(note.id)
        if old_note is None:
            report.placements.append(Placement(note, "broken", note.target.quote or note.target.paragraph,
                                               reason="does not anchor in the old text either; left as it was"))
            continue
        p = Placement(note, "orphaned", note.target.quote or f"¶ {note.target.paragraph}",
                      old_where=_where(old_index, old_note.anchor))
        edits: dict[str, str | None] = {}
        if note.target.paragraph:
            block = _paragraph(old_index, new_index, pmap, old_note)
            if block is not None:
                p.anchor = Anchor(block.id, 0, len(block.text))
                p.kind = "exact" if fold(block.text) == fold(_block_at(old_index, old_note.anchor).text) \
                    else "approximate"
                p.new_quote = f"¶ {block.number}"
                if block.number != note.target.paragraph.strip().lstrip("¶ ").strip():
                    edits = {"paragraph": block.number}
            else:
                p.reason = "the paragraph is no longer in the text"
        else:
            m = place_quote(old_index, new_index, pmap, old_note, hits, old_counts)
            if m is None:
                p.reason = "its words are no longer in the text"
            else:
                p.anchor = matching.to_anchor(new_index, m.start, m.end)
                edits, problem = _selector(new_index, note, p.anchor)
                if problem:
                    p.anchor, p.reason = None, problem
                else:
                    block = _block_at(new_index, p.anchor)
                    p.new_quote = block.text[p.anchor.start:p.anchor.end]
                    p.kind = "exact" if fold(p.new_quote) == quotes[note.id] else "approximate"
        p.new_where = _where(new_index, p.anchor)
        if p.kind == "orphaned":
            fields, target = {"status": STATUS_ORPHANED}, {}
        else:
            fields, target = {}, edits
        if fields or target:
            path = root / note.path
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8")
                new = edit_front_matter(text, fields, target)
            except (UnicodeDecodeError, EditError) as exc:
                p.reason += f"; file not rewritten: {exc}"
            else:
                if new != text:
                    p.rewritten = True
                    if not dry_run:
                        atomic_write(path, new)
        report.placements.append(p)

    _fix_structure(root, structure, new_text, report, dry_run)
    if not dry_run:
        _record(root, meta.text, new_text, new_bytes, new_sha)
    return report


def _fix_structure(root: Path, structure, text: str, report: Report, dry_run: bool) -> None:
    """Keep ``source/structure.toml`` in step with typographic changes of the text (’ → ', spaces...):
    a head whose words are still there in another typographic form is rewritten to the new characters."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    starts = {fold(ln): ln for ln in lines}
    path = root / "source" / "structure.toml"
    if not path.is_file():
        return
    raw = path.read_text(encoding="utf-8")
    updated = raw
    for whole, items in ((False, structure.run_in_heads + structure.run_in_subheads),
                         (True, structure.headings + structure.not_headings)):
        for value, _ in items:
            head = value.strip() if whole else value
            if (head in lines) if whole else any(ln.startswith(head) for ln in lines):
                continue
            f = fold(head)
            new = starts.get(f) if whole else next(
                (ln[:len(head) + k] for ln in lines for k in range(-3, 4) if fold(ln[:len(head) + k]) == f),
                None)
            literal = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            if new is None or literal not in updated:
                report.structure_missing.append(value)
                continue
            updated = updated.replace(literal, '"' + new.replace("\\", "\\\\").replace('"', '\\"') + '"', 1)
            report.structure_fixed.append((value, new))
    if updated != raw and not dry_run:
        atomic_write(path, updated)


def _record(root: Path, text_name: str, new_text: str, new_bytes: bytes, new_sha: str) -> None:
    """Record the new hash in edition.toml (that line only) and keep a copy of the anchored text."""
    path = root / "source" / "edition.toml"
    toml = path.read_text(encoding="utf-8")
    line = f'sha256 = "{new_sha}"'
    pattern = re.compile(r'^sha256\s*=\s*(".*?"|\'.*?\')[ \t]*$', re.M)
    updated = pattern.sub(line, toml, count=1) if pattern.search(toml) else \
        toml + ("" if toml.endswith("\n") or not toml else "\n") + line + "\n"
    if updated != toml:
        atomic_write(path, updated)
    cache = root / CACHE
    cache.mkdir(parents=True, exist_ok=True)
    keep = cache / f"{new_sha}.txt"
    if not keep.is_file():
        atomic_write(keep, new_bytes)
    for other in cache.glob("*.txt"):
        if other != keep:
            other.unlink()


def format_report(r: Report) -> str:
    out = []
    exact, approx, orphans = r.of("exact"), r.of("approximate"), r.of("orphaned")
    broken = r.of("broken")
    if r.changed:
        out.append(f"text changed: notes anchored to {r.old_source} ({r.old_sha[:12] or '?'}…), "
                   f"placed in the new text ({r.new_sha[:12]}…)")
    else:
        out.append("text unchanged: every note checked against it")
    moved = [p for p in exact if p.rewritten or p.old_where != p.new_where]
    out.append(f"placed exactly: {len(exact)}" + (f" ({len(moved)} moved or given a new prefix/suffix)"
                                                   if moved else ""))
    for p in moved:
        out.append(f"  {p.note.path}: {p.old_where} → {p.new_where}" + (" (selector rewritten)" if p.rewritten else ""))
    out.append(f"placed approximately: {len(approx)}")
    for p in approx:
        out.append(f"  {p.note.path}: {p.old_where} → {p.new_where}")
        out.append(f"    old: {p.old_quote!r}")
        out.append(f"    new: {p.new_quote!r}")
    out.append(f"orphaned: {len(orphans)}")
    for p in orphans:
        out.append(f"  {p.note.path}: {p.old_quote!r} ({p.reason}); status: orphaned")
    if broken:
        out.append(f"not anchored before the revision either (left as they were): {len(broken)}")
        for p in broken:
            out.append(f"  {p.note.path}")
    if r.structure_fixed:
        out.append(f"source/structure.toml: {len(r.structure_fixed)} head(s) rewritten to the text's new characters")
    for value in r.structure_missing:
        out.append(f"source/structure.toml: not in the text any more, fix by hand: {value[:70]!r}")
    rewritten = sum(p.rewritten for p in r.placements)
    out.append(f"{rewritten} note file(s) rewritten, {len(r.placements) - rewritten} left byte-identical")
    return "\n".join(out)


def add_parser(sub: argparse._SubParsersAction, dir_arg) -> None:
    p = sub.add_parser("reanchor", help="place every note again after the primary text was revised",
                       description="Anchor the notes in the text they were written against (--old FILE, else "
                       "source/.anchored/<recorded sha256>.txt, else that version in git history), find each "
                       "in the current text (exact, then with context, then approximately), rewrite only the "
                       "selectors that changed, mark the rest 'status: orphaned', and record the new sha256.")
    dir_arg(p)
    p.add_argument("--old", type=Path, help="the previous version of the text the notes were anchored to")
    p.add_argument("--dry-run", action="store_true", help="print the report, write nothing")


def run(args: argparse.Namespace) -> int:
    root = args.dir.resolve()
    try:
        report = reanchor(root, args.old, args.dry_run)
    except (ReanchorError, OSError, UnicodeDecodeError) as exc:
        print(f"make_edition.py reanchor: error: {exc}", file=sys.stderr)
        return 1
    print(format_report(report))
    if args.dry_run:
        print("(dry run: nothing written)")
    return 0
