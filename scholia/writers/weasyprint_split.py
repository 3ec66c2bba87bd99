"""Lay out one WeasyPrint document on two cores, with the pages one process would make.

WeasyPrint paginates in one sequential pass. Where the document must start a page of a known side
(a chapter with ``break-before: right``), the pages after that point depend on what came before
only through the page's number and a few states that can be checked. Such points cut the document
into *segments* (a chapter each). After the box tree is built, a forked child lays out segments
from the last one down, each from its own start, while this process lays them out from the first
one up; they meet where their work balances, whatever each chapter's length and the machine's load
(``parallel.Meeting``). When this process reaches a segment the child made, it checks that it arrives
exactly where the segment began (same position, side, page name) and takes the child's pages: their
boxes come back pickled, with every object that existed before the fork (styles, elements, the font
configuration, source boxes) sent as a reference, not a copy. Each page's type and page-based
counters are then computed again here, in order, as WeasyPrint would have, and the child's page
styles are checked against them; anchors on the child's pages are registered so that
``target-counter()`` references to them (the contents) are filled in by WeasyPrint's own
repagination loop. Bookmarks and named strings are made afterwards by WeasyPrint for all pages at
once; margin boxes and backgrounds too, for the last pages by another child (``_Finish``).

Whenever something does not match, or a segment's pages use page-based counters or running
elements, that segment is laid out here: the result is always the sequential one, only the time
differs. Segments may also come from an earlier build (``weasyprint_memory``), through the same
joins; the child then lays out only the others.

``weasyprint_paint`` does the same for painting. WeasyPrint's internals are used throughout;
``pyproject.toml`` pins WeasyPrint to 70.x.
"""

from __future__ import annotations

import copy
import copyreg
import hashlib
import itertools
import os
import pickle
import shutil
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

import pyphen
import weasyprint
from weasyprint import DEFAULT_OPTIONS
from weasyprint import anchors as wanchors
from weasyprint import layout as wlayout
from weasyprint.css.counters import CounterStyle
from weasyprint.document import Document, DocumentMetadata, Page
from weasyprint.draw.color import get_color
from weasyprint.formatting_structure import boxes
from weasyprint.formatting_structure.build import build_formatting_structure, update_counters
from weasyprint.html import get_html_metadata
from weasyprint.layout import background as wbackground
from weasyprint.layout.absolute import AbsolutePlaceholder
from weasyprint.layout.block import block_level_page_break
from weasyprint.layout.page import (
    PageType,
    _standardize_page_based_counters,
    _update_page_groups,
    remake_page,
    set_page_type_computed_styles,
)
from weasyprint.text.fonts import FontConfiguration

from .. import cache, parallel
from . import weasyprint_margins, weasyprint_memo, weasyprint_memory
from .patched import patched

MIN_CHARS = 40_000  # below this much text a second process costs more than it saves
SIDES = {"right": True, "left": False}
# Of the last render, for tests and benchmarks: pages laid out by the child, pages taken from earlier
# builds, segments kept for later builds, pages whose margin boxes and backgrounds another process made,
# line breaks and notes' layouts this process took from earlier builds, boxes whose anchors were gathered
# beforehand, pages whose margin boxes this process took from earlier builds.
last = {"joined": 0, "remembered": 0, "stored": 0, "finished": 0, "lines": 0, "notes": 0, "gathered": 0,
        "margins": 0}


def render(html: weasyprint.HTML, split: bool = True, memory: weasyprint_memory.Memory | None = None
           ) -> weasyprint.Document:
    """``html.render()``; with ``split`` and a second core, on two processes; with ``memory``, taking
    the pages of unchanged chapters from earlier builds and keeping those laid out now."""
    options, context, root = prepare(html)
    last.update(joined=0, remembered=0, stored=0, finished=0, lines=0, notes=0, gathered=0, margins=0)
    bounds = boundaries(root, html)
    prefix = weasyprint_memory.prefix(memory.stamp, html) if memory is not None else None
    walks = _walks(root, context, html, bounds, prefix) if prefix is not None else [None] * len(bounds)
    kept = {k: data for k, w in enumerate(walks) if w is not None and (data := memory.load(w.key)) is not None}
    lines = _Lines(memory.lines, prefix, bounds) if prefix is not None else None
    plan = _Plan(bounds, walks, kept, memory, lambda: _registry(root, context, html), context.get_image_from_uri,
                 lines)
    if lines is not None:
        lines.memo.notes = weasyprint_memory.Notes(prefix, _named(context, html), html.etree_element,
                                                   lambda: plan.reg, DISPATCH)
    if prefix is not None:
        plan.margins = weasyprint_margins.Kept(memory.margins, prefix, _named(context, html))
    split = split and parallel.can_fork()
    theirs = [k for k in range(len(bounds)) if k not in kept] if split and _long(html) else []
    with weasyprint_memo.remembered(lines.memo if lines is not None else None) as counts:
        if lines is not None:
            lines.begin(None)
        pages = list(_layout(html, root, context, plan, theirs, split))
        if lines is not None:
            lines.keep([lines.rest])
    last["lines"], last["notes"] = counts["kept_hits"], counts["kept_note_hits"]
    with patched(wanchors, "gather_anchors", plan.gather_anchors):
        doc = Document([Page(p) for p in pages], DocumentMetadata(**get_html_metadata(html)), html.url_fetcher,
                       context.font_config, {}, options["output_intent"])
    doc._html = html
    # Pages may be painted from memory too, under the key of their segment and place in it, or
    # else of what is on them (``page_key``); unless fixed boxes, which WeasyPrint repeats on every
    # page, bring other segments' content to them.
    doc.scholia_paint_memory = None
    if memory is not None and not plan.fixed and prefix is not None:
        elements = weasyprint_memory.Elements(html.etree_element)
        stretches, name = [], lines.rest  # each page's stretch: of the last segment begun at or before it
        for i in range(len(pages)):
            name = lines.names[plan.starts[i]] if i in plan.starts else name
            stretches.append(name)
        doc.scholia_paint_memory = (memory, [plan.page_keys.get(id(p))
                                             or weasyprint_memory.page_key(p, prefix, elements) for p in pages],
                                    lines.memo, stretches)
    if plan.storing is not None:
        try:
            last["stored"] += plan.storing.result() or 0
        except Exception:  # noqa: BLE001 - keeping pages for later never fails a build
            pass
    return doc


