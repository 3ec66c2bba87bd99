"""Lay out one WeasyPrint document on two cores, with the pages one process would make.

WeasyPrint paginates in one sequential pass. Where the document must start a page of a known side
(a chapter with ``break-before: right``), the pages after that point depend on what came before
only through the page's number and a few states that can be checked. So after the box tree is
built, a forked child lays out the pages from such a point (the one that splits the text in about
half), while this process lays out the pages before it. When this process reaches the point, it
checks that it arrives exactly where the child began (same position, side, page name) and takes
the child's pages: their boxes come back pickled, with every object that existed before the fork
(styles, elements, the font configuration, source boxes) sent as a reference, not a copy. Each
page's type and page-based counters are then computed again here, in order, as WeasyPrint would
have, and the child's page styles are checked against them; anchors on the child's pages are
registered so that ``target-counter()`` references to them (the contents) are filled in by
WeasyPrint's own repagination loop. Margin boxes, bookmarks and named strings are made afterwards
by WeasyPrint for all pages at once.

Whenever something does not match, or the child's pages use page-based counters or running
elements, its pages are dropped and this process simply goes on laying out the rest itself: the
result is always the sequential one, only the time differs.

``weasyprint_paint`` does the same for painting. WeasyPrint's internals are used throughout;
``pyproject.toml`` pins WeasyPrint to 70.x.
"""

from __future__ import annotations

import copy
import copyreg
import io
import pickle
from collections.abc import Iterator
from unittest import mock

import weasyprint
from weasyprint import DEFAULT_OPTIONS
from weasyprint import layout as wlayout
from weasyprint.css.counters import CounterStyle
from weasyprint.document import Document, DocumentMetadata, Page
from weasyprint.formatting_structure import boxes
from weasyprint.formatting_structure.build import build_formatting_structure, update_counters
from weasyprint.html import get_html_metadata
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

from .. import parallel
from . import weasyprint_memo

MIN_CHARS = 40_000  # below this much text a second process costs more than it saves
SIDES = {"right": True, "left": False}
# The share of the text laid out here, before the split point. Not half: per unit of text the
# child was measured 20-30% slower than this process (in each of 4 runs this process waited
# 0.24-1.21 s for it at 0.5), as every object it first touches costs it a copy-on-write fault
# (~24k per child); then it pickles its pages. At 0.56 the white paper's waits fell to 0.1-0.7 s,
# the child now done first.
SHARE = 0.56
last = {"joined": 0}  # pages of the last render laid out by the child (0: none), for tests and benchmarks


def render(html: weasyprint.HTML, split: bool = True) -> weasyprint.Document:
    """``html.render()``; with ``split`` and a second core, on two processes."""
    options, context, root = prepare(html)
    last["joined"] = 0
    point = split_point(root, html) if split and parallel.can_fork() else None
    with weasyprint_memo.remembered():
        pages = list(wlayout.layout_document(html, root, context) if point is None
                     else _layout_split(html, root, context, point))
    doc = Document([Page(p) for p in pages], DocumentMetadata(**get_html_metadata(html)), html.url_fetcher,
                   context.font_config, {}, options["output_intent"])
    doc._html = html
    return doc


def prepare(html: weasyprint.HTML) -> tuple[dict, object, boxes.Box]:
    """What ``Document._render`` does before layout: options, layout context, box tree."""
    options = dict(DEFAULT_OPTIONS)
    counter_style = CounterStyle()
    context = Document._build_layout_context(html, FontConfiguration(), counter_style, {}, options)
    root = build_formatting_structure(html.etree_element, context.style_for, context.get_image_from_uri,
                                      html.base_url, context.target_collector, counter_style, context.footnotes)
    return options, context, root


# ---------- where to split ----------

def _side(value: str, ltr: bool) -> bool | None:
    """True for a break to a right page, False to a left one, None when the side is not forced."""
    if value in ("recto", "verso"):
        value = "right" if ltr ^ (value == "verso") else "left"
    return SIDES.get(value)


def split_point(root: boxes.Box, html: weasyprint.HTML) -> tuple[dict, dict, bool] | None:
    """``(resume_at, next_page, right_page)`` of the forced break of known side that comes nearest
    to ``SHARE`` of the document's text, or None if the document is short or has no such break."""
    where: dict = {}
    total = 0

    def count(el) -> None:
        nonlocal total
        where[el] = total
        total += len(el.text or "")
        for child in el:
            count(child)
            total += len(child.tail or "")

    count(html.etree_element)
    if total < MIN_CHARS:
        return None
    ltr = root.style["direction"] == "ltr"
    best: tuple[float, tuple[dict, dict, bool]] | None = None

    def walk(box: boxes.Box, path: tuple[int, ...], depth: int) -> None:
        nonlocal best
        children = [(i, c) for i, c in enumerate(box.children) if c.is_in_normal_flow()
                    and isinstance(c, boxes.BlockBox)]
        for (_, before), (i, child) in zip(children, children[1:], strict=False):
            side = _side(block_level_page_break(before, child), ltr)
            if side is not None and child.element in where:
                resume_at: dict | None = None
                for index in reversed((*path, i)):
                    resume_at = {index: resume_at}
                next_page = {"break": "right" if side else "left", "page": child.page_values()[0]}
                distance = abs(where[child.element] / total - SHARE)
                if best is None or distance < best[0]:
                    best = distance, (resume_at, next_page, side)
        if depth:
            for i, child in children:
                walk(child, (*path, i), depth - 1)

    walk(root, (), 4)
    return best[1] if best else None


