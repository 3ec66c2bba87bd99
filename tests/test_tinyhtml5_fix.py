"""``tinyhtml5_fix``: the parser's pattern cache hits, and the tree is the one tinyhtml5 makes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import tinyhtml5
from tinyhtml5 import inputstream

from scholia.writers import tinyhtml5_fix

# Every tokenizer state that reads runs of characters: text, entities, attributes in three quotings,
# comments, raw text, CDATA in foreign content, a bogus comment, a doctype.
PAGE = """<!DOCTYPE html><html lang="en"><head><title>T &amp; t</title>
<style>p > a { color: red }</style><script>if (a < b && c) {}</script></head>
<body><p class=x id='y' data-z="a&quot;b">One&nbsp;two &lt;three&gt; &#x4e2d; <b>bold</p>
<!-- a comment -- with dashes --><textarea>raw &amp; <b>not bold</b></textarea>
<svg><![CDATA[ x < y ]]><title>in svg</title></svg><?bogus?> tail\r\nline\u0000</body></html>"""


def _tree(monkeypatch, cache: dict) -> bytes:
    monkeypatch.setattr(inputstream, "characters_until_regex", cache)
    return ET.tostring(tinyhtml5.parse(PAGE, namespace_html_elements=False))


def test_same_tree_and_patterns_compiled_once(monkeypatch):
    before = _tree(monkeypatch, {})
    compiled = []
    real = re.compile
    monkeypatch.setattr(re, "compile", lambda *a, **k: compiled.append(a) or real(*a, **k))
    monkeypatch.setattr(inputstream, "characters_until_regex", {})
    tinyhtml5_fix.apply()
    patterns = inputstream.characters_until_regex
    assert isinstance(patterns, tinyhtml5_fix._Patterns)
    assert _tree(monkeypatch, patterns) == before
    first = len(compiled)
    assert first == len(patterns) > 3  # one pattern per set of characters looked up
    assert all(not isinstance(characters, re.Pattern) for characters, _ in patterns)
    assert _tree(monkeypatch, patterns) == before
    assert len(compiled) == first  # a second parse compiles nothing
