"""Margin boxes (running heads, folios) kept between builds.

WeasyPrint makes every page's margin boxes after its pages are laid out: ~3 ms a page (the boxes'
widths are measured, then their text laid out), 0.25 s for the white paper, in every build. A
page's margin boxes are made from its page type (the margin boxes' styles: ``@page`` rules,
``var()`` and all), its page-based counters and quotes (``page``, ``pages`` and any counter in
scope), the named strings ``string()`` can give there (the values set on the page, the last one set
before it, and which of them the page's first boxes set, for ``start``), the page's geometry, and
the style sheets, fonts and tool, which every key begins with (``weasyprint_memory.prefix``). They
are kept under a SHA-256 of those, pickled with their page's styles and the layout context sent
by place (a later build gives the same place its own page's), and read back with the layout's
allow-list of classes. Pages whose margin boxes hold images, running elements or ``target-*()``
lookups are made as usual: their content depends on more than the key.
"""

from __future__ import annotations

import bisect
import hashlib

from weasyprint.formatting_structure import boxes

from .. import cache
from . import weasyprint_memory

KEYWORDS = tuple(f"@{side}-{place}" for side, places in (
    ("top", ("left", "center", "right")), ("bottom", ("left", "center", "right")),
    ("left", ("top", "middle", "bottom")), ("right", ("top", "middle", "bottom"))) for place in places) + (
    "@top-left-corner", "@top-right-corner", "@bottom-left-corner", "@bottom-right-corner")
_CONTENT = {"string", "string()", "counter()", "counters()", "quote"}  # what a key covers


class Kept:
    """The margin boxes of one build's pages, from and to ``store``."""

    def __init__(self, store: cache.Store, prefix: bytes, named: list[object]) -> None:
        self.store, self.prefix, self.named = store, prefix, named
        self.new: dict[str, bytes] = {}
        self.hits = 0
        self._pages: dict[str, list[int]] = {}  # named string → the pages that set it, in order

    def _local(self, page, styles: list) -> weasyprint_memory.Walk:
        """The objects the page's margin boxes are pickled with by place: the layout context, the
        page's style and its margin boxes' (``styles``)."""
        objects = [*self.named, page.style, page.style.anonymous_style, *(s for s in styles if s is not None)]
        return weasyprint_memory.Walk(objects, {id(o): n for n, o in enumerate(objects)}, "")

    def _strings(self, context) -> list:
        """Each named string as ``string()`` can see it on the current page: its values there and
        the last value set before it."""
        current = context.current_page
        found = []
        for name in sorted(context.string_set):
            pages = context.string_set[name]
            if not pages:  # a name looked up and never set (WeasyPrint's store is a defaultdict)
                continue
            if name not in self._pages:
                self._pages[name] = sorted(pages)
            order = self._pages[name]
            at = bisect.bisect_left(order, current)  # the pages before the current one: order[:at]
            found.append((name, pages.get(current), pages[order[at - 1]][-1] if at else None))
        return found

    def key(self, context, page, state, styles: list) -> str | None:
        """The key of the page's margin boxes (``styles``: theirs, by ``KEYWORDS``), or None when
        they depend on more than it covers."""
        if any(p for names in context.running_elements.values() for p in names.values()):
            return None
        for style in styles:
            content = style["content"] if style is not None else "none"
            if not isinstance(content, str) and any(item[0] not in _CONTENT for item in content):
                return None
        first, chain = page, []  # the page's first boxes, which string(name, start) looks at
        while first is not None:
            if first.style["string_set"] != "none":
                chain.append(tuple(name for name, _ in first.style["string_set"]))
            first = first.children[0] if first.children else None
        quotes, counters, scopes, groups = state
        where = (tuple(page.page_type), quotes, sorted(counters.items()),
                 [sorted(s) for s in scopes], [(name, k) for name, k, _ in groups],
                 page.margin_width(), page.margin_height(), page.margin_top, page.margin_right,
                 page.margin_bottom, page.margin_left, page.border_width(), page.border_height())
        digest = hashlib.sha256(self.prefix)
        digest.update(repr(("margins-1", where, self._strings(context), chain)).encode())
        return "margins-" + digest.hexdigest()

    def made(self, make, context, page, state) -> list:
        """The page's margin boxes: kept ones when the key names them, else ``make``'s (kept)."""
        styles = [context.style_for(page.page_type, keyword) for keyword in KEYWORDS]
        key = self.key(context, page, state, styles)
        if key is None:
            return list(make(context, page, state))
        local = self._local(page, styles)
        if (data := self.store.load(key)) is not None:
            try:
                margins = weasyprint_memory.loads(data, local.objects, {})
            except Exception:  # noqa: BLE001 - a damaged or foreign file is a miss
                margins = None
            if isinstance(margins, list) and all(isinstance(m, boxes.MarginBox) for m in margins):
                self.hits += 1
                return margins
        margins = list(make(context, page, state))
        try:
            data, keepable = weasyprint_memory.dumps(margins, {}, local)
        except Exception:  # noqa: BLE001 - margin boxes that cannot be pickled are made each time
            keepable = False
        if keepable:
            self.new[key] = data
        return margins

    def taken(self) -> dict[str, bytes]:
        """The margin boxes made since the last call, to be kept (by the process that keeps them)."""
        new, self.new = self.new, {}
        return new

    def keep(self) -> None:
        """Keep the margin boxes made here or handed over."""
        if self.new:
            self.store.store(self.taken())
