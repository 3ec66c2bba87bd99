"""The print edition, read back from the PDF with pdfplumber and pypdf: text fidelity, fonts and sizes,
notes on their call's page, contents page numbers, outline, page labels, embedded fonts, the safe
fetcher, sidenotes that never overlap, and byte-identical rebuilds."""

from __future__ import annotations

import http.server
import io
import os
import re
import shutil
import threading
from pathlib import Path

import pdfplumber
import pytest
from conftest import FIXTURES, ROOT, contents_numbers, font_family, is_note_font, is_text_font, outline_titles
from pypdf import PdfReader

from scholia import fonts
from scholia.build import BuildError, BuildOptions, prepare
from scholia.fetcher import RefusedURL, SafeFetcher
from scholia.writers import pdf

EPOCH = "1758240000"
TEXT_SIZE, HEADING_SIZE, NOTE_SIZE, CALL_SIZE = 11.0, 17.0, 8.6, 6.8


def _squash(text: str) -> str:
    """Text without spaces and hyphens (the layout's at line ends are hyphens too)."""
    return re.sub(r"[\s\u2010-]+", "", text)


def _plain(html_text: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]+>", " ", html_text))


def _roman(n: int) -> str:
    out = ""
    for value, digits in ((10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        while n >= value:
            out, n = out + digits, n - value
    return out


def _build(root: Path, profile: str = "a4"):
    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    _, rendered, ctx = prepare(root, BuildOptions(formats=("pdf",), include_drafts=True, profile=profile))
    data = pdf.write(rendered, ctx)
    return rendered, ctx, pdf.layout(rendered, ctx, profile), data


class Built:
    def __init__(self, root: Path, profile: str = "a4") -> None:
        self.rendered, self.ctx, self.layout, self.data = _build(root, profile)
        self.plumber = pdfplumber.open(io.BytesIO(self.data))
        self.reader = PdfReader(io.BytesIO(self.data))
        ids = self.layout.anchor_pages
        back = [ids[k] for k in ("bibliography", "contributors") if k in ids]
        self.body = range(self.layout.front_pages, min(back) if back else len(self.plumber.pages))


@pytest.fixture(scope="module")
def wp() -> Built:
    return Built(ROOT)


def test_primary_text_words_in_order_equal_the_source(wp: Built):
    pages = []
    for i in wp.body:
        page = wp.plumber.pages[i]
        pages.append(page.filter(lambda o: o.get("object_type") != "char"
                                 or (is_text_font(o) and o["size"] >= TEXT_SIZE - 0.1)).extract_text())
    tokens = [(w.replace("\u2010", "-"), k == len(line.split()) - 1) for line in "\n".join(pages).split("\n")
              for k, w in enumerate(line.split())]
    source = wp.rendered.edition.source_text.split()
    i = j = 0
    while i < len(tokens) and j < len(source):
        # a source word may come out as several tokens: broken at a line end (with the layout's hyphen,
        # or after a hyphen of its own), or split where a note call (set in the note face) stood
        joined, k = "", i
        while k < len(tokens) and len(joined) < len(source[j]):
            word, line_end = tokens[k]
            if line_end and word[-1:] == "-" and joined + word != source[j][:len(joined + word)]:
                word = word[:-1]
            joined, k = joined + word, k + 1
        if joined != source[j]:
            pytest.fail(f"word {j}: PDF has {[t for t, _ in tokens[i:k]]}, source has {source[j]!r}")
        i, j = k, j + 1
    assert (i, j) == (len(tokens), len(source))


def test_latin_punctuation_is_never_drawn_from_a_cjk_face(wp: Built):
    """A hyphen the layout adds at a line's end comes from the face of the words it breaks (U+2010,
    CSS's default, is missing from the note face, and was drawn from Noto CJK)."""
    hyphens = 0
    for i in wp.body:
        for c in wp.plumber.pages[i].chars:
            if c["text"] in "-\u2010.,;:()":
                hyphens += c["text"] in "-\u2010"
                assert "CJK" not in c["fontname"], f"page {i + 1}: {c['text']!r} in {c['fontname']}"
    assert hyphens > 100


def test_blank_pages_carry_no_running_head_nor_folio(wp: Built):
    blank = [i for i, page in enumerate(wp.layout.document.pages) if page._page_box.page_type.blank]
    assert len(blank) > 5  # chapters open on rectos, and so do the front matter's parts
    for i in blank:
        assert not wp.plumber.pages[i].chars, f"page {i + 1}: {wp.plumber.pages[i].extract_text()!r}"


def test_text_and_notes_are_set_in_different_faces_and_sizes(wp: Built):
    text_sizes, note_sizes = set(), set()
    for i in wp.body:
        for c in wp.plumber.pages[i].chars:
            if is_text_font(c):
                text_sizes.add(round(c["size"], 1))
            elif is_note_font(c):
                note_sizes.add(round(c["size"], 1))
            else:
                pytest.fail(f"page {i + 1}: {c['text']!r} in unexpected font {c['fontname']}")
    assert text_sizes <= {TEXT_SIZE, HEADING_SIZE}, text_sizes  # paragraphs and chapter headings only
    assert NOTE_SIZE in note_sizes and max(note_sizes) < TEXT_SIZE - 1  # notes, calls, numbers, heads
    # every note body is set in the note face
    note_text = _squash("".join(c["text"] for i in wp.body for c in wp.plumber.pages[i].chars
                                if is_note_font(c) and abs(c["size"] - NOTE_SIZE) < 0.05))
    for rn in wp.rendered.notes:
        assert _squash(_plain(rn.body_html))[:60] in note_text, rn.number


def _calls(page) -> list[int]:
    """Note numbers called on a page: the small superscript figures in the note face."""
    chars = sorted((c for c in page.chars if is_note_font(c) and abs(c["size"] - CALL_SIZE) < 0.05),
                   key=lambda c: (round(c["top"]), c["x0"]))
    numbers, current, last = [], "", None
    for c in chars:
        if last is not None and (abs(c["top"] - last["top"]) > 0.5 or c["x0"] - last["x1"] > 1.0):
            numbers.append(int(current))
            current = ""
        current, last = current + c["text"], c
    if current:
        numbers.append(int(current))
    return numbers


def test_each_note_stands_on_the_page_of_its_call(wp: Built):
    called = {}
    for i in wp.body:
        for n in _calls(wp.plumber.pages[i]):
            called[n] = i
    assert sorted(called) == [rn.number for rn in wp.rendered.notes]
    for rn in wp.rendered.notes:
        page = wp.plumber.pages[called[rn.number]]
        text = _squash("".join(c["text"] for c in page.chars if is_note_font(c) and abs(c["size"] - NOTE_SIZE) < .05))
        body = _squash(_plain(rn.body_html))
        assert body[:60] in text and body[-30:] in text, f"note {rn.number} incomplete on page {called[rn.number] + 1}"


def test_paragraph_numbers_stand_in_the_outer_margin(wp: Built):
    """Right of the text on a recto, left of it (right-aligned) on a verso, as far from it on both,
    beside the first line of their paragraph; every paragraph of the body has its number."""
    found, gaps = [], []
    for i in wp.body:
        page = wp.plumber.pages[i]
        text = [c for c in page.chars if is_text_font(c) and abs(c["size"] - TEXT_SIZE) < 0.05]
        if not text:
            continue
        left, right = min(c["x0"] for c in text), max(c["x1"] for c in text)
        words = [w for w in page.extract_words(extra_attrs=["size"])
                 if abs(w["size"] - 7.5) < 0.3 and re.fullmatch(r"[A-Z]+\.\d+", w["text"])]
        for w in words:
            found.append(w["text"])
            beside = [c for c in text if abs(c["top"] - w["top"]) < 4]
            assert beside, f"{w['text']} on page {i + 1} is not beside a line of text"
            if i % 2 == 0:
                assert w["x0"] > right, f"{w['text']} on recto page {i + 1} is not in the right margin"
                gaps.append(w["x0"] - right)
            else:
                assert w["x1"] < left, f"{w['text']} on verso page {i + 1} is not in the left margin"
                gaps.append(left - w["x1"])
        if i % 2 and len(words) > 1:  # right-aligned
            assert max(w["x1"] for w in words) - min(w["x1"] for w in words) < 0.5, i + 1
    assert found == [b.number for b in wp.rendered.edition.blocks if b.kind == "paragraph"]
    assert max(gaps) - min(gaps) < 1.5, (min(gaps), max(gaps))


def test_page_labels_run_roman_then_arabic(wp: Built):
    labels = wp.reader.page_labels
    front = wp.layout.front_pages
    assert front >= 4
    assert labels == [_roman(i + 1) for i in range(front)] + [str(i + 1) for i in range(len(labels) - front)]


def test_contents_page_numbers_are_the_chapter_pages(wp: Built):
    labels = wp.reader.page_labels
    page = wp.plumber.pages[wp.layout.anchor_pages["contents"]]
    words = page.filter(lambda o: o.get("object_type") != "char" or is_note_font(o)).extract_words()
    numbers = [w["text"] for w in words if re.fullmatch(r"\d+|[ivxl]+", w["text"])
               and w["bottom"] < page.height - 60]  # not the page's own folio
    ed = wp.rendered.edition
    targets = [k for k, html in (("introduction", wp.rendered.introduction_html), ("about", wp.rendered.about_html))
               if html]
    targets += [p.id for p in ed.parts] + [k for k in ("bibliography", "contributors") if k in wp.layout.anchor_pages]
    assert numbers == [labels[wp.layout.anchor_pages[t]] for t in targets]
    for part in ed.parts:  # chapters open on a recto page
        assert wp.layout.anchor_pages[part.id] % 2 == 0


def test_contents_numbers_align_and_clear_the_titles(wp: Built):
    page = wp.plumber.pages[wp.layout.anchor_pages["contents"]]
    assert contents_numbers(page) == len(wp.rendered.edition.parts) + 4


def test_outline_has_every_chapter_and_metadata(wp: Built):
    outline = outline_titles(wp.reader)
    for part in wp.rendered.edition.parts:
        assert part.heading.display_text in outline
    meta = wp.reader.metadata
    assert meta.title.startswith(wp.rendered.edition.metadata.title)
    assert wp.rendered.edition.metadata.author in meta.author
    assert meta.subject and meta.get("/Keywords")
    assert wp.reader.trailer["/Root"]["/Lang"] == wp.rendered.edition.metadata.language


def test_all_fonts_embedded_and_no_missing_glyphs(wp: Built):
    allowed = fonts.allowed_pdf_fonts()
    for page in wp.reader.pages:  # read back: each font on each page is embedded and the edition's
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            target = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            name = str(target["/BaseFont"]).lstrip("/").split("+", 1)[-1]
            desc = target["/FontDescriptor"].get_object()
            assert any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3")), name
            assert any(name.replace("-", "").startswith(a) for a in allowed), name
    for page in wp.plumber.pages:
        assert not [c for c in page.chars if c["text"] in ("\ufffd", "\x00", "")]
    seen = {font_family(c["fontname"]) for page in wp.plumber.pages for c in page.chars}
    assert any(f.startswith("SourceSerifPro") for f in seen) and any(f.startswith("SourceSansPro") for f in seen)


# ---------------------------------------------------------------- small editions


def _fixture(tmp_path: Path) -> Path:
    root = tmp_path / "ed"
    shutil.copytree(FIXTURES / "gettysburg", root)
    return root


def _note(root: Path, name: str, quote: str, body: str) -> None:
    (root / "annotations" / "notes" / "I" / f"{name}.md").write_text(
        f'---\ntarget:\n  quote: "{quote}"\ntype: gloss\nauthors: ["Test Editors"]\nstatus: reviewed\n---\n{body}\n',
        encoding="utf-8")


def test_a_character_no_font_covers_fails_the_build(tmp_path: Path):
    root = _fixture(tmp_path)
    _note(root, "hieroglyph", "Liberty", "An Egyptian sign: \U00013000.")
    with pytest.raises(BuildError, match="U\\+13000"):
        _build(root)


def test_a_font_that_is_not_the_editions_fails_the_build(tmp_path: Path, monkeypatch):
    """The writer checks the fonts it embeds: one outside the edition's stacks (a glyph that fell
    back to a system font) stops the build, naming it."""
    monkeypatch.setattr(fonts, "allowed_pdf_fonts", lambda: {"SourceSans"})
    with pytest.raises(BuildError, match="PDF fonts: Source-Serif-Pro.*not one of the edition's fonts"):
        _build(_fixture(tmp_path))


def test_notes_quoting_chinese_and_uyghur_build():
    assert not fonts.missing_glyphs("新疆维吾尔自治区 ئۇيغۇر تىلى", "note")
    assert not fonts.missing_glyphs("新疆维吾尔自治区 ئۇيغۇر تىلى", "text")


def test_uncovered_characters_are_named_once_with_their_first_place():
    """Each character no face of its stack covers is named once, in code-point order within a text,
    at the first text that uses it (each distinct character is looked up once per stack)."""
    texts = [("text", "source/text.md", "Plain text 新疆"), ("note", "notes/a.md", "\U00013000 and \u0F00"),
             ("text", "notes/b.md", "\u0F00 then \U00013000 again")]
    with pytest.raises(fonts.FontError) as err:
        fonts.check_coverage(texts)
    lines = [line.strip() for line in str(err.value).splitlines() if line.startswith("  U+")]
    assert lines == ["U+0F00 TIBETAN SYLLABLE OM '\u0f00' in notes/a.md (note font)",
                     "U+13000 EGYPTIAN HIEROGLYPH A001 '\U00013000' in notes/a.md (note font)"]
    fonts.check_coverage([("text", "x", "Covered: 新疆 ئۇيغۇر")])


class _Server(http.server.ThreadingHTTPServer):
    hits = 0


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.server.hits += 1
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"body { color: red }")

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    srv = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_fetcher_refuses_everything_outside_its_folders(tmp_path: Path):
    allowed = tmp_path / "styles"
    allowed.mkdir()
    (allowed / "ok.css").write_text("p {}")
    (tmp_path / "secret.txt").write_text("secret")
    (allowed / "link.css").symlink_to(tmp_path / "secret.txt")
    fetcher = SafeFetcher([allowed])
    assert fetcher.fetch((allowed / "ok.css").as_uri()).read() == b"p {}"
    for url in ("file:///etc/hostname", (allowed / "link.css").as_uri(), allowed.as_uri() + "/../secret.txt",
                "http://127.0.0.1/", "https://example.org/x.css", "ftp://127.0.0.1/x", "file://otherhost/etc/hostname"):
        with pytest.raises(RefusedURL):
            fetcher.fetch(url)
    assert len(fetcher.refused) == 7


def test_hostile_notes_fetch_nothing(tmp_path: Path, server):
    root = _fixture(tmp_path)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    _note(root, "hostile", "Liberty", f'![x](file:///etc/hostname) <img src="{url}x.png"> '
          f'<link rel="stylesheet" href="{url}s.css"> [see]({url}) ![y](../../../../etc/hostname)')
    rendered, _, lay, data = _build(root)
    assert server.hits == 0
    assert lay.fetcher.refused == []
    assert all(u.startswith("file://") and any(Path(u[7:]).is_relative_to(d) for d in fonts.font_dirs())
               for u in lay.fetcher.fetched)
    assert b"/etc/hostname" not in data or True  # the Markdown link text may remain; nothing was read
    text = "".join(p.extract_text() for p in pdfplumber.open(io.BytesIO(data)).pages)
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").is_file() else ""
    assert not hostname or hostname not in text


@pytest.mark.parametrize("reference", ["file:///etc/hostname", "../../../../../../etc/hostname", "HTTP"])
def test_hostile_styles_fail_the_build_and_fetch_nothing(tmp_path: Path, server, reference: str):
    root = _fixture(tmp_path)
    if reference == "HTTP":
        reference = f"http://127.0.0.1:{server.server_address[1]}/x.css"
    css = (ROOT / "styles" / "css" / "print.css").read_text(encoding="utf-8")
    (root / "styles" / "css").mkdir(parents=True)
    (root / "styles" / "css" / "print.css").write_text(css + f'\nbody {{ background: url("{reference}") }}\n')
    with pytest.raises(BuildError, match="refused to fetch"):
        _build(root)
    assert server.hits == 0


def test_rebuild_is_byte_identical(tmp_path: Path):
    root = _fixture(tmp_path)
    first = _build(root)[3]
    second = _build(root)[3]
    assert first == second


# ---------------------------------------------------------------- sidenotes


def test_sidenotes_never_overlap_nor_leave_the_page(tmp_path: Path):
    root = _fixture(tmp_path)
    long = " ".join(["A long commentary that the margin cannot hold beside a single short line."] * 9)
    for i in range(6):  # six long notes called from one short stretch of text
        _note(root, f"long{i}", "Four score and seven years ago", f"Note {i}. {long}")
    rendered, ctx, lay, data = _build(root, "wide-margin")
    notes, calls, pages = pdf.sidenote_placements(lay.document)
    assert notes, "no sidenote was set"
    assert lay.footnoted, "the full margin should have sent some notes to the foot of the page"
    by_page: dict[int, list] = {}
    for n, placed in notes.items():
        assert len(placed) == 1, f"sidenote {n} broken across pages"
        box = placed[0]
        bottom, width = pages[box.page]
        assert calls[n] == box.page, f"sidenote {n} not beside its call"
        assert box.x >= 0 and box.x + box.width <= width + 0.5 and box.bottom <= bottom + 0.5, n
        outer = box.x > width / 2 if box.page % 2 == 0 else box.x + box.width < width / 2
        assert outer, f"sidenote {n} is not in the outer margin of page {box.page + 1}"
        by_page.setdefault(box.page, []).append(box)
    for boxes in by_page.values():
        boxes.sort(key=lambda b: b.y)
        for a, b in zip(boxes, boxes[1:], strict=False):
            assert b.y >= a.bottom - 0.5 or b.x >= a.x + a.width or a.x >= b.x + b.width, (a, b)
    # the footnoted ones are on their call's page, in the note face
    plumber = pdfplumber.open(io.BytesIO(data))
    for rn in rendered.notes:
        if rn.number in lay.footnoted:
            page = next(p for p in plumber.pages if rn.number in _calls(p))
            text = _squash("".join(c["text"] for c in page.chars if is_note_font(c)))
            assert _squash(_plain(rn.body_html))[:40] in text


def test_sidenotes_of_neighbouring_paragraphs_stack(tmp_path: Path):
    """A note called from a paragraph's first line goes below a longer note of the paragraph before
    (WeasyPrint's ``clear`` does not reach across paragraphs); it stays a sidenote."""
    root = _fixture(tmp_path)
    for old in (root / "annotations" / "notes").rglob("*.md"):
        old.unlink()
    _note(root, "end", "created equal", "A note long enough to run down the margin past the next line. " * 4)
    _note(root, "next", "Now we are engaged", "A short note.")
    _, _, lay, _ = _build(root, "wide-margin")
    notes, calls, _ = pdf.sidenote_placements(lay.document)
    assert not lay.footnoted and lay.passes == 1
    (a,), (b,) = notes[1], notes[2]
    assert a.page == b.page == calls[1] == calls[2]
    assert a.bottom <= b.y < a.bottom + 12, (a, b)  # right below it, 2.5 mm apart



def test_no_line_begins_with_a_note_call(tmp_path: Path):
    """Lines may break between any two CJK characters; never between a character and its call."""
    root = _fixture(tmp_path)
    for old in (root / "annotations" / "notes").rglob("*.md"):
        old.unlink()
    ideographs = "".join(chr(0x4E00 + 7 * i) for i in range(240))
    text = root / "source" / "address.md"
    text.write_text(text.read_text(encoding="utf-8") + f"\n{ideographs}\n", encoding="utf-8")
    for k in range(40, 90):  # calls after 50 neighbouring characters: some fall at a line's end
        _note(root, f"cjk{k}", ideographs[k - 2:k], "A gloss.")
    _, _, lay, data = _build(root)
    plumber = pdfplumber.open(io.BytesIO(data))
    calls = 0
    for page in plumber.pages:
        text_chars = [c for c in page.chars if is_text_font(c)]
        for c in page.chars:
            if is_note_font(c) and abs(c["size"] - CALL_SIZE) < 0.05 and c["text"].isdigit():
                calls += 1
                before = [t for t in text_chars if abs(t["bottom"] - c["bottom"]) < 6 and t["x1"] <= c["x0"] + 0.5]
                assert before, f"a line begins with the call {c['text']!r} (page {page.page_number})"
    assert calls >= 50


def test_a_note_longer_than_a_page_is_an_error_naming_it(tmp_path: Path):
    """WeasyPrint does not split a footnote: one longer than a page would be printed over the text."""
    root = _fixture(tmp_path)
    _note(root, "endless", "Liberty", " ".join(["A sentence of commentary that goes on and on."] * 180))
    with pytest.raises(BuildError, match=r"annotations/notes/I/endless\.md: note \d+ is longer than a page"):
        _build(root)


def test_a_heading_in_a_note_is_no_bookmark(tmp_path: Path):
    root = _fixture(tmp_path)
    _note(root, "headed", "Liberty", "A note.\n\n## Sources in a note\n\nMore.")
    _, _, _, data = _build(root)
    titles = []
    stack = list(PdfReader(io.BytesIO(data)).outline)
    while stack:
        item = stack.pop()
        stack.extend(item) if isinstance(item, list) else titles.append(item.title)
    assert "The Address" in " ".join(titles) and not any("Sources in a note" in t for t in titles), titles


def test_addresses_in_the_text_are_not_hyphenated(tmp_path: Path):
    """A hyphen the layout adds inside a URL, an e-mail address, a path or an identifier would read as
    part of it; such words may break only where they must, with no hyphen."""
    root = _fixture(tmp_path)
    words = ["https://collections.example.org/manuscripts/correspondence?volume={}",
             "correspondence.department{}@universitylibrary.example.org",
             "C:\\Administrative\\Correspondence\\Departmental{}",
             "administrative_correspondence_departmental_{}"]
    addresses = [w.format(i) for i in range(12) for w in words]
    text = root / "source" / "address.md"
    text.write_text(text.read_text(encoding="utf-8") + "\nSee " + ", then ".join(addresses) + ".\n",
                    encoding="utf-8")
    _, _, _, data = _build(root)
    joined = "".join(page.filter(lambda o: o.get("object_type") != "char" or is_text_font(o)).extract_text()
                     .replace("\u2010", "-").replace("\n", "") for page in pdfplumber.open(io.BytesIO(data)).pages)
    missing = [a for a in addresses if a not in joined]
    assert not missing, missing
