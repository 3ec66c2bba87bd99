"""The build cache: every kind of input change gives a new key; a cached build is byte-identical."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import FIXTURES, run_cli

from scholia import cache
from scholia.options import BuildOptions

DATE = "2025-09-19T00:00:00+00:00"


@pytest.fixture()
def edition(tmp_path: Path) -> Path:
    ed = tmp_path / "ed"
    shutil.copytree(FIXTURES / "gettysburg", ed)
    return ed


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize("change", ["text", "note", "bib", "style", "structure", "metadata"])
def test_each_input_change_invalidates(edition: Path, change: str):
    options = BuildOptions(formats=("html",))
    before = cache.build_key(edition, options, DATE)
    assert cache.build_key(edition, options, DATE) == before  # stable
    if change == "text":
        _edit(edition / "source" / "address.md", "Four score", "Four  score")
    elif change == "note":
        _edit(edition / "annotations" / "notes" / "I" / "liberty.md", "Capitalised", "Capitalized")
    elif change == "bib":
        _edit(edition / "annotations" / "refs.bib", "1992", "1993")
    elif change == "style":
        (edition / "styles" / "css").mkdir(parents=True)
        (edition / "styles" / "css" / "html.css").write_text("body { color: black }", encoding="utf-8")
    elif change == "structure":
        (edition / "source" / "structure.toml").write_text("not_headings = []\n", encoding="utf-8")
    elif change == "metadata":
        _edit(edition / "source" / "edition.toml", "Address at Gettysburg", "The Gettysburg Address")
    assert cache.build_key(edition, options, DATE) != before


def test_options_date_and_layers_invalidate(edition: Path):
    options = BuildOptions(formats=("html",))
    key = cache.build_key(edition, options, DATE)
    for other in (replace(options, formats=("pdf",)), replace(options, select="I"),
                  replace(options, csl="apa"), replace(options, include_drafts=True),
                  replace(options, layers=(FIXTURES / "course-notes",))):
        assert cache.build_key(edition, other, DATE) != key
    assert cache.build_key(edition, options, "2026-01-01T00:00:00+00:00") != key
    assert cache.build_key(edition, replace(options, out=Path("/elsewhere")), DATE) == key


def test_cached_build_is_byte_identical_and_changes_reach_the_output(edition: Path, tmp_path: Path):
    (tmp_path / "tmp").mkdir()
    env = {"SCHOLIA_CACHE": str(tmp_path / "cache"), "SOURCE_DATE_EPOCH": "1758240000", "TMPDIR": str(tmp_path / "tmp")}
    fresh, cached, changed = tmp_path / "fresh", tmp_path / "cached", tmp_path / "changed"
    args = ["build", str(edition), "--format", "html,pdf", "--timings"]
    assert run_cli(*args, "--out", str(fresh), "--no-cache", env=env).returncode == 0
    first = run_cli(*args, "--out", str(cached), env=env)
    second = run_cli(*args, "--out", str(cached), env=env)
    assert first.returncode == second.returncode == 0
    assert "write PDF" in first.stderr and "write PDF" not in second.stderr  # the second came from the cache
    for name in ("address.html", "address.pdf"):
        assert (fresh / name).read_bytes() == (cached / name).read_bytes()
    _edit(edition / "annotations" / "notes" / "I" / "liberty.md", "Capitalised", "Capitalized")
    assert run_cli(*args, "--out", str(changed), env=env).returncode == 0
    assert b"Capitalized" in (changed / "address.html").read_bytes()
    assert not list((tmp_path / "tmp").iterdir())  # no build leaves its copies of the fonts behind


def test_damaged_cache_entry_is_a_miss(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SCHOLIA_CACHE", str(tmp_path))
    key = "0" * 64
    cache.store(key, {"a.html": b"hello"})
    assert cache.load(key) == {"a.html": b"hello"}
    (tmp_path / key / "a.html").write_bytes(b"hellO")
    assert cache.load(key) is None


def test_old_builds_are_removed_but_not_the_stage_stores(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SCHOLIA_CACHE", str(tmp_path))
    monkeypatch.setattr(cache, "KEEP", 2)
    cache.stage_store("layout").store({"k": b"pages"})
    os.utime(tmp_path / "layout", (1e9, 1e9))  # older than every build
    for n in range(4):
        cache.store(f"{n}" * 64, {"a.html": b"hello"})
        os.utime(tmp_path / (f"{n}" * 64), (1.5e9 + n, 1.5e9 + n))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2" * 64, "3" * 64, "layout"]
    assert cache.stage_store("layout").load("k") == b"pages"


def test_a_stage_store_keeps_the_newest_within_its_size_and_clears_stale_partial_files(tmp_path: Path):
    """Past ``keep_bytes`` the least recently used files go; a partial file left by a process stopped
    while writing (a build stopped, a writer killed) goes once it is an hour old."""
    store = cache.Store(tmp_path / "s", keep_bytes=2 * (len(cache.Store.TAG) + 32 + 100))
    for n, when in ((1, 1.0e9), (2, 1.1e9), (3, 1.2e9)):
        store.store({f"k{n}": bytes(100)})
        os.utime(tmp_path / "s" / f"k{n}.pickle", (when, when))
    (tmp_path / "s" / ".old.1.tmp").write_bytes(b"partial")
    os.utime(tmp_path / "s" / ".old.1.tmp", (1e9, 1e9))
    (tmp_path / "s" / ".new.2.tmp").write_bytes(b"being written")
    store.store({"k4": bytes(100)})
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [".new.2.tmp", "k3.pickle", "k4.pickle"]


def test_rebuild_after_a_note_edit_takes_kept_layout_and_is_byte_identical(edition: Path, tmp_path: Path):
    """The stage cache: the chapters that a note edit leaves as they were come from the layout kept
    by the last build (``writers/weasyprint_memory``), and the PDF is the one a fresh build makes."""
    env = {"SCHOLIA_CACHE": str(tmp_path / "cache"), "SOURCE_DATE_EPOCH": "1758240000"}
    args = ["build", str(edition), "--format", "pdf"]
    assert run_cli(*args, "--out", str(tmp_path / "first"), env=env).returncode == 0
    kept = list((tmp_path / "cache" / "layout").glob("*.pickle"))
    assert len(kept) >= 3  # laid-out segments (title page, front matter, chapters) and painted pages
    others = {name: list((tmp_path / "cache" / name).glob("*.pickle")) for name in ("cite", "subsets")}
    assert len(others["cite"]) == 1 and others["subsets"]  # Pandoc's output; a subset of each font
    for path in kept + others["cite"] + others["subsets"]:
        os.utime(path, (1e9, 1e9))  # reading a kept value marks it as used
    _edit(edition / "annotations" / "notes" / "I" / "liberty.md", "Capitalised", "Capitalized")
    assert run_cli(*args, "--out", str(tmp_path / "edited"), env=env).returncode == 0
    used = [p for p in kept if p.stat().st_mtime > 1e9]
    assert 0 < len(used) < len(kept)  # all but the edited chapter's (and the colophon's) were used
    # The note's citations are those of the last build (no Pandoc run), and so are the glyphs of
    # the fonts the edit did not reach (their subsets are read back).
    assert others["cite"][0].stat().st_mtime > 1e9 and any(p.stat().st_mtime > 1e9 for p in others["subsets"])
    # The edited chapter was kept anew, and so was the colophon, which states the inputs' digest.
    assert len(list((tmp_path / "cache" / "layout").glob("*.pickle"))) >= len(kept) + 2
    assert run_cli(*args, "--out", str(tmp_path / "fresh"), "--no-cache", env=env).returncode == 0
    assert (tmp_path / "edited" / "address.pdf").read_bytes() == (tmp_path / "fresh" / "address.pdf").read_bytes()


def test_library_versions_are_those_the_packages_declare():
    """The key reads versions from the wheels' .dist-info folder names (fast): they are the versions
    the packages' own metadata gives."""
    import importlib.metadata

    versions = cache.versions()
    for name in cache.LIBRARIES:
        try:
            declared = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            declared = "-"
        assert versions[name] == declared, name


