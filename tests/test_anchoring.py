"""Anchoring: exact spans, repeats, context, overlap, nesting, typographic variants, failures."""

from __future__ import annotations

from scholia.anchoring import TextIndex, resolve
from scholia.model import Block, Line, Note, Target, segments


def _block(number: str, text: str) -> Block:
    return Block(f"p-{number}", "paragraph", number, text, (Line(1, 0, text),))


BLOCKS = [
    _block("I.1", "The court established the “Western Regions Frontier Command” in 60 BC – a first step."),
    _block("I.2", "Later, the court established the Frontier Command again, and  the  Frontier Command grew."),
    _block("I.3", "Its people’s wellbeing was the Kin dynasty’s concern; the Three Kingdoms came before."),
]


def _note(nid: str, **target) -> Note:
    return Note(id=nid, path=f"notes/{nid}.md", type="gloss", status="reviewed", authors=(), tags=(),
                target=Target(**target), body="x", body_line=6, citations=(),
                field_lines={"target": 2, "target.quote": 3, "target.prefix": 4, "target.suffix": 5})


def _resolve(*notes: Note):
    return resolve(TextIndex(BLOCKS), list(notes))


def _span(note: Note) -> str:
    block = next(b for b in BLOCKS if b.id == note.anchor.block_id)
    return block.text[note.anchor.start:note.anchor.end]


def test_exact_match_keeps_source_characters():
    notes, diags = _resolve(_note("a", quote="Western Regions Frontier Command"))
    assert diags == []
    assert notes[0].anchor.block_id == "p-I.1"
    assert _span(notes[0]) == "Western Regions Frontier Command"


def test_typographic_variants_match_but_span_is_exact():
    notes, diags = _resolve(_note("a", quote='"Western Regions Frontier Command" in 60 BC - a'),
                            _note("b", quote="people's wellbeing"))
    assert diags == []
    assert _span(notes[0]) == "“Western Regions Frontier Command” in 60 BC – a"
    assert _span(notes[1]) == "people’s wellbeing"


def test_runs_of_spaces_fold_and_span_covers_them():
    notes, diags = _resolve(_note("a", quote="and the Frontier Command grew"))
    assert diags == []
    assert _span(notes[0]) == "and  the  Frontier Command grew"


def test_repeats_need_prefix_or_suffix():
    _, diags = _resolve(_note("a", quote="Frontier Command"))
    assert len(diags) == 1
    msg = diags[0].message
    assert msg.startswith("ambiguous quote: 3 occurrences (¶ I.1, ¶ I.2, ¶ I.2)")
    assert diags[0].line == 3
    notes, diags = _resolve(_note("a", quote="Frontier Command", prefix="established the "),
                            _note("b", quote="Frontier Command", suffix=" grew"))
    assert diags == []
    assert [n.anchor.block_id for n in notes] == ["p-I.2", "p-I.2"]
    assert notes[0].anchor.start < notes[1].anchor.start


def test_suggested_context_makes_the_quote_unique():
    _, diags = _resolve(_note("a", quote="Frontier Command"))
    kind, ctx = diags[0].message.rsplit("add ", 1)[1].split(": ", 1)
    ctx = eval(ctx)  # the message quotes the suggestion with repr()
    notes, diags = _resolve(_note("a", quote="Frontier Command", **{kind: ctx}))
    assert diags == [] and notes[0].anchor.block_id == "p-I.1"


def test_whole_word_match_preferred_over_substring():
    notes, diags = _resolve(_note("a", quote="Kin"))
    assert diags == []
    assert _span(notes[0]) == "Kin" and notes[0].anchor.block_id == "p-I.3"
    assert BLOCKS[2].text[notes[0].anchor.start - 4:notes[0].anchor.start] == "the "


def test_not_found_reports_nearest_match():
    _, diags = _resolve(_note("a", quote="Western Region Frontier Commands"))
    assert len(diags) == 1 and diags[0].line == 3
    assert "quote not found" in diags[0].message and "¶ I.1" in diags[0].message
    assert "Western Regions Frontier Command" in diags[0].message


def test_cross_paragraph_quote_is_an_error():
    _, diags = _resolve(_note("a", quote="a first step. Later, the court"))
    assert len(diags) == 1
    assert "crosses a paragraph boundary (¶ I.1 → ¶ I.2)" in diags[0].message


def test_context_mismatch_names_the_context_line():
    _, diags = _resolve(_note("a", quote="Western Regions", prefix="nowhere "))
    assert diags[0].line == 4 and "prefix/suffix does not match" in diags[0].message


def test_whole_paragraph_target():
    notes, diags = _resolve(_note("a", paragraph="I.3"), _note("b", paragraph="IX.99"))
    assert _span(notes[0]) == BLOCKS[2].text
    assert len(diags) == 1 and "no paragraph or heading numbered 'IX.99'" in diags[0].message


def test_overlap_and_nesting_split_into_segments():
    notes, diags = _resolve(
        _note("outer", quote="established the “Western Regions Frontier Command”"),
        _note("inner", quote="Regions Frontier"),
        _note("overlap", quote="Command” in 60 BC"),
    )
    assert diags == []
    segs = segments(BLOCKS[0], notes)
    assert "".join(s.text for s in segs) == BLOCKS[0].text
    by_text = {s.text: s.notes for s in segs}
    assert by_text["Regions Frontier"] == ("outer", "inner")
    assert by_text["Command”"] == ("outer", "overlap")
    assert by_text[" in 60 BC"] == ("overlap",)
