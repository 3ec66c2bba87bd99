"""The stage every writer shares: note bodies to safe HTML with formatted citations, note numbers,
and the primary text split into marked runs. Writers lay this out; they do not parse.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import nh3

from .model import Block, Citation, Edition, Note, Part, blocks_of, segments

ALLOWED_TAGS = {"p", "em", "strong", "a", "ul", "ol", "li", "blockquote", "code", "br", "span", "sup", "sub",
                "h1", "h2", "h3", "h4"}  # headings: the introduction's sections
ALLOWED_ATTRS = {"a": {"href", "class", "id"}, "span": {"class", "lang"}}
_SAFE_SCHEMES = {"http", "https", "mailto"}
_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")
# Addresses in a text (URLs, e-mail addresses, file paths, identifiers joined by underscores): set in
# ``<span class="addr">`` so that the print edition does not hyphenate them, as the hyphen would read as
# part of the address.
_ADDRESS = re.compile(r"\b(?:(?:https?|ftp)://|www\.)[^\s<>\"]*[^\s<>\".,;:!?)\]’”]"
                      r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\b[A-Za-z]:\\[^\s<>\"]*[^\s<>\".,;:!?)\]’”]"
                      r"|\b\w+(?:_\w+)+\b")

if TYPE_CHECKING:
    from markdown_it import MarkdownIt


@functools.cache
def _markdown() -> MarkdownIt:
    """The Markdown parser, made when first needed: the writers' process imports this module for
    its data classes, and importing markdown_it took 0.04 s of its start."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "typographer": False})
    md.disable(["image", "html_inline", "html_block"])
    md.validateLink = lambda url: url.split(":", 1)[0].lower() in _SAFE_SCHEMES if ":" in url else url.startswith("#")
    return md


def markdown_html(text: str, inline: bool = False) -> str:
    """Untrusted Markdown to HTML: no raw HTML, no images, only http(s)/mailto/#fragment links,
    then sanitised again by an allow-list (defence in depth)."""
    rendered = _markdown().renderInline(text) if inline else _markdown().render(text)
    return nh3.clean(rendered, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRS, url_schemes=_SAFE_SCHEMES,
                     link_rel="noopener noreferrer")


def initials(name: str) -> str:
    words = [w for w in re.split(r"[\s\-]+", name) if w]
    return "".join(w[0].upper() + "." for w in words) if len(words) > 1 else name


@dataclass(frozen=True)
class RenderedNote:
    note: Note
    number: int  # 1, 2, 3... in text order
    label: str  # "Gloss"
    body_html: str  # safe HTML
    byline: str  # authors' initials, "E.T."
    lemma: str  # the quoted words, exact source characters
    block: Block
    part: Part
    layer_label: str = ""  # "Course notes" for a note of a --layer; "" for the edition's own


@dataclass(frozen=True)
class Rendered:
    edition: Edition
    notes: tuple[RenderedNote, ...]
    bibliography: tuple[tuple[str, str], ...]  # (key, entry HTML), only the cited works
    introduction_html: str
    about_html: str


Formatter = Callable[[list[Citation]], tuple[list[str], list[tuple[str, str]]]]


def _with_citations(body: str, citations: tuple[Citation, ...], formatted: list[str], inline: bool = False) -> str:
    """Swap each citation for a placeholder, render the Markdown safely, then put the formatted
    citations (HTML from the citation processor, which escapes what it takes from the .bib) back."""
    out, pos = [], 0
    clean = str.maketrans("", "", "\ue000\ue001")
    for i, c in enumerate(citations):
        out.append(body[pos:c.start].translate(clean))
        out.append(f"\ue000{i}\ue001")
        pos = c.end
    out.append(body[pos:].translate(clean))
    safe = markdown_html("".join(out).strip(), inline=inline)
    return _PLACEHOLDER.sub(lambda m: f'<span class="citation">{formatted[int(m.group(1))]}</span>', safe)


def render(edition: Edition, cite: Formatter) -> Rendered:
    """Number the notes, format every citation of the document in one call, render bodies."""
    from .citesyntax import parse_citations

    intro_cites = parse_citations(edition.introduction)
    about_cites = parse_citations(edition.about)
    clusters = list(intro_cites) + list(about_cites) + [c for n in edition.notes for c in n.citations]
    formatted, bibliography = cite(clusters)
    pos = 0

    def take(n: int) -> list[str]:
        nonlocal pos
        pos += n
        return formatted[pos - n:pos]

    intro = _with_citations(edition.introduction, tuple(intro_cites), take(len(intro_cites)))
    about = _with_citations(edition.about, tuple(about_cites), take(len(about_cites)))
    blocks = {b.id: (b, part) for b, part in blocks_of(edition.parts)}
    notes = []
    for number, note in enumerate(edition.notes, 1):
        block, part = blocks[note.anchor.block_id]
        body = _with_citations(note.body, note.citations, take(len(note.citations)))
        byline = ", ".join(initials(a) for a in note.authors)
        notes.append(RenderedNote(note, number, edition.type_label(note.type), body, byline,
                                  block.text[note.anchor.start:note.anchor.end], block, part,
                                  edition.layer_label(note.layer) if note.layer else ""))
    return Rendered(edition, tuple(notes), tuple(bibliography), intro, about)


def block_runs_html(block: Block, notes: list[RenderedNote], marker: Callable[[RenderedNote], str],
                    strip: bool = True) -> str:
    """The block's text as HTML: run-in head in <strong>, emphasis kept, each anchored span in
    ``<span class="ann">`` (nesting depth as a class), and each note's marker where its span ends.
    The characters are exactly ``block.text`` (outer white space dropped when ``strip``)."""
    text = block.text
    lo = len(text) - len(text.lstrip()) if strip else 0
    hi = len(text.rstrip()) if strip else len(text)
    extra = tuple(c for em in block.emphasis for c in (em.start, em.end))
    addresses = [m.span() for m in _ADDRESS.finditer(text)]
    extra += tuple(c for span in addresses for c in span)
    if block.run_in:
        extra += (min(block.run_in, hi),)
    by_id = {rn.note.id: rn for rn in notes}
    ends: dict[int, list[RenderedNote]] = {}
    for rn in notes:
        ends.setdefault(max(lo, min(rn.note.anchor.end, hi)), []).append(rn)
    out: list[str] = []
    for seg in segments(block, [rn.note for rn in notes], lo, hi, extra):
        piece = html.escape(seg.text, quote=False)
        if any(a <= seg.start and seg.end <= b for a, b in addresses):
            piece = f'<span class="addr">{piece}</span>'
        for em in block.emphasis:
            if em.start <= seg.start and seg.end <= em.end:
                piece = f"<strong>{piece}</strong>" if em.strong else f"<em>{piece}</em>"
        if block.run_in and seg.end <= block.run_in:
            piece = f'<strong class="run-in">{piece}</strong>'
        if seg.notes:
            ids = " ".join(f"n{n}" for n in sorted(by_id[nid].number for nid in seg.notes))
            piece = f'<span class="ann depth-{min(len(seg.notes), 3)}" data-notes="{ids}">{piece}</span>'
        out.append(piece)
        for rn in sorted(ends.get(seg.end, []), key=lambda r: r.number):
            out.append(marker(rn))
    return "".join(out)