def test_hashed_files_skip_hidden_files_caches_and_linked_folders(tmp_path: Path):
    from scholia.provenance import files_under

    (tmp_path / "a" / "b").mkdir(parents=True)
    for rel in ("z.txt", "a/y.txt", "a/b/x.txt", ".hidden", "a/.git/config", "a/__pycache__/m.pyc"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "w.txt").write_text("w")
    (tmp_path / "linked").symlink_to(outside, target_is_directory=True)
    (tmp_path / "a" / "link.txt").symlink_to(tmp_path / "z.txt")
    found = [p.relative_to(tmp_path).as_posix() for p in files_under(tmp_path)]
    assert found == ["a/b/x.txt", "a/link.txt", "a/y.txt", "z.txt"]
    assert files_under(tmp_path / "missing") == []


def test_font_digests_are_the_sha256_of_the_bytes():
    """The font subsets' key takes an embeddable font file's digest from the provenance record
    (hashed once) when the bytes are that file's; any other bytes are hashed."""
    import hashlib

    from scholia import fonts, provenance

    face = next(f for stack in fonts.stacks().values() for f in stack.faces)
    data = face.path.read_bytes()
    assert provenance.font_digest(data) == hashlib.sha256(data).hexdigest()
    changed = data[:-1] + bytes([data[-1] ^ 1])  # same length, other bytes
    assert provenance.font_digest(changed) == hashlib.sha256(changed).hexdigest()
    assert provenance.font_digest(b"not a font") == hashlib.sha256(b"not a font").hexdigest()


def test_a_mapped_font_file_is_named_by_its_recorded_digest(tmp_path: Path):
    """A face whose file HarfBuzz has mapped is named, in the font subsets' key, by the digest the
    provenance record holds for that file; a copy of the file elsewhere, a shorter length or an
    address where nothing is mapped gives None (the key then hashes the bytes)."""
    import ctypes
    import hashlib
    import mmap
    import shutil

    from scholia import fonts
    from scholia.writers.weasyprint_subsets import _maps, mapped_digest, mapped_files

    def mapped(path: Path) -> tuple[mmap.mmap, int]:  # as HarfBuzz maps a font file: whole, from offset 0
        with open(path, "rb") as fh:
            view = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
        return view, ctypes.addressof(ctypes.c_char.from_buffer(view))

    face = next(f for stack in fonts.stacks().values() for f in stack.faces)
    view, address = mapped(face.path)
    copy = tmp_path / face.path.name
    shutil.copyfile(face.path, copy)
    other, elsewhere = mapped(copy)
    files = mapped_files(_maps())
    assert mapped_digest(address, len(view), files) == hashlib.sha256(face.path.read_bytes()).hexdigest()
    assert mapped_digest(address, len(view) - 1, files) is None
    assert mapped_digest(elsewhere, len(other), files) is None
    assert mapped_digest(4096, len(view), files) is None

