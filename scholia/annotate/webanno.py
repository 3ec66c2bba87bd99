"""W3C Web Annotations: ``export-annotations`` writes the notes as a JSON-LD AnnotationCollection,
``import-annotations`` turns such JSON (ours, any W3C producer's, or the Hypothesis API's) into notes.

Each exported annotation carries a TextQuoteSelector (the text's exact characters, with the note's
own prefix/suffix) and a TextPositionSelector (code-point offsets in the primary text file); its
bodies are the note as Markdown (``commenting``), its type (``classifying``) and its tags
(``tagging``). Fields the model has no term for travel as ``scholia:`` properties, so an export
imports back into the same notes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..anchoring import TextIndex, fold, resolve
from ..load import STATUS_ORPHANED, load_edition
from ..model import DEFAULT_NOTE_TYPES, STATUSES, Block, Note, Target, blocks_of
from ..readers.notes import read_note_types, read_notes
from . import matching
from .newnote import NoteError, Occurrence, occurrences, target_for
from .notefile import NewNote, atomic_write, part_folder, render_note, slugify

CONTEXT = ["http://www.w3.org/ns/anno.jsonld", {"scholia": "urn:scholia:vocab#"}]
MOTIVATION = {"gloss": "describing", "context": "commenting", "data": "assessing", "assessment": "assessing",
              "textual": "commenting", "crossref": "linking"}
FROM_MOTIVATION = {"describing": "gloss", "assessing": "assessment", "linking": "crossref", "commenting": "context",
                   "questioning": "context", "identifying": "gloss", "classifying": "gloss", "editing": "textual"}
EXTRA_ORDER = ("created", "modified", "title", "license", "source", "lang")


class AnnotationError(Exception):
    pass


def _identifier(meta) -> str:
    return meta.identifier or f"urn:scholia:{meta.slug}"


def _note_iri(identifier: str, note_id: str) -> str:
    return f"{identifier}:note:{note_id}" if identifier.startswith("urn:") else \
        f"{identifier.rstrip('/')}/notes/{note_id}"


def _file_offset(source: str, block: Block, start: int, end: int) -> tuple[int, int] | None:
    """Code-point offsets in the text file of ``block.text[start:end]`` (None when they cannot be told)."""
    exact = block.text[start:end]
    s = block.source_offset(start)
    if source[s:s + len(exact)] == exact:
        return s, s + len(exact)
    near = source.find(exact, max(0, s - 200))
    if 0 <= near <= s + 200:
        return near, near + len(exact)
    return None


def _all_notes(root: Path, note_types) -> list[Note]:
    statuses = STATUSES + (STATUS_ORPHANED,)
    notes, _ = read_notes(root / "annotations" / "notes", root, tuple(t.name for t in note_types), statuses)
    return notes


def export_collection(root: Path) -> tuple[dict, list[str]]:
    """The edition's notes as an AnnotationCollection, and the paths of notes left out (unreadable)."""
    loaded = load_edition(root)
    ed = loaded.edition
    if ed is None:
        raise AnnotationError("the edition cannot be read:\n" + "\n".join(str(d) for d in loaded.errors))
    identifier = _identifier(ed.metadata)
    anchored = {n.id: n for n in loaded.all_notes}
    blocks = {b.id: b for b in ed.blocks}
    items, skipped = [], []
    for note in _all_notes(root, ed.note_types):
        a = anchored.get(note.id)
        if a is None and note.status != STATUS_ORPHANED:
            skipped.append(note.path)
            continue
        items.append(_annotation(note, a, blocks, ed, identifier))
    collection = {
        "@context": CONTEXT,
        "id": f"{identifier}:annotations" if identifier.startswith("urn:") else f"{identifier.rstrip('/')}/notes",
        "type": "AnnotationCollection",
        "label": f"Notes on {ed.metadata.title}",
        "total": len(items),
        "first": {"type": "AnnotationPage", "startIndex": 0, "items": items},
    }
    return collection, skipped