def prepare(html: weasyprint.HTML) -> tuple[dict, object, boxes.Box]:
    """What ``Document._render`` does before layout: options, layout context, box tree."""
    options = dict(DEFAULT_OPTIONS)
    counter_style = CounterStyle()
    context = Document._build_layout_context(html, font_configuration(), counter_style, {}, options)
    root = build_formatting_structure(html.etree_element, context.style_for, context.get_image_from_uri,
                                      html.base_url, context.target_collector, counter_style, context.footnotes)
    return options, context, root


_FONT_CONFIGS: list[tuple[int, weakref.ref]] = []


def font_configuration() -> FontConfiguration:
    """A font configuration whose folder of font copies goes when this process ends. WeasyPrint
    removes the folder when the object is collected, which a command-line build never lets happen
    (``cli.run`` ends with the cycle collector off and what is left frozen): each build left 2.2 MB
    of fonts in the temporary folder."""
    config = FontConfiguration()
    _FONT_CONFIGS[:] = [(pid, ref) for pid, ref in _FONT_CONFIGS if ref() is not None]  # a server builds on
    _FONT_CONFIGS.append((os.getpid(), weakref.ref(config)))
    return config


def _remove_font_folders() -> None:
    """Remove the font folders of the configurations this process made that are still alive."""
    for pid, ref in _FONT_CONFIGS:
        config = ref()
        if pid == os.getpid() and config is not None and getattr(config, "_folder", None):
            shutil.rmtree(config._folder, ignore_errors=True)


parallel.at_end(_remove_font_folders)


# ---------- where to split ----------

def _side(value: str, ltr: bool) -> bool | None:
    """True for a break to a right page, False to a left one, None when the side is not forced."""
    if value in ("recto", "verso"):
        value = "right" if ltr ^ (value == "verso") else "left"
    return SIDES.get(value)


@dataclass(frozen=True)
class Boundary:
    """A forced break of known side before a block: where a process can begin laying out pages."""

    path: tuple[int, ...]  # of the block, in the box tree
    point: tuple[dict, dict, bool]  # the page maker's (resume_at, next_page, right_page) there


def boundaries(root: boxes.Box, html: weasyprint.HTML) -> list[Boundary]:
    """Every forced break of known side between two in-flow blocks (down to 4 levels), in order."""
    elements = set(html.etree_element.iter())
    ltr = root.style["direction"] == "ltr"
    found: list[Boundary] = []

    def walk(box: boxes.Box, path: tuple[int, ...], depth: int) -> None:
        children = [(i, c) for i, c in enumerate(box.children) if c.is_in_normal_flow()
                    and isinstance(c, boxes.BlockBox)]
        for (_, before), (i, child) in zip(children, children[1:], strict=False):
            side = _side(block_level_page_break(before, child), ltr)
            if side is not None and child.element in elements:
                resume_at: dict | None = None
                for index in reversed((*path, i)):
                    resume_at = {index: resume_at}
                next_page = {"break": "right" if side else "left", "page": child.page_values()[0]}
                found.append(Boundary((*path, i), (resume_at, next_page, side)))
        if depth:
            for i, child in children:
                walk(child, (*path, i), depth - 1)

    walk(root, (), 4)
    found.sort(key=lambda b: b.path)
    return found


def _long(html: weasyprint.HTML) -> bool:
    """Whether the document has text enough for a second process to save more than it costs."""
    return len("".join(html.etree_element.itertext())) >= MIN_CHARS


def _walks(root, context, html, bounds: list[Boundary], prefix: bytes) -> list[weasyprint_memory.Walk | None]:
    """Each segment's walk and key (None where it cannot be kept); ``prefix`` begins every key."""
    named = _named(context, html)
    ends = [b.path for b in bounds[1:]] + [None]
    return [weasyprint_memory.walk(root, named, b.path, end, b.point, prefix)
            for b, end in zip(bounds, ends, strict=True)]


