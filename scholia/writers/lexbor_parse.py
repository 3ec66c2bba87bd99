"""WeasyPrint's HTML parsed in C (lexbor, through selectolax) where that gives tinyhtml5's tree.

WeasyPrint parses its HTML with tinyhtml5, in Python: 0.14–0.2 s for the white paper's print HTML
(335 KB) in every build, on the one core that the styles and boxes then use. lexbor parses it in
3–5 ms, and the tree is made again as tinyhtml5's ElementTree in ~15 ms. Both follow the WHATWG
parsing algorithm, but where the markup needs the parser's error recovery they can disagree
(misnested formatting elements, content in ``<select>``, a line feed after ``<pre>``: found by
feeding both thousands of generated documents). So lexbor's tree is taken only for a document
whose markup needs no recovery: a ``<!DOCTYPE html>`` first (no quirks mode); every non-void
element closed, in order; each start tag exactly one element of the tree (none implied, dropped
or cloned); no foreign content, templates, ``<select>``, ``<noscript>``, CDATA, processing
instructions, NUL, CR, or line feed right after ``<pre>``. The templates and nh3's serialised
notes give such documents; any other is parsed by tinyhtml5 as before. The tests compare both
trees on every profile's print HTML and on generated documents, valid and broken.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from io import StringIO

import tinyhtml5
from selectolax.lexbor import LexborHTMLParser

_tinyhtml5_parse = tinyhtml5.parse

VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
_DOCTYPE = re.compile(r"\s*<!doctype\s+html\s*>", re.I)
_REFUSED = re.compile(r"<(?:svg|math|template|select|noscript|plaintext)\b|<!\[|<\?|[\r\0]"
                      r"|<(?:pre|listing|textarea)\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*>\n", re.I)
_RAW = re.compile(r"<!--.*?-->|<(script|style|title|textarea|xmp|iframe|noembed|noframes)\b"
                  r"(?:[^>\"']|\"[^\"]*\"|'[^']*')*>.*?</\1\s*>", re.S | re.I)
_TAG = re.compile(r"<(/?)([a-zA-Z][^\s/>]*)(?:[^>\"']|\"[^\"]*\"|'[^']*')*>")


def _needs_no_recovery(html: str) -> Counter | None:
    """The tag names of the document's start tags, or None where parsing it needs error recovery
    (or may: see the module's docstring)."""
    if not _DOCTYPE.match(html) or _REFUSED.search(html):
        return None
    # Comments go; a raw-text element stays as an empty pair (its text is no markup).
    text = _RAW.sub(lambda m: "" if m.group(1) is None else f"<{m.group(1)}></{m.group(1)}>", html)
    if "<!--" in text:
        return None
    names: Counter = Counter()
    open_: list[str] = []
    for m in _TAG.finditer(text):
        name = m.group(2).lower()
        if m.group(1):
            if not open_ or open_.pop() != name:
                return None
        else:
            names[name] += 1
            if name not in VOID:
                open_.append(name)
    return None if open_ else names


def _element_tree(html: str) -> ET.Element:
    """lexbor's tree of ``html`` as tinyhtml5 builds it (``namespace_html_elements=False``): the
    root element, text in ``text`` and ``tail``, comments as ElementTree comments."""
    root = LexborHTMLParser(html).root
    out = ET.Element(root.tag, {k: "" if v is None else v for k, v in root.attributes.items()})
    stack = [(root.child, out)]
    while stack:
        node, parent = stack.pop()
        last = None
        while node is not None:
            tag = node.tag
            if tag == "-text":
                if last is None:
                    parent.text = (parent.text or "") + node.text_content
                else:
                    last.tail = (last.tail or "") + node.text_content
            elif tag == "-comment":
                last = ET.Comment(node.html[4:-3])  # comment_content strips the data
                parent.append(last)
            else:
                attrs = node.attributes
                last = ET.SubElement(parent, tag, {k: "" if v is None else v for k, v in attrs.items()})
                if node.child is not None:
                    stack.append((node.child, last))
            node = node.next
    return out


def lexbor_tree(html: str) -> ET.Element | None:
    """tinyhtml5's tree of ``html``, made by lexbor, or None where it might differ."""
    names = _needs_no_recovery(html)
    if names is None:
        return None
    tree = _element_tree(html)
    made = Counter(e.tag for e in tree.iter() if isinstance(e.tag, str))
    return tree if made == names else None


def parse(source, **kwargs):
    """``tinyhtml5.parse``, with lexbor's tree where it is tinyhtml5's (WeasyPrint hands a string
    over as a ``StringIO``)."""
    if isinstance(source, StringIO | str) and kwargs == {"namespace_html_elements": False}:
        tree = lexbor_tree(source if isinstance(source, str) else source.getvalue())
        if tree is not None:
            return tree
    return _tinyhtml5_parse(source, **kwargs)


def apply() -> None:
    """Have WeasyPrint (which calls ``tinyhtml5.parse``) parse through ``parse`` (once)."""
    tinyhtml5.parse = parse
