"""End-to-end: build the HTML edition, read it back, and prove text fidelity and atomic outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import lxml.html
import pytest
from conftest import FIXTURES, ROOT, run_cli

from scholia.load import load_edition


def _paragraph_texts(path: Path) -> dict[str, str]:
    """Each paragraph's text as a reader sees it, minus paragraph numbers and note markers."""
    doc = lxml.html.fromstring(path.read_bytes())
    for ref in doc.xpath('//a[contains(@class, "noteref")]'):
        ref.drop_tree()
    return {p.get("id"): p.xpath('.//span[@class="ptext"]')[0].text_content()
            for p in doc.xpath('//p[contains(@class, "para")]')}


@pytest.fixture(scope="module")
def white_paper_html(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wp")
    result = run_cli("build", "--format", "html", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out / "cpc-guidelines-xinjiang-2025.html"


def test_white_paper_html_text_equals_source(white_paper_html: Path, white_paper):
    texts = _paragraph_texts(white_paper_html)
    paragraphs = [b for b in white_paper.edition.blocks if b.kind == "paragraph"]
    assert len(texts) == len(paragraphs) == 163
    for block in paragraphs:
        assert texts[block.id] == block.text.strip(), block.number
    # and the words, in order, are the source file's words
    source_words = " ".join(b.text for b in white_paper.edition.blocks).split()
    doc = lxml.html.fromstring(white_paper_html.read_bytes())
    for ref in doc.xpath('//a[contains(@class, "noteref")] | //a[@class="pnum"]'):
        ref.drop_tree()
    heads = doc.xpath('//h2[@class="part-title"] | //p[contains(@class, "para")]')
    assert " ".join(h.text_content() for h in heads).split() == source_words


def test_fixture_edition_builds_with_notes_and_bibliography(tmp_path: Path):
    result = run_cli("build", str(FIXTURES / "gettysburg"), "--format", "html", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "address.html").read_text(encoding="utf-8")
    doc = lxml.html.fromstring(page)
    notes = doc.xpath('//aside[contains(@class, "note")]')
    assert len(notes) == 5  # the draft note on the heading is left out
    refs = doc.xpath('//a[contains(@class, "noteref")]/@href')
    assert sorted(refs) == sorted(f"#{n.get('id')}" for n in notes)
    # nested spans: "Liberty" is inside "a new nation, conceived in Liberty"
    nested = doc.xpath('//span[contains(@class, "depth-2")]')
    assert [s.text_content() for s in nested] == ["Liberty"]
    assert doc.xpath('//li[@id="ref-wills1992lincoln"]')
    assert "Wills" in doc.xpath('//span[@class="citation"]')[0].text_content()
    drafts = run_cli("build", str(FIXTURES / "gettysburg"), "--format", "html", "--out", str(tmp_path),
                     "--include-drafts")
    assert drafts.returncode == 0
    assert len(lxml.html.fromstring((tmp_path / "address.html").read_bytes()).xpath("//aside")) == 6


def test_failed_build_leaves_previous_outputs_untouched(tmp_path: Path):
    ed = tmp_path / "ed"
    shutil.copytree(FIXTURES / "gettysburg", ed)
    out = tmp_path / "out"
    assert run_cli("build", str(ed), "--format", "html", "--out", str(out)).returncode == 0
    before = (out / "address.html").read_bytes()
    (ed / "annotations" / "notes" / "I" / "four-score.md").write_text("no front matter\n", encoding="utf-8")
    result = run_cli("build", str(ed), "--format", "html", "--out", str(out))
    assert result.returncode == 1
    assert "four-score.md:1: error: missing front matter" in result.stderr
    assert (out / "address.html").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["address.html"]


def test_hostile_note_is_inert(tmp_path: Path):
    ed = tmp_path / "ed"
    shutil.copytree(FIXTURES / "gettysburg", ed)
    (ed / "annotations" / "notes" / "I" / "hostile.md").write_text(
        '---\ntarget:\n  quote: "great civil war"\ntype: gloss\nstatus: reviewed\n---\n'
        '<script>alert(1)</script><img src="file:///etc/hostname"> ![x](file:///etc/hostname) '
        '[y](javascript:alert(1)) <style>body{background:url(http://127.0.0.1/)}</style> plain words\n',
        encoding="utf-8")
    assert run_cli("build", str(ed), "--format", "html", "--out", str(tmp_path)).returncode == 0
    doc = lxml.html.fromstring((tmp_path / "address.html").read_bytes())
    assert not doc.xpath("//main//script | //body//img | //body//style | //body//iframe | //@src")
    scripts = doc.xpath("//script")  # only the edition's own optional script, allowed by hash in the CSP
    assert [s.text for s in scripts] == [(ROOT / "styles" / "js" / "edition.js").read_text(encoding="utf-8")]
    hrefs = doc.xpath("//@href")
    assert hrefs and all(h.startswith(("#", "https:", "http:", "mailto:")) for h in hrefs)
    assert "127.0.0.1" not in " ".join(hrefs)
    note = doc.xpath('//aside[.//text()[contains(., "plain words")]]')[0]
    assert "<script>alert(1)</script>" in note.text_content()  # shown as text, never run


def test_no_arguments_builds_the_repo_edition_by_default():
    from scholia.cli import DEFAULT_ROOT

    assert DEFAULT_ROOT == ROOT
    assert load_edition(DEFAULT_ROOT).edition.metadata.slug == "cpc-guidelines-xinjiang-2025"