class _Lines:
    """The line breaks and notes' layouts kept between builds (``weasyprint_memo.Lines``) by stretch
    of the document: each segment's, under its place and start, and the rest's (the pages before the
    first segment, pages that look up page numbers, margin boxes). Each process, before it lays out a
    stretch, reads what was kept for it, and keeps what it found or used there when any was new."""

    def __init__(self, store: cache.Store, prefix: bytes, bounds: list[Boundary]) -> None:
        self.store = store
        self.memo = weasyprint_memo.Lines(prefix)
        self.names = [hashlib.sha256(prefix + repr((b.path, b.point)).encode()).hexdigest() for b in bounds]
        self.rest = hashlib.sha256(prefix + b"rest").hexdigest()
        self.records: dict[str, dict] = {}

    def begin(self, k: int | None) -> None:
        """Record from here on into segment ``k``'s stretch (None: the rest's)."""
        name = self.rest if k is None else self.names[k]
        if name not in self.records:
            self.records[name] = {}
            if (data := self.store.load(name)) is not None:
                try:
                    self.memo.add(weasyprint_memory.loads(data, None, {}))
                except Exception:  # noqa: BLE001 - a damaged or foreign file is a miss
                    pass
        self.memo.record = self.records[name]

    def keep(self, names: Iterable[str]) -> None:
        """Keep the records of these stretches that hold a line break not read from a file."""
        known = self.memo.known
        new = {name: pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL) for name in names
               if (record := self.records.get(name)) and any(key not in known for key in record)}
        if new:
            self.store.store(new)


# ---------- pickling laid-out pages across the fork ----------

def _named(context, html) -> list[object]:
    return [context, context.style_for, context.font_config, context.counter_style, context.target_collector,
            html, html.etree_element]


def _registry(root: boxes.Box, context, html: weasyprint.HTML) -> dict[int, object]:
    """Objects made before the fork that laid-out pages refer to, by ``id``: in the forked child
    each has the same ``id`` as here, so they cross as references."""
    reg: dict[int, object] = {}
    stack: list = [root, *context.footnotes]
    while stack:
        box = stack.pop()
        reg[id(box)] = box
        reg[id(box.style)] = box.style
        stack.extend(getattr(box, "children", None) or ())
        if getattr(box, "footnote", None) is not None:
            stack.append(box.footnote)
    for style in getattr(context.style_for, "_computed_styles", {}).values():
        reg[id(style)] = style
    for el in html.etree_element.iter():
        reg[id(el)] = el
    for obj in _named(context, html):
        reg[id(obj)] = obj
    return reg


def _placeholder(box: boxes.Box, done: bool) -> AbsolutePlaceholder:
    placeholder = AbsolutePlaceholder(box)
    object.__setattr__(placeholder, "_layout_done", done)
    return placeholder


DISPATCH = copyreg.dispatch_table.copy()
DISPATCH[AbsolutePlaceholder] = lambda p: (_placeholder, (p._box, p._layout_done))


# ---------- the layout's first pass, joining pages made elsewhere ----------

def _fresh_remake_state() -> dict:
    return {"content_changed": False, "pages_wanted": False, "anchors": [], "content_lookups": []}


