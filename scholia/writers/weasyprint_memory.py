"""Laid-out stretches of a document kept between builds, so that a build after one note was edited
lays out only the chapter that holds it (and ``weasyprint_paint`` paints only its pages).

``weasyprint_split`` already lays out the pages from a chapter start in another process and joins
them, after checking that the layout arrives there exactly as the other process began. Those
pages, pickled, can as well come from an earlier build, provided that everything that shaped them
is the same. A *segment* is the stretch of the box tree from one forced break of known side (a
chapter start) to the next. Its key is a SHA-256 over:

- the tool's stamp (its code, the versions of the libraries, the font files it may read);
- the document's ``<head>`` but its metadata, every style sheet wherever it is (so every
  ``@font-face`` rule), the root element's attributes and the base URL;
- the boxes of the ancestors of the segment, each with the tags and attributes of all its children
  (what selectors on siblings and ancestors can see);
- each box of the segment in order: its class, element tag, element (tag, attributes, children),
  text, bookmark label and named strings, and which earlier style or element it shares, if any;
- where the segment begins (the page break, page name and side).

Counters, quotes and generated content are resolved in the box tree before layout, so their text
is in the key. What is resolved only during layout (page-based counters, ``target-counter()``,
running elements) makes a segment that is never kept, and images make one that is never kept.
Style sheets using ``:has()``, whose matches can look into other segments, keep nothing.

A page that no segment names (front matter, a chapter that looks up page numbers) is painted from
memory under ``page_key``: what is on it and the elements its boxes come from, as selectors see them.

The pickled pages refer to objects made before layout (boxes, styles, elements) by their place in
the walk above, which two equal keys make the same. A file that is damaged, unreadable or names a
class outside the layout's own is a miss, never an error; the joins check the pages as
``weasyprint_split`` does for its child's. Files are written whole and renamed into place.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from weasyprint.formatting_structure import boxes

from .. import cache

KEEP_BYTES = 128 * 2**20  # the most recently used segment files are kept up to this size
LINES_BYTES = 32 * 2**20  # and the most recently used line-break files up to this size
MARGINS_BYTES = 16 * 2**20  # and the most recently used pages' margin boxes (weasyprint_margins)


@dataclass
class Walk:
    """The objects a segment's pages may refer to, in walk order, and the segment's key."""

    objects: list[object]
    index: dict[int, int]  # id → place in ``objects``
    key: str


class Uncacheable(Exception):
    """The segment's layout depends on more than its key covers."""


def _shape(el) -> tuple:
    return el.tag, tuple(sorted(el.attrib.items()))


class _Signer:
    """Objects in walk order, each box signed as it comes (its class, element, style, text...)."""

    def __init__(self, named: list[object]) -> None:
        self.objects: list[object] = list(named)
        self.index: dict[int, int] = {id(o): n for n, o in enumerate(self.objects)}
        self.sig: list = []

    def ref(self, obj) -> int | None:
        """``obj``'s place if it came before; else None, and it takes the next place."""
        n = self.index.get(id(obj))
        if n is None:
            self.index[id(obj)] = len(self.objects)
            self.objects.append(obj)
        return n

    def note(self, box: boxes.Box, ancestor: bool) -> None:
        if isinstance(box, boxes.ReplacedBox):
            raise Uncacheable
        el = box.element
        e = None if el is None else self.ref(el)
        if el is not None and e is None:
            e = (*_shape(el), tuple(_shape(c) for c in el))
        style = box.style
        s = self.ref(style)
        if s is None:
            parent = getattr(style, "parent_style", None)
            s = (type(style).__name__, getattr(style, "pseudo_type", None), self.index.get(id(parent), -1))
        self.ref(box)
        children = getattr(box, "children", None) or ()
        self.sig.append((type(box).__name__, box.element_tag, e, s, len(children), getattr(box, "text", None),
                         box.bookmark_label or None, repr(box.string_set) if box.string_set else None,
                         tuple((type(c).__name__, c.element_tag) for c in children) if ancestor else None))

    def subtree(self, box: boxes.Box) -> None:
        self.note(box, False)
        footnote = getattr(box, "footnote", None)
        if footnote is not None:
            self.subtree(footnote)
        for child in getattr(box, "children", None) or ():
            self.subtree(child)

    def walk(self, prefix: bytes, *head: object) -> Walk:
        digest = hashlib.sha256(prefix)
        digest.update(pickle.dumps((*head, self.sig), protocol=pickle.HIGHEST_PROTOCOL))
        return Walk(self.objects, self.index, digest.hexdigest())


