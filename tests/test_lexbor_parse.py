"""``lexbor_parse``: lexbor's tree is taken only where it is exactly the tree tinyhtml5 makes."""

from __future__ import annotations

import os
import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import weasyprint

from scholia.build import BuildOptions, prepare
from scholia.render import markdown_html
from scholia.writers import lexbor_parse
from scholia.writers import pdf as pdfwriter

ROOT = Path(__file__).resolve().parents[1]
HEAD = '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>T &amp; t</title>\n'


def _tiny(html: str) -> bytes:
    return ET.tostring(lexbor_parse._tinyhtml5_parse(html, namespace_html_elements=False))


def _doc(body: str, head: str = "") -> str:
    return f"{HEAD}{head}</head>\n<body>{body}</body>\n</html>\n"


@pytest.mark.parametrize("options, profile", [
    ({}, "a4"), ({}, "wide-margin"), ({}, "archival"), ({"paper": "letter", "notes": "endnotes"}, "a5"),
    ({"notes_only": True}, "a4"), ({"no_notes": True, "select": "I,IV-V"}, "a4"),
])
def test_every_print_html_of_the_white_paper_takes_lexbor_s_tree(options, profile):
    os.environ.setdefault("SOURCE_DATE_EPOCH", "1758240000")
    options = dict(options)
    paper, notes = options.pop("paper", ""), options.pop("notes", "")
    _, rendered, ctx = prepare(ROOT, BuildOptions(formats=("pdf",), **options))
    page = pdfwriter.build_html(rendered, ctx, pdfwriter.effective_profile(ctx, profile, paper, notes))
    tree = lexbor_parse.lexbor_tree(page)
    assert tree is not None  # the fast path is taken
    assert ET.tostring(tree) == _tiny(page)


def test_notes_markdown_serialised_by_nh3_takes_lexbor_s_tree():
    body = markdown_html(
        "A *gloss* with **bold**, `code`, a [link](https://example.org/a?b=1&c=2) and\n"
        "a hard break  \nthen 中文 and ئۇيغۇر & < > \" ' text.\n\n"
        "> quoted\n> > nested\n\n1. one\n2. two\n   - inner\n\n---\n\n"
        "    indented code <b>\n\n```\n\nfenced & <i>\n```\n\n# heading\n\n<b>raw</b>")
    page = _doc(f'<aside class="note">{body}</aside><p>{markdown_html("*a* & b", inline=True)}</p>')
    tree = lexbor_parse.lexbor_tree(page)
    assert tree is not None
    assert ET.tostring(tree) == _tiny(page)


VALID = [
    '<p class=x id=\'y\' data-z="a&quot;b" hidden>One&nbsp;two &lt;three&gt; &#x4e2d; &AElig &copy; &unknown;</p>',
    "<style>p > a { color: red } /* <b> */</style><p>x</p>",
    "<div>\n  <p>a<br>b<wbr>c<img src=a.png alt=\"x > y\"></p>\n</div>\n\n",
    "<table><thead><tr><th>a</th></tr></thead><tbody><tr><td>b<p>c</p></td></tr></tbody></table>",
    "<ul><li>a</li><li>b<ul><li>c</li></ul></li></ul><dl><dt>t</dt><dd>d</dd></dl>",
    "<!-- a comment -- with dashes --><p>x<!--inner--></p>",
    "<pre><code>x\n  y\n</code></pre><pre>keep\n</pre>",
    '<p lang="zh-Hant">中華民族</p><p dir="rtl">ئۇيغۇر</p><span title="a&#10;b">\u00ad\u200b</span>',
    "<a href=#x><div>block in a</div></a><b><i>x</i></b>",
]

RECOVERED = [
    "<p>one<div>two</div></p>",                        # a div closes the p; </p> makes another
    "<b><p>x</b>y</p>",                                  # misnested: the adoption agency
    "<table><tr><td>x</td></tr></table>",                # tbody implied
    "<ul><li>a<li>b</ul>",                               # end tags left out
    "<select><option>a</option><option>b<p>c</p></option></select>",  # the parsers disagree here
    "<svg><title>t</title></svg>",                       # foreign content
    "<template><p>x</p></template>",
    "<pre>\r\nx</pre>",                                  # CR
    "<p>a\0b</p>",                                       # NUL
    "<p>a</br>b</p>",                                    # an end tag that makes an element
    "<p>x</p><!-- unclosed",
    "<p>x<![CDATA[y]]></p>",
    "<div><span></div></span>",
]


@pytest.mark.parametrize("body", VALID)
def test_markup_that_needs_no_recovery_takes_lexbor_s_tree(body):
    page = _doc(body)
    tree = lexbor_parse.lexbor_tree(page)
    assert tree is not None
    assert ET.tostring(tree) == _tiny(page)