@dataclass
class _Plan:
    """Where the pages of each segment (from boundary k to k+1) may come from."""

    bounds: list[Boundary]
    walks: list[weasyprint_memory.Walk | None]
    kept: dict[int, bytes]  # segment → pickle from an earlier build
    memory: weasyprint_memory.Memory | None
    registry: Callable[[], dict[int, object]]
    get_image: Callable  # the layout context's get_image_from_uri
    lines: _Lines | None = None
    margins: weasyprint_margins.Kept | None = None  # margin boxes kept between builds
    meeting: parallel.Meeting | None = None  # the child laying out segments from the last one down
    shipped: dict[int, tuple] = field(default_factory=dict)  # the child's segments to keep, as joined
    storing: parallel.Job | None = None
    page_keys: dict[int, str] = field(default_factory=dict)  # id of a page → its segment's key, its place
    starts: dict[int, int] = field(default_factory=dict)  # page index → the segment beginning there
    unpickled: dict[int, tuple | None] = field(default_factory=dict)  # kept segments unpickled beforehand
    # a kept page's box whose backgrounds are laid out → what gather_anchors finds under it (_gathered)
    finished: weasyprint_memo.ByObject = field(default_factory=weasyprint_memo.ByObject)
    bare: weasyprint_memo.ByObject = field(default_factory=weasyprint_memo.ByObject)  # style → whether _bare
    marked: weasyprint_memo.ByObject = field(default_factory=weasyprint_memo.ByObject)  # page → _marks boxes

    def name_pages(self, k: int, pages: list) -> None:
        """Record that ``pages`` are segment ``k``'s, as its key names them."""
        if self.walks[k] is not None:
            self.page_keys.update((id(p), f"{self.walks[k].key}:{j}") for j, p in enumerate(pages))

    @cached_property
    def fixed(self) -> bool:
        """Whether a box is fixed: WeasyPrint repeats it on every page."""
        return any(isinstance(b, boxes.Box) and b.style["position"] == "fixed" for b in self.reg.values())

    @cached_property
    def reg(self) -> dict[int, object]:
        """The objects made before layout, by ``id`` (see ``_registry``)."""
        return self.registry()

    def payload(self, k: int, clean: bool) -> tuple | None:
        """Segment ``k``'s pages, entries and footnotes from memory or the child, or None: this
        process lays it out (so the child need not). Only a ``clean`` arrival (nothing carried over)
        takes pages made elsewhere."""
        if clean and k in self.kept:
            return self.unpickled.pop(k) if k in self.unpickled else self._loads(k, self.kept[k])
        if self.meeting is None:
            return None
        data, keep = (self.meeting.take(k, lambda: self._unpickle_next(k)) if clean else self.meeting.passing(k))
        payload = None if data is None else self._loads(k, data)
        if payload is not None and keep and self.walks[k] is not None:
            self.shipped[k] = payload
        return payload

    def _unpickle_next(self, after: int) -> bool:
        """Unpickle the next kept segment after segment ``after`` beforehand (while this process
        waits for the child to make that one); False when none is left."""
        k = next((k for k in sorted(self.kept) if k > after and k not in self.unpickled), None)
        if k is None:
            return False
        self.unpickled[k] = self._loads(k, self.kept[k])
        return True

    def _loads(self, k: int, data: bytes) -> tuple | None:
        """A segment's payload from its pickle: (pages, entries, footnotes taken). A kept segment's
        pages come with their backgrounds laid out and what ``_gathered`` found under each of their
        boxes, which ``layout_box_backgrounds``, ``gather_anchors`` and ``descendants`` then take."""
        try:
            payload = weasyprint_memory.loads(data, self.walks[k].objects if self.walks[k] else None, self.reg,
                                              trusted=k not in self.kept)
        except Exception:  # noqa: BLE001 - a damaged or foreign pickle is laid out afresh
            return None
        if k not in self.kept:
            return payload
        if not _well_formed(payload):
            return None  # a sound file of another shape (an older format, or planted): laid out afresh
        pages, entries, consumed, finished = payload
        if not self.fixed:  # else WeasyPrint adds the fixed boxes to every page, to be finished with it
            for page, found in zip(pages, finished, strict=True):
                marked = [page] if _marks(page) else []
                for child, gathered in zip(page.children, found, strict=True):
                    self.finished.made(child, lambda _, gathered=gathered: gathered)
                    marked += gathered[4]
                self.marked.made(page, lambda _, marked=marked: marked)
        return pages, entries, consumed

    def descendants(self, page: boxes.PageBox, placeholders: bool = False) -> Iterator:
        """``PageBox.descendants``, but for a kept page, only the boxes that ``layout_document``'s last
        pass over all boxes (bookmarks, labels and named strings made once the pages are) acts on:
        it went through 15,000 boxes for a few hundred."""
        marked = None if placeholders else self.marked.find(page)
        return iter(marked) if marked is not None else _descendants(page, placeholders)

    def gather_anchors(self, box, anchors, links, bookmarks, forms, parent_matrix=None, parent_form=None,
                       parent_link=None) -> None:
        """WeasyPrint's, but taking what ``_gathered`` found under a kept page's box, when the page
        passes nothing down to it (no transform, form or link)."""
        found = self.finished.find(box)
        if found is None or parent_matrix is not None or parent_form is not None or parent_link is not None:
            _gather_anchors(box, anchors, links, bookmarks, forms, parent_matrix, parent_form, parent_link)
            return
        last["gathered"] += 1
        found_anchors, found_links, found_bookmarks, found_forms, _ = found
        for name, area in found_anchors.items():  # the first of a name on the page is its anchor
            anchors.setdefault(name, area)
        links.extend(found_links)
        # A label may have changed since: WeasyPrint keeps one bookmark per element once all pages
        # are made, and fills in those that wait for page counters.
        bookmarks.extend((level, owner.bookmark_label, point, state)
                         for owner, (level, _, point, state) in found_bookmarks if owner.bookmark_label)
        for form, inputs in found_forms.items():
            forms.setdefault(form, []).extend(inputs)

    def layout_box_backgrounds(self, page, box, get_image, layout_children: bool = True, style=None) -> None:
        """WeasyPrint's, but for a kept page's boxes, laid out in the build that kept them, and at once
        for a box whose style gives it no background at all (most boxes): profiled, WeasyPrint's
        step read ten style values of each of the white paper's 15,000 boxes."""
        if self.finished.find(box) is not None:
            return
        if style is None and box is not page and self.bare.made(box.style, _bare):
            for name in _RADII:  # as resolve_radii_percentages sets square corners
                setattr(box, name, (0, 0))
            if layout_children:
                for child in box.all_children():
                    self.layout_box_backgrounds(page, child, get_image)
            box.background = None
            return
        _box_backgrounds(page, box, get_image, layout_children, style)


_box_backgrounds = wbackground.layout_box_backgrounds
_gather_anchors = wanchors.gather_anchors
_descendants = boxes.PageBox.descendants


def _marks(box: boxes.Box) -> bool:
    """Whether ``layout_document``'s last pass over all boxes acts on ``box``: a bookmark (kept once
    per element), a label or content waiting for page counters, a named string set."""
    return bool(box.bookmark_label or box.missing_link or (box.string_set and box.string_set != "none"))


def _gathered(box: boxes.Box) -> tuple:
    """What WeasyPrint's ``gather_anchors`` finds under ``box`` when its page passes nothing down:
    anchors, links, bookmarks (each with the box it is for) and forms; and the boxes ``_marks``
    of those ``box.descendants()`` gives, in its order, which the walk here follows but into a
    positioned box's placeholder and a table's column groups."""
    anchors: dict = {}
    links: list = []
    bookmarks: list = []
    forms: dict = {None: []}
    owners: list[boxes.Box] = []
    marked: list = []
    beyond = 0  # depth under a placeholder or a column group: boxes descendants() does not give

    def gather(box, *args) -> None:
        nonlocal beyond
        if box.bookmark_label and box.style["bookmark_level"] != "none":  # its own comes first
            owners.append(box)
        column = isinstance(box, (boxes.TableColumnGroupBox, boxes.TableColumnBox))
        if not beyond and not column and _marks(box):
            marked.append(box)
        deeper = type(box) is AbsolutePlaceholder or column
        beyond += deeper
        try:
            _gather_anchors(box, *args)
        finally:
            beyond -= deeper

    with patched(wanchors, "gather_anchors", gather):
        gather(box, anchors, links, bookmarks, forms)
    return anchors, links, list(zip(owners, bookmarks, strict=True)), forms, marked


