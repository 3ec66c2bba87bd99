"""``make_edition.py new-note "exact words"``: scaffold a note whose target ``check`` accepts."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..anchoring import TextIndex, fold, resolve, shortest_context
from ..load import load_edition
from ..model import Block, Note, Part, Target, blocks_of
from . import matching
from .notefile import NewNote, atomic_write, part_folder, render_note, slugify

PLACEHOLDER = ("TODO: write the note here in Markdown, citing sources in Pandoc syntax (see CONTRIBUTING.md), "
               "then set status: reviewed once a second editor has checked it.")


class NoteError(Exception):
    pass


@dataclass(frozen=True)
class Occurrence:
    start: int  # global folded offsets
    end: int
    block: Block
    part: Part


def occurrences(index: TextIndex, parts: tuple[Part, ...], words: str) -> list[Occurrence]:
    """Every place the words stand within one paragraph or heading (whole words preferred)."""
    q = fold(words)
    hits = [(s, e) for s, e in index.find_all([q]).get(q, []) if matching.inside_one_block(index, s, e)]
    t = index.text
    bounded = [(s, e) for s, e in hits if (s == 0 or not (t[s - 1].isalnum() and t[s].isalnum()))
               and (e == len(t) or not (t[e - 1].isalnum() and t[e].isalnum()))]
    part_of = {b.id: p for b, p in blocks_of(parts)}
    out = []
    for s, e in bounded or hits:
        block = index.blocks[index.locate(s)[0]].block
        out.append(Occurrence(s, e, block, part_of[block.id]))
    return out


def _show(index: TextIndex, o: Occurrence) -> str:
    t = index.text
    before, after = t[max(0, o.start - 30):o.start], t[o.end:o.end + 30]
    return f"¶ {o.block.number}: …{before}[{t[o.start:o.end]}]{after}…"


def choose(index: TextIndex, found: list[Occurrence], words: str, paragraph: str = "",
           occurrence: int = 0) -> Occurrence:
    """The occurrence the annotator means, or a NoteError listing the candidates."""
    if not found:
        near = index.nearest(fold(words))
        hint = f"\nnearest match in ¶ {near[0].number}: {near[1]!r}" if near else ""
        raise NoteError(f"the words are not in the text: {words!r}{hint}")
    if paragraph:
        number = paragraph.strip().lstrip("¶ ").strip()
        found = [o for o in found if o.block.number == number]
        if not found:
            raise NoteError(f"the words are not in ¶ {number}")
    if occurrence:
        if not 1 <= occurrence <= len(found):
            raise NoteError(f"--occurrence {occurrence}: there are {len(found)} occurrence(s)")
        return found[occurrence - 1]
    if len(found) == 1:
        return found[0]
    listing = "\n".join(f"  {i}. {_show(index, o)}" for i, o in enumerate(found, 1))
    raise NoteError(f"the words occur {len(found)} times; choose one with --occurrence N "
                    f"(or --in PARAGRAPH, or quote more words):\n{listing}")


def target_for(index: TextIndex, found: list[Occurrence], chosen: Occurrence) -> Target:
    """The exact characters of the chosen span, with the shortest prefix or suffix that makes it unique."""
    anchor = matching.to_anchor(index, chosen.start, chosen.end)
    quote = chosen.block.text[anchor.start:anchor.end]
    q = fold(quote)
    others = [(s, e) for s, e in index.find_all([q]).get(q, []) if (s, e) != (chosen.start, chosen.end)
              and matching.inside_one_block(index, s, e)]
    candidates = [Target(quote)]
    if others:
        kind, ctx = shortest_context(index, (chosen.start, chosen.end), others)
        candidates.insert(0, Target(quote, **{kind: ctx}))
        candidates.append(Target(quote, prefix=index.text[max(0, chosen.start - 40):chosen.start],
                                 suffix=index.text[chosen.end:chosen.end + 40]))
    probe = Note(id="new", path="new", type="gloss", status="draft", authors=(), tags=(), target=Target(),
                 body="x", body_line=1, citations=())
    for target in candidates:
        got, _ = resolve(index, [dataclasses.replace(probe, target=target)])
        if got and got[0].anchor == anchor:
            return target
    raise NoteError("no prefix or suffix tells this occurrence apart; quote more words")


def _git_user(root: Path) -> str:
    try:
        r = subprocess.run(["git", "-C", str(root), "config", "user.name"], capture_output=True, text=True,
                           timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return r.stdout.strip() if r.returncode == 0 else ""


def _today() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.datetime.fromtimestamp(int(epoch), datetime.UTC) if epoch and epoch.isdigit() \
        else datetime.datetime.now(datetime.UTC)
    return when.date().isoformat()


def note_path(root: Path, part: Part, quote: str, taken: set[str], stem: str = "") -> Path:
    folder = part_folder(part)
    base = stem or f"{folder.lower()}-{slugify(quote, max_words=4) or 'note'}"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return root / "annotations" / "notes" / folder / f"{name}.md"


def new_note(root: Path, words: str, note_type: str = "gloss", authors: tuple[str, ...] = (),
             tags: tuple[str, ...] = (), paragraph: str = "", occurrence: int = 0, stem: str = "") -> Path:
    """Write the note file and return its path."""
    loaded = load_edition(root)
    edition = loaded.edition
    if edition is None:
        raise NoteError("the edition cannot be read; run `make_edition.py check` first:\n"
                        + "\n".join(str(d) for d in loaded.errors))
    if note_type not in {t.name for t in edition.note_types}:
        raise NoteError(f"unknown type {note_type!r} (one of: {', '.join(t.name for t in edition.note_types)})")
    index = TextIndex(list(edition.blocks))
    if not words.strip():
        raise NoteError("give the exact words of the text to annotate")
    found = occurrences(index, edition.parts, words)
    chosen = choose(index, found, words, paragraph, occurrence)
    target = target_for(index, found, chosen)
    taken = {p.stem for p in (root / "annotations" / "notes").rglob("*.md")}
    path = note_path(root, chosen.part, target.quote, taken, stem)
    if path.exists() or (stem and stem in taken):
        raise NoteError(f"a note with id {path.stem!r} exists already")
    note = NewNote(quote=target.quote, prefix=target.prefix, suffix=target.suffix, type=note_type,
                   authors=authors, tags=tags, extra=(("created", _today()),), body=PLACEHOLDER)
    atomic_write(path, render_note(note))
    return path


def add_parser(sub: argparse._SubParsersAction, dir_arg) -> None:
    p = sub.add_parser("new-note", help="scaffold a note on the exact words of the text",
                       description="Find the words in the text, add the shortest prefix or suffix that makes "
                       "the target unique, write annotations/notes/<part>/<id>.md with the front matter filled "
                       "in and a body to replace, and print its path.")
    p.add_argument("words", help="the exact words of the text (typographic quotes and dashes may differ)")
    dir_arg(p)
    p.add_argument("--type", default="gloss", help="note type (default: gloss)")
    p.add_argument("--author", action="append", default=[],
                   help="author name; repeat for several (default: git config user.name)")
    p.add_argument("--tag", action="append", default=[], help="a tag; repeat for several")
    p.add_argument("--in", dest="paragraph", default="", help="the paragraph number when the words repeat (I.12)")
    p.add_argument("--occurrence", type=int, default=0, help="which occurrence, counted from 1, when they repeat")
    p.add_argument("--id", default="", help="the note's id (file name without .md); default: from the words")


def run(args: argparse.Namespace) -> int:
    root = args.dir.resolve()
    authors = tuple(args.author) or tuple(a for a in (_git_user(root),) if a)
    try:
        path = new_note(root, args.words, args.type, authors, tuple(args.tag), args.paragraph, args.occurrence,
                        slugify(args.id) if args.id else "")
    except NoteError as exc:
        print(f"make_edition.py new-note: {exc}", file=sys.stderr)
        return 1
    try:
        print(path.relative_to(Path.cwd()))
    except ValueError:
        print(path)
    return 0
