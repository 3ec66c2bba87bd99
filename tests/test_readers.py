"""Course readers: excerpts, filters, layers, clean text, commentary volumes, recipes, booklets."""

from __future__ import annotations

import io
from pathlib import Path

import lxml.html
import pytest
from conftest import FIXTURES, run_cli
from pypdf import PdfReader, PdfWriter

from scholia.booklet import folding_order, impose
from scholia.build import BuildOptions, prepare
from scholia.select import SelectionError, parse_selection

LAYER = FIXTURES / "course-notes"


def _html(tmp_path: Path, *args: str) -> lxml.html.HtmlElement:
    result = run_cli("build", "--format", "html", "--out", str(tmp_path), *args)
    assert result.returncode == 0, result.stderr
    return lxml.html.fromstring((tmp_path / "cpc-guidelines-xinjiang-2025.html").read_bytes())


def test_excerpt_has_exactly_the_selected_paragraphs_and_their_notes(tmp_path, white_paper):
    doc = _html(tmp_path, "--select", "II.3-II.5,IV")
    ids = doc.xpath('//p[contains(@class, "para")]/@id')
    iv = [p.id for p in white_paper.edition.parts[4].paragraphs]
    assert ids == ["p-II-3", "p-II-4", "p-II-5", *iv]
    numbers = doc.xpath('//p[contains(@class, "para")]/a[@class="pnum"]/@data-n')
    assert numbers[:3] == ["II.3", "II.4", "II.5"]  # numbers of the full edition
    kept = set(ids) | {"h-IV"}
    expected = [n.id for n in white_paper.edition.notes if n.status == "reviewed" and n.anchor.block_id in kept]
    shown = doc.xpath("//aside[contains(@class, 'note')]")
    assert len(shown) == len(expected) > 0
    excerpt = doc.xpath('//div[@class="excerpt"]')[0].text_content()
    assert "¶ II.3–II.5" in excerpt and "IV. Stronger Foundations" in excerpt
    toc = doc.xpath("//nav//a/text()")
    assert not any(t.startswith("I. ") for t in toc)


@pytest.mark.parametrize("spec, message", [
    ("XI", "no part or paragraph 'XI'"),
    ("II.99", "no paragraph II.99: part II has paragraphs II.1 to II.11"),
    ("IV-II", "range 'IV-II' runs backwards"),
    ("II.9-II.3", "range 'II.9-II.3' runs backwards"),
    ("I,,II", "empty item"),
])
def test_bad_selections_are_clear_errors(white_paper, spec, message):
    with pytest.raises(SelectionError, match=message):
        parse_selection(spec, white_paper.edition.parts)


def test_bad_selection_fails_the_build(tmp_path):
    result = run_cli("build", "--format", "html", "--out", str(tmp_path), "--select", "XI")
    assert result.returncode == 1 and "--select: no part or paragraph 'XI'" in result.stderr
    assert not list(tmp_path.iterdir())


def test_type_filters_drop_exactly_the_filtered_notes(white_paper):
    root = Path(white_paper.edition.root)
    reviewed = [n for n in white_paper.edition.notes if n.status == "reviewed"]
    _, only, _ = prepare(root, BuildOptions(types=("context", "gloss")))
    assert sorted(rn.note.id for rn in only.notes) == sorted(n.id for n in reviewed if n.type in ("context", "gloss"))
    _, without, _ = prepare(root, BuildOptions(exclude_types=("assessment",)))
    assert sorted(rn.note.id for rn in without.notes) == sorted(n.id for n in reviewed if n.type != "assessment")
    tag = next(t for n in reviewed for t in n.tags)
    _, tagged, _ = prepare(root, BuildOptions(tags=(tag,)))
    assert sorted(rn.note.id for rn in tagged.notes) == sorted(n.id for n in reviewed if tag in n.tags)


def test_no_notes_prints_the_clean_text(tmp_path):
    doc = _html(tmp_path, "--no-notes")
    assert not doc.xpath("//aside") and not doc.xpath('//a[contains(@class, "noteref")]')
    assert not doc.xpath('//span[contains(@class, "ann")]')
    assert len(doc.xpath('//p[contains(@class, "para")]')) == 163


def test_notes_only_is_a_commentary_volume(tmp_path, white_paper):
    doc = _html(tmp_path, "--notes-only", "--select", "I")
    assert not doc.xpath('//p[contains(@class, "para")]')
    lemmas = doc.xpath('//aside//span[@class="lemma"]/text()')
    assert lemmas and all(text.startswith("¶ I") for text in lemmas)


def test_layer_notes_carry_their_layer_label(tmp_path):
    doc = _html(tmp_path, "--layer", str(LAYER))
    note = doc.xpath('//aside[contains(@class, "layer-course-notes")]')
    assert len(note) == 1
    assert "Course notes" in note[0].xpath('.//span[@class="layer-label"]')[0].text_content()
    assert "Question" in note[0].xpath('.//span[@class="note-type"]')[0].text_content()
    assert ".layer-course-notes" in doc.xpath("//style")[0].text


def test_layer_ids_must_be_unique(tmp_path):
    import shutil

    layer = tmp_path / "layer"
    shutil.copytree(LAYER, layer)
    (layer / "notes" / "i-karez.md").write_text((LAYER / "notes" / "q-ancient-times.md").read_text())
    result = run_cli("check", "--layer", str(layer))
    assert result.returncode == 1
    assert "duplicate note id 'i-karez'" in result.stdout


def test_reader_recipe(tmp_path):
    recipe = tmp_path / "week3.toml"
    recipe.write_text(f'select = "II"\nlayers = ["{LAYER}"]\nexclude_types = ["assessment"]\n'
                      f'formats = ["html"]\nout = "out"\n', encoding="utf-8")
    result = run_cli("build", "--reader", str(recipe))
    assert result.returncode == 0, result.stderr
    doc = lxml.html.fromstring((tmp_path / "out" / "cpc-guidelines-xinjiang-2025.html").read_bytes())
    assert {p.split("-")[1] for p in doc.xpath('//p[contains(@class, "para")]/@id')} == {"II"}
    assert not doc.xpath('//aside[contains(@class, "type-assessment")]')
    bad = tmp_path / "bad.toml"
    bad.write_text('selcet = "II"\n', encoding="utf-8")
    result = run_cli("build", "--reader", str(bad))
    assert result.returncode == 2 and "unknown recipe key 'selcet'" in result.stderr


def _numbered_pdf(n: int) -> bytes:
    writer = PdfWriter()
    for _ in range(n):
        writer.add_blank_page(width=300, height=400)
    for i in range(n):
        writer.set_page_label(i, i, style="/D", start=1)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


@pytest.mark.parametrize("n", [1, 4, 5, 10, 16])
def test_booklet_sheet_sides_and_folding_order(n):
    sides = folding_order(n)
    assert len(sides) == -(-n // 4) * 4 // 2
    assert sides[0][1] == 0  # page 1 on the right of the first front
    assert sorted(p for s in sides for p in s if p is not None) == list(range(n))
    booklet = PdfReader(io.BytesIO(impose(_numbered_pdf(n))))
    assert len(booklet.pages) == len(sides)
    for page in booklet.pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == (600, 400)


def test_booklet_folding_order_of_twelve():
    assert folding_order(12) == [(11, 0), (1, 10), (9, 2), (3, 8), (7, 4), (5, 6)]
    assert folding_order(6) == [(None, 0), (1, None), (5, 2), (3, 4)]