def _annotation(note: Note, anchored: Note | None, blocks: dict[str, Block], ed, identifier: str) -> dict:
    t = note.target
    selectors: list[dict] = []
    if anchored is not None:
        block = blocks[anchored.anchor.block_id]
        exact = block.text[anchored.anchor.start:anchored.anchor.end]
        quote = {"type": "TextQuoteSelector", "exact": exact}
        if t.prefix:
            quote["prefix"] = t.prefix
        if t.suffix:
            quote["suffix"] = t.suffix
        selectors.append(quote)
        pos = _file_offset(ed.source_text, block, anchored.anchor.start, anchored.anchor.end)
        if pos:
            selectors.append({"type": "TextPositionSelector", "start": pos[0], "end": pos[1]})
    else:
        quote = {"type": "TextQuoteSelector", "exact": t.quote or ""}
        quote.update({k: getattr(t, k) for k in ("prefix", "suffix") if getattr(t, k)})
        selectors.append(quote)
    target: dict = {"source": identifier, "selector": selectors}
    body: dict = {"type": "TextualBody", "purpose": "commenting", "format": "text/markdown",
                  "value": note.body.strip("\n")}
    lang = note.extra.get("lang") or ed.metadata.language
    if lang:
        body["language"] = lang
    bodies = [body, {"type": "TextualBody", "purpose": "classifying", "value": note.type}]
    bodies += [{"type": "TextualBody", "purpose": "tagging", "value": tag} for tag in note.tags]
    ann: dict = {"id": _note_iri(identifier, note.id), "type": "Annotation",
                 "motivation": MOTIVATION.get(note.type, "commenting"), "body": bodies, "target": target}
    if note.authors:
        ann["creator"] = [{"name": a} for a in note.authors]
    for key in ("created", "modified"):
        if note.extra.get(key):
            ann[key] = note.extra[key]
    if note.extra.get("license"):
        ann["rights"] = note.extra["license"]
    ann["scholia:id"] = note.id
    ann["scholia:status"] = note.status
    if t.paragraph:
        ann["scholia:paragraph"] = t.paragraph
    for key in ("title", "source"):
        if note.extra.get(key):
            ann[f"scholia:{key}"] = note.extra[key]
    if note.extra.get("lang"):
        ann["scholia:lang"] = note.extra["lang"]
    return ann


# --- import ----------------------------------------------------------------------------------

@dataclass
class Incoming:
    """One annotation read from JSON, in the note model's terms."""

    origin: str  # the annotation's id, for messages
    exact: str = ""
    prefix: str = ""
    suffix: str = ""
    position: int | None = None
    paragraph: str = ""
    body: str = ""
    type: str = ""
    tags: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    status: str = ""
    note_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    ours: bool = False  # written by export-annotations: keep its selector as it is


def _items(data) -> list[dict]:
    """Annotations from a collection, a page, a list, a Hypothesis search result or a single annotation."""
    if isinstance(data, list):
        return [x for item in data for x in _items(item)]
    if not isinstance(data, dict):
        return []
    if "rows" in data:  # Hypothesis API search
        return _items(data["rows"])
    if "items" in data:
        return _items(data["items"]) + _items(data.get("next") if isinstance(data.get("next"), dict) else None)
    if isinstance(data.get("first"), dict):
        return _items(data["first"])
    kinds = data.get("type")
    if kinds == "Annotation" or (isinstance(kinds, list) and "Annotation" in kinds) or "target" in data:
        return [data]
    return []


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _name(creator) -> str:
    if isinstance(creator, str):
        return creator.removeprefix("acct:").split("@")[0]
    if isinstance(creator, dict):
        return str(creator.get("name") or creator.get("nickname") or creator.get("id") or "")
    return ""


