"""``weasyprint_split``: a document laid out on two processes gives exactly the sequential PDF;
``weasyprint_paint``: so does one painted by two; ``weasyprint_memo``: remembered line breaks give
exactly the PDF without them.

The test book has what the edition's print style uses: chapters that start on a right page, running
heads from ``string-set``, page numbers in margin boxes, a contents page whose numbers are
``target-counter()`` references to the chapters, footnotes and bookmarks. When the child's pages are
joined, the PDF must be byte for byte the one a single process makes; when they cannot be (pages
that refer back to earlier pages, page styles that depend on the page's index), the child's work is
dropped and the PDF is still the same."""

from __future__ import annotations

import io
import itertools
import re
import zlib

import pypdf
import pytest
import weasyprint

from scholia import parallel
from scholia.writers import weasyprint_memo, weasyprint_memory, weasyprint_paint, weasyprint_split

STYLE = """
@page { size: A5; margin: 20mm 18mm; @footnote { border-top: 0.5pt solid; margin-top: 3mm; }
        @bottom-center { content: counter(page); } @top-center { content: string(chapter); } }
body { font: 10pt/13pt serif; text-align: justify; hyphens: auto; }
.chapter { break-before: right; page: chapter; }
h1 { string-set: chapter content(); bookmark-level: 1; }
.fn { float: footnote; footnote-policy: line; }
.toc a::after { content: leader('.') target-counter(attr(href), page); }
"""
WORDS = ("the paper counts schools clinics roads and reservoirs built since the earlier plan "
         "while its figures for income employment and tourism draw on provincial yearbooks").split()


class Hostile:
    """Unpickled, it would run a command (touch ``folder/pwned``): no kept file may load it."""

    def __init__(self, folder) -> None:
        self.folder = folder

    def __reduce__(self):
        return (__import__("os").system, ("touch " + str(self.folder / "pwned"),))


def book(chapters: int = 6, extra_style: str = "", back_reference: bool = False) -> str:
    toc = "".join(f'<li><a href="#c{c}">Chapter {c}</a></li>' for c in range(chapters))
    parts = [f"<style>{STYLE}{extra_style}</style><nav class='toc'><ul>{toc}</ul></nav>"]
    for c in range(chapters):
        paras = []
        for p in range(10):
            text = " ".join(WORDS[(c * 7 + p * 3 + k) % len(WORDS)] for k in range(70))
            note = f'<span class="fn">Note {c}.{p}: {" ".join(WORDS[:12 + p])}.</span>' if p % 3 == 0 else ""
            paras.append(f"<p id='p{c}-{p}'>{text}{note} {text}.</p>")
        if back_reference and c == chapters - 1:
            paras.append('<p>See <a href="#p0-1">page <span class="ref"></span></a>.</p>'
                         '<style>.ref::after { content: target-counter("#p0-1", page); }</style>')
        parts.append(f"<section class='chapter' id='c{c}'><h1>Chapter {c}</h1>{''.join(paras)}</section>")
    return "<html lang='en'><body>" + "".join(parts) + "</body></html>"


def render(page: str, split: bool, monkeypatch) -> tuple[bytes, int]:
    monkeypatch.setattr(parallel, "cores", lambda: 2)  # fork even where one core is all there is
    doc = weasyprint_split.render(weasyprint.HTML(string=page), split=split)
    return doc.write_pdf(), weasyprint_split.last["joined"]


def test_boundaries_are_the_chapter_starts():
    html = weasyprint.HTML(string=book())
    bounds = weasyprint_split.boundaries(weasyprint_split.prepare(html)[2], html)
    assert len(bounds) == 6  # each chapter starts a right page
    for c, bound in enumerate(bounds):
        resume_at, next_page, right_page = bound.point
        assert next_page == {"break": "right", "page": "chapter"} and right_page is True
        assert resume_at == {0: {c + 1: None}}  # body, then the contents and chapters 0–5


def test_joined_pages_give_the_sequential_pdf(monkeypatch):
    """The child's pages are joined, another child makes the last pages' margin boxes and
    backgrounds (this process is slowed at that step, so that the share it leaves is not left to
    the machine's load), and the PDF is the sequential one."""
    import os
    import time

    parent, make = os.getpid(), weasyprint_split._Finish._make

    def slowed(self, *args):
        if os.getpid() == parent:
            time.sleep(0.02)
        return make(self, *args)

    page = book()
    monkeypatch.setattr(weasyprint_split._Finish, "_make", slowed)
    split, joined = render(page, True, monkeypatch)
    finished = weasyprint_split.last["finished"]  # margin boxes and backgrounds made by another process
    monkeypatch.setattr(weasyprint_split._Finish, "_make", make)
    sequential, none = render(page, False, monkeypatch)
    assert joined > 0 and finished > 10 and none == weasyprint_split.last["finished"] == 0
    assert split == sequential


def test_pages_that_refer_back_are_laid_out_in_one_process(monkeypatch):
    """The last chapter looks up an earlier page's number: the child cannot ship it and this process
    lays it out; the child's chapters before it are still joined."""
    taken: dict[int, bool] = {}
    take = parallel.Meeting.take

    def recorded(self, k, *idle):
        got = take(self, k, *idle)
        taken[k] = got[0] is not None
        return got

    page = book(back_reference=True)
    monkeypatch.setattr(parallel.Meeting, "take", recorded)
    split, joined = render(page, True, monkeypatch)
    assert taken[5] is False and joined > 0
    assert split == render(page, False, monkeypatch)[0]


def test_page_styles_that_depend_on_the_page_index_are_never_guessed(monkeypatch):
    page = book(extra_style="@page :nth(-n+5) { margin-top: 30mm; }")
    split, joined = render(page, True, monkeypatch)
    assert joined == 0  # the child begins each chapter as a first page: its pages had the wrong margin
    assert split == render(page, False, monkeypatch)[0]


