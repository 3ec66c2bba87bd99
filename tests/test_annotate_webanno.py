"""W3C Web Annotations: export, import back into the same notes, and import a Hypothesis export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURES, ROOT, run_cli

from scholia.anchoring import fold
from scholia.load import load_edition
from scholia.readers.notes import split_front_matter

HYPOTHESIS = FIXTURES / "annotate" / "hypothesis-search.json"


def copy_edition(dest: Path, notes: bool = True) -> Path:
    shutil.copytree(ROOT / "source", dest / "source", ignore=shutil.ignore_patterns(".anchored"))
    shutil.copytree(ROOT / "annotations", dest / "annotations")
    if not notes:
        shutil.rmtree(dest / "annotations" / "notes")
        (dest / "annotations" / "notes").mkdir()
    return dest


def summary(root: Path) -> dict[str, tuple]:
    loaded = load_edition(root)
    return {n.id: (n.type, n.status, n.authors, n.tags, n.body.strip(), fold(n.target.quote), n.target.prefix,
                   n.target.suffix, n.target.paragraph, n.anchor, dict(sorted(n.extra.items())),
                   Path(n.path).parent.name)
            for n in loaded.all_notes}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = copy_edition(tmp_path_factory.mktemp("export") / "ed")
    out = root.parent / "notes.jsonld"
    r = run_cli("export-annotations", str(root), "--out", str(out))
    assert r.returncode == 0, r.stderr
    return root, json.loads(out.read_text(encoding="utf-8")), out


def test_export_is_a_w3c_collection(exported):
    root, data, _ = exported
    assert data["type"] == "AnnotationCollection"
    assert data["@context"][0] == "http://www.w3.org/ns/anno.jsonld"
    items = data["first"]["items"]
    assert data["total"] == len(items) == len(load_edition(root).all_notes) > 100
    source = (root / "source" / "cpc-guidelines-governing-xinjiang-2025.en.txt").read_text(encoding="utf-8")
    ident = "urn:scholia:scio-2025-cpc-guidelines-xinjiang:en"
    motivations = set()
    for ann in items:
        assert ann["type"] == "Annotation" and ann["id"].startswith(ident + ":note:")
        assert ann["target"]["source"] == ident
        quote, pos = ann["target"]["selector"]
        assert quote["type"] == "TextQuoteSelector" and pos["type"] == "TextPositionSelector"
        assert source[pos["start"]:pos["end"]] == quote["exact"]  # offsets into the primary text file
        body = ann["body"][0]
        assert body["type"] == "TextualBody" and body["format"] == "text/markdown" and body["value"]
        assert {"name": "Editorial team"} in ann["creator"]
        motivations.add(ann["motivation"])
    assert {"describing", "commenting", "assessing", "linking"} <= motivations


def test_export_then_import_gives_back_the_same_notes(exported, tmp_path):
    root, data, out = exported
    empty = copy_edition(tmp_path / "ed", notes=False)
    r = run_cli("import-annotations", str(empty), str(out))
    assert r.returncode == 0, r.stderr
    assert f"{data['total']} note(s) written, 0 orphaned, 0 duplicate(s)" in r.stderr
    assert summary(empty) == summary(root)
    assert run_cli("check", str(empty)).returncode == 0
    again = tmp_path / "again.jsonld"
    assert run_cli("export-annotations", str(empty), "--out", str(again)).returncode == 0
    assert json.loads(again.read_text(encoding="utf-8")) == data


def test_import_into_the_same_edition_writes_nothing(exported):
    root, data, out = exported
    before = sorted(p.relative_to(root) for p in (root / "annotations" / "notes").rglob("*.md"))
    r = run_cli("import-annotations", str(root), str(out))
    assert r.returncode == 0
    assert f"0 note(s) written, 0 orphaned, {data['total']} duplicate(s)" in r.stderr
    assert sorted(p.relative_to(root) for p in (root / "annotations" / "notes").rglob("*.md")) == before


def front(path: Path) -> tuple[dict, str]:
    fm, body, _ = split_front_matter(path.read_text(encoding="utf-8"))
    return yaml.safe_load(fm), body


def test_import_hypothesis_export(tmp_path):
    root = copy_edition(tmp_path / "ed")
    r = run_cli("import-annotations", str(root), str(HYPOTHESIS))
    assert r.returncode == 0, r.stderr
    assert "2 note(s) written, 1 orphaned, 1 duplicate(s) of existing notes skipped, 2 annotation(s)" in r.stderr
    written = [Path(line) for line in r.stdout.splitlines() if line.endswith(".md")]
    karez = next(p for p in written if "karez" in p.name)
    fm, body = front(karez)
    assert karez.parent.name == "I"
    assert fm["target"] == {"quote": "karez"}  # the Hypothesis context was not needed
    assert fm["type"] == "gloss" and fm["tags"] == ["irrigation"]  # a tag naming a type sets the type
    assert fm["authors"] == ["Lena K."] and fm["status"] == "draft"
    assert fm["created"].startswith("2025-10-02T09:14") and fm["modified"].startswith("2025-10-02T09:20")
    assert body.strip() == "Underground channels fed by groundwater; see the gloss in chapter I."
    silk = next(p for p in written if "silk" in p.name)
    fm, body = front(silk)
    assert fm["authors"] == ["omar"] and fm["type"] == "context" and "**Silk Road Economic Belt**" in body
    assert fm["target"]["quote"] == "Silk Road" and (fm["target"].get("prefix") or fm["target"].get("suffix"))
    orphan_line = next(line for line in r.stdout.splitlines() if "orphaned" in line)
    orphan = Path(orphan_line.split(":")[0])
    assert front(orphan)[0]["status"] == "orphaned"
    check = run_cli("check", str(root))
    assert check.returncode == 0, check.stdout
    assert "orphaned note" in check.stdout
    loaded = load_edition(root)
    note = next(n for n in loaded.all_notes if n.id == silk.stem)
    block = next(b for b in loaded.edition.blocks if b.id == note.anchor.block_id)
    assert "core area of the Silk Road Economic Belt" in block.text
    assert block.text[note.anchor.start - 17:note.anchor.end] == "core area of the Silk Road"
    # importing the same file again adds nothing
    r = run_cli("import-annotations", str(root), str(HYPOTHESIS))
    assert "0 note(s) written, 0 orphaned, 4 duplicate(s)" in r.stderr, r.stderr


def test_import_single_w3c_annotation_with_position_only_disambiguation(tmp_path):
    root = copy_edition(tmp_path / "ed", notes=False)
    source = (root / "source" / "cpc-guidelines-governing-xinjiang-2025.en.txt").read_text(encoding="utf-8")
    starts = [i for i in range(len(source)) if source.startswith("Western Regions", i)]
    ann = {"@context": "http://www.w3.org/ns/anno.jsonld", "type": "Annotation", "id": "https://example.org/a/1",
           "motivation": "linking", "creator": "acct:zed@example.org",
           "body": [{"type": "TextualBody", "value": "See chapter I.", "format": "text/markdown"},
                    {"type": "TextualBody", "purpose": "tagging", "value": "names"}],
           "target": {"source": "urn:x", "selector": [
               {"type": "TextQuoteSelector", "exact": "Western Regions"},
               {"type": "TextPositionSelector", "start": starts[4], "end": starts[4] + 15}]}}
    (tmp_path / "one.json").write_text(json.dumps(ann), encoding="utf-8")
    r = run_cli("import-annotations", str(root), str(tmp_path / "one.json"))
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.splitlines()[0])
    fm, _ = front(path)
    assert fm["type"] == "crossref" and fm["authors"] == ["zed"] and fm["tags"] == ["names"]
    assert run_cli("check", str(root)).returncode == 0
    loaded = load_edition(root)
    note = loaded.all_notes[0]
    block = next(b for b in loaded.edition.blocks if b.id == note.anchor.block_id)
    assert block.lines[0].offset + note.anchor.start == starts[4]