# ---------- pickling laid-out pages across the fork ----------

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
    for style in getattr(context.style_for, "_computed_styles", {}).values():
        reg[id(style)] = style
    for el in html.etree_element.iter():
        reg[id(el)] = el
    for obj in (context, context.style_for, context.font_config, context.counter_style,
                context.target_collector, html):
        reg[id(obj)] = obj
    return reg


def _placeholder(box: boxes.Box, done: bool) -> AbsolutePlaceholder:
    placeholder = AbsolutePlaceholder(box)
    object.__setattr__(placeholder, "_layout_done", done)
    return placeholder


def _dumps(value: object, reg: dict[int, object]) -> bytes:
    class Pickler(pickle.Pickler):
        dispatch_table = copyreg.dispatch_table.copy()
        dispatch_table[AbsolutePlaceholder] = lambda p: (_placeholder, (p._box, p._layout_done))

        def persistent_id(self, obj: object) -> int | None:
            return id(obj) if reg.get(id(obj), reg) is obj else None

    buf = io.BytesIO()
    Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buf.getvalue()


def _loads(data: bytes, reg: dict[int, object]) -> object:
    class Unpickler(pickle.Unpickler):
        def persistent_load(self, pid: int) -> object:
            return reg[pid]

    return Unpickler(io.BytesIO(data)).load()


# ---------- the two sides ----------

def _fresh_remake_state() -> dict:
    return {"content_changed": False, "pages_wanted": False, "anchors": [], "content_lookups": []}


def _paginate(context, root, html, i: int) -> Iterator:
    """WeasyPrint's first pagination pass from page ``i`` to the end of the document."""
    while True:
        context.page_maker[i][-1].update(_fresh_remake_state())
        page, resume_at = remake_page(i, context, root, html)
        yield page
        i += 1
        if resume_at is None and not context.reported_footnotes:
            return


def _layout_rest(html, root, context, point, reg, footnotes) -> bytes | None:
    """In the child: the pages from the split point to the end, pickled with the page-maker
    entries of their starts and of the end; None if they depend on what comes before."""
    resume_at, next_page, right_page = point
    wlayout.initialize_page_maker(context, root)
    state = context.page_maker[0][3]
    context.page_maker = [(None, next_page, right_page, state, _fresh_remake_state()),
                          (resume_at, next_page, right_page, copy.deepcopy(state), _fresh_remake_state())]
    context.rendered_notes = []
    pages = list(_paginate(context, root, html, 1))  # index 0 stands for the pages before: no :first page here
    entries = context.page_maker[1:]
    if (context.rendered_notes or any(p for names in context.running_elements.values() for p in names.values())
            or any(e[-1]["content_lookups"] or e[-1]["pages_wanted"] or e[-1]["content_changed"]
                   for e in entries)):
        return None
    left = {id(f) for f in context.footnotes}
    consumed = [id(f) for f in footnotes if id(f) not in left]
    return _dumps((pages, [(e[0], e[1], e[2], e[-1]["anchors"]) for e in entries], consumed), reg)


def _layout_split(html, root, context, point) -> Iterator:
    """WeasyPrint's ``layout_document`` with a forked child laying out the pages from ``point``
    on; its first pagination pass takes the child's pages, later passes are WeasyPrint's own."""
    reg = _registry(root, context, html)
    footnotes = list(context.footnotes)
    job = parallel.elsewhere(lambda: _layout_rest(html, root, context, point, reg, footnotes))
    if job is None:
        yield from wlayout.layout_document(html, root, context)
        return
    original = wlayout.make_all_pages
    first = True

    def make_all_pages(context, root_box, html, pages):
        nonlocal first
        if first:
            first = False
            return _make_pages_joining(context, root_box, html, job, point, reg)
        return original(context, root_box, html, pages)

    try:
        with mock.patch.object(wlayout, "make_all_pages", make_all_pages):
            yield from wlayout.layout_document(html, root, context)
    finally:
        job.cancel()


def _make_pages_joining(context, root, html, job, point, reg) -> Iterator:
    """WeasyPrint's first ``make_all_pages`` pass, taking the child's pages at the split point."""
    context.rendered_notes = []
    for i, page in enumerate(_paginate(context, root, html, 0), 1):
        yield page
        resume_at, next_page, right_page, _, _ = context.page_maker[i]
        if (resume_at, next_page, right_page) == point and not context.reported_footnotes \
                and not context.broken_out_of_flow:
            try:
                data = job.result()
            except Exception:  # noqa: BLE001 - a real error recurs below, in this process
                data = None
            joined = _join(context, root, html, i, _loads(data, reg)) if data else None
            yield from joined if joined is not None else _paginate(context, root, html, i)
            break
    context.broken_out_of_flow.clear()
    context.reported_footnotes.clear()


def _same_style(mine, theirs) -> bool:
    return all(mine[key] == value for key, value in theirs.items())


def _join(context, root, html, start, payload) -> list | None:
    """The child's pages as pages ``start``… of this document, with their page types and page
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
    gone = set(consumed)
    context.footnotes[:] = [f for f in context.footnotes if id(f) not in gone]
    last["joined"] = len(pages)
    return pages
