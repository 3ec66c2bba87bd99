"""Remember what WeasyPrint lays out again and again, for the length of one layout.

Two calls repeat themselves, and both depend only on what they are given:

- ``split_first_line`` (Pango shaping and hyphenation of a line's first break point): on the white
  paper 57% of its calls repeat an earlier one, about a fifth of the layout time. Each result is
  kept under the text, the style (by identity: the cache holds the style, so its ``id`` is not
  reused while the cache lives), the width and two flags. The Pango layout in a result is
  deactivated, and only reactivated, read and deactivated again when drawn, so boxes may share it.
- the layout of each note in a page's footnote area while the area is *measured*: WeasyPrint
  lays the whole area out again each time a note joins or leaves the page, only to learn its
  height, so a page with k notes lays out k(k+1)/2 notes. A note laid out at the same place, after
  the same margins, in the same area, comes out the same, so within such a measurement each note
  is kept under those inputs and given back to later measurements. The area that is drawn, once
  the page is made, gets a copy of each note as last measured there (111 of the white paper's 112
  drawn notes; drawing the areas went from 0.44-0.63 s to 0.06 s). Notes whose layout changed
  anything else (another footnote, a float, a running element, an absolutely positioned box), that
  a float could reach, or whose text WeasyPrint may rewrite between passes (page-based or target
  counters) are laid out by WeasyPrint each time.

A line's strut (its height and baseline for a style) is kept by style too: WeasyPrint looks it up
under a key made of a dozen of the style's values, at each of ~1,800 calls a chapter.

The line breaks may also come from earlier builds (``Lines``): a result kept under the text, the
values of every style property that finding a break reads (``TEXT_PROPERTIES``), the width and the
flags is the one Pango gives for them, whichever element the style belongs to. The layout keeps
them by stretch of the document (``weasyprint_split``), so an edited chapter is laid out again with
the line breaks of its unchanged paragraphs already found. Measured notes are kept with them
(``Lines.notes``: keys and pickles from ``weasyprint_memory.Notes``), so the notes an edit did not
move come laid out as the earlier build measured them.

Tested by the PDFs being byte-identical with and without.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from weasyprint.css.properties import INHERITED
from weasyprint.formatting_structure import boxes
from weasyprint.layout import LayoutContext, block, inline, preferred
from weasyprint.text.line_break import Layout

from .patched import patched

# Every style property that ``split_first_line`` reads, with what it calls (Pango's font description
# and features, hyphenation, spacing, tabs), in WeasyPrint 70 (``tests`` record them); the font
# configuration comes from the style sheets and font files, which the key's prefix covers.
TEXT_PROPERTIES = (
    "direction", "font_family", "font_feature_settings", "font_kerning", "font_language_override", "font_size",
    "font_stretch", "font_style", "font_variant_alternates", "font_variant_caps", "font_variant_east_asian",
    "font_variant_ligatures", "font_variant_numeric", "font_variant_position", "font_variation_settings",
    "font_weight", "hyphenate_character", "hyphenate_limit_chars", "hyphenate_limit_zone", "hyphens", "lang",
    "letter_spacing", "overflow_wrap", "tab_size", "text_decoration_line", "white_space", "word_break",
    "word_spacing")
_TEXT_INDEX = {p: i for i, p in enumerate(TEXT_PROPERTIES)}
_TEXT_SET = frozenset(TEXT_PROPERTIES)
_NOT_INHERITED = _TEXT_SET - INHERITED


class ByObject(dict):
    """Values kept by object: each under the object's ``id``, with the object itself, so that no
    ``id`` is reused while its entry lives and an entry is only ever found for its own object."""

    def find(self, obj: object) -> object | None:
        """The value kept for ``obj``, or None."""
        known = self.get(id(obj))
        return known[1] if known is not None and known[0] is obj else None

    def made(self, obj: object, make: Callable[[object], object]) -> object:
        """The value kept for ``obj``, made by ``make(obj)`` and kept the first time."""
        known = self.get(id(obj))
        if known is None or known[0] is not obj:
            known = self[id(obj)] = (obj, make(obj))
        return known[1]


class Notes(Protocol):
    """Keys and pickles for notes laid out in a footnote area, kept between builds with the line
    breaks (``weasyprint_memory.Notes``)."""

    def find(self, box, containing_block, inputs: tuple) -> tuple[bytes, object] | None:
        """The note's key and what its pickle refers to, or None if it cannot be kept."""

    def dumps(self, result: tuple, walk: object) -> bytes | None:
        """``block_level_layout``'s result for the note, pickled, or None."""

    def loads(self, data: bytes, walk: object) -> tuple | None:
        """A result from ``dumps``, or None if ``data`` does not hold one."""


