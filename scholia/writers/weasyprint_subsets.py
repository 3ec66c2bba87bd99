"""Fonts in the PDF writer: each font file's bytes read only when needed, and subsets kept between
builds.

WeasyPrint copies the whole font file out of HarfBuzz for each face it meets while painting
(``Font.file_content``), though it writes only subsets, which HarfBuzz makes from the face itself:
for the white paper, 11 faces and 0.07-0.08 s, most of it the CJK collection (19-27 MB, read once
for each of its three faces). ``deferred_font_data`` makes ``file_content`` read on first use (a
variable font's instancing, fontTools' subsetter, a font written whole), the same bytes.

Before writing a PDF, WeasyPrint subsets every font to the glyphs its pages use (HarfBuzz's
subsetter: 0.18 s for the white paper's eight faces, on one core, after the pages are painted). A
note whose prose changed mostly uses glyphs the pages used before, so the subsets come out the same.
A subset is kept under a SHA-256 of what it is made from: the font file's bytes and face index, the
glyphs kept, the hinting and missing-glyph settings, the versions of WeasyPrint and fontTools, and
the HarfBuzz library files this process has loaded (by path, size and modification time; where the
system cannot say which, nothing is kept). The font's digest is the provenance record's for the
file HarfBuzz has mapped at the face's bytes (``mapped_digest``: ``/proc/self/maps``, read once for
the libraries and once for the fonts; a file replaced since shows as deleted there, and the device
and inode are not compared, as overlay file systems show the lower layer's), else a SHA-256 of the
face's bytes where HarfBuzz holds them, not a copy.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from weasyprint.pdf import fonts as pdf_fonts
from weasyprint.pdf.fonts import Font
from weasyprint.text.ffi import ffi, harfbuzz

from ..cache import Store, versions
from ..provenance import font_digest, recorded_font_digest
from .patched import patched

_UNREAD = object()  # a font's bytes, not read yet
_making = threading.local()  # whether this thread is in ``Font.__init__``


class _FileContent:
    """``Font.file_content``: the face's bytes, read from HarfBuzz when first asked for."""

    def __get__(self, font: Font | None, owner: type | None = None) -> object:
        if font is None:
            return self
        data = font.__dict__.get("_file_content", _UNREAD)
        if data is _UNREAD:
            data = font.__dict__["_file_content"] = _face_data(font.hb_face)
        return data

    def __set__(self, font: Font, value: object) -> None:
        font.__dict__["_file_content"] = value


_face_data = pdf_fonts.get_hb_object_data
_font_init = Font.__init__


def _font_data(hb_object, ot_color=None, glyph=None):  # WeasyPrint's, but not the face's copy in ``Font()``
    if ot_color is None and glyph is None and getattr(_making, "font", False):
        return _UNREAD
    return _face_data(hb_object, ot_color, glyph)


def _init(font: Font, *args, **kwargs) -> None:
    _making.font = True
    try:
        _font_init(font, *args, **kwargs)
    finally:
        _making.font = False


def deferred_font_data() -> None:
    """Make WeasyPrint read a font's bytes when first needed (once per process)."""
    if not isinstance(Font.__dict__.get("file_content"), _FileContent):
        Font.file_content = _FileContent()
        Font.__init__ = _init
        pdf_fonts.get_hb_object_data = _font_data


def _maps() -> list[list[str]]:
    """This process's memory mappings, each line of ``/proc/self/maps`` split: the address range,
    permissions, offset, device, inode and, where there is one, the path."""
    with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
        return [line.split(None, 5) for line in fh]


def mapped_files(maps: list[list[str]]) -> dict[int, Path]:
    """The files mapped from their first byte (as HarfBuzz maps a font file), by address."""
    return {int(parts[0].split("-")[0], 16): Path(parts[5].rstrip("\n"))
            for parts in maps if len(parts) == 6 and int(parts[2], 16) == 0}


def mapped_digest(address: int, length: int, files: dict[int, Path]) -> str | None:
    """The provenance record's SHA-256 of the font file of ``length`` bytes mapped at ``address``
    (``mapped_files``), if it is one the record names, unchanged; else None."""
    path = files.get(address)
    return recorded_font_digest(path, length) if path is not None else None


def _digest(font: Font, files: Callable[[], dict[int, Path]]) -> str:
    """The SHA-256 of the font's bytes, read no further than needed (``files``: ``mapped_files``)."""
    data = font.__dict__.get("_file_content", _UNREAD)
    if data is not _UNREAD:
        return font_digest(data)
    blob = harfbuzz.hb_face_reference_blob(font.hb_face)
    try:
        with ffi.new("unsigned int *") as length:
            pointer = harfbuzz.hb_blob_get_data(blob, length)
            if pointer == ffi.NULL:
                return font_digest(b"")
            address, size = int(ffi.cast("uintptr_t", pointer)), int(length[0])
            return mapped_digest(address, size, files()) or hashlib.sha256(ffi.buffer(pointer, size)).hexdigest()
    finally:
        harfbuzz.hb_blob_destroy(blob)


def _stamp() -> str | None:
    """What every key begins with; None when the HarfBuzz libraries in use cannot be named."""
    try:
        paths = sorted({parts[5].strip() for parts in _maps() if len(parts) == 6 and "harfbuzz" in parts[5]})
        libraries = [(p, (st := os.stat(p)).st_size, st.st_mtime_ns) for p in paths if p.startswith("/")]
    except OSError:
        return None
    if not libraries:
        return None
    found = versions()
    return repr(("subset-1", found["weasyprint"], found["fonttools"], libraries))


@contextmanager
def kept(store: Store | None) -> Iterator[None]:
    """Within the block, fonts are subset from ``store`` where it has the subset, and the subsets
    made are kept in it; fonts made within it read their bytes when first needed."""
    deferred_font_data()
    stamp = _stamp() if store is not None else None
    if stamp is None:
        yield
        return
    original = Font.subset

    @functools.cache
    def files() -> dict[int, Path]:  # read once, when the first font is subset: after painting
        try:
            return mapped_files(_maps())
        except OSError:
            return {}

    def subset(font: Font, to_unicode: dict, hinting: bool) -> None:
        if not to_unicode:
            return original(font, to_unicode, hinting)
        key = hashlib.sha256(repr((stamp, _digest(font, files), font.index,
                                   sorted(to_unicode), bool(hinting), bool(font.missing))).encode()).hexdigest()
        data = store.load(key)
        if data is not None:
            font.file_content = data
            return None
        whole = font.__dict__.get("_file_content")
        original(font, to_unicode, hinting)
        if font.__dict__.get("_file_content") is not whole:  # subset (one that cannot be is left whole: not kept)
            store.store({key: font.file_content})
        return None

    with patched(Font, "subset", subset):
        yield