def _bare(style) -> bool:
    """Whether WeasyPrint's backgrounds step gives a box of this style nothing but square corners
    and no background: no border image or mask, no rounded corner, no shadow, no background image
    and a transparent background colour (or hidden)."""
    if style["border_image_source"][0] != "none" or style["mask_border_source"][0] != "none":
        return False
    if any((0, "px") not in style[name] for name in _RADII) or style["box_shadow"]:
        return False
    return style["visibility"] == "hidden" or (
        all(type_ != "url" and not value for type_, value in style["background_image"])
        and get_color(style, "background_color").alpha == 0)


def _well_formed(payload: object) -> bool:
    """Whether a kept segment read from a file has the shape ``_finished`` gives one: its pages, the
    page-maker entries of their starts and of its end, the footnotes it took, and for each box of
    each page what ``_gathered`` found under it."""
    if not (isinstance(payload, tuple) and len(payload) == 4):
        return False
    pages, entries, consumed, finished = payload
    return (isinstance(pages, list) and bool(pages) and all(isinstance(p, boxes.PageBox) for p in pages)
            and isinstance(entries, list) and len(entries) == len(pages) + 1
            and all(isinstance(e, tuple) and len(e) == 4 for e in entries) and isinstance(consumed, list)
            and isinstance(finished, list) and len(finished) == len(pages)
            and all(isinstance(found, list) and len(found) == len(page.children)
                    for page, found in zip(pages, finished, strict=True))
            and all(_well_gathered(g) for found in finished for g in found))


_BOXES = (boxes.Box, AbsolutePlaceholder)


def _well_gathered(gathered: object) -> bool:
    """Whether ``gathered`` has the shape ``_gathered`` gives."""
    if not (isinstance(gathered, tuple) and len(gathered) == 5):
        return False
    anchors, links, bookmarks, forms, marked = gathered
    return (isinstance(anchors, dict) and isinstance(links, list) and isinstance(forms, dict)
            and isinstance(bookmarks, list) and all(isinstance(b, tuple) and len(b) == 2
                                                    and isinstance(b[0], _BOXES) for b in bookmarks)
            and isinstance(marked, list) and all(isinstance(b, _BOXES) for b in marked))


def _running(context) -> bool:
    """Whether any element is running (moved to margin boxes, page by page)."""
    return any(p for names in context.running_elements.values() for p in names.values())


def _boundary_at(context, bounds: list[Boundary], i: int) -> tuple[int | None, bool]:
    """The boundary where page ``i`` begins, if any, and whether nothing is carried over to it."""
    resume_at, next_page, right_page, _, _ = context.page_maker[i]
    here = next((k for k, b in enumerate(bounds) if b.point == (resume_at, next_page, right_page)), None)
    return here, not context.reported_footnotes and not context.broken_out_of_flow


def _kept(context, pages: list, start: int, end: int, before: list, after: list, clean_end: bool
          ) -> tuple | None:
    """Pages ``start`` to ``end`` as a segment is kept: with the page-maker entries of their starts
    and of the end, and the footnotes they took (``before`` and ``after`` them). None when they
    depend on more than the segment: they end where a footnote is carried over, or they look up
    page numbers or other pages."""
    entries = context.page_maker[start:end + 1]
    if not clean_end or any(e[-1]["content_lookups"] or e[-1]["pages_wanted"] or e[-1]["content_changed"]
                            for e in entries[:-1]):
        return None
    left = {id(f) for f in after}
    return (pages[start:end], [(e[0], e[1], e[2], list(e[-1]["anchors"])) for e in entries],
            [f for f in before if id(f) not in left])


def _made_here(context, pages: list, arrivals: list, end: int) -> Iterator[tuple[int, tuple | None]]:
    """Each segment laid out in this process as it may be kept (None if it may not). ``arrivals``
    are the layout's arrivals at boundaries, in order: (segment, first page, footnotes then, whether
    nothing was carried over, whether this process laid it out); ``end`` is the page after the last.
    A segment ends where the next arrival begins."""
    ends = [(a[1], a[3], a[2]) for a in arrivals[1:]] + [(end, True, list(context.footnotes))]
    for (k, start, before, clean, here), (stop, clean_end, after) in zip(arrivals, ends, strict=True):
        if here:
            yield k, _kept(context, pages, start, stop, before, after, clean_end) if clean else None


def _pickled(plan: _Plan, made: dict[int, tuple]) -> dict[int, tuple[bytes | None, bool]]:
    """Each segment's pickle, and whether it may be kept (it refers to nothing by ``id``); None for
    one that cannot be pickled (the column boxes of a table with column groups hold functions)."""
    pickled: dict[int, tuple[bytes | None, bool]] = {}
    for k, segment in made.items():
        try:
            pickled[k] = weasyprint_memory.dumps(segment, plan.reg, plan.walks[k], DISPATCH)
        except Exception:  # noqa: BLE001 - laid out again where it is needed
            pickled[k] = (None, False)
    return pickled


