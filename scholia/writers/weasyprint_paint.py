"""Paint a laid-out WeasyPrint document on two cores, with the PDF one process would write.

Painting the pages is about three quarters of ``write_pdf``. Within ``painting_split``, a forked
child runs the same writer and paints the second half of the pages; for each it sends back the
content-stream operations, the fonts the page met first, the glyphs it added to each font and
the opacity states it first used. This process paints the first half, then takes each shipped
page instead of painting it, and merges the glyph tables. Anything numbered in order of use
across pages (transparency groups, images, patterns, shadings, soft masks, glyphs missing from a
font) ends the shipping: from that page on this process paints, in order, as it would alone.

Both sides also compress each page's content stream as soon as it is painted, which would
otherwise be the larger part of the serial ``pydyf`` write; a stream is written from those bytes
only while its content is still exactly what was compressed.

Pages whose layout the stage cache names (``weasyprint_memory``) are also kept once painted, and
replayed in a later build when nothing that reaches their painting changed (see ``paint_key`` and
``_replay``). WeasyPrint's and pydyf's internals are used; ``pyproject.toml`` pins WeasyPrint to
70.x and pydyf to 0.13.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import pickle
import re
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from unittest import mock

import pydyf
from weasyprint.document import Document, Page
from weasyprint.formatting_structure import boxes

from .. import parallel
from . import weasyprint_memory

# Of the last write, for tests and benchmarks: pages painted by the child, streams compressed before
# they were written, pages taken from an earlier build.
last = {"painted": 0, "compressed": 0, "remembered": 0}

# Below this, forking costs more than painting half the pages saves: a fork of a 430 MB process took
# 10-17 ms, a page of text paints in 40-80 ms. In a one-note rebuild, ~15 pages are left to paint
# (the rest come from memory): at 16 they were painted here alone, and writing the PDF took 1.34-1.56 s
# over 4 runs; with a child, 0.99-1.25 s.
MIN_PAINT_PAGES = 4
# A painting child reads half the laid-out pages, and every object it reads becomes its own copy
# (reference counts are written): it can grow nearly as large as this process. Above this size
# (the ×10 benchmark, ~680 pages, reaches ~800 MB) the pages are painted here, to keep a build's
# memory within ~1.5 GB; the layout split, made while this process is small, is kept.
MAX_PAINT_FORK_MB = 600


class _Shipped(Exception):
    """Raised in the child after its last page is painted: the rest of ``write_pdf`` is not needed."""


def _font_sizes(fonts: dict) -> dict:
    return {key: (len(f.widths), len(f.to_unicode), len(f.missing)) for key, f in fonts.items()}


def _added(table: dict, before: int) -> dict:
    """What a page added to a font table: WeasyPrint only ever adds to them (a glyph keeps its
    first width and text), so that is what comes after the entries there were before."""
    return dict(itertools.islice(table.items(), before, None))


def _raw(stream: pydyf.Stream) -> bytes:
    """A stream's bytes before compression, as pydyf writes them."""
    return b"\n".join(pydyf._to_bytes(item) for item in stream.stream)


def _deflate(raw: bytes) -> bytes:
    """pydyf's compression of a stream's bytes."""
    compressor = zlib.compressobj(level=9)
    return compressor.compress(raw) + compressor.flush()


def _deflated(stream: pydyf.Stream) -> tuple[bytes, bytes] | None:
    """A painted page's stream, before and after compression (None if it is written uncompressed)."""
    if not stream.compress:
        return None
    raw = _raw(stream)
    return raw, _deflate(raw)


@contextmanager
def _compressed_beforehand(done: dict[bytes, bytes]) -> Iterator[None]:
    """Within the block, pydyf writes a compressed stream whose bytes are a key of ``done`` with
    that key's value instead of compressing them again (``Stream.data`` as pydyf 0.13 has it)."""

    def data(self):
        stream = _raw(self)
        extra = pydyf.Dictionary(self.extra.copy())
        if self.compress:
            extra["Filter"] = "/FlateDecode"
            deflated = done.get(stream)
            last["compressed"] += deflated is not None
            stream = deflated or _deflate(stream)
        extra["Length"] = len(stream)
        return b"\n".join((extra.data, b"stream", stream, b"endstream"))

    with mock.patch.object(pydyf.Stream, "data", property(data)):
        yield


