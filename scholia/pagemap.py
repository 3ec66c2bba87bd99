"""Print-page correspondence: where each page of the laid-out print edition begins in the primary text.

The EPUB writer places ``pagebreak`` markers from this map, so a reader of the EPUB can cite the
pages of the printed edition. Everything comes from the actual WeasyPrint layout: the box tree of
each page is walked for the first character of primary text (a heading or paragraph whose element
id is a ``Block.id``), and that character is located in ``Block.text``. The page's label is the
folio the print edition prints in a page-margin box ("37", "iv"); where none is printed, the
page's position in the document.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from .model import Block

_FOLIO = re.compile(r"^(\d+|[ivxlcdm]+)$", re.IGNORECASE)
_SKIP_TAGS = {"a", "aside", "nav", "script", "style"}
_SKIP_CLASSES = {"pnum", "noteref", "note", "notes", "note-call", "footnote"}
_SKIP_ROLES = {"doc-noteref", "doc-footnote", "doc-endnotes", "doc-backlink", "note"}
_HYPHENS = "-\u00ad\u2010"


@dataclass(frozen=True)
class PageStart:
    """Page ``index`` (0-based) of the print layout, printed as ``label``, begins its primary text at
    ``block.text[offset]``; ``first`` is whether primary text is the first thing on the page."""

    index: int
    label: str
    block_id: str
    offset: int
    first: bool


def _classes(element: object) -> set[str]:
    get = getattr(element, "get", None)
    return set((get("class") or "").split()) if get else set()


def _excluded(box: object) -> bool:
    """Whether a box holds apparatus rather than primary text (note calls, notes, paragraph numbers)."""
    tag = getattr(box, "element_tag", "") or ""
    if "::" in tag:  # generated content (counters, quotes): not characters of the text
        return True
    element = getattr(box, "element", None)
    if element is None:
        return False
    if tag in _SKIP_TAGS:
        return True
    role = element.get("role") if hasattr(element, "get") else None
    return bool(role in _SKIP_ROLES or _classes(element) & _SKIP_CLASSES)


def _text_boxes(page_box: object, block_ids: set[str], excluded: dict) -> list[tuple[str | None, str]]:
    """(block id or None, text) of every text box on a page, in layout order. Margin boxes (running
    heads, folios) and the footnote area are not walked; apparatus inside a block yields None.
    ``excluded`` keeps ``_excluded`` by element and tag, from page to page."""
    from weasyprint.formatting_structure import boxes

    out: list[tuple[str | None, str]] = []
    stack: list[tuple[object, str | None, bool]] = [(page_box, None, False)]
    while stack:  # depth first, children in order
        box, block, skip = stack.pop()
        if isinstance(box, (boxes.MarginBox, boxes.FootnoteAreaBox)):
            continue
        element = getattr(box, "element", None)
        tag = getattr(box, "element_tag", "") or ""
        if element is not None and "::" not in tag and hasattr(element, "get"):
            ident = element.get("id")
            if ident in block_ids:
                block = ident
        if not skip:
            key = (id(element), tag)
            if (skip := excluded.get(key)) is None:
                skip = excluded[key] = _excluded(box)
        if isinstance(box, boxes.TextBox):
            out.append(((None if skip else block), box.text))
            continue
        stack.extend((child, block, skip) for child in reversed(getattr(box, "children", ())))
    return out


def folio(page_box: object) -> str:
    """The page number printed in the page's margin boxes, or "" when the page prints none."""
    from weasyprint.formatting_structure import boxes

    for child in getattr(page_box, "children", ()):
        if isinstance(child, boxes.MarginBox):
            text = "".join(b.text for b in child.descendants() if isinstance(b, boxes.TextBox)).strip()
            if _FOLIO.match(text):
                return text
    return ""


class _Cursor:
    """Follows one block's text through the successive text boxes that lay it out."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.places = [i for i, ch in enumerate(text) if not ch.isspace()]  # of each non-space character
        self.compact = "".join(text[i] for i in self.places)

    def feed(self, chunk: str) -> int | None:
        """Consume a box's text; return the offset in the block of its first character, or None
        when the box has no characters of the block (white space only)."""
        letters = "".join(chunk.split())
        if not letters:
            return None
        at = bisect.bisect_left(self.places, self.pos)
        if self.compact.startswith(letters, at):  # the usual case: the box's characters, in order
            self.pos = self.places[at + len(letters) - 1] + 1
            return self.places[at]
        text, first = self.text, None
        for ch in chunk:
            if ch.isspace():
                continue
            pos = self.pos
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos < len(text) and (text[pos] == ch or text[pos].casefold() == ch.casefold()):
                first = pos if first is None else first
                self.pos = pos + 1
            elif ch in _HYPHENS:  # a hyphen the layout added where it broke a word
                continue
            else:  # lost step (a transformed character): resynchronise on the rest of the box
                rest = "".join(chunk.split())
                found = _find_loose(text, rest, self.pos)
                if found is None:
                    return first
                start, end = found
                first = start if first is None else first
                self.pos = end
                return first
        return first


def _find_loose(text: str, needle: str, start: int) -> tuple[int, int] | None:
    """Find ``needle`` (no white space) in ``text`` from ``start``, ignoring white space and case."""
    if not needle:
        return None
    pattern = r"\s*".join(re.escape(c) for c in needle[:40])
    m = re.compile(pattern, re.IGNORECASE).search(text, start)
    return (m.start(), m.end()) if m else None


def page_starts(document: object, blocks: tuple[Block, ...]) -> list[PageStart]:
    """For each page of a laid-out ``weasyprint.Document`` that carries primary text: its label and
    the block and character offset where its first primary-text character stands."""
    ids = {b.id for b in blocks}
    cursors = {b.id: _Cursor(b.text) for b in blocks}
    excluded: dict = {}  # (id of an element, tag) → _excluded; the elements live as long as the layout
    out: list[PageStart] = []
    for index, page in enumerate(document.pages):
        page_box = page._page_box
        start: tuple[str, int] | None = None
        other_before = False  # apparatus or front matter above the page's first primary text
        for block_id, text in _text_boxes(page_box, ids, excluded):
            if block_id is None:
                other_before = other_before or (start is None and bool(text.strip()))
                continue
            offset = cursors[block_id].feed(text)
            if offset is not None and start is None:
                start = (block_id, offset)
        if start is not None:
            label = folio(page_box) or str(index + 1)
            out.append(PageStart(index, label, start[0], start[1], not other_before))
    return out


def print_layout(rendered: object, ctx: object) -> object:
    """The A4 print layout of this build: the PDF writer's (cached in ``ctx.shared``, so the PDF and
    the page list come from one and the same layout)."""
    from .writers import pdf

    laid_out = pdf.layout(rendered, ctx, profile="a4")
    return getattr(laid_out, "document", laid_out)