def _finished(plan: _Plan, segment: tuple) -> tuple:
    """A segment as it is kept for later builds: its pages with the backgrounds of their boxes laid
    out (WeasyPrint's last layout step, which looks at no other box and no other page), and what
    ``_gathered`` finds under each box, so that a later build does neither again. The page boxes
    themselves and their margin boxes are left to that build. (In the process that keeps them.)"""
    pages, entries, consumed = segment
    found = []
    for page in pages:
        for child in page.children:  # the root box and the footnote areas: no margin boxes yet
            wbackground.layout_box_backgrounds(page, child, plan.get_image)
        found.append([_gathered(child) for child in page.children])
    return pages, entries, consumed, found


def _keep(plan: _Plan, made: dict[int, tuple], lines: list[str]) -> int:
    """Keep in ``plan.memory`` the segments laid out here that may be kept, and those the child
    shipped, and the line breaks of the ``lines`` stretches; how many segments."""
    if plan.lines is not None:
        plan.lines.keep(lines)
    made = {k: _finished(plan, segment) for k, segment in (plan.shipped | made).items()}
    keep = {plan.walks[k].key: data for k, (data, keepable) in _pickled(plan, made).items() if keepable}
    if keep:
        plan.memory.store(keep)
    return len(keep)


def _first_pass(context, root, html, plan: _Plan) -> Iterator:
    """WeasyPrint's first ``make_all_pages`` pass, taking each segment's pages from ``plan`` where
    it has them and they fit, and keeping the segments laid out here in ``plan.memory``."""
    context.rendered_notes = []
    pages: list = []
    arrivals: list[tuple[int, int, list, bool, bool]] = []  # see _made_here
    plan.starts = {}
    i = 0
    while True:
        k, clean = _boundary_at(context, plan.bounds, i)
        if k is not None:
            plan.starts[i] = k
            footnotes = list(context.footnotes)  # before a join takes the segment's own
            payload = plan.payload(k, clean)
            joined = _join(context, root, html, i, payload) if payload else None
            arrivals.append((k, i, footnotes, clean, joined is None))
            if plan.lines is not None:
                plan.lines.begin(None if joined is not None else k)
            if joined is not None:
                last["remembered" if k in plan.kept else "joined"] += len(joined)
                plan.name_pages(k, joined)
                pages.extend(joined)
                yield from joined
                i = len(pages)
                if context.page_maker[i][0] is None:
                    break
                continue
        context.page_maker[i][-1].update(_fresh_remake_state())
        page, resume_at = remake_page(i, context, root, html)
        pages.append(page)
        yield page
        i += 1
        if resume_at is None and not context.reported_footnotes:
            break
    if plan.meeting is not None:
        plan.meeting.close()  # its work is taken or no longer needed
    if plan.lines is not None:
        plan.lines.begin(None)
    if plan.memory is not None:
        _store(context, plan, pages, arrivals)
    context.broken_out_of_flow.clear()
    context.reported_footnotes.clear()


def _store(context, plan: _Plan, pages: list, arrivals: list) -> None:
    """Keep, from another process, the segments laid out here that may be kept and are not yet."""
    here = [plan.lines.names[a[0]] for a in arrivals if a[4]] if plan.lines is not None else []
    if context.rendered_notes or _running(context):
        todo = {}
    else:
        todo = {k: made for k, made in _made_here(context, pages, arrivals, len(pages))
                if made is not None and plan.walks[k] is not None and k not in plan.kept}
    for k, made in todo.items():
        plan.name_pages(k, made[0])
    if todo or plan.shipped or here:
        plan.storing = parallel.elsewhere(lambda: _keep(plan, todo, here))


def _layout_theirs(html, root, context, plan: _Plan, theirs: list[int], meeting: parallel.Meeting) -> None:
    """In the child: the segments of ``theirs`` from the last one down, each laid out from its
    boundary and shipped through ``meeting`` as soon as it is made, pickled with the page-maker
    entries of its pages and of its end, and the footnotes it took (None: it depends on what came
    before, or does not end at the next boundary). Stops at the segment this process has reached."""
    wlayout.initialize_page_maker(context, root)
    state = context.page_maker[0][3]
    context.rendered_notes = []
    for k in meeting.mine(theirs):
        resume_at, next_page, right_page = plan.bounds[k].point
        context.page_maker = [(None, next_page, right_page, copy.deepcopy(state), _fresh_remake_state()),
                              (resume_at, next_page, right_page, copy.deepcopy(state), _fresh_remake_state())]
        context.reported_footnotes.clear()
        context.broken_out_of_flow.clear()
        if plan.lines is not None:
            plan.lines.begin(k)
        pages: list = [None]  # index 0 stands for the pages before: no :first page here
        before = list(context.footnotes)
        while True:
            i = len(pages)
            context.page_maker[i][-1].update(_fresh_remake_state())
            page, resume_at = remake_page(i, context, root, html)
            pages.append(page)
            if resume_at is None and not context.reported_footnotes:
                arrived, clean = len(plan.bounds), True
                break
            arrived, clean = _boundary_at(context, plan.bounds, i + 1)
            if arrived is not None:
                break
            if meeting.reached() >= k:
                return
        if plan.lines is not None:  # before shipping: this process may be stopped once it has
            plan.lines.keep([plan.lines.names[k]])
        if context.rendered_notes or _running(context):
            return
        made = None if arrived != k + 1 else _kept(context, pages, 1, len(pages), before, list(context.footnotes),
                                                   clean)
        meeting.ship(k, *(_pickled(plan, {k: made})[k] if made is not None else (None, False)))


