"""Paint a laid-out WeasyPrint document on two cores, with the PDF one process would write.

Painting the pages is about three quarters of ``write_pdf``. Within ``painting_split``, a forked
child runs the same writer and paints pages from the last one down, each on a stream of its own,
while this process paints from the first one up; they share the pages through a
``parallel.Meeting``, so they meet where their work balances. For each page the child ships what a
kept page holds (``_recorded``): its operations, the glyphs of each font it uses with their widths
and texts, its opacity states and its compressed stream. This process adds such a page to its own
stream (``_replay``) when every font the page uses is met already and every glyph has the width
the operations were made with; otherwise it paints the page itself. The child stops at the first
page that adds anything numbered in order of use across pages (transparency groups, images,
patterns, shadings, soft masks, glyphs missing from a font): that page and those before it are
painted here, in order, as they would be alone.

Both sides also compress each page's content stream as soon as it is painted, which would
otherwise be the larger part of the serial ``pydyf`` write; a stream is written from those bytes
only while its content is still exactly what was compressed.

Pages whose layout the stage cache names (``weasyprint_memory``: a kept chapter's key and the
page's place in it, or for any other page what is on it, ``page_key``) are also kept once painted,
and replayed in a later build when nothing that reaches their painting changed (see ``paint_key``
and ``_replay``). WeasyPrint's and pydyf's internals are used; ``pyproject.toml`` pins WeasyPrint to
70.x and pydyf to 0.13.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import re
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pydyf
import weasyprint.draw as wdraw
from weasyprint.document import Document, Page
from weasyprint.draw import text as wtext
from weasyprint.formatting_structure import boxes
from weasyprint.text.ffi import ffi, pango
from weasyprint.text.fonts import get_pango_font_key

from .. import parallel
from . import weasyprint_memo, weasyprint_memory
from .patched import patched

# Of the last write, for tests and benchmarks: pages painted by the child, streams compressed before
# they were written, pages taken from an earlier build, long streams taken compressed from one, lines
# of text this process took from earlier builds.
last = {"painted": 0, "compressed": 0, "remembered": 0, "inflated": 0, "lines": 0}

# Below this, forking costs more than painting half the pages saves: a fork of a 430 MB process took
# 10-17 ms, a page of text paints in 40-80 ms. In a one-note rebuild, ~15 pages are left to paint
# (the rest come from memory): at 16 they were painted here alone, and writing the PDF took 1.34-1.56 s
# over 4 runs; with a child, 0.99-1.25 s.
MIN_PAINT_PAGES = 4
# A painting child reads half the laid-out pages, and every object it reads becomes its own copy
# (reference counts are written): it can grow nearly as large as this process. So the child stops
# taking pages once its own memory (copies and new objects) would bring the build past this size,
# and this process paints the rest. The ×10 benchmark (679 pages, ~810 MB when it starts writing)
# painted alone took 36 s to write and peaked at 1.15 GB; its child now paints 264 pages, and the
# write takes 26 s at a peak of 1.35 GB (under the 1.5 GB target). Unlimited where even a whole copy
# of this process fits; no child where less than ``MIN_PAINT_BUDGET_MB`` is left for one.
PAINT_MEMORY_MB = 1400
MIN_PAINT_BUDGET_MB = 64
CHECK_EVERY = 8  # pages between two readings of the child's own memory (a reading takes ~1-5 ms)


class _Shipped(Exception):
    """Raised in the child once its pages are painted: the rest of ``write_pdf`` is not needed."""


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


KEPT_DEFLATE_BYTES = 64 * 1024  # streams this long (font files) are compressed once across builds
_PER_WRITE = ("/ObjStm", "/XRef")  # pydyf's streams of this PDF's own objects: never the same twice


@contextmanager
def _compressed_beforehand(done: dict[bytes, bytes], store=None, keep: dict | None = None) -> Iterator[None]:
    """Within the block, pydyf writes a compressed stream whose bytes are a key of ``done`` with
    that key's value instead of compressing them again (``Stream.data`` as pydyf 0.13 has it).
    With a ``store`` (``cache.Store``), a stream of ``KEPT_DEFLATE_BYTES`` or more (a font file,
    compressed at level 9 in ~20 ms for the CJK face's subset) is taken compressed from an earlier
    build when it decompresses to exactly its bytes; one compressed here is put in ``keep`` for
    later builds, but for pydyf's object and cross-reference streams, which change with every PDF."""
    written: dict[bytes, bytes] = {}

    def compressed(raw: bytes, kind: object) -> bytes:
        if store is None or len(raw) < KEPT_DEFLATE_BYTES or kind in _PER_WRITE:
            return _deflate(raw)
        deflated, read_back = store.deflated(raw, keep if keep is not None else {})
        last["inflated"] += read_back
        return deflated

    def data(self):
        stream = _raw(self)
        extra = pydyf.Dictionary(self.extra.copy())
        if self.compress:
            extra["Filter"] = "/FlateDecode"
            deflated = done.get(stream)
            last["compressed"] += deflated is not None
            if deflated is None:  # kept: pydyf asks for some streams' data twice (fonts)
                deflated = written.get(stream)
                if deflated is None:
                    deflated = written[stream] = compressed(stream, self.extra.get("Type"))
            stream = deflated
        extra["Length"] = len(stream)
        return b"\n".join((extra.data, b"stream", stream, b"endstream"))

    with patched(pydyf.Stream, "data", property(data)):
        yield


def _page_stream(like, page: Page, scale: float):
    """A content stream for ``page`` as ``generate_pdf`` makes one, sharing ``like``'s fonts and
    resources."""
    left, top = -scale * page.bleed["left"], -scale * page.bleed["top"]
    width = scale * (page.width + page.bleed["left"] + page.bleed["right"])
    height = scale * (page.height + page.bleed["top"] + page.bleed["bottom"])
    stream = type(like)(like._fonts, (left / scale, top / scale, width / scale, height / scale), like._resources,
                        like._images, like._tags, like._color_profiles, like._output_intent, compress=like.compress)
    stream.transform(d=-1, f=page.height * scale)
    return stream


def _paint_theirs(doc: Document, todo: list[int], options: dict, meeting: parallel.Meeting,
                  lines: Lines | None, budget: float = float("inf")) -> None:
    """In the child: the pages of ``todo`` from the last one down, each painted on a stream of its
    own as ``write_pdf`` would and shipped as a page is kept (``_recorded``), until this process
    reaches them. Stops at the first page that adds anything numbered in order across pages
    (images, groups, patterns, shadings, glyphs missing from a font): that page and those before
    it are painted by this process, in order, as it would alone. Stops too once its own memory
    passes ``budget`` MB (see ``PAINT_MEMORY_MB``)."""
    import logging

    logging.getLogger("weasyprint").setLevel(logging.ERROR)  # the parent reports what it finds
    original = Page.paint
    met: list = []

    def paint(page, stream, scale=1):  # called for the first page: the streams are set up
        for n, i in enumerate(meeting.mine(todo)):
            if budget < float("inf") and n % CHECK_EVERY == 0 and _own_mb() > budget:
                meeting.ship(i, None)
                break
            if lines is not None:
                lines.page(i)
            own = _page_stream(stream, doc.pages[i], scale)
            begin, numbered = len(own.stream), _numbered(own)
            met.clear()
            original(doc.pages[i], own, scale)
            if _numbered(own) != numbered:
                meeting.ship(i, None)
                break
            entry = _recorded(own, begin, {}, doc.pages[i], met)
            # the page as kept, then the lines painted on it (``_taken``)
            meeting.ship(i, None if entry is None else pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
                         + (lines.taken() if lines is not None else pickle.dumps({})))
        raise _Shipped

    with patched(Page, "paint", paint), _noting_fonts(met), _painting_lines(lines), contextlib.suppress(_Shipped):
        doc.write_pdf(**options)


def _taken(data: bytes, lines: Lines | None) -> tuple[tuple, bytes]:
    """A page the child shipped, and its bytes as kept; the lines painted on it go to ``lines``."""
    buf = io.BytesIO(data)
    entry = pickle.load(buf)  # noqa: S301 - our own child's
    end = buf.tell()
    if lines is not None:
        lines.add(data[end:])
    return entry, data[:end]


def _size_mb() -> float:
    """This process's resident memory now (its peak where /proc is missing)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _own_mb() -> float:
    """The memory this process does not share with another (a forked child's copies and new objects),
    or infinity where the system does not say."""
    try:
        with open("/proc/self/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Private_Dirty:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return float("inf")


def _paint_budget(size: float) -> float:
    """How much memory of its own a painting child forked from a process of ``size`` MB may take:
    none where it would need a budget and the system does not say how much memory it has taken."""
    left = PAINT_MEMORY_MB - 1.1 * size  # this process grows too while it paints its share
    if left >= size:
        return float("inf")
    return left if _own_mb() < float("inf") else 0


# ---------- pages painted by an earlier build ----------

_USE = re.compile(rb"/([A-Z]{6}) [^ ]+ Tf|<([0-9a-f]+)>|/([A-Za-z0-9.]+) gs")
_GLYPHS = re.compile(rb"<([0-9a-f]+)>")
_SET_IN_LINE = re.compile(rb" (Tf|gs|Do|sh|BI|scn|SCN)\b")  # a line sets its fonts by call (``Lines.record``)
_UNKEPT = re.compile(rb" Do\b| sh\b|\bBI\b|\bscn\b|\bSCN\b")  # images, shadings, patterns: numbered


_NOT_PAINTED = {"pdf_identifier", "attachments", "custom_metadata"}  # options that reach no page's stream


def paint_key(page: Page, partial: str, stamp: str, scale: float, options: dict) -> str:
    """The key of a page's painting: its laid-out segment and place in it (``partial``), its page
    type and its margin boxes (running heads, folios) as laid out, and what the writer was asked."""
    box = page._page_box
    margins = [(type(d).__name__, d.element_tag, getattr(d, "text", None), d.position_x, d.position_y,
                d.width, d.height) for m in box.children if isinstance(m, boxes.MarginBox) for d in m.descendants()]
    settings = sorted((k, repr(v)) for k, v in options.items() if not callable(v) and k not in _NOT_PAINTED)
    return hashlib.sha256(repr(("paint-2", stamp, partial, tuple(box.page_type), margins, scale, settings,
                                page.width, page.height, page.bleed)).encode()).hexdigest()


def _numbered(stream) -> tuple[int, ...]:
    """How many of the things numbered in order of use across pages the writer has made so far."""
    res = stream._resources
    return (*(len(res[k]) for k in ("XObject", "Pattern", "Shading")), len(stream._images),
            sum(len(f.missing) for f in stream._fonts.values()))


def _recorded(stream, begin: int, done: dict[bytes, bytes], page: Page, met: list) -> tuple | None:
    """A painted page as it is kept: its operations, the glyphs of each font in order of first use
    with their widths and texts, its opacity states, its compressed stream (compressed once: from
    ``done`` if it was, and into it), and for each font ``stream`` first met on it (``met``: key and
    text box, see ``_noting_fonts``) the place of that text box among the page's boxes; None if it
    uses anything numbered across pages."""
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
    table = _glyph_table(glyphs, stream._fonts)
    if table is None:
        return None
    firsts = _places(page, met)
    if not stream.compress:
        return ops, table, states, None, firsts
    raw = _raw(stream)
    if raw not in done:
        done[raw] = _deflate(raw)
    return ops, table, states, done[raw], firsts


def _places(page: Page, met: list) -> dict[int, int]:
    """Font key → the place, in the page's boxes in tree order, of the text box that met it."""
    wanted = {id(box): key for key, box in met}
    places: dict[int, int] = {}
    if wanted:
        for i, box in enumerate(page._page_box.descendants()):
            if id(box) in wanted:
                places.setdefault(wanted.pop(id(box)), i)
                if not wanted:
                    break
    return places


@contextmanager
def _noting_fonts(met: list) -> Iterator[None]:
    """Within the block, each font a stream meets for the first time while WeasyPrint draws a line
    of text is noted in ``met`` with the text box it was met in (a font is added to the PDF from
    the first Pango font with its key that painting meets)."""
    original = wtext.draw_first_line

    def draw_first_line(stream, textbox, *args, **kwargs):
        known = len(stream._fonts)
        emojis = original(stream, textbox, *args, **kwargs)
        if len(stream._fonts) > known:
            met.extend((key, textbox) for key in list(stream._fonts)[known:])
        return emojis

    with patched(wtext, "draw_first_line", draw_first_line):
        yield


def _meet_fonts(page: Page, stream, missing: list[int], firsts: dict[int, int]) -> bool:
    """Add to ``stream`` the fonts of ``missing`` (in that order: their first use on a kept page
    that no page before it used) as painting the page would: each from the first run with its key
    in the first line of the text box where the earlier build met it. False if one is not found
    there (those found before it are added: painting would add them first too)."""
    if any(key not in firsts for key in missing):
        return False
    want = {firsts[key] for key in missing}
    found: dict[int, object] = {}
    for i, box in enumerate(page._page_box.descendants()):
        if i in want:
            found[i] = box
            if len(found) == len(want):
                break
    for key in missing:
        box = found.get(firsts[key])
        if not isinstance(box, boxes.TextBox) or box.style["text_overflow"] == "ellipsis" \
                or box.style["block_ellipsis"] != "none":
            return False
        box.pango_layout.reactivate(box.style)  # as draw_text and draw_first_line do
        try:
            pango.pango_layout_set_single_paragraph_mode(box.pango_layout.layout, True)
            line, _ = box.pango_layout.get_first_line()
            run = line.runs
            while run != ffi.NULL and get_pango_font_key(run.data.item.analysis.font)[0] != key:
                run = run.next
            if run == ffi.NULL:
                return False
            stream.add_font(run.data.item.analysis.font)
        finally:
            box.pango_layout.deactivate()
    return True


class Lines:
    """Lines of text as painted, kept between builds: a page laid out again (its chapter edited)
    mostly holds lines painted before, each moved to another place. Painting a line makes its
    Pango layout again and shapes its text (two thirds of painting a page of text); what comes of
    it, after the text matrix (the line's place), depends only on its text, the style properties
    that laying text out reads, its justification and the fonts (the key's prefix covers the
    fonts, style sheets and tool). Each line is kept as its operations and the glyphs of each font
    with their widths and texts, and replayed only where each of those fonts is met already with
    the same widths (as ``_replay`` does for pages): otherwise it is painted. Lines that end in an
    ellipsis, use bitmap or colour fonts, or miss glyphs are always painted."""

    def __init__(self, store, keys: weasyprint_memo.Lines, stretches: list[str]) -> None:
        self.store, self.keys = store, keys  # the layout's line breaks: their keys, prefix and all
        self.names = [hashlib.sha256(f"{name}\0painted-lines".encode()).hexdigest() for name in stretches]
        self.known: dict[str, dict] = {}  # a stretch's file → its lines (each checked when used)
        self.new: dict[str, dict[bytes, tuple]] = {}  # lines painted, by stretch
        self.used: dict[str, set[bytes]] = {}  # lines replayed, by stretch
        self.current = ""  # the file of the page being painted
        self.hits = 0

    def page(self, index: int) -> None:
        """Paint page ``index`` from here on: its stretch's lines are read if they were not."""
        self.current = name = self.names[index] if 0 <= index < len(self.names) else ""
        if name not in self.known:
            data = self.store.load(name) if name else None
            self.known[name] = self._read(data) if data is not None else {}

    @staticmethod
    def _read(data: bytes) -> dict:
        try:
            found = weasyprint_memory.loads(data, None, {})
        except Exception:  # noqa: BLE001 - a damaged or foreign file is a miss
            return {}
        return found if isinstance(found, dict) else {}

    def find(self, key: bytes) -> tuple | None:
        entry = self.known[self.current].get(key)
        return entry if _line_entry(entry) else None

    def add(self, data: bytes) -> None:
        """Add the lines a child painted and replayed (``taken``) to those to keep."""
        found = self._read(data)
        new, used = found.get("new", {}), found.get("used", {})
        for name, lines in new.items() if isinstance(new, dict) else ():
            if isinstance(name, str) and isinstance(lines, dict):
                self.new.setdefault(name, {}).update(
                    (k, v) for k, v in lines.items() if isinstance(k, bytes) and _ops(v))
        for name, keys in used.items() if isinstance(used, dict) else ():
            if isinstance(name, str) and isinstance(keys, set):
                self.used.setdefault(name, set()).update(k for k in keys if isinstance(k, bytes))

    def key(self, textbox, args: tuple) -> bytes | None:
        style, layout = textbox.style, textbox.pango_layout
        if len(args) != 3 or args[1] != "clip" or args[2] != "none" or not isinstance(layout.text, str):
            return None
        return self.keys.key(f"{textbox.text}\0{layout.text}", style, "painted-1", layout.justification_spacing)

    def fits(self, entry: tuple, stream) -> bool:
        """Whether replaying ``entry`` adds exactly what painting its line would: each of its fonts
        is met already, with the same width for each of its glyphs (the kerning depends on it)."""
        fonts = stream._fonts
        return all(key in fonts and _agrees(fonts[key], used) for key, used in entry[1].items())

    def replay(self, key: bytes, entry: tuple, stream, matrix) -> None:
        """Add a line that ``fits`` to ``stream`` at ``matrix``."""
        self.used.setdefault(self.current, set()).add(key)
        ops, table = entry
        _add_glyphs(table, stream._fonts)
        if ops:
            stream.set_text_matrix(*matrix.values)
            for op in ops:
                if type(op) is bytes:
                    stream.stream.append(op)
                else:
                    stream.set_font_size(*op)  # not written where the font and size are current
        self.hits += 1

    def record(self, key: bytes, stream, begin: int, fonts: list[tuple], missing: int) -> None:
        """Note the line ``stream`` took from ``begin`` on, with the fonts it set (``fonts``: where
        in the stream, font, size, whether written), unless its fonts missed glyphs that they had
        not missed before (``missing``). What it holds is checked when it is kept."""
        items = stream.stream[begin:]
        if not self.current or (items and not (all(type(i) is bytes for i in items) and items[0].endswith(b" Tm"))) \
                or sum(len(f.missing) for f in stream._fonts.values()) != missing:
            return
        ops: list = []
        at = begin + 1
        for where, name, size, written in fonts:
            ops.extend(stream.stream[at:where])
            ops.append((name, size))
            at = where + written
        ops.extend(stream.stream[at:])
        self.new.setdefault(self.current, {})[key] = tuple(ops)

    def taken(self) -> bytes:
        """The lines painted and replayed since the last call, pickled (a child hands them over with
        its pages)."""
        new, used, self.new, self.used = self.new, self.used, {}, {}
        return pickle.dumps({"new": new, "used": used}, protocol=pickle.HIGHEST_PROTOCOL)

    def keep(self, fonts: dict) -> None:
        """Keep, for each stretch with lines painted, the lines its pages hold now: those replayed,
        and those painted, each with the glyphs of each font it uses, their widths and texts, from
        ``fonts`` (the document's, once every page is painted), unless it holds what a kept line
        may not."""
        new, self.new = self.new, {}
        try:
            for name, lines in new.items():
                if name not in self.known:
                    self.page(self.names.index(name))
                known = self.known[name]
                kept = {key: known[key] for key in self.used.get(name, ()) if key in known}
                kept.update((key, entry) for key, ops in lines.items() if (entry := _line(ops, fonts)) is not None)
                self.store.store({name: pickle.dumps(kept, protocol=pickle.HIGHEST_PROTOCOL)})
        except Exception:  # noqa: BLE001 - keeping lines for later never fails a build
            pass


def _line(ops: tuple, fonts: dict) -> tuple | None:
    """A painted line as it is kept (``Lines``), or None."""
    by_name = {f.hash: k for k, f in fonts.items()}
    glyphs: dict = {}
    font = None
    for op in ops:
        if type(op) is tuple:
            if (font := by_name.get(op[0])) is None:
                return None
            glyphs.setdefault(font, {})
            continue
        if _SET_IN_LINE.search(op):
            return None
        for hexes in _GLYPHS.findall(op):
            if font is None or len(hexes) % 4:
                return None
            for i in range(0, len(hexes), 4):
                glyphs[font].setdefault(int(hexes[i:i + 4], 16))
    if any(fonts[k].bitmap or fonts[k].svg or fonts[k].png or fonts[k].colr for k in glyphs):
        return None
    table = _glyph_table(glyphs, fonts)
    return None if table is None else (ops, table)


def _glyph_table(glyphs: dict, fonts: dict) -> dict | None:
    """For each font key of ``glyphs`` (font key → the glyphs used, in order), each glyph with its
    width and text in ``fonts``, as a kept page or line holds them; None if one has either missing."""
    table = {}
    for key, used in glyphs.items():
        f = fonts[key]
        if any(g not in f.widths or g not in f.to_unicode for g in used):
            return None
        table[key] = [(g, f.widths[g], f.to_unicode[g]) for g in used]
    return table


def _agrees(font, used: list) -> bool:
    """Whether ``font`` paints the kept glyphs ``used`` as they were kept: not a bitmap font, and
    each glyph of the same width where it has one (the operations' kerning depends on it)."""
    return not font.bitmap and all(font.widths.get(g, w) == w for g, w, _ in used)


def _add_glyphs(table: dict, fonts: dict) -> None:
    """Give the fonts the kept glyphs' widths and texts, where they have none, as painting would."""
    for key, used in table.items():
        font = fonts[key]
        for g, w, t in used:
            font.widths.setdefault(g, w)
            font.to_unicode.setdefault(g, t)


def _ops(value: object) -> bool:
    """Whether ``value`` has the shape of a painted line's operations (``Lines.record``)."""
    return isinstance(value, tuple) and all(
        type(op) is bytes or (type(op) is tuple and len(op) == 2 and type(op[0]) is str
                              and type(op[1]) in (int, float)) for op in value)


def _line_entry(value: object) -> bool:
    """Whether ``value`` has the shape of a kept line (``_line``)."""
    return isinstance(value, tuple) and len(value) == 2 and _ops(value[0]) and _table_shaped(value[1])


def _table_shaped(table: object) -> bool:
    """Whether ``table`` has the shape ``_glyph_table`` gives one."""
    return isinstance(table, dict) and all(
        isinstance(used, list) and all(isinstance(u, tuple) and len(u) == 3 and isinstance(u[0], int)
                                       and isinstance(u[1], int) and isinstance(u[2], str) for u in used)
        for used in table.values())


def _nothing(*args: object) -> None:
    pass


@contextmanager
def _painting_lines(lines: Lines | None) -> Iterator[None]:
    """Within the block, lines of text are replayed from ``lines`` where they can be, and kept in it
    when painted."""
    if lines is None:
        yield
        return
    original = wdraw.draw_text

    def draw_text(stream, textbox, *args):
        key = lines.key(textbox, args)
        if key is None:
            return original(stream, textbox, *args)
        entry = lines.find(key)
        if entry is not None and lines.fits(entry, stream):

            def replayed(stream, textbox, text_overflow, block_ellipsis, matrix):
                lines.replay(key, entry, stream, matrix)
                return []

            layout = textbox.pango_layout
            layout.reactivate = layout.deactivate = _nothing  # no Pango layout is made again
            try:
                with patched(wtext, "draw_first_line", replayed):
                    return original(stream, textbox, *args)
            finally:
                del layout.reactivate, layout.deactivate
        painted = wtext.draw_first_line
        missing = sum(len(f.missing) for f in stream._fonts.values())
        fonts: list[tuple] = []
        set_font_size = stream.set_font_size

        def noted(font, size):
            where = len(stream.stream)
            set_font_size(font, size)
            fonts.append((where, font, size, len(stream.stream) > where))

        def draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix):
            begin = len(stream.stream)
            stream.set_font_size = noted
            try:
                emojis = painted(stream, textbox, text_overflow, block_ellipsis, matrix)
            finally:
                del stream.set_font_size
            if not emojis:
                lines.record(key, stream, begin, fonts, missing)
            return emojis

        with patched(wtext, "draw_first_line", draw_first_line):
            return original(stream, textbox, *args)

    with patched(wdraw, "draw_text", draw_text):
        yield


def _well_formed(entry: object) -> bool:
    """Whether a kept page read from a file has the shape ``_recorded`` gives one (a file of
    another shape is painted afresh, not an error)."""
    if not (isinstance(entry, tuple) and len(entry) == 5):
        return False
    ops, table, states, deflated, firsts = entry
    return (isinstance(ops, bytes) and _table_shaped(table) and isinstance(states, dict)
            and isinstance(deflated, bytes | None) and isinstance(firsts, dict))


def _replay(entry: tuple, stream, done: dict, page: Page) -> bool:
    """Add a kept page's painting to ``stream``, if it is exactly what painting it would add: every
    font it uses is met already (fonts are numbered in order of use) or met on this page first, as
    in the build that kept it (``_meet_fonts``), and has the same width for each of its glyphs (the
    operations' kerning depends on it)."""
    ops, table, states, deflated, firsts = entry
    missing = []
    for key, used in table.items():
        font = stream._fonts.get(key)
        if font is None:
            missing.append(key)
        elif not _agrees(font, used):
            return False
    if missing and not (_meet_fonts(page, stream, missing, firsts)
                        and not any(stream._fonts[key].bitmap for key in missing)):
        return False
    _add_glyphs(table, stream._fonts)
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
    """Within the block, ``doc.write_pdf(**options)`` shares the painting of the pages with a forked
    process that paints from the last page down (``_paint_theirs``): this process takes each page
    that process has painted when it fits (``_replay``), and paints any other itself. Tagged PDFs,
    forms, documents with fewer than ``MIN_PAINT_PAGES`` pages to paint and processes too large to
    leave a child ``MIN_PAINT_BUDGET_MB`` (see ``PAINT_MEMORY_MB``) are painted in one process.
    ``painted`` is called once from there on ``write_pdf`` uses one core: when the child has ended
    (this process has then mostly pages to take from it or from an earlier build), or at the last
    page.

    ``memory`` is ``(weasyprint_memory.Memory, partial keys, line breaks, stretches)``, a partial key for
    each page whose layout the memory can name (see ``weasyprint_split.render``): such pages are
    taken from an earlier build's painting where it was kept and fits, and kept for the next one. The
    lines of text of the other pages are taken from earlier builds where they can be, and kept, by
    the stretch of the document each page is in (``Lines``)."""
    n = len(doc.pages)
    pages = {id(p): i for i, p in enumerate(doc.pages)}
    scale = options.get("zoom", 1)
    keys: dict[int, str] = {}
    kept: dict[int, tuple] = {}
    if memory is not None and not (options.get("pdf_tags") or options.get("pdf_forms")):
        store, partial, _, _ = memory
        for i, page in enumerate(doc.pages):
            if partial[i] is not None:
                keys[i] = paint_key(page, partial[i], store.stamp, scale, options)
                if data := store.load(keys[i]):
                    try:
                        entry = weasyprint_memory.loads(data, None, {})
                    except Exception:  # noqa: BLE001 - a damaged or foreign file is painted afresh
                        continue
                    if _well_formed(entry):
                        kept[i] = entry
    todo = [i for i in range(n) if i not in kept]
    lines = Lines(memory[0], memory[2], memory[3]) if memory is not None and todo and not (
        options.get("pdf_tags") or options.get("pdf_forms")) else None
    for i in todo if lines is not None else ():
        lines.page(i)  # read before the child is forked: both processes have them
    meeting = None
    budget = _paint_budget(_size_mb())
    if not (len(todo) < MIN_PAINT_PAGES or options.get("pdf_tags") or options.get("pdf_forms")
            or budget < MIN_PAINT_BUDGET_MB):
        meeting = parallel.Meeting.start(lambda m: _paint_theirs(doc, todo, options, m, lines, budget))
    theirs = set(todo) if meeting is not None else set()
    original = Page.paint
    keep: dict[str, bytes] = {}
    met: list = []
    said: list = []  # whether ``painted`` was called
    keeping: list = []  # the job keeping the painted lines

    def paint(page, stream, scale=1):
        index = pages.get(id(page), -1)
        data = meeting.take(index)[0] if index in theirs else None
        if index in kept and _replay(kept[index], stream, done, page):
            last["remembered"] += 1
        elif data is not None and _replay((taken := _taken(data, lines))[0], stream, done, page):
            last["painted"] += 1
            if index in keys:
                keep[keys[index]] = taken[1]
        else:
            begin, numbered = len(stream.stream), _numbered(stream)
            met.clear()
            if lines is not None:
                lines.page(index)
            original(page, stream, scale)
            if meeting is not None and (deflated := _deflated(stream)):
                done.setdefault(*deflated)  # compressed now, while the other core paints too
            if index in keys and _numbered(stream) == numbered and \
                    (entry := _recorded(stream, begin, done, page, met)):
                keep[keys[index]] = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
        if index == n - 1 and meeting is not None:
            meeting.close()
        if index == n - 1 and lines is not None:  # every page painted: keep its lines meanwhile
            keeping.append(parallel.elsewhere(lambda: lines.keep(stream._fonts)) or lines.keep(stream._fonts))
        # The rest runs on one core: the other is free once the child has ended (what is left to
        # do here is mostly taking pages it or an earlier build painted), or at the last page.
        if not said and (index == n - 1 or meeting is not None and meeting.over()):
            said.append(True)
            painted()

    last.update(painted=0, compressed=0, remembered=0, inflated=0, lines=0)
    done: dict[bytes, bytes] = {}
    try:
        with patched(Page, "paint", paint), _noting_fonts(met), _painting_lines(lines), \
                _compressed_beforehand(done, memory[0] if memory is not None else None, keep):
            yield
        if keep and memory is not None:
            memory[0].store(keep)
        if lines is not None:
            last["lines"] = lines.hits
        for job in keeping:
            if job is not None:
                with contextlib.suppress(Exception):  # keeping lines for later never fails a build
                    job.result()
    finally:
        if meeting is not None:
            meeting.close()
        for job in keeping:
            if job is not None:
                job.cancel()  # only where the build failed before it was awaited