def walk(root: boxes.Box, named: list[object], start: tuple[int, ...], end: tuple[int, ...] | None,
         where: object, prefix: bytes) -> Walk | None:
    """The walk of the segment from the box at path ``start`` to the one at ``end`` (None: to the
    end), after ``named`` (the layout context and its parts) and the ancestors, and the segment's
    key (``where`` is the page break it begins with); None if the segment cannot be kept."""
    signer = _Signer(named)
    try:
        box = root
        stack: list[tuple[boxes.Box, tuple[int, ...]]] = []
        for depth, i in enumerate(start):
            signer.note(box, True)
            stack.extend((c, (*start[:depth], j)) for j, c in reversed(list(enumerate(box.children))) if j > i)
            box = box.children[i]
        stack.append((box, start))
        while stack:
            box, path = stack.pop()
            if path == end:
                break
            if end is not None and path == end[:len(path)]:  # an ancestor of the end: into it
                signer.note(box, False)
                stack.extend((c, (*path, j)) for j, c in reversed(list(enumerate(box.children))))
                continue
            signer.subtree(box)
    except Uncacheable:
        return None
    return signer.walk(prefix, start, end, repr(where))


def note_walk(box: boxes.Box, named: list[object], elements: Elements, prefix: bytes) -> Walk | None:
    """The walk of a note laid out on its own (in a footnote area), after ``named``, and a key over
    its boxes, signed as ``walk`` signs a segment's, and the chain of its element's ancestors, each
    with its children, as selectors see them (which, with the style sheets in ``prefix``, gives the
    styles); None if the note cannot be kept."""
    signer = _Signer(named)
    try:
        signer.subtree(box)
    except Uncacheable:
        return None
    chain, el = [], box.element
    while (parent := elements.parent.get(id(el))) is not None:
        children = list(parent)
        chain.append((_shape(parent), tuple(_shape(c) for c in children),
                      next(i for i, c in enumerate(children) if c is el)))
        el = parent
    if el is not elements.elements[0]:  # not an element of the document
        return None
    return signer.walk(prefix, "note-1", chain)


class Elements:
    """A document's elements in order, with each one's parent (ElementTree keeps none)."""

    def __init__(self, root: ET.Element) -> None:
        self.order: dict[int, int] = {}
        self.parent: dict[int, ET.Element] = {}
        self.elements: list[ET.Element] = []
        for el in root.iter():
            self.order[id(el)] = len(self.elements)
            self.elements.append(el)
            for child in el:
                self.parent[id(child)] = el


_PLAIN = (int, float, str, bool, type(None))


_PLAIN_TYPES = frozenset(_PLAIN)


def _plain(value: object) -> bool:
    return type(value) in _PLAIN_TYPES or isinstance(value, _PLAIN) or \
        (isinstance(value, tuple) and all(_plain(v) for v in value))