def _layout(html, root, context, plan: _Plan, theirs: list[int], split: bool) -> Iterator:
    """WeasyPrint's ``layout_document`` with our own first pagination pass (``_first_pass``), a
    forked child laying out the segments of ``theirs`` from the last one down, until it meets this
    process (``parallel.Meeting``); later passes are WeasyPrint's own. Its last step, margin boxes and
    backgrounds page by page, is shared with another child (``_Finish``)."""
    if theirs or plan.memory is not None:
        plan.reg  # noqa: B018 - made before layout: pages made here and in a child refer to these
    if theirs:
        if any(isinstance(b, boxes.Box) and b.style["hyphens"] == "auto" for b in plan.reg.values()):
            load_hyphenation({el.get("lang") for el in html.etree_element.iter() if el.get("lang")})
        plan.meeting = parallel.Meeting.start(
            lambda meeting: _layout_theirs(html, root, context, plan, theirs, meeting))
    original = wlayout.make_all_pages
    first = True
    finish = _Finish(context, plan, split)

    def make_all_pages(context, root_box, html, pages):
        nonlocal first
        ours = first and (plan.meeting is not None or plan.kept or plan.memory is not None)
        made = _first_pass(context, root_box, html, plan) if ours else original(context, root_box, html, pages)
        first = False
        return finish.record(made)

    def descendants(page, placeholders=False):
        return plan.descendants(page, placeholders)

    try:
        with patched(wlayout, "make_all_pages", make_all_pages), \
                patched(wlayout, "make_margin_boxes", finish.make_margin_boxes), \
                patched(wlayout, "layout_backgrounds", finish.layout_backgrounds), \
                patched(wbackground, "layout_box_backgrounds", plan.layout_box_backgrounds), \
                patched(boxes.PageBox, "descendants", descendants):
            yield from wlayout.layout_document(html, root, context)
    finally:
        if plan.meeting is not None:
            plan.meeting.close()
        finish.close()


def load_hyphenation(langs: Iterable[str]) -> None:
    """Load the hyphenation patterns of these languages, which pyphen keeps for the process: before
    the fork, or else each process would parse them itself. Parsing takes 0.1-0.2 s for English;
    the parsed patterns are kept in the cache folder, like compiled templates, under a SHA-256 of
    the pattern file and pyphen's version, and read back in ~10 ms."""
    store = cache.stage_store("hyphenation")
    for lang in langs:
        found = pyphen.language_fallback(lang.replace("-", "_"))
        if not found or (path := pyphen.LANGUAGES[found]) in pyphen.hdcache:
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        key = hashlib.sha256(b"hyphenation-1\0" + pyphen.__version__.encode() + b"\0" + data).hexdigest()
        kept = store.load(key)
        try:
            maxlen, patterns = weasyprint_memory.loads(kept, None, {}) if kept is not None else (0, None)
        except Exception:  # noqa: BLE001 - a damaged file is parsed again
            patterns = None
        if isinstance(patterns, dict) and patterns:
            hd = pyphen.HyphDict.__new__(pyphen.HyphDict)
            hd.patterns, hd.cache, hd.maxlen = patterns, {}, maxlen
            pyphen.hdcache[path] = hd
            continue
        hd = pyphen.Pyphen(lang=found).hd
        if all(type(v) is int for _, values in hd.patterns.values() for v in values):  # no alternatives
            store.store({key: pickle.dumps((hd.maxlen, hd.patterns), protocol=pickle.HIGHEST_PROTOCOL)})


# ---------- margin boxes and backgrounds on two processes ----------

MIN_FINISH_PAGES = 16  # below this, forking costs more than finishing half the pages saves
_RADII = tuple(f"border_{c}_radius" for c in ("top_left", "top_right", "bottom_right", "bottom_left"))
_FINISHED = ("background", *_RADII, "border_image", "mask_border_image")  # what layout_backgrounds sets
_UNSET = "\0unset"  # an attribute the backgrounds step left alone


def _finished_boxes(box: boxes.Box, before: weasyprint_memo.ByObject) -> Iterator[boxes.Box]:
    """The boxes ``layout_backgrounds`` sets attributes on, in its order (a positioned box's
    placeholder passes them on to the box), but margin boxes and the boxes under those of
    ``before`` (``_Plan.finished``: done before the fork, in both processes alike). Of a page, also
    its root box and the root's body, which may give their background to the page's canvas."""
    if isinstance(box, AbsolutePlaceholder):
        box = box._box
    for child in box.all_children():
        if not isinstance(child, boxes.MarginBox) and before.find(child) is None:
            yield from _finished_boxes(child, before)
    yield box
    if isinstance(box, boxes.PageBox) and before.find(root := box.children[0]) is not None:
        yield root
        yield from itertools.islice((c for c in root.children if c.element_tag.lower() == "body"), 1)


