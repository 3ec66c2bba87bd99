"""The in-memory edition model: plain typed data that readers build and writers only read.

The primary text is never copied into a new form: every ``Block`` keeps the exact characters
of its source lines, and every note points into a block by character offsets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in an input file, reported as ``path:line: severity: message``."""

    path: str
    line: int
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class Metadata:
    """``source/edition.toml``: who issued the primary text, when, and how the edition is named."""

    title: str
    author: str
    date: str
    language: str
    text: str
    subtitle: str = ""
    publisher: str = ""
    rights: str = ""
    identifier: str = ""
    source_url: str = ""
    editors: tuple[str, ...] = ()
    version: str = ""
    slug: str = ""
    sha256: str = ""


@dataclass(frozen=True)
class Line:
    """A physical line of the source file that a block was read from."""

    number: int  # 1-based line number in the source file
    offset: int  # character offset of the line's first character in the source file
    text: str  # the line's characters without its line break


@dataclass(frozen=True)
class Emphasis:
    """A run of a block's text set in emphasis by the source's own markup (Markdown sources)."""

    start: int
    end: int
    strong: bool = False


@dataclass(frozen=True)
class Block:
    """A heading or a paragraph of the primary text.

    ``text`` is exactly the source's characters: for a heading wrapped over several lines it is
    those lines joined (a single space is inserted only where a line ends without white space,
    and that join is recorded in ``lines``). Offsets into ``text`` are what notes anchor to.
    """

    id: str  # URL-safe, stable: "p-I-12", "h-I", "s-I-2"
    kind: Literal["heading", "paragraph"]
    number: str  # human-citable: "I.12" for paragraphs, "I" for a chapter heading
    text: str
    lines: tuple[Line, ...]
    run_in: int = 0  # length of the run-in head at the start of ``text`` (0: none)
    emphasis: tuple[Emphasis, ...] = ()

    @property
    def display_text(self) -> str:
        """The text without the leading and trailing white space that a line may carry."""
        return self.text.strip()

    def source_offset(self, pos: int) -> int:
        """The offset in the source file of ``text[pos]``, undoing the joins of wrapped lines
        (a Markdown block's emphasis markers are not undone: callers check the slice)."""
        at = 0
        for line in self.lines:
            if at + len(line.text) >= pos:
                return line.offset + pos - at
            at += len(line.text) + (0 if line.text[-1:].isspace() else 1)
        return self.lines[-1].offset + len(self.lines[-1].text)


@dataclass(frozen=True)
class Section:
    """A run of paragraphs opened by a run-in head (the first paragraph's ``run_in``), by a
    heading of its own (Markdown ``##``), or by nothing (the paragraphs before the first head)."""

    id: str
    title: str  # the head's words, white space normalised ("" when the section has none)
    paragraphs: tuple[Block, ...]
    heading: Block | None = None


@dataclass(frozen=True)
class Part:
    """A top-level division: Preface, a numbered chapter, Conclusion..."""

    id: str
    label: str  # "I", "P", "C": prefix of paragraph numbers
    heading: Block | None  # None only for text that stands before the first heading
    number: str  # "I." for numbered chapters, "" otherwise
    title: str  # the heading without its number, white space normalised
    sections: tuple[Section, ...]

    @property
    def paragraphs(self) -> tuple[Block, ...]:
        return tuple(p for s in self.sections for p in s.paragraphs)


@dataclass(frozen=True)
class Person:
    """A name split the BibTeX way; ``literal`` for institutions written in braces."""

    last: str
    first: str = ""
    von: str = ""
    jr: str = ""
    literal: bool = False


@dataclass(frozen=True)
class BibEntry:
    """A BibTeX entry. ``fields`` are decoded to Unicode; ``raw`` keeps them as written."""

    key: str
    entry_type: str  # lower case: book, article, misc...
    fields: dict[str, str]
    raw: dict[str, str]
    persons: dict[str, tuple[Person, ...]]  # "author", "editor"...
    path: str
    line: int


@dataclass(frozen=True)
class CitationItem:
    """One cited work inside a Pandoc citation: ``[see @key, pp. 20–23 and passim]``."""

    key: str
    prefix: str = ""
    locator: str = ""  # "20–23"
    label: str = ""  # CSL locator term: page, chapter, section, paragraph...
    suffix: str = ""
    suppress_author: bool = False


@dataclass(frozen=True)
class Citation:
    """A citation cluster in a note body: its items and where it stands in the body."""

    items: tuple[CitationItem, ...]
    narrative: bool  # ``@key`` in running text rather than ``[@key]``
    start: int  # character offsets in the note body
    end: int
    line: int  # 1-based line in the note file


@dataclass(frozen=True)
class Target:
    """What a note file says it points at (W3C TextQuoteSelector terms, or a whole paragraph)."""

    quote: str = ""
    prefix: str = ""
    suffix: str = ""
    paragraph: str = ""  # "I.12": the whole paragraph (or heading, "I")