def _by_value(value: object) -> bytes:
    """Plain data as bytes that depend on its values only (a pickle without the memo, which would
    depend on which equal objects are one and the same): 4-5 times faster than ``repr`` on the
    floats of a laid-out page."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(value)
    return buf.getvalue()


def page_key(page: boxes.PageBox, prefix: bytes, elements: Elements) -> str | None:
    """A key for a laid-out page that no segment names (front matter, a chapter that looks up page
    numbers), over what WeasyPrint paints it from: each box on it, in order, with its class, its
    element's place, its text and every plain attribute layout gave it (position, sizes, spacing
    and justification), and each element those boxes come from and each of its ancestors, with the
    tags and attributes of its children (what selectors can see; the style sheets are in
    ``prefix``). Generated text (page numbers of a contents) is in the boxes' text. None when the
    page holds an image."""
    sig: list = []
    seen: set[int] = set()
    for box in page.descendants(placeholders=True):
        box = getattr(box, "_box", box)  # a positioned box's placeholder
        if isinstance(box, boxes.ReplacedBox):
            return None
        el = box.element
        if isinstance(el, ET.Element) and id(el) in elements.order:
            while el is not None and id(el) not in seen:
                seen.add(id(el))
                el = elements.parent.get(id(el))
        where = elements.order.get(id(box.element), -1)
        plain = sorted((k, v) for k, v in vars(box).items() if _plain(v))
        layout = getattr(box, "pango_layout", None)
        text = sorted((k, v) for k, v in vars(layout).items() if _plain(v)) if layout is not None else None
        sig.append((type(box).__name__, box.element_tag, where, plain, text))
    context = [(n, _shape(el), tuple(_shape(c) for c in el))
               for n, el in ((elements.order[i], elements.elements[elements.order[i]]) for i in seen)]
    context.sort(key=lambda c: c[0])
    digest = hashlib.sha256(prefix)
    digest.update(_by_value(("page-2", sig, context)))
    return "page-" + digest.hexdigest()


def prefix(stamp: str, html) -> bytes | None:
    """What every segment key of the document starts with; None when nothing may be kept."""
    root = html.etree_element
    head = root.find("head")
    text = "".join(ET.tostring(el, encoding="unicode") for el in (head if head is not None else ())
                   if el.tag not in ("meta", "title"))  # metadata (dates...) does not reach the layout
    text += "".join(ET.tostring(el, encoding="unicode") for el in root.iter() if el.tag in ("style", "link"))
    text += repr(sorted(root.attrib.items()))
    if ":has(" in text:
        return None
    return hashlib.sha256(f"{stamp}\0{html.base_url}\0{text}".encode()).digest()


class Notes:
    """Notes laid out in a footnote area, kept with the line breaks (``weasyprint_memo.Notes``):
    each under a key over its walk (``note_walk``), the page type of the footnote area (whose
    ``@footnote`` rules, with the style sheets in the prefix, give the area's style) and the
    layout's inputs (place, sizes, margins); pickled with references by place to the note's walk,
    read back with the layout's allow-list of classes."""

    def __init__(self, prefix: bytes, named: list[object], root: ET.Element,
                 reg: Callable[[], dict[int, object]], dispatch: dict) -> None:
        self.prefix, self.named, self.root, self.reg, self.dispatch = prefix, named, root, reg, dispatch
        self._elements: Elements | None = None

    def find(self, box: boxes.Box, containing_block: boxes.Box, inputs: tuple) -> tuple[bytes, Walk] | None:
        if self._elements is None:
            self._elements = Elements(self.root)
        found = note_walk(box, self.named, self._elements, self.prefix)
        if found is None:
            return None
        where = ("note-1", found.key, tuple(containing_block.page.page_type), inputs)
        return hashlib.blake2b(_by_value(where), digest_size=16, key=self.prefix).digest(), found

    def dumps(self, result: tuple, walk: Walk) -> bytes | None:
        try:
            data, keepable = dumps(result, self.reg(), walk, self.dispatch)
        except Exception:  # noqa: BLE001 - a note that cannot be pickled is laid out each time
            return None
        return data if keepable else None

    def loads(self, data: bytes, walk: Walk) -> tuple | None:
        try:
            result = loads(data, walk.objects, {})
        except Exception:  # noqa: BLE001 - a damaged or foreign entry is a miss
            return None
        if isinstance(result, tuple) and len(result) == 6 and isinstance(result[0], boxes.Box) \
                and result[1] is None and isinstance(result[2], dict) and isinstance(result[3], list) \
                and isinstance(result[4], bool) and (result[5] is None or isinstance(result[5], int)):
            return result
        return None


class Memory(cache.Store):
    """The folder of kept segments and painted pages, and the stamp their keys begin with; in its
    ``lines`` folder, the line breaks found in each stretch of the document (``weasyprint_memo``),
    and in its ``margins`` folder, pages' margin boxes (``weasyprint_margins``)."""

    def __init__(self, folder: Path, stamp: str) -> None:
        super().__init__(folder, KEEP_BYTES)
        self.stamp = stamp
        self.lines = cache.Store(folder / "lines", LINES_BYTES)
        self.margins = cache.Store(folder / "margins", MARGINS_BYTES)


# ---------- pickling with references to the objects made before layout ----------

# What a laid-out page may hold: the layout's own classes and plain data. Anything else in a file
# (``os.system``, ``builtins.eval``...) makes it a miss.
_MODULES = ("weasyprint.", "tinycss2.", "scholia.writers.")
_BUILTINS = {"set", "frozenset", "slice", "complex", "bytearray", "range", "object", "list", "dict", "tuple"}


def _placed(n: int) -> object:
    """In a pickle, the object at place ``n`` of the walk (``loads`` resolves it)."""
    raise pickle.UnpicklingError("a reference outside loads()")


def _shared(i: int) -> object:
    """In a pickle, the object of ``id`` ``i`` made before a fork (``loads`` resolves it)."""
    raise pickle.UnpicklingError("a reference outside loads()")


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, local: list[object] | None, reg: dict[int, object], trusted: bool) -> None:
        super().__init__(io.BytesIO(data))
        self.local, self.reg, self.trusted = local, reg, trusted

    def _placed(self, n: object) -> object:
        if type(n) is int and self.local is not None and 0 <= n < len(self.local):
            return self.local[n]
        raise pickle.UnpicklingError(f"unknown reference {n!r}")

    def _shared(self, i: object) -> object:  # only our own child's bytes refer by id (never a file's)
        if self.trusted and type(i) is int and i in self.reg:
            return self.reg[i]
        raise pickle.UnpicklingError(f"unknown reference {i!r}")

    def find_class(self, module: str, name: str) -> object:
        if module == __name__ and name in ("_placed", "_shared"):
            return getattr(self, name)
        if self.trusted:
            return super().find_class(module, name)
        if (module == "builtins" and name in _BUILTINS) or module in ("copyreg", "collections") \
                or module.startswith(_MODULES):
            found = super().find_class(module, name)
            if module != "copyreg" and not isinstance(found, type) and module != "scholia.writers.weasyprint_split":
                raise pickle.UnpicklingError(f"{module}.{name} is not a class")
            return found
        raise pickle.UnpicklingError(f"{module}.{name} may not be loaded")