class _Finish:
    """WeasyPrint's last layout step (margin boxes, then backgrounds, page by page) shared with a
    forked child through a ``parallel.Meeting``: the child finishes pages from the last one down
    and ships each page's margin boxes and what the backgrounds step set on the page's other boxes,
    which this process takes instead of making them. Only when no box is fixed (repeated on every
    page) and no element is running. Both take margin boxes from earlier builds where they can
    (``weasyprint_margins``); the child hands over those it made, for this process to keep."""

    def __init__(self, context, plan: _Plan, enabled: bool) -> None:
        self.context, self.plan, self.enabled = context, plan, enabled
        self.pages: list = []
        self.meeting: parallel.Meeting | None = None
        self.started = False
        self.taken: dict[int, tuple] = {}  # id of a page → what the child's backgrounds step set (done, canvas)
        self.make, self.backgrounds = wlayout.make_margin_boxes, wlayout.layout_backgrounds

    def record(self, made: Iterator) -> Iterator:
        self.pages = []
        for page in made:
            self.pages.append(page)
            yield page

    def _start(self) -> None:
        self.started = True
        if self.enabled and len(self.pages) >= MIN_FINISH_PAGES and not _running(self.context) \
                and not self.plan.fixed:
            self.meeting = parallel.Meeting.start(self._theirs)

    def _theirs(self, meeting: parallel.Meeting) -> None:
        """In the child: the pages from the last one down, finished as layout_document would, each
        shipped as its margin boxes and the attributes the backgrounds step set on its other boxes."""
        context = self.context
        for i in meeting.mine(range(len(self.pages))):
            page = self.pages[i]
            root, footnote_area, note_area = page.children
            context.current_page = i + 1
            margins = self._make(context, page, context.page_maker[i + 1][3])
            fresh = self.plan.margins.taken() if self.plan.margins is not None else {}  # kept by this process
            page.children = (root, *(a for a in (footnote_area, note_area) if a.children), *margins)
            self.backgrounds(page, context.get_image_from_uri)
            done = [tuple(b.__dict__.get(a, _UNSET) for a in _FINISHED)
                    for b in _finished_boxes(page, self.plan.finished)]
            meeting.ship(i, weasyprint_memory.dumps((margins, done, page.canvas_background, fresh), self.plan.reg,
                                                    None, DISPATCH)[0])

    def make_margin_boxes(self, context, page, state):
        i = context.current_page - 1
        if i == 0 or not self.started:
            self._start()
        if self.meeting is not None:
            data, _ = self.meeting.take(i)
            if data is not None:
                margins, done, canvas, fresh = weasyprint_memory.loads(data, None, self.plan.reg, trusted=True)
                if self.plan.margins is not None:
                    self.plan.margins.new.update(fresh)
                self.taken[id(page)] = (done, canvas)
                last["finished"] += 1
                return margins
        return self._make(context, page, state)

    def _make(self, context, page, state) -> list:
        if self.plan.margins is None:
            return list(self.make(context, page, state))
        return self.plan.margins.made(self.make, context, page, state)

    def layout_backgrounds(self, page, get_image_from_uri):
        taken = self.taken.pop(id(page), None)
        if taken is None:
            self.backgrounds(page, get_image_from_uri)
        else:
            done, canvas = taken
            for box, values in zip(_finished_boxes(page, self.plan.finished), done, strict=True):
                for name, value in zip(_FINISHED, values, strict=True):
                    if not (isinstance(value, str) and value == _UNSET):
                        setattr(box, name, value)
            page.canvas_background = canvas
        if self.meeting is not None and self.context.current_page == len(self.pages):
            self.close()

    def close(self) -> None:
        if self.meeting is not None:
            self.meeting.close()
            self.meeting = None
        if self.plan.margins is not None:
            last["margins"] = self.plan.margins.hits
            self.plan.margins.keep()


def _same_style(mine, theirs) -> bool:
    return all(mine[key] == value for key, value in theirs.items())


def _join(context, root, html, start, payload) -> list | None:
    """Pages made elsewhere as pages ``start``… of this document, with their page types and page
    counters made here; None (nothing changed) if any page would differ from a sequential layout."""
    pages, entries, consumed = payload
    page_maker = context.page_maker
    made: list = []
    state = page_maker[start][3]
    for j, page in enumerate(pages):
        index = start + j
        resume_at, next_page, right_page, anchors = entries[j]
        state = copy.deepcopy(state)
        blank = page.page_type.blank
        name = _update_page_groups(state[3], resume_at, next_page, root, blank)
        groups = tuple((n, k) for n, k, _ in state[3])
        page_type = PageType("right" if right_page else "left", blank, name, index, groups)
        theirs = page.page_type
        if (theirs.side, theirs.blank, theirs.name, theirs.groups) != (page_type.side, blank, name, groups):
            return None
        set_page_type_computed_styles(page_type, html, context.style_for)
        style = context.style_for(page_type)
        style["overflow"] = root.viewport_overflow
        _standardize_page_based_counters(style, None)  # as make_page does, before comparing
        footnote_style = context.style_for(page_type, "@footnote")
        if footnote_style is None:  # a style is a dict, computed lazily: it may be empty
            footnote_style = style.anonymous_style
        if not (_same_style(style, page.style) and _same_style(footnote_style, page.children[1].style)):
            return None
        update_counters(state, style)
        made.append((page, page_type, style, anchors, state))
    # Everything matches: adopt the pages, as make_page and remake_page would have left them.
    del page_maker[start + 1:]
    for j, (page, page_type, style, anchors, state) in enumerate(made):
        index = start + j
        page.page_type, page.style = page_type, style
        page_maker[index][-1].update(_fresh_remake_state())
        for anchor in anchors:
            page_maker[index][-1]["anchors"].append(anchor)
            context.target_collector.cache_target_page_counters(anchor, state[1], index, page_maker)
        resume_at, next_page, right_page, _ = entries[j + 1]
        page_maker.append((resume_at, next_page, right_page, state, _fresh_remake_state()))
    gone = {id(f) for f in consumed}
    context.footnotes[:] = [f for f in context.footnotes if id(f) not in gone]
    return pages