def _paint_rest(doc: Document, pages: dict[int, int], start: int, options: dict, skip: set[int]) -> dict:
    """In the child: run ``write_pdf`` as far as painting pages ``start``… and return, per page,
    its content-stream operations, the fonts it first used, the glyphs it added to each font, the
    opacity states it first used and its whole stream before and after compression. Shipping
    stops at the first page that adds another resource (image, group, pattern, shading, soft mask)
    or a glyph missing from its font: those are numbered in order across pages, so the parent
    paints that page and the rest itself."""
    import logging

    logging.getLogger("weasyprint").setLevel(logging.ERROR)  # the parent reports what it finds
    shipped: dict = {}
    original = Page.paint

    def paint(page, stream, scale=1):
        index = pages[id(page)]
        if index < start or index in skip:  # the parent's, or the parent has it from an earlier build
            return None
        res = stream._resources
        fonts, numbered, states, begin = _font_sizes(stream._fonts), _numbered(stream), set(res["ExtGState"]), \
            len(stream.stream)
        forms = {key: f.used_in_forms for key, f in stream._fonts.items()}
        original(page, stream, scale)
        glyphs = {}
        for key, font in stream._fonts.items():
            widths, texts, missing = fonts.get(key, (0, 0, 0))
            added = (_added(font.widths, widths), _added(font.to_unicode, texts), len(font.missing) - missing)
            if any(added) or font.used_in_forms != forms.get(key, False):
                glyphs[key] = (*added, font.used_in_forms)
        alphas = {k: v for k, v in res["ExtGState"].items() if k not in states}
        if _numbered(stream) != numbered or any(not k.startswith(("a", "A")) for k in alphas):  # "s3": numbered
            raise _Shipped
        shipped[index] = (stream.stream[begin:], [k for k in stream._fonts if k not in fonts], glyphs, alphas,
                          _deflated(stream))
        if index == len(doc.pages) - 1:
            raise _Shipped
        return None

    with mock.patch.object(Page, "paint", paint), contextlib.suppress(_Shipped):
        doc.write_pdf(**options)
    return shipped