@dataclass(frozen=True)
class Anchor:
    """Where a note resolved: ``block.text[start:end]`` is the exact source span."""

    block_id: str
    start: int
    end: int


@dataclass(frozen=True)
class Note:
    id: str
    path: str  # as given to the reader, for messages
    type: str
    status: str
    authors: tuple[str, ...]
    tags: tuple[str, ...]
    target: Target
    body: str  # Markdown, untrusted
    body_line: int  # 1-based line of the body's first line in the file
    citations: tuple[Citation, ...]
    field_lines: dict[str, int] = field(default_factory=dict)  # front-matter key → line
    extra: dict[str, object] = field(default_factory=dict)  # optional fields beyond the contract
    anchor: Anchor | None = None
    layer: str = ""  # "" for the edition's own notes


@dataclass(frozen=True)
class NoteType:
    name: str
    label: str  # "Gloss", "Cross-reference"


@dataclass(frozen=True)
class Layer:
    """A further annotation tree given with ``--layer``: an instructor's own notes, say."""

    name: str  # "course-notes": marks its notes (Note.layer) and their CSS class
    label: str  # "Course notes": printed with each of its notes
    css: str = ""  # the layer's own style rules, added to every output's stylesheet


DEFAULT_NOTE_TYPES: tuple[NoteType, ...] = (
    NoteType("gloss", "Gloss"),
    NoteType("context", "Context"),
    NoteType("data", "Data"),
    NoteType("assessment", "Assessment"),
    NoteType("textual", "Textual"),
    NoteType("crossref", "Cross-reference"),
)
STATUSES: tuple[str, ...] = ("draft", "reviewed")


@dataclass(frozen=True)
class Contributor:
    name: str
    role: str = ""
    affiliation: str = ""
    orcid: str = ""


@dataclass(frozen=True)
class Edition:
    """Everything the writers need, already read, anchored and checked."""

    root: str
    metadata: Metadata
    source_text: str  # the primary text file, decoded, exactly as read
    source_path: str
    parts: tuple[Part, ...]
    notes: tuple[Note, ...]  # anchored notes in text order
    bibliography: dict[str, BibEntry]
    note_types: tuple[NoteType, ...] = DEFAULT_NOTE_TYPES
    contributors: tuple[Contributor, ...] = ()
    introduction: str = ""  # Markdown of annotations/introduction.md, if any
    about: str = ""  # Markdown of annotations/about.md, if any
    layers: tuple[Layer, ...] = ()
    selection: str = ""  # the excerpt's --select, "" for the whole text
    contents: tuple[str, ...] = ()  # an excerpt's parts, each with the paragraphs it keeps, for title pages
    source_sha256: str = ""  # of the primary text file as read

    @property
    def blocks(self) -> tuple[Block, ...]:
        """Every heading and paragraph in reading order."""
        return tuple(b for b, _ in blocks_of(self.parts))

    def layer_label(self, name: str) -> str:
        return next((layer.label for layer in self.layers if layer.name == name), name)

    def type_label(self, name: str) -> str:
        for t in self.note_types:
            if t.name == name:
                return t.label
        return name.capitalize()


def blocks_of(parts: tuple[Part, ...]) -> list[tuple[Block, Part]]:
    """Every heading and paragraph in reading order, each with the part it belongs to."""
    out: list[tuple[Block, Part]] = []
    for part in parts:
        if part.heading:
            out.append((part.heading, part))
        for section in part.sections:
            if section.heading:
                out.append((section.heading, part))
            out.extend((p, part) for p in section.paragraphs)
    return out


@dataclass(frozen=True)
class Segment:
    """A run of a block's text between note boundaries: the notes active over it, outermost first."""

    start: int
    end: int
    text: str
    notes: tuple[str, ...]


def segments(block: Block, notes: list[Note], lo: int = 0, hi: int | None = None,
             cuts: tuple[int, ...] = ()) -> list[Segment]:
    """Split ``block.text[lo:hi]`` where anchored notes begin and end (and at any further ``cuts``), so
    overlapping and nested spans can each be marked. Returns runs in order that together are exactly
    that text; spans are clipped to it."""
    hi = len(block.text) if hi is None else hi
    spans = [(max(lo, min(n.anchor.start, hi)), max(lo, min(n.anchor.end, hi)), n.id) for n in notes if n.anchor]
    bounds = sorted({lo, hi, *(c for s, e, _ in spans for c in (s, e)), *(c for c in cuts if lo <= c <= hi)})
    out: list[Segment] = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        active = sorted(((s, -e, nid) for s, e, nid in spans if s <= a and b <= e), key=lambda t: (t[0], t[1]))
        out.append(Segment(a, b, block.text[a:b], tuple(nid for _, _, nid in active)))
    return out
