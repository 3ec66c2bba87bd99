"""``weasyprint_fix``: a footnote with ``footnote-policy: line`` stays on the page of its call.

The page holds eight lines; the second paragraph's first line carries a call whose note takes the
last line. The paragraph's second line then overflows, and one line cannot stay alone (orphans: 2).
WeasyPrint 70 moves the note to the next page to make room and leaves its call behind; with the fix
the paragraph moves, call and note together."""

from __future__ import annotations

import subprocess
import sys

import weasyprint
from weasyprint.formatting_structure.boxes import FootnoteAreaBox

from scholia.writers import weasyprint_fix

PAGE = """<style>
@page { margin: 0; size: 100px; @footnote { margin-top: 0 } }
html { font-size: 10px; line-height: 1; }
body { margin: 0; }
span { float: footnote; footnote-policy: line; }
::footnote-call { vertical-align: baseline; }
</style>
<div>a<br>b<br>c<br>d<br>e<br>f<br>g<br>h</div>
<div>i<span id="n1">note</span><br>j<br>k<br>l</div>"""


def _walk(box):
    yield box
    for child in getattr(box, "children", None) or ():
        yield from _walk(child)


def call_and_note_pages() -> tuple[int, int]:
    doc = weasyprint.HTML(string=PAGE).render()
    call = note = -1
    for i, page in enumerate(doc.pages):
        for box in _walk(page._page_box):
            if isinstance(box, FootnoteAreaBox) and any(c.element.get("id") == "n1" for c in box.children):
                note = i
            if (getattr(box, "element_tag", "") or "").endswith("::footnote-call") and call < 0:
                call = i
    return call, note


def test_unpatched_weasyprint_strands_the_note():
    """The case really is WeasyPrint's: without the fix (a fresh process) the note leaves its call.
    When this fails, WeasyPrint has fixed it upstream and ``weasyprint_fix`` can go."""
    code = ("import sys; sys.path[:0] = [sys.argv[1]]; "
            "from tests.test_weasyprint_fix import call_and_note_pages; print(*call_and_note_pages())")
    root = str(__import__("pathlib").Path(__file__).parents[1])
    out = subprocess.run([sys.executable, "-c", code, root], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0", "1"]


def test_fix_keeps_the_note_with_its_call():
    assert weasyprint_fix.apply()
    assert weasyprint_fix.applied()
    assert call_and_note_pages() == (1, 1)