class Lines:
    """Line breaks from earlier builds (``known``), and those found or used since ``record`` began,
    under keys that hold for any build with the same ``prefix`` (style sheets, fonts, tool)."""

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix  # a SHA-256 digest: BLAKE2b's key
        self.known: dict[bytes, tuple] = {}
        self.record: dict[bytes, tuple] = {}
        self._styles = ByObject()  # style → its values of TEXT_PROPERTIES (``_text_style``)
        self.notes: Notes | None = None  # notes laid out in footnote areas, kept likewise

    def key(self, text: str, style, *args: object) -> bytes:
        """The key of a call, ``args`` being its width and flags."""
        return hashlib.blake2b(f"{text}\0{self._text_style(style)[1]}\0{args!r}".encode(), digest_size=16,
                               key=self.prefix).digest()

    def _text_style(self, style) -> tuple[tuple[str, ...], str]:
        """The values of ``style``'s ``TEXT_PROPERTIES``, as text, each alone and joined. An inherited
        property that the style neither declares nor holds yet is its parent's value (as WeasyPrint
        computes it), taken from the parent's entry instead of computed: computing them all cost
        ~0.1 ms a style."""
        return self._styles.made(style, self._text_values)

    def _text_values(self, style) -> tuple[tuple[str, ...], str]:
        parent = style.parent_style
        if parent is None:
            values = [repr(style[p]) for p in TEXT_PROPERTIES]
        else:
            values = list(self._text_style(parent)[0])
            own = (style.keys() | getattr(style, "cascaded", {}).keys()) & _TEXT_SET | _NOT_INHERITED
            for p in own:
                values[_TEXT_INDEX[p]] = repr(style[p])
        return tuple(values), "\0".join(values)

    def add(self, found: object) -> None:
        """Add kept line breaks and notes (a ``dict`` read from a file, checked here; a note's
        pickle is checked when read) to ``known``."""
        if isinstance(found, dict):
            self.known.update((k, v) for k, v in found.items()
                              if isinstance(k, bytes) and (_result(v) or isinstance(v, bytes)))


def _result(value: object) -> bool:
    """Whether ``value`` has the shape of ``split_first_line``'s result, its Pango layout put away."""
    return (isinstance(value, tuple) and len(value) == 6 and type(value[0]) is Layout
            and not hasattr(value[0], "layout") and isinstance(value[1], int)
            and (value[2] is None or isinstance(value[2], int))
            and all(isinstance(v, (int, float)) for v in value[3:]))


@contextmanager
def remembered(lines: Lines | None = None) -> Iterator[dict[str, int]]:
    """Memoise within the block (line breaks also across builds, with ``lines``); yields counts of
    calls and hits of each memo."""
    counts = {"calls": 0, "hits": 0, "kept_hits": 0, "note_calls": 0, "note_hits": 0, "kept_note_hits": 0,
              "drawn_calls": 0, "drawn_hits": 0}
    with _line_breaks(counts, lines), _measured_notes(counts, lines):
        yield counts


@contextmanager
def _line_breaks(counts: dict[str, int], lines: Lines | None) -> Iterator[None]:
    original = inline.split_first_line
    cache: dict[tuple, tuple[object, tuple, bytes | None]] = {}

    def split_first_line(text, style, context, max_width, justification_spacing, is_line_start=True,
                         minimum=False):
        counts["calls"] += 1
        key = (text, id(style), max_width, justification_spacing, is_line_start, minimum)
        hit = cache.get(key)
        if hit is not None and hit[0] is style:
            counts["hits"] += 1
            if hit[2] is not None:
                lines.record[hit[2]] = hit[1]
            return hit[1]
        kept = result = None
        if lines is not None:
            kept = lines.key(text, style, max_width, justification_spacing, is_line_start, minimum)
            result = lines.known.get(kept)
            if result is not None:
                counts["kept_hits"] += 1
        if result is None:
            result = original(text, style, context, max_width, justification_spacing, is_line_start, minimum)
        cache[key] = (style, result, kept)
        if kept is not None:
            lines.record[kept] = result
        return result

    original_strut = inline.strut
    struts = ByObject()

    def strut(style):  # a line's height and baseline for a style: WeasyPrint keeps them under a key
        return struts.made(style, original_strut)  # made of a dozen of the style's values, at each call

    # Preferred widths (margin boxes, shrink-to-fit) find breaks through the same function.
    with patched(inline, "split_first_line", split_first_line), \
            patched(preferred, "split_first_line", split_first_line), \
            patched(inline, "strut", strut):
        yield


