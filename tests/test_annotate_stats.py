"""`make_edition.py stats`: figures per part, type, status and author; orphans and drafts listed."""

from __future__ import annotations

import json
import re
import shutil

from conftest import ROOT, run_cli

from scholia.load import load_edition


def test_stats_counts_match_the_notes(tmp_path):
    root = tmp_path / "ed"
    shutil.copytree(ROOT / "source", root / "source", ignore=shutil.ignore_patterns(".anchored"))
    shutil.copytree(ROOT / "annotations", root / "annotations")
    notes = sorted((root / "annotations" / "notes").rglob("*.md"))
    orphan, draft = notes[0], notes[1]
    for path, status in ((orphan, "orphaned"), (draft, "draft")):
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"^status: \w+", f"status: {status}", text, count=1, flags=re.M), encoding="utf-8")
    r = run_cli("stats", str(root), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    loaded = load_edition(root)
    assert data["total"] == len(notes) == len(loaded.all_notes) + 1
    assert sum(data["parts"].values()) == data["total"] and data["parts"]["(orphaned)"] == 1
    assert sum(data["types"].values()) == data["total"]
    assert data["statuses"]["orphaned"] == 1 and data["statuses"]["draft"] >= 1
    assert data["orphans"] == [orphan.relative_to(root).as_posix()]
    assert draft.relative_to(root).as_posix() in data["drafts"]
    folders = {p.parent.name for p in notes if p != orphan}
    assert folders <= set(data["parts"])
    text = run_cli("stats", str(root)).stdout
    assert text.startswith(f"{len(notes)} note(s)")
    for heading in ("per part:", "per type:", "per status:", "per author:", "orphans (1):", "drafts ("):
        assert heading in text
    assert orphan.relative_to(root).as_posix() in text
