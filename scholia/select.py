"""Choose what a reader prints: an excerpt of the text (``--select``) and which notes (``--types``,
``--exclude-types``, ``--tags``, ``--status``, ``--no-notes``). A stage between reading and
rendering, like a Pandoc filter: it takes an Edition and gives a smaller one, keeping every
paragraph's number and id so citations of the full edition stay valid."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .model import Block, Edition, Note, Part, blocks_of


class SelectionError(ValueError):
    """A selection that names nothing in the text, or a range that runs backwards."""


@dataclass(frozen=True)
class NoteFilter:
    types: tuple[str, ...] = ()  # keep only these types (empty: all)
    exclude_types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # keep notes with at least one of these tags (empty: all)
    statuses: tuple[str, ...] = ("reviewed",)
    none: bool = False  # --no-notes: the clean text

    def keeps(self, note: Note) -> bool:
        return (not self.none and note.status in self.statuses
                and (not self.types or note.type in self.types)
                and note.type not in self.exclude_types
                and (not self.tags or bool(set(self.tags) & set(note.tags))))


def _paragraph_order(parts: tuple[Part, ...]) -> tuple[list[Block], dict[str, int]]:
    paragraphs = [b for b, _ in blocks_of(parts) if b.kind == "paragraph"]
    return paragraphs, {b.number: i for i, b in enumerate(paragraphs)}


def _describe_choices(parts: tuple[Part, ...]) -> str:
    return ", ".join(p.label for p in parts)


def parse_selection(spec: str, parts: tuple[Part, ...]) -> set[str]:
    """``"I,IV-V"`` (parts) or ``"II.3-II.9"`` (paragraphs), or both mixed: the ids of the chosen paragraphs."""
    paragraphs, index = _paragraph_order(parts)
    labels = [p.label for p in parts]
    chosen: set[str] = set()

    def span(item: str) -> tuple[int, int]:
        """The first and last paragraph index an item stands for."""
        if item in labels:
            part = parts[labels.index(item)]
            own = [index[b.number] for b in part.paragraphs]
            if not own:
                raise SelectionError(f"part {item} has no paragraphs")
            return own[0], own[-1]
        if item in index:
            return index[item], index[item]
        if re.fullmatch(r"[^.\s]+\.\d+", item):
            label, n = item.rsplit(".", 1)
            if label in labels:
                count = len(parts[labels.index(label)].paragraphs)
                raise SelectionError(f"no paragraph {item}: part {label} has paragraphs {label}.1 to {label}.{count}")
            raise SelectionError(f"no part {label!r} (parts: {_describe_choices(parts)})")
        raise SelectionError(f"no part or paragraph {item!r} (parts: {_describe_choices(parts)}; "
                             "paragraphs look like II.3)")

    items = [s.strip() for s in spec.split(",")]
    if not spec.strip() or not all(items):
        raise SelectionError(f"empty item in selection {spec!r}")
    for item in items:
        if "-" in item:
            first, _, last = (x.strip() for x in item.partition("-"))
            a, _ = span(first)
            _, b = span(last)
            if a > b:
                raise SelectionError(f"range {item!r} runs backwards: {first} comes after {last}; write {last}-{first}")
        else:
            a, b = span(item)
        chosen.update(p.id for p in paragraphs[a:b + 1])
    return chosen


def excerpt(edition: Edition, selection: str = "", notes: NoteFilter = NoteFilter()) -> Edition:
    """The edition cut to the selected paragraphs and filtered notes; numbers and ids unchanged."""
    parts = edition.parts
    kept_notes = [n for n in edition.notes if notes.keeps(n)]
    if not selection:
        return replace(edition, notes=tuple(kept_notes))
    chosen = parse_selection(selection, parts)
    new_parts, contents = [], []
    for part in parts:
        sections = []
        for s in part.sections:
            paras = tuple(p for p in s.paragraphs if p.id in chosen)
            if paras:
                sections.append(replace(s, paragraphs=paras))
        if sections:
            new_parts.append(replace(part, sections=tuple(sections)))
            kept = [p for s in sections for p in s.paragraphs]
            name = " ".join(part.heading.text.split()) if part.heading else part.label
            if len(kept) < len(part.paragraphs):
                name += f" (¶ {_ranges(kept, part.paragraphs)})"
            contents.append(name)
    whole = {part.id for part in parts if {b.id for b in part.paragraphs} <= chosen}
    present = {b.id for b, part in blocks_of(tuple(new_parts))
               if b.kind == "paragraph" or part.id in whole}
    return replace(edition, parts=tuple(new_parts), notes=tuple(n for n in kept_notes if n.anchor.block_id in present),
                   selection=selection, contents=tuple(contents))


def _ranges(kept: list[Block], all_paragraphs: tuple[Block, ...]) -> str:
    """``II.3–II.5, II.9``: the kept paragraphs as runs."""
    position = {b.id: i for i, b in enumerate(all_paragraphs)}
    runs: list[list[Block]] = []
    for b in kept:
        if runs and position[b.id] == position[runs[-1][-1].id] + 1:
            runs[-1].append(b)
        else:
            runs.append([b])
    return ", ".join(r[0].number if len(r) == 1 else f"{r[0].number}–{r[-1].number}" for r in runs)