BACKGROUNDS = """
html { background: #fafafa; } .round { border-radius: 4pt; background: #eee; } .pct { border-radius: 10% 0; }
.shadow { box-shadow: 1pt 1pt 2pt gray; } .hidden { visibility: hidden; background: red; }
.grad { background-image: linear-gradient(red, blue); } .coloured { background: yellow; }
.clear { background: transparent; border: 1pt solid; border-radius: 0 3pt; }
.corner { border: 1pt dashed; border-top-left-radius: 4pt; }
"""


def test_boxes_without_backgrounds_are_done_at_once_as_weasyprint_does_them(monkeypatch):
    kinds = itertools.cycle(("round", "pct", "shadow", "hidden", "grad", "coloured", "clear", "corner", ""))
    page = re.sub("<p id=", lambda _: f"<p class='{next(kinds)}' id=", book(3, BACKGROUNDS))
    bare = []
    real = weasyprint_split._bare
    monkeypatch.setattr(weasyprint_split, "_bare", lambda style: bare.append(real(style)) or bare[-1])
    ours = weasyprint_split.render(weasyprint.HTML(string=page), split=False).write_pdf()
    assert True in bare and False in bare  # both ways were taken
    assert ours == weasyprint.HTML(string=page).render().write_pdf()


def test_short_documents_are_not_split(monkeypatch):
    started = []
    monkeypatch.setattr(parallel.Meeting, "start", lambda task: started.append(task))
    render("<p>" + "word " * 100 + "</p>", True, monkeypatch)
    assert started == []
    render(book(), True, monkeypatch)
    assert len(started) == 2  # the layout's pages, then their margin boxes and backgrounds


@pytest.mark.parametrize("slow", ["child", "parent"])
def test_the_processes_meet_where_their_work_balances(monkeypatch, slow):
    """Whichever process is slower, the faster one lays out more of the chapters, and the PDF is the
    sequential one."""
    import os
    import time

    from weasyprint.layout import page as wpage

    parent, remake = os.getpid(), weasyprint_split.remake_page

    def slowed(*args):  # a page costs the slow side ~0.25 s more than the other: ~3 to 5 times as much
        if (os.getpid() == parent) == (slow == "parent"):
            time.sleep(0.25)
        return remake(*args)

    page = book(chapters=8)
    monkeypatch.setattr(weasyprint_split, "remake_page", slowed)
    monkeypatch.setattr(wpage, "remake_page", slowed)
    split, joined = render(page, True, monkeypatch)
    pages = pypdf.PdfReader(io.BytesIO(split)).get_num_pages()
    assert joined < pages / 2 if slow == "child" else joined > pages / 2  # the faster side did more
    monkeypatch.undo()
    assert split == render(page, False, monkeypatch)[0]


def test_remembered_line_breaks_and_notes_change_nothing():
    page = book(chapters=2).replace(" the earlier plan", ' the earlier plan<span class="fn">See the plan.</span>')
    plain = weasyprint.HTML(string=page).render().write_pdf()
    with weasyprint_memo.remembered() as counts:
        remembered = weasyprint.HTML(string=page).render().write_pdf()
    assert counts["hits"] > counts["calls"] / 10  # footnote areas are set again as notes join them
    assert counts["note_hits"] > counts["note_calls"] / 4  # notes measured again in the same place
    assert counts["drawn_hits"] > counts["drawn_calls"] / 2  # drawn areas take their notes as measured
    assert remembered == plain


@pytest.mark.parametrize("note", [
    '<span class="fn">A note with a float <span style="float: right">x</span> in it.</span>',
    '<span class="fn">A note printed on page <span class="here"></span>.</span>'
    '<style>.here::after { content: counter(page); }</style>',
    '<span class="fn">A note that sends to <a href="#p1-4" class="to"></a>.</span>'
    '<style>.to::after { content: target-counter(attr(href), page); }</style>',
    '<span class="fn">A note with a note<span class="fn">inside it</span>.</span>',
    '<span class="fn" style="position: relative; top: 2pt">A note set lower.</span>',
])
def test_notes_whose_layout_is_not_only_their_own_are_laid_out_each_time(note):
    """Notes that change more than their own box, that a float may reach, or whose text waits for a
    counter are never reused; the PDF stays WeasyPrint's."""
    page = book(chapters=2).replace("<span class=\"fn\">Note 1.3", note + "<span class=\"fn\">Note 1.3")
    plain = weasyprint.HTML(string=page).render().write_pdf()
    with weasyprint_memo.remembered():
        remembered = weasyprint.HTML(string=page).render().write_pdf()
    assert remembered == plain


# What split_first_line may meet besides the book's style: spacing, tabs, decorations, variants, wrapping.
TEXT_STYLE = """
.c1 p:nth-child(2) { letter-spacing: 0.3pt; word-spacing: 1pt; text-decoration: underline; }
.c1 p:nth-child(3) { font-variant: small-caps; font-feature-settings: "onum"; overflow-wrap: anywhere; }
.c1 p:nth-child(4) { white-space: pre-wrap; tab-size: 3; font-style: italic; font-weight: bold; }
.c1 p:nth-child(5) { hyphenate-limit-chars: 6 3 2; hyphenate-character: "~"; word-break: break-all; }
"""


