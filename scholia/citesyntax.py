"""Parse Pandoc citation syntax in Markdown: ``[see @a, 20–23; -@b]`` and narrative ``@a [p. 4]``."""

from __future__ import annotations

import re

from .model import Citation, CitationItem

_KEY = r"(?:\{(?P<bkey>[^{}\s]+)\}|(?P<key>[A-Za-z0-9_][\w:.#$%&+?<>~/-]*(?<![:.#$%&+?<>~/-])))"
_ITEM = re.compile(r"^(?P<prefix>.*?)(?P<minus>-?)@" + _KEY + r"(?P<rest>.*)$", re.S)
_NARRATIVE = re.compile(r"(?<![\w@\[\\])@" + _KEY + r"(?:\s*\[(?P<loc>[^\[\]]*)\])?")
_BRACKET = re.compile(r"(?<!\\)\[(?P<inner>[^\[\]]*?-?@[^\[\]]*)\](?!\(|\[)")
_CODE = re.compile(r"`+[^`]*`+")
# Where an @ is part of an address, not a citation: link destinations, autolinks and bare URLs.
_ADDRESS = re.compile(r"(?<=\])\((?:<[^<>\n]*>|[^()\s]*)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
                      r"|<[A-Za-z][A-Za-z0-9+.-]{1,31}:[^<>\s]*>|\b(?:https?|ftp)://[^\s<>]+")
# A link's text: a citation there would put a link inside a link.
_LINK_TEXT = re.compile(r"(?<![\\!])\[[^\[\]]*\](?=\()")

LOCATOR_TERMS = {
    "p": "page", "p.": "page", "pp.": "page", "page": "page", "pages": "page",
    "chap.": "chapter", "chaps.": "chapter", "chapter": "chapter", "chapters": "chapter", "ch.": "chapter",
    "sec.": "section", "secs.": "section", "section": "section", "sections": "section", "§": "section", "§§": "section",
    "para.": "paragraph", "paras.": "paragraph", "paragraph": "paragraph", "paragraphs": "paragraph", "¶": "paragraph",
    "art.": "article", "arts.": "article", "article": "article",
    "vol.": "volume", "vols.": "volume", "volume": "volume",
    "fig.": "figure", "figs.": "figure", "n.": "note", "nn.": "note", "no.": "issue",
    "bk.": "book", "col.": "column", "l.": "line", "ll.": "line", "op.": "opus", "pt.": "part", "v.": "verse",
}
_NUMBERS = re.compile(r"^(?:[\dIVXLCDMivxlcdm]+[a-z]?(?:\s*[-–—,]\s*[\dIVXLCDMivxlcdm]+[a-z]?)*|[\d.]+)")


def _split_locator(rest: str) -> tuple[str, str, str]:
    """Split the text after a key (``, pp. 20–23 and passim``) into (label, locator, suffix)."""
    text = rest
    if not text.startswith(","):
        return "", "", text.strip()
    body = text[1:].lstrip()
    if not body:  # "[@a, ]": a comma and nothing after it
        return "", "", ""
    label = ""
    m = re.match(r"^(\S+)\s*", body)
    if m and m.group(1).lower() in LOCATOR_TERMS:
        label = LOCATOR_TERMS[m.group(1).lower()]
        body = body[m.end():]
    n = _NUMBERS.match(body)
    if n and (label or n.group(0)[:1].isdigit()):
        locator = n.group(0).rstrip(", ")
        suffix = body[len(locator):].strip()
        return label or "page", locator, suffix.lstrip(",").strip() if suffix.startswith(",") else suffix
    if label:
        return label, body.strip(), ""
    return "", "", text.strip()


def _item(raw: str) -> CitationItem | None:
    m = _ITEM.match(raw.strip())
    if not m:
        return None
    key = m.group("bkey") or m.group("key")
    label, locator, suffix = _split_locator(m.group("rest"))
    return CitationItem(key=key, prefix=m.group("prefix").strip(), locator=locator, label=label,
                        suffix=suffix, suppress_author=bool(m.group("minus")))


def _blank(text: str, pattern: re.Pattern[str]) -> str:
    """Replace matches with spaces, keeping offsets (so code spans cite nothing)."""
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def _scannable(body: str) -> str:
    """The body with code, addresses and links' texts blanked out: what may hold citations."""
    scan = _blank(body, _CODE)
    for m in [*_ADDRESS.finditer(scan), *_LINK_TEXT.finditer(scan)]:
        scan = scan[:m.start()] + " " * (m.end() - m.start()) + scan[m.end():]
    return scan


def citations_in_link_text(body: str, first_line: int = 1) -> list[int]:
    """Lines of link texts that hold citation syntax (left as written: a link cannot hold a link)."""
    return [first_line + body.count("\n", 0, m.start()) for m in _LINK_TEXT.finditer(_blank(body, _CODE))
            if _NARRATIVE.search(_blank(m.group(0)[1:-1], _ADDRESS))]


def parse_citations(body: str, first_line: int = 1) -> list[Citation]:
    """Every citation in a Markdown body, in order, with offsets and file lines."""
    scan = _scannable(body)
    found: list[Citation] = []
    taken: list[tuple[int, int]] = []

    def line_of(pos: int) -> int:
        return first_line + body.count("\n", 0, pos)

    for m in _BRACKET.finditer(scan):
        items = [_item(part) for part in m.group("inner").split(";")]
        if items and all(items):
            found.append(Citation(tuple(i for i in items if i), False, m.start(), m.end(), line_of(m.start())))
            taken.append((m.start(), m.end()))
    for m in _NARRATIVE.finditer(scan):
        if any(a <= m.start() < b for a, b in taken):
            continue
        key = m.group("bkey") or m.group("key")
        label, locator, suffix = ("", "", "")
        if m.group("loc") is not None:
            label, locator, suffix = _split_locator(", " + m.group("loc"))
        found.append(Citation((CitationItem(key, locator=locator, label=label, suffix=suffix),), True,
                              m.start(), m.end(), line_of(m.start())))
    return sorted(found, key=lambda c: c.start)
