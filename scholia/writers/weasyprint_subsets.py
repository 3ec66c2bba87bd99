"""Font subsets kept between builds.

Before writing a PDF, WeasyPrint subsets every font to the glyphs its pages use (HarfBuzz's
subsetter: 0.18 s for the white paper's eight faces, on one core, after the pages are painted). A
note whose prose changed mostly uses glyphs the pages used before, so the subsets come out the same.
A subset is kept under a SHA-256 of what it is made from: the font file's bytes and face index, the
glyphs kept, the hinting and missing-glyph settings, the versions of WeasyPrint and fontTools, and
the HarfBuzz library files this process has loaded (by path, size and modification time; where the
system cannot say which, nothing is kept).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from weasyprint.pdf.fonts import Font

from ..cache import Store, versions
from ..provenance import font_digest


def _stamp() -> str | None:
    """What every key begins with; None when the HarfBuzz libraries in use cannot be named."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            paths = sorted({line.split(None, 5)[-1].strip() for line in fh if "harfbuzz" in line})
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
    made are kept in it."""
    stamp = _stamp() if store is not None else None
    if stamp is None:
        yield
        return
    original = Font.subset

    def subset(font: Font, to_unicode: dict, hinting: bool) -> None:
        if not to_unicode:
            return original(font, to_unicode, hinting)
        key = hashlib.sha256(repr((stamp, font_digest(font.file_content), font.index,
                                   sorted(to_unicode), bool(hinting), bool(font.missing))).encode()).hexdigest()
        data = store.load(key)
        if data is not None:
            font.file_content = data
            return None
        whole = font.file_content
        original(font, to_unicode, hinting)
        if font.file_content is not whole:  # subset (a font that cannot be is left whole, and not kept)
            store.store({key: font.file_content})
        return None

    with mock.patch.object(Font, "subset", subset):
        yield