def test_the_line_break_key_covers_every_style_property_line_breaking_reads(monkeypatch):
    """``weasyprint_memo.TEXT_PROPERTIES`` keys line breaks kept across builds: record which style
    properties ``split_first_line`` reads on a book that sets many of them."""
    from weasyprint import css
    from weasyprint.layout import inline

    read: set[str] = set()
    depth = [0]

    def getitem(style, key):
        if depth[0]:
            read.add(key)
        return dict.__getitem__(style, key)

    original = inline.split_first_line

    def split_first_line(*args, **kwargs):
        depth[0] += 1
        try:
            return original(*args, **kwargs)
        finally:
            depth[0] -= 1

    for cls in (css.ComputedStyle, css.AnonymousStyle):
        monkeypatch.setattr(cls, "__getitem__", getitem, raising=False)
    monkeypatch.setattr(inline, "split_first_line", split_first_line)
    page = book(chapters=2, extra_style=TEXT_STYLE).replace("<section class='chapter' id='c1'>",
                                                             "<section class='chapter c1' id='c1'>")
    page = page.replace("<p id='p1-2'>", "<p id='p1-2'>\tTabbed\tcolumns ")  # the pre-wrap paragraph
    weasyprint.HTML(string=page).render()
    assert "letter_spacing" in read and "hyphens" in read  # the recording works
    assert {k for k in read if not k.startswith("__")} <= set(weasyprint_memo.TEXT_PROPERTIES)


def test_line_breaks_kept_by_an_earlier_build_give_the_same_pdf(tmp_path, monkeypatch):
    """A chapter laid out again takes the line breaks of its unchanged paragraphs from the files the
    first build kept (``weasyprint_memo.Lines``), in this process and in the child alike."""
    page = book(extra_style=TEXT_STYLE).replace("<section class='chapter' id='c1'>",
                                                "<section class='chapter c1' id='c1'>")
    memory = weasyprint_memory.Memory(tmp_path, "tool")
    weasyprint_split.render(weasyprint.HTML(string=page), split=False, memory=memory).write_pdf()
    assert weasyprint_split.last["lines"] == 0 and len(list((tmp_path / "lines").glob("*.pickle"))) == 7
    for chapter in (1, 2):
        edited = page.replace(f"Note {chapter}.3: ", f"Note {chapter}.3, edited at length to take more room: ")
        pdf = weasyprint_split.render(weasyprint.HTML(string=edited), split=False, memory=memory).write_pdf()
        assert weasyprint_split.last["lines"] > 100  # the chapter's other lines
        assert pdf == sequential(edited)
    pdf, _ = remember(page.replace("Note 3.3: ", "Note 3.3, edited: "), tmp_path, monkeypatch)  # on two processes
    assert pdf == sequential(page.replace("Note 3.3: ", "Note 3.3, edited: "))


@pytest.mark.parametrize("kept", ["hostile", "wrong shape", "damaged"])
def test_kept_line_breaks_that_are_not_sound_are_misses(tmp_path, monkeypatch, kept):
    import pickle

    page = book()
    memory = weasyprint_memory.Memory(tmp_path, "tool")
    weasyprint_split.render(weasyprint.HTML(string=page), split=False, memory=memory)

    for f in (tmp_path / "lines").glob("*.pickle"):
        found = pickle.loads(memory.lines.load(f.stem))  # noqa: S301 - written by the build above
        if kept == "hostile":
            memory.lines.store({f.stem: pickle.dumps({k: Hostile(tmp_path) for k in found})})
        elif kept == "wrong shape":  # our own classes, but not a line break's result
            memory.lines.store({f.stem: pickle.dumps({k: (v[0], "7", None, 1.0, 2.0, 3.0) for k, v in found.items()})})
        else:
            f.write_bytes(f.read_bytes()[:-10] + b"0123456789")
    edited = page.replace("Note 2.3: ", "Note 2.3, edited: ")
    pdf = weasyprint_split.render(weasyprint.HTML(string=edited), split=False, memory=memory).write_pdf()
    assert weasyprint_split.last["lines"] == 0 and not (tmp_path / "pwned").exists()
    assert pdf == sequential(edited)


def test_without_a_second_process_the_layout_is_made_here(monkeypatch):
    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(__import__("os"), "fork", no_fork)
    page = book()
    split, joined = render(page, True, monkeypatch)
    assert joined == 0
    assert split == render(page, False, monkeypatch)[0]


def paint(page: str, monkeypatch) -> tuple[bytes, bytes, int]:
    """The PDF written with the second half of its pages painted by a child, the PDF painted here
    alone, and how many pages the child painted."""
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    monkeypatch.setattr(weasyprint_paint, "PAINT_MEMORY_MB", 10**6)  # whatever the test process's size
    doc = weasyprint.HTML(string=page).render()
    calls: list[int] = []
    with weasyprint_paint.painting_split(doc, {}, lambda: calls.append(weasyprint_paint.last["painted"])):
        split = doc.write_pdf()
    assert len(calls) == 1  # "every page is painted" is said once
    return split, doc.write_pdf(), weasyprint_paint.last["painted"]


def test_pages_painted_by_the_child_give_the_same_pdf(monkeypatch):
    page = book(extra_style="h1 { color: rgba(0, 0, 0, 0.8); }")  # an opacity state, named by its value
    split, alone, painted = paint(page, monkeypatch)
    assert painted > 0
    # Every page's stream was compressed while the pages were painted, on both sides.
    assert weasyprint_paint.last["compressed"] == len(weasyprint.HTML(string=page).render().pages)
    assert split == alone


def test_streams_changed_after_painting_are_compressed_again(monkeypatch):
    """A stream compressed beforehand is used only while its bytes are those that were compressed."""
    from weasyprint.pdf.stream import Stream

    def change(document, pdf):  # a step after painting that adds to every page's stream
        for obj in pdf.objects:
            if isinstance(obj, Stream):
                obj.stream.append(b"% added")

    monkeypatch.setattr(parallel, "cores", lambda: 2)
    monkeypatch.setattr(weasyprint_paint, "PAINT_MEMORY_MB", 10**6)
    doc = weasyprint.HTML(string=book()).render()
    with weasyprint_paint.painting_split(doc, {}):
        split = doc.write_pdf(finisher=change)
    assert weasyprint_paint.last["painted"] > 0
    assert weasyprint_paint.last["compressed"] == 0
    assert split == doc.write_pdf(finisher=change)
    assert b"% added" in pypdf.PdfReader(io.BytesIO(split)).pages[-1].get_contents().get_data()


