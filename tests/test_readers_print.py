"""Course readers in print and EPUB, read back from the outputs: excerpts, note filters, the clean text,
commentary volumes, layer labels, paper sizes and note placements, and saddle-stitch booklets.

Every build is a short excerpt of the white paper, run as the command line runs it; all of them start
together once per module (about a minute on two cores) and each test reads the files it needs."""

from __future__ import annotations

import html
import io
import os
import re
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import lxml.etree
import pdfplumber
import pytest
from conftest import FIXTURES, ROOT, contents_numbers, is_note_font, is_text_font, outline_titles
from pypdf import PdfReader

from scholia.booklet import folding_order
from scholia.build import BuildError, BuildOptions, prepare
from scholia.writers import pdf as pdfwriter

EPOCH = "1758240000"
SLUG = "cpc-guidelines-xinjiang-2025"
LAYER = FIXTURES / "course-notes"
MM = 72 / 25.4
CALL_SIZE, NOTE_SIZE = 6.8, 8.6
XHTML = {"x": "http://www.w3.org/1999/xhtml"}

BUILDS: dict[str, tuple[str, ...]] = {
    "excerpt": ("--format", "pdf,epub", "--select", "II.3-II.5"),
    "filtered": ("--format", "pdf", "--select", "II", "--exclude-types", "context,assessment"),
    "clean": ("--format", "pdf,epub", "--select", "II.1-II.4", "--no-notes"),
    "commentary": ("--format", "pdf,epub", "--select", "I", "--notes-only"),
    "layer": ("--format", "pdf,epub", "--select", "P.1-P.3", "--layer", str(LAYER)),
    "booklet": ("--format", "pdf", "--select", "II.1-II.4", "--paper", "a5", "--notes", "endnotes", "--booklet"),
    "letter": ("--format", "pdf", "--select", "I.1-I.6", "--paper", "letter", "--notes", "sidenotes"),
}


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> dict[str, Path]:
    """Every reader built by the command line, the builds running side by side."""
    base = tmp_path_factory.mktemp("readers")
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    running = {name: subprocess.Popen([sys.executable, str(ROOT / "make_edition.py"), "build", "--out",
                                       str(base / name), *args], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name, args in BUILDS.items()}
    for name, proc in running.items():
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{name}: {err}"
    return {name: base / name for name in BUILDS}


def _norm(text: str) -> str:
    """Text as compared: ligatures split, white space, hyphens and soft hyphens gone."""
    return re.sub(r"[\s\u00ad\u2010\-]+", "", unicodedata.normalize("NFKC", text))


def _plain(html_text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", html_text))


class Pdf:
    """A built PDF: pages' text, characters, page labels; main matter = from label "1" on."""

    def __init__(self, path: Path) -> None:
        self.data = path.read_bytes()
        self.reader = PdfReader(io.BytesIO(self.data))
        self.plumber = pdfplumber.open(io.BytesIO(self.data))
        self.labels = list(self.reader.page_labels)
        self.texts = [p.extract_text() or "" for p in self.plumber.pages]
        self.main = range(self.labels.index("1"), len(self.labels))

    def text(self, pages=None) -> str:
        return "\n".join(self.texts[i] for i in (pages if pages is not None else range(len(self.texts))))

    def chars(self, pages=None) -> list[dict]:
        pages = pages if pages is not None else range(len(self.texts))
        return [c for i in pages for c in self.plumber.pages[i].chars]

    def paragraph_numbers(self) -> list[str]:
        """The paragraph numbers printed in the margins of the main matter (7.5 pt, note face)."""
        found = []
        for i in self.main:
            words = self.plumber.pages[i].extract_words(extra_attrs=["size", "fontname"])
            found += [w["text"] for w in words
                      if abs(w["size"] - 7.5) < 0.3 and re.fullmatch(r"[A-Z]+\.\d+", w["text"])]
        return found

    def outline(self) -> list[str]:
        return outline_titles(self.reader)


def _pdf(out: dict[str, Path], name: str) -> Pdf:
    return Pdf(out[name] / f"{SLUG}.pdf")


def _epub(out: dict[str, Path], name: str) -> dict[str, lxml.etree._Element]:
    with zipfile.ZipFile(out[name] / f"{SLUG}.epub") as zf:
        return {n.removeprefix("EPUB/"): lxml.etree.fromstring(zf.read(n)) for n in zf.namelist()
                if n.endswith(".xhtml")} | {"css": zf.read("EPUB/css/epub.css").decode()}


@pytest.fixture(scope="module")
def expected():
    """The notes each reader should print, rendered as the build renders them (numbers in text order)."""

    def notes(**options) -> list:
        return list(prepare(ROOT, BuildOptions(formats=("pdf",), **options))[1].notes)

    return notes


def _present(rn, text: str) -> bool:
    """Whether the opening of a rendered note's text (citations formatted) is in ``text`` (normalised)."""
    return _norm(_plain(rn.body_html))[:28] in text


# ---------------------------------------------------------------- excerpts


def test_excerpt_pdf_has_exactly_the_selected_paragraphs_with_their_numbers(out, white_paper):
    doc = _pdf(out, "excerpt")
    ids = ["p-II-3", "p-II-4", "p-II-5"]
    assert doc.paragraph_numbers() == ["II.3", "II.4", "II.5"]  # numbers of the full edition
    body = _norm("".join(c["text"] for c in doc.chars(doc.main) if is_text_font(c) and abs(c["size"] - 11) < 0.05))
    blocks = {b.id: b for b in white_paper.edition.blocks}
    for pid in ids:
        assert _norm(blocks[pid].text) in body
    for pid in ("p-II-2", "p-II-6"):
        assert _norm(blocks[pid].text)[:60] not in body


def test_excerpt_pdf_prints_only_the_notes_anchored_in_it(out, expected, white_paper):
    doc = _pdf(out, "excerpt")
    notes = expected(select="II.3-II.5")
    text = _norm(doc.text(doc.main))
    assert len(notes) == 5 and {rn.block.id for rn in notes} == {"p-II-3", "p-II-4", "p-II-5"}
    assert all(_present(rn, text) for rn in notes)
    chosen = {rn.note.id for rn in notes}
    others = [rn for rn in expected(select="II") if rn.note.id not in chosen]
    assert others and not any(_present(rn, text) for rn in others)
    calls = [c for c in doc.chars(doc.main) if is_note_font(c) and abs(c["size"] - CALL_SIZE) < 0.1]
    assert "".join(c["text"] for c in calls) == "12345"


def test_excerpt_pdf_title_page_contents_and_outline_say_what_it_holds(out):
    doc = _pdf(out, "excerpt")
    title = next(t for t in doc.texts if "annotated edition" in t.lower() and "Excerpts" in t)
    assert "CPC’s Governance of Xinjiang: Progress and Achievements (¶ II.3–II.5)" in " ".join(title.split())
    contents = next(t for t in doc.texts if t.startswith("Contents"))
    chapters = [line for line in contents.splitlines() if re.match(r"[IVX]+\. ", line)]
    assert len(chapters) == 1 and chapters[0].startswith("II. CPC")
    outline = doc.outline()
    assert any(t.startswith("II. ") for t in outline)
    assert not any(re.match(r"(I|III|IV|V|VI|VII|VIII|IX|X)\. ", t) for t in outline)


def test_excerpt_epub_holds_the_selected_paragraphs_notes_and_contents(out, expected):
    docs = _epub(out, "excerpt")
    ids, notes = ["p-II-3", "p-II-4", "p-II-5"], expected(select="II.3-II.5")
    parts = [k for k in docs if k.startswith("text/part-")]
    assert parts == ["text/part-II.xhtml"]
    part = docs["text/part-II.xhtml"]
    assert part.xpath("//x:p[@class='para']/@id", namespaces=XHTML) == ids
    assert part.xpath("//x:p[@class='para']/x:span[@class='pnum']/text()", namespaces=XHTML) == ["II.3", "II.4", "II.5"]
    assert len(part.xpath("//x:aside[contains(@class, 'note')]", namespaces=XHTML)) == len(notes)
    title = " ".join(docs["text/title.xhtml"].xpath("string(//x:div[@class='excerpt'])", namespaces=XHTML).split())
    assert "(¶ II.3–II.5)" in title


# ---------------------------------------------------------------- choosing notes


def test_type_filters_drop_exactly_the_filtered_notes(out, expected):
    doc = _pdf(out, "filtered")
    kept = expected(select="II", exclude_types=("context", "assessment"))
    text = _norm(doc.text(doc.main))
    dropped = [rn for rn in expected(select="II") if rn.note.type in ("context", "assessment")]
    assert kept and dropped
    assert all(_present(n, text) for n in kept)
    assert not any(_present(n, text) for n in dropped)
    calls = [c for c in doc.chars(doc.main) if is_note_font(c) and abs(c["size"] - CALL_SIZE) < 0.1]
    assert len("".join(c["text"] for c in calls)) == sum(len(str(i)) for i in range(1, len(kept) + 1))


def test_no_notes_prints_the_clean_text_without_any_note_glyph(out, expected):
    doc = _pdf(out, "clean")
    assert doc.paragraph_numbers() == ["II.1", "II.2", "II.3", "II.4"]
    chars = doc.chars()
    assert not [c for c in chars if is_note_font(c) and round(c["size"], 1) in (CALL_SIZE, NOTE_SIZE)]
    for i in doc.main:  # no underlined spans, no footnote rule
        page = doc.plumber.pages[i]
        assert not page.lines and not page.rects and not page.curves
    text = _norm(doc.text())
    notes = expected(select="II.1-II.4")
    assert notes and not any(_present(rn, text) for rn in notes)
    ref = _pdf(out, "excerpt")  # the same passage with notes: underlines and calls are there
    assert any(ref.plumber.pages[i].rects or ref.plumber.pages[i].lines for i in ref.main)
    epub = _epub(out, "clean")
    part = epub["text/part-II.xhtml"]
    assert not part.xpath("//x:aside | //x:a[contains(@class, 'noteref')] | //x:span[contains(@class, 'ann')]",
                          namespaces=XHTML)
    assert len(part.xpath("//x:p[@class='para']", namespaces=XHTML)) == 4


def test_notes_only_is_a_commentary_volume_with_lemmata(out, expected):
    doc = _pdf(out, "commentary")
    notes = expected(select="I")
    body = [c for c in doc.chars(doc.main) if is_text_font(c) and abs(c["size"] - 11) < 0.05]
    assert body == []  # no primary text; only headings in the serif
    text = " ".join(doc.text(doc.main).split())
    lemmas = re.findall(r"¶ (I\.\d+) “", text)
    assert lemmas == [rn.block.number for rn in notes]  # every note, in text order, with its paragraph
    assert all(_present(rn, _norm(text)) for rn in notes)
    assert any("COMMENTARY" in t for t in doc.texts[:4])
    epub = _epub(out, "commentary")
    part = epub["text/part-I.xhtml"]
    assert not part.xpath("//x:p[@class='para']", namespaces=XHTML)
    epub_lemmas = part.xpath("//x:aside//x:span[@class='lemma']/text()", namespaces=XHTML)
    assert len(epub_lemmas) == len(notes) and all(t.startswith("¶ I.") for t in epub_lemmas)


# ---------------------------------------------------------------- layers


def test_layer_notes_carry_their_layer_label_in_pdf_and_epub(out):
    doc = _pdf(out, "layer")
    text = " ".join(doc.text(doc.main).split())
    assert re.search(r"\d+ Course notes ?Question ?known as the Western Regions in ancient times\] ?Which", text)
    assert "With notes from COURSE NOTES" in " ".join(doc.text(range(doc.main.start)).split())
    epub = _epub(out, "layer")
    notes = epub["text/part-P.xhtml"].xpath("//x:aside[contains(@class, 'layer-course-notes')]", namespaces=XHTML)
    assert len(notes) == 1
    assert notes[0].xpath("string(.//x:span[@class='layer-label'])", namespaces=XHTML) == "Course notes"
    assert notes[0].xpath("string(.//x:span[@class='note-type'])", namespaces=XHTML) == "Question"
    assert ".layer-course-notes" in epub["css"]


def test_layer_css_reaches_the_print_html():
    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    _, rendered, ctx = prepare(ROOT, BuildOptions(formats=("pdf",), select="P.1-P.3", layers=(LAYER,)))
    page = pdfwriter.build_html(rendered, ctx, pdfwriter.effective_profile(ctx, "a4"))
    assert ".layer-course-notes { border-left-color" in page
    assert re.search(r'class="note fn type-question layer-course-notes"[^>]*>.*?'
                     r'<span class="layer-label">Course notes</span>', page)


# ---------------------------------------------------------------- paper, placement, booklets


def test_a5_endnotes_reader(out, expected):
    doc = _pdf(out, "booklet")
    contents = next(i for i, t in enumerate(doc.texts) if t.startswith("Contents"))
    assert contents_numbers(doc.plumber.pages[contents]) >= 3  # the long chapter title wraps on A5
    page = doc.reader.pages[0]
    assert (round(float(page.mediabox.width) / MM), round(float(page.mediabox.height) / MM)) == (148, 210)
    notes = expected(select="II.1-II.4")
    text = _norm(doc.text(doc.main))
    start = text.index(_norm("Notes to CPC’s Governance of Xinjiang"))
    for rn in notes:  # after the chapter: number, type, lemma (¶ and quoted words), body
        head = _norm(f"{rn.number}{rn.label}¶{rn.block.number}“{rn.lemma.split()[0]}")
        assert head.casefold() in text[start:].casefold(), rn.number
        assert _present(rn, text[start:])
    links = [a.get_object() for i in doc.main for a in doc.reader.pages[i].get("/Annots", [])]
    internal = [a for a in links if a.get("/Subtype") == "/Link" and "/Dest" in a]
    assert len(internal) >= 2 * len(notes)  # call → note and note → call
    # Duplex-aware margins: the inner margin (16 mm) is on the left of a recto, on the right of a verso.
    for i in doc.main:
        xs = [c["x0"] for c in doc.plumber.pages[i].chars if is_text_font(c) and abs(c["size"] - 10) < 0.05]
        if xs:
            assert round(min(xs) / MM) == (16 if i % 2 == 0 else 22), i


def test_booklet_is_imposed_in_folding_order(out):
    reading = _pdf(out, "booklet")
    booklet = PdfReader(io.BytesIO((out["booklet"] / f"{SLUG}-booklet.pdf").read_bytes()))
    n = len(reading.reader.pages)
    sides = folding_order(n)
    assert len(booklet.pages) == -(-n // 4) * 4 // 2 == len(sides)
    w, h = (float(x) for x in reading.reader.pages[0].mediabox[2:])
    with pdfplumber.open(io.BytesIO((out["booklet"] / f"{SLUG}-booklet.pdf").read_bytes())) as plumber:
        for index in (0, 1, len(sides) - 2, len(sides) - 1):  # the first and the last sheet, both sides
            sheet = plumber.pages[index]
            assert (sheet.width, sheet.height) == pytest.approx((2 * w, h), abs=0.01)
            for slot, page in enumerate(sides[index]):
                half = sheet.crop((slot * w, 0, (slot + 1) * w, h), strict=False)
                got = _norm(half.extract_text() or "")
                want = _norm(reading.texts[page]) if page is not None else ""
                assert got == want, (index, slot, page)
    labels = reading.labels
    label = [[labels[p] if p is not None else None for p in side] for side in sides]
    total = -(-n // 4) * 4
    assert label[0] == [labels[-1] if n == total else None, "i"]  # first sheet, front: last page | page 1
    assert label[1][0] == "ii"
    assert label[-1] == [labels[total // 2 - 1], labels[total // 2]]  # the centre spread


def test_letter_paper_with_sidenotes_over_the_a4_profile(out):
    doc = _pdf(out, "letter")
    page = doc.reader.pages[0]
    assert (float(page.mediabox.width), float(page.mediabox.height)) == (612, 792)
    in_margin = [c for i in doc.main for c in doc.plumber.pages[i].chars if is_note_font(c)
                 and abs(c["size"] - 7.9) < 0.05 and c["x0"] > 612 - 72 * MM]
    assert in_margin  # some notes stand in the wide outer margin of a recto


@pytest.mark.parametrize("paper, notes, message", [
    ("a5", "sidenotes", "A5 has no margin for sidenotes"),
    ("b5", "", "unknown paper 'b5'"),
])
def test_impossible_paper_and_placement_are_clear_errors(paper, notes, message):
    _, rendered, ctx = prepare(ROOT, BuildOptions(formats=("pdf",), select="P.1"))
    with pytest.raises(BuildError, match=message):
        pdfwriter.effective_profile(ctx, "a4", paper, notes)