def read_incoming(ann: dict, type_names: set[str]) -> Incoming | None:
    """The fields of one annotation (None for replies and page notes, which have no quote)."""
    inc = Incoming(origin=str(ann.get("id", "?")))
    if ann.get("references"):  # a Hypothesis reply
        return None
    for target in _as_list(ann.get("target")):
        if not isinstance(target, dict):
            continue
        for sel in _as_list(target.get("selector")):
            if not isinstance(sel, dict):
                continue
            if sel.get("type") == "TextQuoteSelector" and not inc.exact:
                inc.exact = str(sel.get("exact", ""))
                inc.prefix, inc.suffix = str(sel.get("prefix", "")), str(sel.get("suffix", ""))
            elif sel.get("type") == "TextPositionSelector" and isinstance(sel.get("start"), int):
                inc.position = sel["start"]
    inc.paragraph = str(ann.get("scholia:paragraph", ""))
    if not inc.exact and not inc.paragraph:
        return None
    bodies = _as_list(ann.get("body"))
    texts = []
    for b in bodies:
        if isinstance(b, str):
            texts.append(b)
            continue
        if not isinstance(b, dict):
            continue
        purpose = b.get("purpose", "")
        value = str(b.get("value", ""))
        if purpose == "tagging":
            inc.tags.append(value)
        elif purpose == "classifying" and value in type_names:
            inc.type = value
        elif b.get("type", "TextualBody") == "TextualBody" and value:
            texts.append(value)
            if b.get("language"):
                inc.extra.setdefault("lang_body", str(b["language"]))
    if "text" in ann:  # Hypothesis' own format
        texts.append(str(ann.get("text") or ""))
        inc.tags += [str(t) for t in _as_list(ann.get("tags"))]
    inc.body = "\n\n".join(t.strip("\n") for t in texts if t.strip())
    if not inc.type:
        typed = [t for t in inc.tags if t in type_names]
        if typed:
            inc.type = typed[0]
            inc.tags = [t for t in inc.tags if t != typed[0]]
    if not inc.type:
        motivation = next((m for m in _as_list(ann.get("motivation")) if isinstance(m, str)), "commenting")
        guess = FROM_MOTIVATION.get(motivation.removeprefix("oa:"), "context")
        inc.type = guess if guess in type_names else sorted(type_names)[0]
    creators = _as_list(ann.get("creator"))
    info = ann.get("user_info") if isinstance(ann.get("user_info"), dict) else {}
    if not creators and ann.get("user"):
        creators = [info.get("display_name") and {"name": info["display_name"]} or ann["user"]]
    inc.authors = [n for n in (_name(c) for c in creators) if n]
    inc.status = str(ann.get("scholia:status", ""))
    inc.note_id = slugify(str(ann.get("scholia:id", "")))
    inc.ours = bool(inc.note_id)
    for key, source in (("created", "created"), ("modified", "modified"), ("modified", "updated"),
                        ("license", "rights"), ("title", "scholia:title"), ("source", "scholia:source"),
                        ("lang", "scholia:lang")):
        if ann.get(source) and isinstance(ann[source], str) and key not in inc.extra:
            inc.extra[key] = ann[source]
    inc.extra.pop("lang_body", None)
    return inc


@dataclass
class ImportReport:
    written: list[Path] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    orphaned: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # not notes: replies, page notes, empty highlights


def _source_pos(o: Occurrence, index: TextIndex) -> int:
    b, s = index.locate(o.start)
    return o.block.lines[0].offset + index.blocks[b].source(s) if o.block.lines else o.start


def _place(index: TextIndex, found: list[Occurrence], inc: Incoming) -> Occurrence:
    """The occurrence the selectors describe: best context, then nearest to the recorded position."""
    if len(found) == 1:
        return found[0]
    p, s = fold(inc.prefix) if inc.prefix else "", fold(inc.suffix) if inc.suffix else ""

    def key(o: Occurrence) -> tuple[float, int]:
        m = matching.score(index, o.start, o.end, index.text[o.start:o.end], p, s, None, exact=True)
        dist = abs(_source_pos(o, index) - inc.position) if inc.position is not None else 0
        return (-round(m.score, 6), dist)

    return min(found, key=key)


def import_annotations(root: Path, data, default_status: str = "draft") -> ImportReport:
    """Write a note file for each new annotation in ``data`` (parsed JSON)."""
    loaded = load_edition(root)
    ed = loaded.edition
    if ed is None:
        raise AnnotationError("the edition cannot be read:\n" + "\n".join(str(d) for d in loaded.errors))
    extra_types, _ = read_note_types(root / "annotations" / "note-types.toml", "annotations/note-types.toml")
    type_names = {t.name for t in DEFAULT_NOTE_TYPES} | {t.name for t in extra_types}
    index = TextIndex(list(ed.blocks))
    part_of = {b.id: p for b, p in blocks_of(ed.parts)}
    existing = _all_notes(root, ed.note_types)
    taken = {p.stem for p in (root / "annotations" / "notes").rglob("*.md")}
    anchors = {n.id: n.anchor for n in loaded.all_notes}
    seen = {(anchors.get(n.id) or fold(n.target.quote or n.target.paragraph), _norm(n.body)) for n in existing}
    report = ImportReport()
    for ann in _items(data):
        inc = read_incoming(ann, type_names)
        if inc is None or not inc.body.strip():
            report.skipped.append(str(ann.get("id", "?")) if isinstance(ann, dict) else "?")
            continue
        chosen: Occurrence | None = None
        target = Target(inc.exact, inc.prefix, inc.suffix)
        if inc.paragraph:
            block = index.by_number.get(inc.paragraph.strip().lstrip("¶ ").strip())
            target = Target(paragraph=inc.paragraph)
            anchor = resolve(index, [_probe(target)])[0]
            anchor = anchor[0].anchor if anchor else None
            part = part_of.get(block.id) if block else None
        else:
            found = occurrences(index, ed.parts, inc.exact)
            if found:
                chosen = _place(index, found, inc)
                anchor = matching.to_anchor(index, chosen.start, chosen.end)
                mine = resolve(index, [_probe(target)])[0] if inc.ours else []
                if not (mine and mine[0].anchor == anchor):
                    try:
                        target = target_for(index, found, chosen)
                    except NoteError:
                        anchor = None
            else:
                anchor = None
            part = chosen.part if chosen else None
        key = (anchor or fold(inc.exact or inc.paragraph), _norm(inc.body))
        if key in seen:
            report.duplicates.append(inc.origin)
            continue
        seen.add(key)
        status = inc.status if inc.status in STATUSES + (STATUS_ORPHANED,) else default_status
        if anchor is None:
            status = STATUS_ORPHANED
        folder = part_folder(part) if part else "unplaced"
        stem = inc.note_id or f"{folder.lower()}-{slugify(inc.exact or inc.paragraph, max_words=4) or 'note'}"
        if stem in taken:
            digest = hashlib.sha256(f"{inc.exact}\n{inc.body}".encode()).hexdigest()[:6]
            stem = f"{stem}-{digest}"
        n = 2
        base = stem
        while stem in taken:
            stem, n = f"{base}-{n}", n + 1
        taken.add(stem)
        path = root / "annotations" / "notes" / folder / f"{stem}.md"
        note = NewNote(quote=target.quote, prefix=target.prefix, suffix=target.suffix, paragraph=target.paragraph,
                       type=inc.type, authors=tuple(inc.authors), status=status, tags=tuple(inc.tags),
                       extra=tuple((k, inc.extra[k]) for k in EXTRA_ORDER if inc.extra.get(k)), body=inc.body)
        atomic_write(path, render_note(note))
        (report.orphaned if status == STATUS_ORPHANED and anchor is None else report.written).append(path)
    return report