def test_numbered_resources_stop_the_childs_painting(monkeypatch):
    """A gradient is a shading numbered in order of use: the child, painting from the last page
    down, stops at the page that has one; this process paints it and the pages before it."""
    page = book().replace("<h1>Chapter 4</h1>", "<h1 style='background: linear-gradient(red, blue)'>Chapter 4</h1>")
    before = len(weasyprint.HTML(string=page.split("<section class='chapter' id='c4'>")[0] + "</body></html>")
                 .render().pages)
    split, alone, painted = paint(page, monkeypatch)
    assert 0 < painted < len(weasyprint.HTML(string=page).render().pages) - before
    assert split == alone


@pytest.mark.parametrize("slow", ["child", "parent"])
def test_the_painting_processes_meet_where_their_work_balances(monkeypatch, slow):
    """Whichever process paints slower, the faster one paints more pages; the PDF is the same."""
    import os
    import time

    from weasyprint.document import Page

    parent, original = os.getpid(), Page.paint

    def slowed(self, stream, scale=1):  # a page costs the slow side ~5 to 10 times as much
        if (os.getpid() == parent) == (slow == "parent"):
            time.sleep(0.1)
        return original(self, stream, scale)

    monkeypatch.setattr(parallel, "cores", lambda: 2)
    monkeypatch.setattr(weasyprint_paint, "PAINT_MEMORY_MB", 10**6)
    doc = weasyprint.HTML(string=book()).render()
    with monkeypatch.context() as patched:
        patched.setattr(Page, "paint", slowed)
        with weasyprint_paint.painting_split(doc, {}):
            split = doc.write_pdf()
    painted = weasyprint_paint.last["painted"]
    assert painted < len(doc.pages) / 3 if slow == "child" else painted > len(doc.pages) / 2
    assert split == doc.write_pdf()


def test_a_large_process_paints_alone(monkeypatch):
    """A painting child can grow as large as its parent: where no room is left for one, no child is
    forked."""
    page = book()
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    monkeypatch.setattr(weasyprint_paint, "PAINT_MEMORY_MB", 1)
    monkeypatch.setattr(parallel, "start", lambda task: pytest.fail("forked a painter"))
    doc = weasyprint.HTML(string=page).render()
    with weasyprint_paint.painting_split(doc, {}):
        alone = doc.write_pdf()
    assert alone == doc.write_pdf()


def test_a_painter_whose_memory_cannot_be_read_is_not_forked_where_it_needs_a_budget(monkeypatch):
    """Where the system does not say how much memory a child has taken (no ``/proc``), a child that
    would need a budget is not forked: it could not watch it."""
    monkeypatch.setattr(weasyprint_paint, "_own_mb", lambda: float("inf"))
    monkeypatch.setattr(weasyprint_paint, "PAINT_MEMORY_MB", 1400)
    assert weasyprint_paint._paint_budget(800) == 0
    assert weasyprint_paint._paint_budget(100) == float("inf")  # a whole copy fits: nothing to watch


@pytest.mark.parametrize("own_mb", [0.0, 10.0**9])
def test_a_painting_child_stops_at_its_memory_budget(monkeypatch, own_mb):
    """Where a whole copy of this process would not fit, the child reads its own memory as it goes
    and stops at its budget; this process paints the rest, and the PDF is the one it would paint
    alone."""
    if not parallel.can_fork():
        pytest.skip("needs a second core")
    page = book()
    doc = weasyprint.HTML(string=page).render()
    alone = doc.write_pdf()
    size = weasyprint_paint._size_mb()
    monkeypatch.setattr(weasyprint_paint, "PAINT_MEMORY_MB", 1.6 * size)  # room for half a copy
    monkeypatch.setattr(weasyprint_paint, "MIN_PAINT_BUDGET_MB", 0)
    monkeypatch.setattr(weasyprint_paint, "CHECK_EVERY", 1)
    monkeypatch.setattr(weasyprint_paint, "_own_mb", lambda: own_mb)
    assert weasyprint_paint._paint_budget(size) == pytest.approx(size / 2)
    with weasyprint_paint.painting_split(doc, {}):
        split = doc.write_pdf()
    assert split == alone
    if own_mb:  # over its budget from the first page on: the child paints none
        assert weasyprint_paint.last["painted"] == 0
    else:
        assert weasyprint_paint.last["painted"] > 0


# ---------- weasyprint_memory: segments kept between builds ----------

def remember(page: str, folder, monkeypatch, stamp: str = "tool") -> tuple[bytes, dict]:
    """The PDF of ``page`` laid out with the memory in ``folder``, and what the layout took from it."""
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    memory = weasyprint_memory.Memory(folder, stamp)
    doc = weasyprint_split.render(weasyprint.HTML(string=page), memory=memory)
    return doc.write_pdf(), dict(weasyprint_split.last)


def sequential(page: str) -> bytes:
    return weasyprint_split.render(weasyprint.HTML(string=page), split=False).write_pdf()


