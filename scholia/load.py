"""Run the readers over an edition folder and assemble one checked ``Edition`` model."""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .model import (
    DEFAULT_NOTE_TYPES,
    STATUSES,
    Contributor,
    Diagnostic,
    Edition,
    Layer,
    Note,
    NoteType,
    blocks_of,
)
from .timing import stage

STATUS_ORPHANED = "orphaned"


@dataclass(frozen=True)
class LoadOptions:
    layers: tuple[Path, ...] = ()  # further annotation trees (--layer), on top of annotations/


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


def _merge_types(known: list[NoteType], more: list[NoteType]) -> list[NoteType]:
    names = {t.name for t in known}
    return known + [t for t in more if t.name not in names]


def _read_layer(folder: Path) -> tuple[Layer | None, list[NoteType], list[Diagnostic]]:
    """A ``--layer`` folder: ``layer.toml`` (name, label, style, [[type]]), notes, optional .bib files."""
    from .readers import read_utf8
    from .readers.notes import read_note_types

    where = folder.as_posix()
    if not folder.is_dir():
        return None, [], [Diagnostic(where, 1, "error", "layer folder not found")]
    config = folder / "layer.toml"
    data: dict = {}
    if config.is_file():
        try:
            data = tomllib.loads(config.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            return None, [], [Diagnostic(config.as_posix(), 1, "error", f"invalid TOML: {exc}")]
    name = str(data.get("name", folder.name))
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        return None, [], [Diagnostic(config.as_posix(), 1, "error",
                                     f"layer name {name!r}: use letters, digits, '-' and '_'")]
    css = ""
    if data.get("style"):
        style = (folder / str(data["style"])).resolve()
        if not style.is_relative_to(folder) or not style.is_file():
            return None, [], [Diagnostic(config.as_posix(), 1, "error",
                                         f"style {data['style']!r} is not a file inside the layer folder")]
        css, bad = read_utf8(style, style.as_posix())
        if css is None:
            return None, [], bad
    types, diags = read_note_types(config, config.as_posix()) if config.is_file() else ([], [])
    label = str(data.get("label", name.replace("-", " ").capitalize()))
    return Layer(name, label, css), types, diags


def _read_optional(path: Path, rel: str, diags: list[Diagnostic]) -> str:
    """An optional text file of the edition ("" when absent); its problems go to ``diags``."""
    from .readers import read_utf8

    if not path.is_file():
        return ""
    text, found = read_utf8(path, rel)
    diags += found
    return text or ""


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
    # The readers (YAML, BibTeX, LaTeX decoding) are imported here, not with the module: a build reads
    # in a forked process, and this module's ``Loaded`` is all the other needs to take the result.
    from .anchoring import TextIndex, resolve
    from .readers.bibtex import read_bibliographies
    from .readers.notes import read_note_types, read_notes
    from .readers.source import build_parts, read_metadata, read_structure, read_text

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
    note_types = _merge_types(list(DEFAULT_NOTE_TYPES), extra_types)
    layers: list[Layer] = []
    layer_dirs: list[tuple[Path, str]] = []
    for folder in options.layers:
        layer, types, found = _read_layer(folder.resolve())
        diags += found
        if layer:
            layers.append(layer)
            note_types = _merge_types(note_types, types)
            layer_dirs.append((folder.resolve(), layer.name))
    statuses = STATUSES + (STATUS_ORPHANED,)
    type_names = tuple(t.name for t in note_types)
    notes, found = read_notes(annotations / "notes", root, type_names, statuses)
    diags += found
    bib_files = sorted(annotations.glob("*.bib")) if annotations.is_dir() else []
    for folder, name in layer_dirs:
        notes_dir = folder / "notes" if (folder / "notes").is_dir() else folder
        more, found = read_notes(notes_dir, root, type_names, statuses, layer=name)
        notes += more
        diags += found
        bib_files += sorted(folder.glob("*.bib"))
    bib, found = read_bibliographies(bib_files, root)
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
    if not parts:
        diags.append(Diagnostic(f"source/{meta.text}", 1, "error", "the text has no headings or paragraphs: "
                                "put the primary text in this file"))

    blocks = [b for b, _ in blocks_of(parts)]
    with stage("anchor"):
        index = TextIndex(blocks)
    live = [n for n in notes if n.status != STATUS_ORPHANED]
    for n in notes:
        if n.status == STATUS_ORPHANED:
            diags.append(Diagnostic(n.path, n.field_lines.get("status", 2), "warning",
                                    "orphaned note: its words are no longer in the text; "
                                    "fix the target and set its status"))
    with stage("anchor"):
        anchored, found = resolve(index, live)
    diags += found
    order = {b.id: i for i, b in enumerate(blocks)}
    anchored.sort(key=lambda n: (order[n.anchor.block_id], n.anchor.start, -n.anchor.end, n.id))
    diags += _crowded_calls(anchored, {b.id: b.number for b in blocks})
    edition = Edition(
        root=str(root), metadata=meta, source_text=text, source_path=str(text_path), parts=parts,
        notes=tuple(anchored), bibliography=bib, note_types=tuple(note_types), contributors=contributors,
        introduction=_read_optional(annotations / "introduction.md", "annotations/introduction.md", diags),
        about=_read_optional(annotations / "about.md", "annotations/about.md", diags),
        layers=tuple(layers), source_sha256=hashlib.sha256(text_path.read_bytes()).hexdigest(),
    )
    return Loaded(edition, _sorted(diags), anchored)


MAX_CALLS_TOGETHER = 20  # note calls that end at one place stand side by side, on one line


def _crowded_calls(notes: list[Note], numbers: dict[str, str]) -> list[Diagnostic]:
    """More notes ending at one place than a line can hold calls for (they would run off the page)."""
    at: dict[tuple[str, int], list[Note]] = {}
    for n in notes:
        at.setdefault((n.anchor.block_id, n.anchor.end), []).append(n)
    return [Diagnostic(group[MAX_CALLS_TOGETHER].path, group[MAX_CALLS_TOGETHER].field_lines.get("target", 2), "error",
                       f"{len(group)} notes end at the same place in ¶ {numbers[block]}; their calls stand side by "
                       f"side and at most {MAX_CALLS_TOGETHER} fit a line: merge some of them")
            for (block, _), group in at.items() if len(group) > MAX_CALLS_TOGETHER]


def _sorted(diags: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(diags, key=lambda d: (d.path, d.line, d.message))
