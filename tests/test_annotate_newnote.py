"""`make_edition.py new-note`: a scaffolded note is in the right place and `check` accepts it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_cli

from scholia.anchoring import fold
from scholia.load import load_edition
from scholia.readers.notes import split_front_matter


@pytest.fixture
def edition(tmp_path) -> Path:
    root = tmp_path / "ed"
    shutil.copytree(ROOT / "source", root / "source", ignore=shutil.ignore_patterns(".anchored"))
    shutil.copytree(ROOT / "annotations", root / "annotations")
    return root


def front(path: Path) -> dict:
    return yaml.safe_load(split_front_matter(path.read_text(encoding="utf-8"))[0])


def test_unique_words(edition):
    r = run_cli("new-note", "popularizing the karez", str(edition), "--type", "context", "--author", "A. Scholar",
                "--tag", "water")
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip())
    assert path.parent == edition / "annotations" / "notes" / "I"
    assert path.name == "i-popularizing-karez.md"
    fm = front(path)
    assert fm["target"] == {"quote": "popularizing the karez"}
    assert fm["type"] == "context" and fm["authors"] == ["A. Scholar"] and fm["status"] == "draft"
    assert fm["tags"] == ["water"] and len(fm["created"]) == 10
    check = run_cli("check", str(edition))
    assert check.returncode == 0, check.stdout
    note = next(n for n in load_edition(edition).all_notes if n.id == path.stem)
    assert note.anchor.block_id.startswith("p-I-")


def test_repeated_phrase_lists_candidates_then_picks_one_with_shortest_context(edition):
    r = run_cli("new-note", "Silk Road", str(edition))
    assert r.returncode == 1
    assert "occur 6 times" in r.stderr and "--occurrence N" in r.stderr
    listed = [ln for ln in r.stderr.splitlines() if ln.strip()[:2] in {f"{i}." for i in range(1, 7)}]
    assert len(listed) == 6 and all("[Silk Road]" in ln and "¶ " in ln for ln in listed)
    r = run_cli("new-note", "Silk Road", str(edition), "--occurrence", "3", "--author", "B")
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip())
    fm = front(path)
    t = fm["target"]
    assert t["quote"] == "Silk Road" and (t.get("prefix") or t.get("suffix"))
    assert len(t.get("prefix", "") + t.get("suffix", "")) <= 20
    check = run_cli("check", str(edition))
    assert check.returncode == 0, check.stdout
    loaded = load_edition(edition)
    note = next(n for n in loaded.all_notes if n.id == path.stem)
    block = next(b for b in loaded.edition.blocks if b.id == note.anchor.block_id)
    third = sorted(
        (b.id, i) for b in loaded.edition.blocks for i in range(len(b.text)) if b.text.startswith("Silk Road", i))
    order = [b.id for b in loaded.edition.blocks]
    third = sorted(third, key=lambda x: (order.index(x[0]), x[1]))[2]
    assert (block.id, note.anchor.start) == third


def test_in_paragraph_and_typographic_variants(edition):
    # the text has a curly apostrophe; the annotator types a straight one
    r = run_cli("new-note", "the Party's guidelines for governing Xinjiang in the new era", str(edition))
    assert r.returncode == 1 and "--in PARAGRAPH" in r.stderr
    para = r.stderr.split("¶ ")[2].split(":")[0]
    r = run_cli("new-note", "the Party's guidelines for governing Xinjiang in the new era", str(edition),
                "--in", para, "--type", "textual", "--author", "C")
    assert r.returncode == 0, r.stderr
    fm = front(Path(r.stdout.strip()))
    assert "’" in fm["target"]["quote"]
    assert fold(fm["target"]["quote"]) == fold("the Party's guidelines for governing Xinjiang in the new era")
    assert run_cli("check", str(edition)).returncode == 0


def test_missing_words_and_bad_type(edition):
    r = run_cli("new-note", "popularising the karez", str(edition))
    assert r.returncode == 1
    assert "not in the text" in r.stderr and "nearest match" in r.stderr and "popularizing the karez" in r.stderr
    r = run_cli("new-note", "popularizing the karez", str(edition), "--type", "glos")
    assert r.returncode == 1 and "unknown type 'glos'" in r.stderr
    assert not list((edition / "annotations" / "notes").rglob("*popularizing*"))


def test_ids_do_not_collide(edition):
    first = run_cli("new-note", "popularizing the karez", str(edition), "--author", "A")
    second = run_cli("new-note", "popularizing the karez system", str(edition), "--author", "A")
    third = run_cli("new-note", "popularizing the karez", str(edition), "--author", "A")
    paths = {Path(r.stdout.strip()).name for r in (first, second, third)}
    assert len(paths) == 3, paths
    assert run_cli("check", str(edition)).returncode == 0