@pytest.mark.parametrize("body", RECOVERED)
def test_markup_that_needs_recovery_is_left_to_tinyhtml5(body):
    page = _doc(body)
    assert lexbor_parse.lexbor_tree(page) is None
    assert ET.tostring(lexbor_parse.parse(page, namespace_html_elements=False)) == _tiny(page)


def test_no_doctype_or_other_options_are_left_to_tinyhtml5():
    page = "<p>quirks mode</p>"
    assert lexbor_parse.lexbor_tree(page) is None
    page = _doc("<p>x</p>")
    assert lexbor_parse.lexbor_tree(page) is not None
    # namespaced elements, as WeasyPrint never asks: tinyhtml5's own parse
    assert ET.tostring(lexbor_parse.parse(page)) == ET.tostring(lexbor_parse._tinyhtml5_parse(page))


FLOW = "div section aside header footer main article blockquote ul ol dl p h2 pre table details".split()
PHRASING = "span b i em strong sup sub small code q cite abbr a".split()
ONLY_PHRASING = set("p h2 pre dt summary span b i em strong sup sub small code q cite abbr a".split())
CHILDREN = {"ul": ["li"], "ol": ["li"], "dl": ["dt", "dd"], "details": ["summary", *FLOW]}
TEXTS = ["x", " ", "\n", "&amp;", "&nbsp;", "中文", "&#x41;", "\t", "&lt;p&gt;", "&unknown;", "ئۇ"]


def _node(r: random.Random, depth: int, parent: str) -> str:
    if parent not in CHILDREN:
        k = r.random()
        if depth > 5 or k < 0.3:
            return r.choice(TEXTS)
        if k < 0.36:
            return r.choice(["<br>", "<wbr>", "<img src=x>"] if parent in ONLY_PHRASING else ["<hr>", "<br>"])
        if k < 0.38:
            return "<!--c-->"
    if depth > 6:
        return ""
    allowed = CHILDREN.get(parent) or (PHRASING if parent in ONLY_PHRASING else [*FLOW, *PHRASING])
    tag = r.choice([t for t in allowed if t != "a"] if parent == "a" else allowed)
    names, values = ["id", "class", "lang", "href", "title"], ["a", "b c", "&amp;", "", "x&lt;y"]
    attrs = "".join(f' {r.choice(names)}="{r.choice(values)}"' for _ in range(r.randint(0, 2)))
    if tag == "table":
        return f"<table{attrs}><tbody><tr><td>{_node(r, depth + 1, 'td')}</td></tr></tbody></table>"
    inner = "".join(_node(r, depth + 1, tag) for _ in range(r.randint(0, 4)))
    return f"<{tag}{attrs}>{inner}</{tag}>"


def _broken(r: random.Random, html: str) -> str:
    tags = list(re.finditer(r"</?[a-z0-9]+[^>]*>", html))
    if not tags:
        return html
    m, k, other = r.choice(tags), r.random(), r.choice([*FLOW, *PHRASING])
    if k < 0.4:
        return html[:m.start()] + html[m.end():]           # a tag left out
    return html[:m.start()] + (f"</{other}>" if k < 0.7 else f"<{other}>") + html[m.start():]


def test_generated_documents_are_parsed_as_tinyhtml5_parses_them():
    """Valid documents and broken ones: lexbor's tree is either declined or tinyhtml5's. Before the
    checks, such documents made the two parsers disagree about one time in forty."""
    r = random.Random(20261130)
    taken = declined = 0
    for _ in range(400):
        body = "".join(_node(r, 0, "body") for _ in range(r.randint(1, 5)))
        if r.random() < 0.5:
            body = _broken(r, body)
        page = _doc(body)
        tree = lexbor_parse.lexbor_tree(page)
        if tree is None:
            declined += 1
        else:
            taken += 1
            assert ET.tostring(tree) == _tiny(page), body
    assert taken > 100 and declined > 100  # both sides were exercised


def test_weasyprint_parses_through_lexbor_once_applied(monkeypatch):
    made = []
    real = lexbor_parse._element_tree
    monkeypatch.setattr(lexbor_parse, "_element_tree", lambda html: made.append(html) or real(html))
    monkeypatch.setattr(lexbor_parse.tinyhtml5, "parse", lexbor_parse.tinyhtml5.parse)
    lexbor_parse.apply()
    page = _doc("<p>x <b>y</b></p>")
    html = weasyprint.HTML(string=page)
    assert made == [page]
    assert ET.tostring(html.etree_element) == _tiny(page)