def test_unchanged_chapters_come_from_memory_and_give_the_same_pdf(tmp_path, monkeypatch):
    page = book()
    first, took = remember(page, tmp_path, monkeypatch)
    assert took["remembered"] == 0 and len(list(tmp_path.glob("*.pickle"))) == 6  # every chapter kept
    assert first == sequential(page)
    again, took = remember(page, tmp_path, monkeypatch)
    assert took["remembered"] > 20 and again == first
    # One note of chapter 2 edited: chapter 2 is laid out again, the others come from memory.
    edited = page.replace("Note 2.3: ", "Note 2.3, edited at length to take a second line or more: ")
    pdf, took = remember(edited, tmp_path, monkeypatch)
    assert 0 < took["remembered"] < sum(1 for _ in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert pdf == sequential(edited)


def test_kept_pages_come_finished_and_give_the_same_pdf(tmp_path, monkeypatch):
    """A kept chapter's pages come with the backgrounds of their boxes laid out and their anchors,
    links, bookmarks and named strings found, so that a later build does neither again: the page
    keeps the root's background for the canvas, rounded corners stay rounded, and paragraphs split
    across pages have one bookmark, on their first page (WeasyPrint clears the others' labels after
    the first pass). The named strings and bookmarks of positioned boxes and of tables, whose boxes
    the walks of ``gather_anchors`` and ``descendants`` go through differently, are found too."""
    page = book(extra_style="p { bookmark-level: 2; bookmark-label: 'paragraph' } html { background: #fdfdf8 }"
                            " h1 { background: #eee; border-radius: 4pt; padding: 2pt; position: relative }"
                            " .mark { position: absolute; right: 0; bookmark-level: 3; bookmark-label: 'mark' }"
                            " .mark b { string-set: chapter 'marked'; bookmark-level: 3; bookmark-label: 'inner' }"
                            " td { string-set: chapter content() }")
    table = "<table><tr><td>Table cell</td><td>{}</td></tr></table>"
    for c in range(6):
        page = page.replace(f"<h1>Chapter {c}</h1>", f"<h1>Chapter {c}<span class='mark'><b>*</b></span></h1>"
                            + (table.format(c) if c % 2 else ""))
    remember(page, tmp_path, monkeypatch)
    edited = page.replace("Note 2.3: ", "Note 2.3, edited at length to take a second line or more: ")
    pdf, took = remember(edited, tmp_path, monkeypatch)
    assert took["remembered"] > 10 and took["gathered"] >= took["remembered"]
    assert pdf == sequential(edited)


def test_margin_boxes_come_from_memory_while_what_they_show_is_the_same(tmp_path, monkeypatch):
    """Running heads from the first, start, last and first-except values of a named string, and
    folios: kept margin boxes are taken where their key matches, and a change before a page (a
    chapter heading, a longer chapter) makes those it reaches again."""
    page = book(extra_style="@page chapter { @top-left { content: string(chapter, start) }"
                            " @top-right { content: string(chapter, last) }"
                            " @bottom-left { content: string(chapter, first-except) } }")
    first, _ = remember(page, tmp_path, monkeypatch)
    assert first == sequential(page)
    again, took = remember(page, tmp_path, monkeypatch)
    assert again == first and took["margins"] > 10

    margins = weasyprint_memory.Memory(tmp_path, "tool").margins
    planted, misshapen = __import__("pickle").dumps(Hostile(tmp_path)), __import__("pickle").dumps((1, 2))
    for body in (planted, misshapen):
        margins.store({f.stem: body for f in (tmp_path / "margins").glob("*.pickle")})
        pdf, took = remember(page, tmp_path, monkeypatch)
        assert pdf == first and took["margins"] == 0 and not (tmp_path / "pwned").exists()
    retitled = page.replace("<h1>Chapter 2</h1>", "<h1>Chapter 2, retitled</h1>")
    pdf, took = remember(retitled, tmp_path, monkeypatch)
    assert pdf == sequential(retitled) and took["margins"] > 0  # the pages before chapter 2
    longer = page.replace("<h1>Chapter 2</h1>", "<h1>Chapter 2</h1><p>" + "and at length " * 900 + "</p>")
    pdf, took = remember(longer, tmp_path, monkeypatch)
    assert pdf == sequential(longer)  # every folio's counters name the page count: all made again


@pytest.mark.parametrize("change", ["style", "stamp", "attribute", "earlier note", "earlier text"])
def test_what_shapes_a_chapter_is_in_its_key(tmp_path, monkeypatch, change):
    page = book()
    remember(page, tmp_path, monkeypatch)
    stamp = "tool"
    if change == "style":  # any style sheet change, even one no box seems to use
        page = page.replace("</style>", ".unused { color: red }</style>", 1)
    elif change == "stamp":  # another tool version or font file
        stamp = "other tool"
    elif change == "attribute":  # an ancestor's attribute, which selectors may see
        page = page.replace("<body>", "<body class='wide'>")
    elif change == "earlier note":  # a note added in the first chapter numbers every later one anew
        page = page.replace("<p id='p0-1'>", "<p id='p0-1'><span class='fn'>An added note.</span>")
    pdf, took = remember(page, tmp_path, monkeypatch, stamp)
    if change == "earlier text":  # nothing changed here: every chapter comes back
        assert took["remembered"] > 20
    else:
        assert took["remembered"] == 0
    assert pdf == sequential(page)


def test_chapters_that_refer_to_other_pages_are_never_kept(tmp_path, monkeypatch):
    page = book(back_reference=True)
    remember(page, tmp_path, monkeypatch)
    assert len(list(tmp_path.glob("*.pickle"))) == 5  # the last chapter looks up a page number
    pdf, took = remember(page, tmp_path, monkeypatch)
    assert took["remembered"] > 0 and pdf == sequential(page)


def test_damaged_or_hostile_files_are_misses(tmp_path, monkeypatch):
    page = book()
    painted_with_memory(page, tmp_path, monkeypatch)  # keeps laid-out chapters and painted pages
    files = sorted(tmp_path.glob("*.pickle"))
    data = files[0].read_bytes()
    files[0].write_bytes(data[:-10] + b"0123456789")  # damaged: its digest no longer matches
    memory = weasyprint_memory.Memory(tmp_path, "tool")
    assert memory.load(files[0].stem) is None

    for f in files:  # well-formed files whose pickle would run a command when loaded
        memory.store({f.stem: __import__("pickle").dumps(Hostile(tmp_path))})
    pdf, painted = painted_with_memory(page, tmp_path, monkeypatch)
    assert weasyprint_split.last["remembered"] == painted == 0 and not (tmp_path / "pwned").exists()
    assert pdf == sequential(page)


@pytest.mark.parametrize("shape", [(b"q Q", {}, {}, None), (b"q Q", {1: [(1, 2)]}, {}, None, {}), {"a": 1}])
def test_kept_pages_of_another_shape_are_painted_afresh(tmp_path, monkeypatch, shape):
    """A painted page whose file is sound but holds another shape than a kept page's (an older
    format, or planted) is painted, not an error."""
    page = book()
    first, _ = painted_with_memory(page, tmp_path, monkeypatch)
    memory = weasyprint_memory.Memory(tmp_path, "tool")
    for f in tmp_path.glob("*.pickle"):
        if not f.stem.startswith("deflate-"):
            memory.store({f.stem: __import__("pickle").dumps(shape)})
    pdf, remembered = painted_with_memory(page, tmp_path, monkeypatch)
    assert remembered == 0 and pdf == first == sequential(page)


def test_only_the_newest_segments_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(weasyprint_memory, "KEEP_BYTES", 1)
    memory = weasyprint_memory.Memory(tmp_path, "tool")
    memory.store({"a": b"x" * 10})
    memory.store({"b": b"y" * 10})
    assert [p.stem for p in tmp_path.glob("*.pickle")] == ["b"] or not list(tmp_path.glob("*.pickle"))


def painted_with_memory(page: str, folder, monkeypatch) -> tuple[bytes, int]:
    """The PDF of ``page`` laid out and painted with the memory in ``folder``, and how many pages
    were painted from it."""
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    monkeypatch.setattr(weasyprint_paint, "PAINT_MEMORY_MB", 10**6)
    doc = weasyprint_split.render(weasyprint.HTML(string=page), memory=weasyprint_memory.Memory(folder, "tool"))
    with weasyprint_paint.painting_split(doc, {}, memory=doc.scholia_paint_memory):
        pdf = doc.write_pdf()
    return pdf, weasyprint_paint.last["remembered"]


def test_pages_painted_by_an_earlier_build_give_the_same_pdf(tmp_path, monkeypatch):
    page = book()
    first, none = painted_with_memory(page, tmp_path, monkeypatch)
    assert none == 0 and first == sequential(page)
    again, remembered = painted_with_memory(page, tmp_path, monkeypatch)
    pages = len(pypdf.PdfReader(io.BytesIO(first)).pages)
    assert remembered > pages / 2 and again == first
    # A longer note in chapter 2: its pages are painted again (and any page whose folio or running
    # head moved); the PDF is the one painted from scratch.
    edited = page.replace("Note 2.3: ", "Note 2.3, edited at length to take a second line or more: ")
    pdf, remembered = painted_with_memory(edited, tmp_path, monkeypatch)
    assert 0 < remembered < pages and pdf == sequential(edited)


def test_pages_no_segment_names_are_painted_from_memory_while_what_is_on_them_is_the_same(tmp_path, monkeypatch):
    """The contents page belongs to no chapter: it is kept under what is on it (boxes, text,
    geometry) and the elements those come from with what selectors can see of them. Numbers that
    move, or an attribute that changes only a colour, paint it again."""
    page = book(extra_style=".red a { color: #a00 }")
    painted_with_memory(page, tmp_path, monkeypatch)
    again, remembered = painted_with_memory(page, tmp_path, monkeypatch)
    assert remembered == len(pypdf.PdfReader(io.BytesIO(again)).pages)  # the contents page too

    def contents(pdf: bytes) -> bytes:
        return pypdf.PdfReader(io.BytesIO(pdf)).pages[0].get_contents().get_data()

    longer = page.replace("<h1>Chapter 2</h1>", "<h1>Chapter 2</h1><p>" + "and at greater length " * 600 + "</p>")
    pdf, _ = painted_with_memory(longer, tmp_path, monkeypatch)
    assert pdf == sequential(longer) and contents(pdf) != contents(again)  # the chapters after 2 moved
    red = page.replace("<nav class='toc'><ul>", "<nav class='toc'><ul class='red'>")
    pdf, remembered = painted_with_memory(red, tmp_path, monkeypatch)
    assert pdf == sequential(red) and contents(pdf) != contents(again)
    assert remembered == len(pypdf.PdfReader(io.BytesIO(pdf)).pages) - 1  # all but the contents


def test_a_kept_page_that_meets_a_font_first_is_painted_from_memory(tmp_path, monkeypatch):
    """Fonts are numbered in order of first use. A kept page that is the first to use one (monospace,
    here only in chapter 4) adds it to the PDF as painting would, so it is painted from memory like
    any other page, when chapter 1 is painted again."""
    plain = book()
    mono = plain.replace("<h1>Chapter 4</h1>", "<h1>Chapter 4</h1><p>With <code>monospace</code> once.</p>")
    took = {}
    for name, page in (("plain", plain), ("mono", mono)):
        painted_with_memory(page, tmp_path / name, monkeypatch)
        edited = page.replace("Note 1.3: ", "Note 1.3, edited at length to take a second line or more: ")
        pdf, took[name] = painted_with_memory(edited, tmp_path / name, monkeypatch)
        assert pdf == sequential(edited)
    assert took["mono"] == took["plain"] > 0


def test_long_streams_are_compressed_once_across_builds(tmp_path, monkeypatch):
    """Font files are compressed once: a later build takes the compressed bytes when they inflate to
    exactly the stream's bytes, and compresses afresh when they do not (a damaged or planted file)."""
    monkeypatch.setattr(weasyprint_paint, "KEPT_DEFLATE_BYTES", 1024)
    page = book()
    first, _ = painted_with_memory(page, tmp_path, monkeypatch)
    kept = sorted(tmp_path.glob("deflate-*.pickle"))
    assert kept and weasyprint_paint.last["inflated"] == 0
    again, _ = painted_with_memory(page, tmp_path, monkeypatch)
    assert again == first and weasyprint_paint.last["inflated"] == len(kept)
    store = weasyprint_memory.Memory(tmp_path, "tool")
    for path in tmp_path.glob("deflate-*.pickle"):
        store.store({path.stem: zlib.compress(b"planted")})
    planted, _ = painted_with_memory(page, tmp_path, monkeypatch)
    assert planted == first and weasyprint_paint.last["inflated"] == 0


def test_pages_with_numbered_resources_are_not_kept_for_painting(tmp_path, monkeypatch):
    """A gradient is a shading, numbered in order of use across the document: such pages are
    always painted."""
    page = book(extra_style="h1 { background: linear-gradient(#fff, #888); }")
    painted_with_memory(page, tmp_path, monkeypatch)
    pdf, remembered = painted_with_memory(page, tmp_path, monkeypatch)
    chapters = 6
    assert 0 < remembered <= len(pypdf.PdfReader(io.BytesIO(pdf)).pages) - chapters
    assert pdf == sequential(page)


def test_hyphenation_patterns_are_read_back_as_parsed(tmp_path, monkeypatch):
    """The parsed patterns kept in the cache folder hyphenate as the pattern file does; a damaged
    file is parsed again."""
    import pyphen

    monkeypatch.setenv("SCHOLIA_CACHE", str(tmp_path))
    monkeypatch.setattr(pyphen, "hdcache", {})
    weasyprint_split.load_hyphenation(["en-US"])
    parsed = dict(pyphen.hdcache)
    (kept,) = (tmp_path / "hyphenation").glob("*.pickle")
    monkeypatch.setattr(pyphen, "hdcache", {})
    weasyprint_split.load_hyphenation(["en-US"])
    (path, hd), (_, first) = next(iter(pyphen.hdcache.items())), next(iter(parsed.items()))
    assert hd is not first and (hd.patterns, hd.maxlen) == (first.patterns, first.maxlen)
    assert pyphen.Pyphen(lang="en_US").inserted("typesetting") == "type-set-ting"
    kept.write_bytes(kept.read_bytes()[:-5] + b"xxxxx")
    monkeypatch.setattr(pyphen, "hdcache", {})
    weasyprint_split.load_hyphenation(["en-US"])
    assert pyphen.hdcache[path].patterns == first.patterns


def test_font_subsets_are_kept_and_read_back(tmp_path, monkeypatch):
    """A font subset made once is read back the next time the same glyphs of the same font are
    written (HarfBuzz does not run), with the same PDF; where the HarfBuzz libraries in use cannot
    be named, nothing is kept."""
    from weasyprint.pdf.fonts import Font

    from scholia.cache import Store
    from scholia.writers import weasyprint_subsets

    def pdf() -> bytes:  # a document of its own each time: a written document keeps its fonts subset
        page = "<p style='font-family: serif'>Subsets kept between builds</p>"
        return weasyprint.HTML(string=page).render().write_pdf(pdf_identifier=b"0" * 32)

    with weasyprint_subsets.kept(Store(tmp_path / "subsets")):
        first = pdf()
    assert list((tmp_path / "subsets").glob("*.pickle"))

    def no_subsetting(*args, **kwargs):
        raise AssertionError("subset again")

    with monkeypatch.context() as m:
        m.setattr(Font, "_harfbuzz_subset", no_subsetting)
        m.setattr(Font, "_fonttools_subset", no_subsetting)
        with weasyprint_subsets.kept(Store(tmp_path / "subsets")):
            assert pdf() == first
    monkeypatch.setattr(weasyprint_subsets, "_stamp", lambda: None)
    with weasyprint_subsets.kept(Store(tmp_path / "unnamed")):
        assert pdf() == first
    assert not (tmp_path / "unnamed").exists()


def test_fonts_read_their_bytes_only_when_asked(monkeypatch):
    """In the PDF writer a font's bytes are not copied out of HarfBuzz when the font is made (the
    CJK collection is 19-27 MB a face); HarfBuzz subsets the face itself, and a font asked for its
    bytes gets HarfBuzz's, the same as WeasyPrint reads."""
    from weasyprint.pdf.fonts import Font
    from weasyprint.text.fonts import get_hb_object_data

    from scholia.writers import weasyprint_subsets

    seen = []
    original = Font.subset

    def subset(font, to_unicode, hinting):
        seen.append(font.__dict__.get("_file_content") is weasyprint_subsets._UNREAD)
        assert font.file_content == get_hb_object_data(font.hb_face)  # read now, as WeasyPrint would
        return original(font, to_unicode, hinting)

    monkeypatch.setattr(Font, "subset", subset)
    page = "<p style='font-family: serif'>Read <b>when</b> <i>needed</i></p>"
    with weasyprint_subsets.kept(None):
        pdf = weasyprint.HTML(string=page).render().write_pdf()
    assert seen and all(seen)
    assert pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text() == "Read when needed"


def test_notes_laid_out_by_an_earlier_build_give_the_same_pdf(tmp_path, monkeypatch):
    """An edited chapter takes the layouts of its unchanged notes, measured at the same place in a
    footnote area of the same page type, from the files the first build kept (``weasyprint_memory.Notes``);
    a note whose element, ancestors or siblings changed, as selectors see them, is laid out again."""
    page = book(extra_style=".hot .fn { font-style: italic } .fn b { font-weight: bold }")
    page = page.replace("Note 2.0: ", "Note 2.0: <b>bold</b> ")
    memory = weasyprint_memory.Memory(tmp_path, "tool")
    weasyprint_split.render(weasyprint.HTML(string=page), split=False, memory=memory).write_pdf()
    assert weasyprint_split.last["notes"] == 0
    same_length = page.replace("Note 2.9: the", "Note 2.9: one")  # the chapter's pages stay as they were
    pdf = weasyprint_split.render(weasyprint.HTML(string=same_length), split=False, memory=memory).write_pdf()
    assert weasyprint_split.last["notes"] >= 3  # notes 2.0, 2.3 and 2.6, each where it was measured before
    assert pdf == sequential(same_length)
    for edited in (page.replace("<p id='p2-0'>", "<p id='p2-0' class='hot'>"),  # its paragraph: italic now
                   page.replace("<p id='p2-0'>", "<h2 class='hot'>Heading</h2><p id='p2-0'>"),  # a sibling before
                   page.replace("Note 2.0: <b>bold</b>", "Note 2.0: <i>bold</i>"),  # an element in the note
                   page.replace("Note 2.3: ", "Note 2.3, edited at length to take a second line or more: ")):
        pdf = weasyprint_split.render(weasyprint.HTML(string=edited), split=False, memory=memory).write_pdf()
        assert pdf == sequential(edited)
    pdf, _ = remember(same_length.replace("Note 3.3: the", "Note 3.3: one"), tmp_path, monkeypatch)  # in the child
    assert pdf == sequential(same_length.replace("Note 3.3: the", "Note 3.3: one"))


def test_kept_notes_that_are_not_sound_are_misses(tmp_path, monkeypatch):
    import pickle

    page = book()
    memory = weasyprint_memory.Memory(tmp_path, "tool")
    weasyprint_split.render(weasyprint.HTML(string=page), split=False, memory=memory)

    planted = 0
    for f in (tmp_path / "lines").glob("*.pickle"):
        found = pickle.loads(memory.lines.load(f.stem))  # noqa: S301 - written by the build above
        notes = [k for k, v in found.items() if isinstance(v, bytes)]
        planted += len(notes)
        for n, k in enumerate(notes):
            found[k] = (pickle.dumps(Hostile(tmp_path)), pickle.dumps((1, None, {}, [], False)), b"\x80damaged")[n % 3]
        memory.lines.store({f.stem: pickle.dumps(found)})
    assert planted > 5
    edited = page.replace("Note 2.9: the", "Note 2.9: one")
    pdf = weasyprint_split.render(weasyprint.HTML(string=edited), split=False, memory=memory).write_pdf()
    assert weasyprint_split.last["notes"] == 0 and not (tmp_path / "pwned").exists()
    assert pdf == sequential(edited)


def test_lines_painted_by_an_earlier_build_give_the_same_pdf(tmp_path, monkeypatch):
    """Pages laid out again (their chapter edited) take their unchanged lines of text as an earlier
    build painted them, at their new places (``weasyprint_paint.Lines``): justified, spaced,
    underlined, small capitals, and a font that a line meets first (monospace, painted as usual
    where it is not met yet). A line kept with other widths, a planted or a damaged file is
    painted afresh."""
    page = book(extra_style=TEXT_STYLE + " .fn { text-decoration: underline }").replace(
        "<section class='chapter' id='c1'>", "<section class='chapter c1' id='c1'>").replace(
        "Note 1.6: ", "Note 1.6: <code>mono</code> ")
    painted_with_memory(page, tmp_path, monkeypatch)
    assert weasyprint_paint.last["lines"] == 0
    for alone, edited in ((True, "Note 1.3, edited at length to take a second line or more: "),
                          (False, "Note 1.3, edited again, at greater length, to take a second line or more: ")):
        changed = page.replace("Note 1.3: ", edited)
        # painted here alone (each line it replays is counted), then with the painting child
        monkeypatch.setattr(weasyprint_paint, "MIN_PAINT_PAGES", 10**6 if alone else 4)
        pdf, _ = painted_with_memory(changed, tmp_path, monkeypatch)
        assert pdf == sequential(changed)
        assert weasyprint_paint.last["lines"] > 50 or not alone
    files = line_files(tmp_path)
    assert files
    kept = []  # the files hold the lines the pages hold now, not every line ever painted
    for n in range(3):
        painted_with_memory(page.replace("Note 1.3: ", f"Note 1.3, edited {n} to take a line: "), tmp_path, monkeypatch)
        kept.append(sum(len(pickle_load(f)) for f in line_files(tmp_path)))
    assert max(kept) - min(kept) <= 1
    store = weasyprint_memory.Memory(tmp_path, "tool")
    for n, f in enumerate(files):
        found = pickle_load(f)
        if n % 3 == 0:  # widths that painting would not give: kerned otherwise
            found = {k: (ops, {font: [(g, w + 1, t) for g, w, t in used] for font, used in table.items()})
                     for k, (ops, table) in found.items()}
        body = __import__("pickle").dumps(found if n % 3 == 0 else Hostile(tmp_path) if n % 3 == 1 else {b"k": (1,)})
        store.store({f.stem: body})
    changed = page.replace("Note 1.3: ", "Note 1.3, edited a third time: ")
    pdf, _ = painted_with_memory(changed, tmp_path, monkeypatch)
    assert pdf == sequential(changed) and not (tmp_path / "pwned").exists()


def line_files(folder) -> list:
    """The files of painted lines (``weasyprint_paint.Lines``) in a memory folder."""
    return [f for f in folder.glob("*.pickle") if isinstance(found := pickle_load(f), dict) and found
            and all(isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], dict) for v in found.values())]


def pickle_load(path) -> object:
    """A file of a ``cache.Store``, unpickled, or None (a laid-out chapter's, which refers to its walk)."""
    data = weasyprint_memory.Memory(path.parent, "tool").load(path.stem)
    try:
        return weasyprint_memory.loads(data, None, {})
    except Exception:  # noqa: BLE001
        return None
