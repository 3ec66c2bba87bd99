"""The white-paper edition's apparatus meets the edition's own standards (issue: scholarly apparatus)."""

from __future__ import annotations

import re
from collections import Counter

from conftest import ROOT

from scholia.citesyntax import parse_citations

MINIMUM_BY_TYPE = {"gloss": 15, "context": 20, "data": 12, "assessment": 12, "textual": 6, "crossref": 6}


def _reviewed(white_paper):
    return [n for n in white_paper.all_notes if n.status == "reviewed"]


def test_at_least_90_reviewed_notes_in_every_part(white_paper):
    reviewed = _reviewed(white_paper)
    assert len(reviewed) >= 90
    part_of = {b.id: part.label for part in white_paper.edition.parts for b in
               ([part.heading] if part.heading else []) + list(part.paragraphs)}
    per_part = Counter(part_of[n.anchor.block_id] for n in reviewed)
    labels = [p.label for p in white_paper.edition.parts]
    assert set(per_part) == set(labels)
    chapters = [label for label in labels if label not in ("P", "C")]
    assert all(per_part[label] >= 5 for label in chapters), per_part
    assert per_part["P"] >= 1 and per_part["C"] >= 1


def test_type_minimums(white_paper):
    per_type = Counter(n.type for n in _reviewed(white_paper))
    for name, minimum in MINIMUM_BY_TYPE.items():
        assert per_type[name] >= minimum, (name, per_type[name])


def test_note_lengths(white_paper):
    for note in _reviewed(white_paper):
        prose = re.sub(r"\[[^\]]*@[^\]]*\]", "", note.body)
        assert 40 <= len(prose.split()) <= 200, (note.path, len(prose.split()))


def test_every_entry_cited_and_every_key_exists(white_paper):
    ed = white_paper.edition
    cited = {i.key for n in white_paper.all_notes for c in n.citations for i in c.items}
    cited |= {i.key for c in parse_citations(ed.introduction) + parse_citations(ed.about) for i in c.items}
    assert cited <= set(ed.bibliography), cited - set(ed.bibliography)
    assert set(ed.bibliography) <= cited, set(ed.bibliography) - cited
    assert len(ed.bibliography) >= 30


def test_introduction_length_and_contributors(white_paper):
    ed = white_paper.edition
    words = len(re.sub(r"\[[^\]]*@[^\]]*\]", "", ed.introduction).split())
    assert 800 <= words <= 1500, words
    assert parse_citations(ed.introduction)
    assert ed.about.strip()
    names = {c.name for c in ed.contributors}
    assert {a for n in _reviewed(white_paper) for a in n.authors} <= names


def test_register_has_no_editorialising_adjectives(white_paper):
    """A guard, not a proof: words of praise or blame in the editors' own voice."""
    banned = re.compile(r"\b(notorious|remarkable|brutal|heroic|glorious|shameful|outrageous|draconian|"
                        r"so-called|infamous|magnificent)\b", re.I)
    for note in _reviewed(white_paper):
        prose = re.sub(r"[“\"][^”\"]*[”\"]", "", note.body)  # quotations are the sources' words
        assert not banned.search(prose), (note.path, banned.search(prose).group(0))


def test_structure_layer_marks_every_chapter(white_paper):
    for part in white_paper.edition.parts[1:-1]:
        assert 3 <= len([s for s in part.sections if s.title]) <= 6
    assert (ROOT / "source" / "structure.toml").is_file()