def _size_mb() -> float:
    """This process's resident memory now (its peak where /proc is missing)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ---------- pages painted by an earlier build ----------

_USE = re.compile(rb"/([A-Z]{6}) [^ ]+ Tf|<([0-9a-f]+)>|/([A-Za-z0-9.]+) gs")
_UNKEPT = re.compile(rb" Do\b| sh\b|\bBI\b|\bscn\b|\bSCN\b")  # images, shadings, patterns: numbered


_NOT_PAINTED = {"pdf_identifier", "attachments", "custom_metadata"}  # options that reach no page's stream


def paint_key(page: Page, partial: str, stamp: str, scale: float, options: dict) -> str:
    """The key of a page's painting: its laid-out segment and place in it (``partial``), its page
    type and its margin boxes (running heads, folios) as laid out, and what the writer was asked."""
    box = page._page_box
    margins = [(type(d).__name__, d.element_tag, getattr(d, "text", None), d.position_x, d.position_y,
                d.width, d.height) for m in box.children if isinstance(m, boxes.MarginBox) for d in m.descendants()]
    settings = sorted((k, repr(v)) for k, v in options.items() if not callable(v) and k not in _NOT_PAINTED)
    return hashlib.sha256(repr(("paint-1", stamp, partial, tuple(box.page_type), margins, scale, settings,
                                page.width, page.height, page.bleed)).encode()).hexdigest()


def _numbered(stream) -> tuple[int, ...]:
    """How many of the things numbered in order of use across pages the writer has made so far."""
    res = stream._resources
    return (*(len(res[k]) for k in ("XObject", "Pattern", "Shading")), len(stream._images),
            sum(len(f.missing) for f in stream._fonts.values()))


def _recorded(stream, begin: int, done: dict[bytes, bytes]) -> tuple | None:
    """A painted page as it is kept: its operations, the glyphs of each font in order of first use
    with their widths and texts, its opacity states, its compressed stream (compressed once: from
    ``done`` if it was, and into it); None if it uses anything numbered across pages."""
    items = stream.stream[begin:]
    if not all(isinstance(i, bytes) for i in items):
        return None
    ops = b"\n".join(items)
    if _UNKEPT.search(ops):
        return None
    by_name = {f.hash.encode(): key for key, f in stream._fonts.items()}
    glyphs: dict = {}
    states: dict = {}
    font = None
    for name, hexes, state in _USE.findall(ops):
        if name:
            font = by_name.get(name)
            if font is None or stream._fonts[font].bitmap:
                return None
            glyphs.setdefault(font, {})
        elif hexes:
            if font is None or len(hexes) % 4:
                return None
            seen = glyphs[font]
            for i in range(0, len(hexes), 4):
                seen.setdefault(int(hexes[i:i + 4], 16))
        else:
            key = state.decode()
            if not key.startswith(("a", "A")) or key not in stream._resources["ExtGState"]:
                return None
            states.setdefault(key, dict(stream._resources["ExtGState"][key]))
    table = {}
    for key, used in glyphs.items():
        f = stream._fonts[key]
        if any(g not in f.widths or g not in f.to_unicode for g in used):
            return None
        table[key] = [(g, f.widths[g], f.to_unicode[g]) for g in used]
    if not stream.compress:
        return ops, table, states, None
    raw = _raw(stream)
    if raw not in done:
        done[raw] = _deflate(raw)
    return ops, table, states, done[raw]


def _replay(entry: tuple, stream, done: dict) -> bool:
    """Add a kept page's painting to ``stream``, if it is exactly what painting it would add: every
    font it uses is met already (fonts are numbered in order of use) and has the same width for
    each of its glyphs (the operations' kerning depends on it)."""
    ops, table, states, deflated = entry
    for key, used in table.items():
        font = stream._fonts.get(key)
        if font is None or font.bitmap:
            return False
        widths = font.widths
        if any(widths.get(g, w) != w for g, w, _ in used):
            return False
    for key, used in table.items():
        font = stream._fonts[key]
        for g, w, t in used:
            font.widths.setdefault(g, w)
            font.to_unicode.setdefault(g, t)
    for key, state in states.items():
        stream._resources["ExtGState"].setdefault(key, pydyf.Dictionary(state))
    if ops:
        stream.stream.append(ops)
    if deflated is not None:
        done.setdefault(_raw(stream), deflated)
    return True


@contextmanager
def painting_split(doc: Document, options: dict, painted: Callable[[], None] = lambda: None,
                   memory: tuple | None = None) -> Iterator[None]:
    """Within the block, ``doc.write_pdf(**options)`` paints the second half of the pages in a
    forked process: the parent takes each such page's operations and glyph use instead of painting
    it, unless the page needs a font the parent has not met yet (then it paints it itself, in
    order, as the sequential writer would). Tagged PDFs, forms, and documents this process has
    needed more than ``MAX_PAINT_FORK_MB`` for are painted in one process. ``painted`` is called
    once the last page is painted: what ``write_pdf`` does after that runs on one core.

    ``memory`` is ``(weasyprint_memory.Memory, partial keys)``, a partial key for each page whose
    layout the memory can name (see ``weasyprint_split.render``): such pages are taken from an
    earlier build's painting where it was kept and fits, and kept for the next one."""
    n = len(doc.pages)
    pages = {id(p): i for i, p in enumerate(doc.pages)}
    scale = options.get("zoom", 1)
    keys: dict[int, str] = {}
    kept: dict[int, tuple] = {}
    if memory is not None and not (options.get("pdf_tags") or options.get("pdf_forms")):
        store, partial = memory
        for i, page in enumerate(doc.pages):
            if partial[i] is not None:
                keys[i] = paint_key(page, partial[i], store.stamp, scale, options)
                if data := store.load(keys[i]):
                    try:
                        kept[i] = weasyprint_memory.loads(data, None, {})
                    except Exception:  # noqa: BLE001 - a damaged or foreign file is painted afresh
                        pass
    todo = [i for i in range(n) if i not in kept]
    start = todo[len(todo) // 2] if todo else n
    job = None
    if not (len(todo) < MIN_PAINT_PAGES or options.get("pdf_tags") or options.get("pdf_forms")
            or _size_mb() > MAX_PAINT_FORK_MB):
        job = parallel.elsewhere(lambda: _paint_rest(doc, pages, start, options, set(kept)))
    original = Page.paint
    shipped: dict | None = None
    keep: dict[str, bytes] = {}

    def take(index: int, stream) -> bool:
        """Whether page ``index`` is the child's: its painting is then added to ``stream``."""
        nonlocal shipped
        if job is None or index < start:
            return False
        if shipped is None:
            try:
                shipped = job.result()
            except Exception:  # noqa: BLE001 - painting here reports any real error
                shipped = {}
        if index not in shipped or any(k not in stream._fonts for k in shipped[index][1]):
            return False
        ops, _, glyphs, alphas, deflated = shipped[index]
        for key, state in alphas.items():  # opacity states are named by their value, in order of use
            stream._resources["ExtGState"].setdefault(key, state)
        stream.stream.extend(ops)
        for key, (widths, to_unicode, _, in_forms) in glyphs.items():
            font = stream._fonts[key]  # WeasyPrint keeps a glyph's first width and text: so do we
            for table, added in ((font.widths, widths), (font.to_unicode, to_unicode)):
                for glyph, value in added.items():
                    table.setdefault(glyph, value)
            font.used_in_forms = font.used_in_forms or in_forms
        if deflated:  # used if this page's stream is still those bytes when it is written
            done.setdefault(*deflated)
        last["painted"] += 1
        return True

    def paint(page, stream, scale=1):
        index = pages.get(id(page), -1)
        if index in kept and _replay(kept[index], stream, done):
            last["remembered"] += 1
        else:
            begin, numbered = len(stream.stream), _numbered(stream)
            if not take(index, stream):
                original(page, stream, scale)
                if job is not None and (deflated := _deflated(stream)):
                    done.setdefault(*deflated)  # compressed now, while the other core paints too
            if index in keys and _numbered(stream) == numbered and (entry := _recorded(stream, begin, done)):
                keep[keys[index]] = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
        if index == n - 1:
            painted()

    last.update(painted=0, compressed=0, remembered=0)
    done: dict[bytes, bytes] = {}
    try:
        with mock.patch.object(Page, "paint", paint), _compressed_beforehand(done):
            yield
        if keep and memory is not None:
            memory[0].store(keep)
    finally:
        if job is not None:
            job.cancel()