def _context_state(context: LayoutContext) -> tuple:
    """What laying out a note could change in the layout context besides returning its box."""
    return (len(context.footnotes), len(context.current_page_footnotes), len(context.reported_footnotes),
            len(context.broken_out_of_flow), len(context.excluded_shapes), context.page_bottom,
            sum(len(found) for pages in context.running_elements.values() for found in pages.values()))


def _note_inputs(context: LayoutContext, box, bottom_space, containing_block, page_is_empty, adjoining_margins,
                 discard, max_lines) -> tuple:
    """What a note's layout in a footnote area depends on besides the note and the area's style."""
    return (box.position_x, box.position_y, bottom_space, containing_block.width, containing_block.height,
            page_is_empty, tuple(adjoining_margins or ()), discard, max_lines, context.current_page > 1,
            context.forced_break, context.in_column)


def _handed(made: tuple, drawn: bool = False) -> tuple:
    """A remembered note's layout as ``block_level_layout`` returns it: its page-break values and
    margins copied (the caller adds to these), and its box too where it is drawn."""
    new_box, resume_at, next_page, margins, through, lines = made
    return new_box.deepcopy() if drawn else new_box, resume_at, dict(next_page), list(margins), through, lines


@contextmanager
def _measured_notes(counts: dict[str, int], kept_lines: Lines | None) -> Iterator[None]:
    original_layout = block.block_level_layout
    original_update = LayoutContext._update_footnote_area
    cache: dict[tuple, tuple[tuple, tuple]] = {}
    measuring = [False]
    counted: dict[object, bool] = {}  # note element: whether its text waits for counters

    def rewritten(box) -> bool:
        if box.element not in counted:
            counted[box.element] = any(b.missing_link is not None for b in box.descendants())
        return counted[box.element]

    def update_footnote_area(self):  # the area laid out here is measured, then thrown away
        before, measuring[0] = measuring[0], True
        try:
            return original_update(self)
        finally:
            measuring[0] = before

    def block_level_layout(context, box, bottom_space, skip_stack, containing_block, page_is_empty=True,
                           absolute_boxes=None, fixed_boxes=None, adjoining_margins=None, first_letter_style=None,
                           first_line_style=None, discard=False, max_lines=None):
        args = (context, box, bottom_space, skip_stack, containing_block, page_is_empty, absolute_boxes,
                fixed_boxes, adjoining_margins, first_letter_style, first_line_style, discard, max_lines)
        if not (isinstance(containing_block, boxes.FootnoteAreaBox) and box.element is not None
                and skip_stack is None and first_letter_style is None and first_line_style is None
                and not absolute_boxes and not fixed_boxes and not context.excluded_shapes
                and box.style["position"] == "static" and not rewritten(box)):
            return original_layout(*args)
        inputs = _note_inputs(context, box, bottom_space, containing_block, page_is_empty, adjoining_margins, discard,
                              max_lines)
        key = (box.element, box.element_tag, type(box), id(box.style), id(containing_block.style), inputs)
        hit = cache.get(key)
        if hit is not None and (hit[0][0] is not box.style or hit[0][1] is not containing_block.style):
            hit = None
        if not measuring[0]:  # the area that is drawn: a copy of a note measured just so, if any
            counts["drawn_calls"] += 1
            if hit is None:
                return original_layout(*args)
            counts["drawn_hits"] += 1
            return _handed(hit[1], drawn=True)
        counts["note_calls"] += 1
        if hit is not None:
            counts["note_hits"] += 1
            return _handed(hit[1])
        notes = kept_lines.notes if kept_lines is not None else None
        kept = notes.find(box, containing_block, inputs) if notes is not None else None
        if kept is not None and isinstance(data := kept_lines.known.get(kept[0]), bytes) \
                and (found := notes.loads(data, kept[1])) is not None:
            counts["kept_note_hits"] += 1
            kept_lines.record[kept[0]] = data
            cache[key] = ((box.style, containing_block.style), found)
            return _handed(found)
        state = _context_state(context)
        result = original_layout(*args)
        new_box, resume_at, next_page, margins, through, lines = result
        if new_box is not None and resume_at is None and _context_state(context) == state \
                and not absolute_boxes and not fixed_boxes:
            made = (new_box, None, dict(next_page), list(margins), through, lines)
            cache[key] = ((box.style, containing_block.style), made)
            if kept is not None and (data := notes.dumps(made, kept[1])) is not None:
                kept_lines.record[kept[0]] = data
        return result

    with patched(block, "block_level_layout", block_level_layout), \
            patched(LayoutContext, "_update_footnote_area", update_footnote_area):
        yield