def _norm(body: str) -> str:
    return " ".join(body.split())


def _probe(target: Target) -> Note:
    return Note(id="incoming", path="incoming", type="gloss", status="draft", authors=(), tags=(), target=target,
                body="x", body_line=1, citations=())


# --- commands --------------------------------------------------------------------------------

def add_export_parser(sub: argparse._SubParsersAction, dir_arg) -> None:
    p = sub.add_parser("export-annotations", help="write the notes as a W3C Web Annotation collection (JSON-LD)",
                       description="Write every readable note as a W3C Web Annotation in one JSON-LD "
                       "AnnotationCollection: TextQuoteSelector and TextPositionSelector on the edition's "
                       "identifier, the body as Markdown, creator, created/modified, a motivation from the type.")
    dir_arg(p)
    p.add_argument("--out", type=Path, required=True, help="the JSON file to write ('-': standard output)")


def add_import_parser(sub: argparse._SubParsersAction, dir_arg) -> None:
    p = sub.add_parser("import-annotations", help="write notes from W3C Web Annotations or a Hypothesis export",
                       description="Read a W3C Web Annotation (collection, page, list or single annotation) or a "
                       "Hypothesis API search result, and write a note file for each annotation that is not "
                       "already a note. Annotations whose words are not in the text are written with status "
                       "orphaned; replies, page notes and highlights without text are skipped.")
    dir_arg(p)
    p.add_argument("file", type=Path, help="the JSON file ('-': standard input)")
    p.add_argument("--status", default="draft", choices=STATUSES, help="status of imported notes (default: draft)")


def run_export(args: argparse.Namespace) -> int:
    root = args.dir.resolve()
    try:
        collection, skipped = export_collection(root)
    except AnnotationError as exc:
        print(f"make_edition.py export-annotations: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(collection, ensure_ascii=False, indent=2) + "\n"
    if str(args.out) == "-":
        sys.stdout.write(text)
    else:
        atomic_write(args.out, text)
        print(f"{args.out}: {collection['total']} annotation(s)", file=sys.stderr)
    for path in skipped:
        print(f"{path}: not exported: the note does not anchor (run `make_edition.py check`)", file=sys.stderr)
    return 1 if skipped else 0


def run_import(args: argparse.Namespace) -> int:
    root = args.dir.resolve()
    try:
        raw = sys.stdin.read() if str(args.file) == "-" else args.file.read_text(encoding="utf-8")
        data = json.loads(raw)
        report = import_annotations(root, data, args.status)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AnnotationError) as exc:
        print(f"make_edition.py import-annotations: {exc}", file=sys.stderr)
        return 1
    for path in report.written:
        print(path)
    for path in report.orphaned:
        print(f"{path}: the words are not in the text: written with status orphaned")
    print(f"{len(report.written)} note(s) written, {len(report.orphaned)} orphaned, {len(report.duplicates)} "
          f"duplicate(s) of existing notes skipped, {len(report.skipped)} annotation(s) without a quote or text "
          "skipped", file=sys.stderr)
    return 0
