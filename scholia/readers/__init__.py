"""Readers: input files → scholia.model objects."""

from __future__ import annotations

import re
from pathlib import Path

from ..model import Diagnostic

# C0 controls that XML 1.0 (and so the EPUB) cannot hold: all but tab, line feed and carriage return.
# A form feed or vertical tab on a line of its own (a page break in old text files) is white space.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def read_utf8(path: Path, rel: str) -> tuple[str | None, list[Diagnostic]]:
    """A text file's characters (``decode_utf8``)."""
    return decode_utf8(path.read_bytes(), rel)


def decode_utf8(data: bytes, rel: str) -> tuple[str | None, list[Diagnostic]]:
    """The characters of file ``rel``, without the byte-order mark some editors write, which belongs to
    the encoding; or an error naming the line of a byte that is not UTF-8 or of a forbidden control."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, [Diagnostic(rel, line, "error", f"not valid UTF-8 at byte {exc.start}: save the file as UTF-8")]
    for found in _FORBIDDEN.finditer(text):
        start = text.rfind("\n", 0, found.start()) + 1
        end = text.find("\n", found.start())
        if found.group() in "\x0b\x0c" and not text[start:end if end >= 0 else None].strip():
            continue
        line = text.count("\n", 0, found.start()) + 1
        return None, [Diagnostic(rel, line, "error", f"control character U+{ord(found.group()):04X}, which no "
                                 "output format can hold (XML forbids it): remove it from the file")]
    return text.removeprefix("\ufeff"), []