def loads(data: bytes, local: list[object] | None, reg: dict[int, object], trusted: bool = False) -> object:
    """Unpickle, resolving references by place in ``local`` or, across a fork, by ``id`` in ``reg``.
    Only bytes from our own forked child are ``trusted``: from a file, only the layout's classes."""
    return _Unpickler(data, local, reg, trusted).load()


def dumps(value: object, reg: dict[int, object], local: Walk | None = None,
          dispatch: dict | None = None) -> tuple[bytes, bool]:
    """Pickle ``value``; objects of ``local``'s walk go as their place in it, other objects made
    before layout (``reg``) by ``id``, which only a forked process shares. Also says whether the
    bytes may be kept between builds (no reference by ``id``)."""
    by_id = False
    objects, places = (local.objects, local.index) if local is not None else ([], {})

    class Pickler(pickle.Pickler):
        dispatch_table = dispatch or {}

        # Not ``persistent_id``, which the pickler calls for every object, numbers and strings too
        # (141,350 calls for one chapter): this is called once for each object of another class.
        def reducer_override(self, obj: object) -> object:
            nonlocal by_id
            n = places.get(id(obj))
            if n is not None and objects[n] is obj:
                return _placed, (n,)
            if reg.get(id(obj), reg) is obj:
                by_id = True
                return _shared, (id(obj),)
            return NotImplemented

    buf = io.BytesIO()
    Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buf.getvalue(), local is not None and not by_id
