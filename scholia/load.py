"""Run the readers over an edition folder and assemble one checked ``Edition`` model."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .anchoring import TextIndex, resolve
from .model import DEFAULT_NOTE_TYPES, STATUSES, Contributor, Diagnostic, Edition, Note, NoteType, blocks_of
from .readers.bibtex import read_bibliographies
from .readers.notes import read_note_types, read_notes
from .readers.source import build_parts, read_metadata, read_structure, read_text

STATUS_ORPHANED = "orphaned"


@dataclass(frozen=True)
class LoadOptions:
    include_drafts: bool = False


@dataclass
class Loaded:
    """The result of reading an edition: the model (None when reading could not get that far)
    and every diagnostic, errors and warnings, in file order."""

    edition: Edition | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    all_notes: list[Note] = field(default_factory=list)  # anchored, before status filtering

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def _contributors(root: Path) -> tuple[tuple[Contributor, ...], list[Diagnostic]]:
    path = root / "annotations" / "contributors.toml"
    if not path.is_file():
        return (), []
    rel = "annotations/contributors.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return (), [Diagnostic(rel, 1, "error", f"invalid TOML: {exc}")]
    out = []
    for item in data.get("contributor", []):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            return tuple(out), [Diagnostic(rel, 1, "error", "each [[contributor]] needs a string 'name'")]
        out.append(Contributor(item["name"], str(item.get("role", "")), str(item.get("affiliation", "")),
                               str(item.get("orcid", ""))))
    return tuple(out), []


def _read_optional(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _check_ids_and_keys(notes: list[Note], bib: dict, note_types: list[NoteType]) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    seen: dict[str, Note] = {}
    for note in notes:
        if note.id in seen:
            diags.append(Diagnostic(note.path, 1, "error",
                                    f"duplicate note id '{note.id}' (also {seen[note.id].path}): rename one file"))
        else:
            seen[note.id] = note
        for cite in note.citations:
            for item in cite.items:
                if item.key not in bib:
                    close = difflib.get_close_matches(item.key, list(bib), n=1, cutoff=0.5)
                    hint = f"; nearest key: '{close[0]}'" if close else ""
                    diags.append(Diagnostic(note.path, cite.line, "error", f"unknown citation key '{item.key}'{hint}"))
    return diags


def load_edition(root: Path, options: LoadOptions = LoadOptions()) -> Loaded:
    """Read source, structure, notes and bibliography; anchor the notes; collect all diagnostics."""
    root = root.resolve()
    diags: list[Diagnostic] = []
    meta, found = read_metadata(root)
    diags += found
    structure, found = read_structure(root)
    diags += found
    annotations = root / "annotations"
    if not annotations.is_dir():
        diags.append(Diagnostic("annotations", 1, "error",
                                "no annotations/ folder: an edition needs annotations/notes/"))

    extra_types, found = read_note_types(annotations / "note-types.toml", "annotations/note-types.toml")
    diags += found
    builtin = {t.name for t in DEFAULT_NOTE_TYPES}
    note_types = list(DEFAULT_NOTE_TYPES) + [t for t in extra_types if t.name not in builtin]
    statuses = STATUSES + (STATUS_ORPHANED,)
    notes, found = read_notes(annotations / "notes", root, tuple(t.name for t in note_types), statuses)
    diags += found
    bib, found = read_bibliographies(sorted(annotations.glob("*.bib")) if annotations.is_dir() else [], root)
    diags += found
    diags += _check_ids_and_keys(notes, bib, note_types)
    contributors, found = _contributors(root)
    diags += found

    if meta is None:
        return Loaded(None, _sorted(diags))
    text, text_path, found = read_text(root, meta)
    diags += found
    if text is None:
        return Loaded(None, _sorted(diags))
    markdown = text_path.suffix.lower() in (".md", ".markdown")
    parts, found = build_parts(text, structure, markdown, "source/structure.toml")
    diags += found

    blocks = [b for b, _ in blocks_of(parts)]
    index = TextIndex(blocks)
    live = [n for n in notes if n.status != STATUS_ORPHANED]
    for n in notes:
        if n.status == STATUS_ORPHANED:
            diags.append(Diagnostic(n.path, n.field_lines.get("status", 2), "warning",
                                    "orphaned note: its words are no longer in the text; "
                                    "fix the target and set its status"))
    anchored, found = resolve(index, live)
    diags += found
    order = {b.id: i for i, b in enumerate(blocks)}
    anchored.sort(key=lambda n: (order[n.anchor.block_id], n.anchor.start, -n.anchor.end, n.id))
    shown = [n for n in anchored if options.include_drafts or n.status == "reviewed"]
    edition = Edition(
        root=str(root), metadata=meta, source_text=text, source_path=str(text_path), parts=parts,
        notes=tuple(shown), bibliography=bib, note_types=tuple(note_types), contributors=contributors,
        introduction=_read_optional(annotations / "introduction.md"), about=_read_optional(annotations / "about.md"),
    )
    return Loaded(edition, _sorted(diags), anchored)


def _sorted(diags: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(diags, key=lambda d: (d.path, d.line, d.message))
