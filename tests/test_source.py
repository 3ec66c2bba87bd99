"""Reading the primary text: parts, wrapped headings, run-in heads, numbering, exact characters."""

from __future__ import annotations

from pathlib import Path

from conftest import FIXTURES, ROOT, SOURCE_TEXT

from scholia.load import load_edition
from scholia.readers.source import Structure, build_parts


def test_white_paper_parts(white_paper):
    ed = white_paper.edition
    labels = [p.label for p in ed.parts]
    assert labels == ["P", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "C"]
    assert ed.parts[0].title == "Preface" and ed.parts[-1].title == "Conclusion"
    # headings wrapped over two lines are joined into one
    assert ed.parts[1].title == "Governance of Xinjiang by Past Central Authorities: Philosophies and Experience"
    assert ed.parts[2].title == "CPC’s Governance of Xinjiang: Progress and Achievements"
    assert ed.parts[10].heading.display_text == "X. Greater Synergy for Xinjiang’s Development"
    assert [len(p.heading.lines) for p in ed.parts] == [1] + [2] * 10 + [1]


def test_white_paper_paragraph_counts(white_paper):
    counts = {p.label: len(p.paragraphs) for p in white_paper.edition.parts}
    assert counts == {"P": 5, "I": 36, "II": 11, "III": 22, "IV": 9, "V": 8, "VI": 20, "VII": 9, "VIII": 5,
                      "IX": 18, "X": 16, "C": 4}
    assert sum(counts.values()) == 163


def test_paragraph_numbers_and_ids(white_paper):
    part_i = white_paper.edition.parts[1]
    numbers = [p.number for p in part_i.paragraphs]
    assert numbers == [f"I.{n}" for n in range(1, 37)]
    assert part_i.paragraphs[11].id == "p-I-12"
    pref = white_paper.edition.parts[0].paragraphs[2]
    assert (pref.number, pref.id) == ("P.3", "p-P-3")
    ids = [b.id for b in white_paper.edition.blocks]
    assert len(ids) == len(set(ids))


def test_model_text_equals_source(white_paper):
    """Every non-blank source line is in exactly one block, in order, with its exact characters."""
    source = SOURCE_TEXT.read_text(encoding="utf-8")
    assert white_paper.edition.source_text == source
    covered = []
    for block in white_paper.edition.blocks:
        for line in block.lines:
            assert source[line.offset:line.offset + len(line.text)] == line.text
            covered.append(line.number)
        assert block.text.replace(" ", "") == "".join(ln.text for ln in block.lines).replace(" ", "")
    expected = [i for i, line in enumerate(source.splitlines(), 1) if line.strip()]
    assert covered == expected
    # paragraphs are single lines: their text is the line itself, byte for byte
    for block in white_paper.edition.blocks:
        if block.kind == "paragraph":
            assert block.text == block.lines[0].text


def test_run_in_heads(white_paper):
    part = white_paper.edition.parts[1]
    titled = [s.title for s in part.sections if s.title]
    assert titled[0] == "Placing the administration of Xinjiang in the overall context of national governance."
    assert len(titled) == 6
    head = part.sections[1].paragraphs[0]
    assert head.text[:head.run_in] == titled[0]
    for p in white_paper.edition.parts[1:-1]:
        assert 3 <= len([s for s in p.sections if s.title]) <= 6, p.label


def test_stray_bracket_is_a_paragraph_not_a_heading(white_paper):
    vii = white_paper.edition.parts[7]
    assert vii.label == "VII"
    assert vii.paragraphs[-1].text.strip() == "]"


def test_heading_rule_and_structure_overrides():
    text = "Intro\nA paragraph ends here.\n\nFirst half of a \nwrapped title\nBody text.\nNot a heading\nMore.\n"
    parts, diags = build_parts(text, Structure(not_headings=(("Not a heading", 1),)), False, "s.toml")
    assert diags == []
    assert [p.heading.text for p in parts] == ["Intro", "First half of a wrapped title"]
    assert [b.text for b in parts[1].paragraphs] == ["Body text.", "Not a heading", "More."]
    forced, _ = build_parts("Short line.\nText.\n", Structure(headings=(("Short line.", 1),)), False, "s.toml")
    assert forced[0].heading.text == "Short line."


def test_unknown_structure_entries_are_reported():
    structure = Structure(run_in_heads=(("Missing head.", 7),), not_headings=(("Nowhere", 9),),
                          headings=(("Absent.", 11),))
    _, diags = build_parts("Title\nBody.\n", structure, False, "s.toml")
    assert sorted((d.path, d.line, d.severity) for d in diags) == [
        ("s.toml", 7, "error"), ("s.toml", 9, "error"), ("s.toml", 11, "error")]


def test_markdown_source():
    loaded = load_edition(FIXTURES / "gettysburg")
    assert not loaded.errors, loaded.errors
    ed = loaded.edition
    assert [p.label for p in ed.parts] == ["I", "A"]
    assert [s.title for s in ed.parts[0].sections] == ["", "The task remaining"]
    para = ed.parts[0].sections[1].paragraphs[0]
    assert "*" not in para.text and para.emphasis
    em = para.emphasis[0]
    assert para.text[em.start:em.end] == "unfinished work"


def test_repo_edition_is_not_hard_coded():
    """Nothing about the white paper lives in the code."""
    for path in (ROOT / "scholia").rglob("*.py"):
        code = path.read_text(encoding="utf-8")
        for word in ("Xinjiang", "cpc-guidelines", "Uygur"):
            assert word not in code, (path, word)


def test_metadata_defaults(tmp_path: Path):
    (tmp_path / "source").mkdir()
    (tmp_path / "annotations").mkdir()
    (tmp_path / "source" / "t.txt").write_text("Title\nOne paragraph.\n", encoding="utf-8")
    (tmp_path / "source" / "edition.toml").write_text(
        'title = "T"\nauthor = "A"\ndate = "2020-01-02"\nlanguage = "en"\ntext = "t.txt"\n', encoding="utf-8")
    loaded = load_edition(tmp_path)
    assert not loaded.errors
    assert loaded.edition.metadata.slug == "t"


def test_an_underscore_inside_a_word_is_not_emphasis():
    """CommonMark: ``snake_case`` keeps its underscores; ``_word_`` and ``*word*`` are emphasis."""
    from scholia.readers.source import _strip_emphasis

    snake = "the file harbour_office_ledger_07 and a_b"
    assert _strip_emphasis(snake) == (snake, ())
    plain, spans = _strip_emphasis("_one_, __two__, *three* and in*tra*word")
    assert plain == "one, two, three and intraword"
    assert [(plain[e.start:e.end], e.strong) for e in spans] == [("one", False), ("two", True), ("three", False),
                                                                 ("tra", False)]
