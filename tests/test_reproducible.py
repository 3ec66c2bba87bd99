"""Reproducible builds: the same inputs and SOURCE_DATE_EPOCH give byte-identical PDF (default and
archival profiles), EPUB and HTML from fresh processes; without SOURCE_DATE_EPOCH the build date is
the last commit's in a git checkout, else the newest input file's.

The white paper (a copy, so that edits by others cannot land between two builds) is built four times
without the build cache, two processes at a time: (pdf, epub, html) and the archival PDF, twice each.
The second (pdf, epub, html) build runs on one core (``taskset``, where there is one): no process is
forked to read, lay out, paint or write beside it, and the bytes must be the same."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pikepdf
import pytest

from scholia import build as B
from scholia import provenance
from tests.conftest import ROOT
from tests.test_archive import EPOCH, EPOCH_ISO, copy_edition

SLUG = "cpc-guidelines-xinjiang-2025"


def _command(edition: Path, out: Path, profile: str, one_core: bool = False) -> list[str]:
    formats = "pdf" if profile == "archival" else "pdf,epub,html"
    pinned = ["taskset", "-c", "0"] if one_core and shutil.which("taskset") else []
    return [*pinned, sys.executable, str(ROOT / "make_edition.py"), "build", str(edition), "--out", str(out),
            "--no-cache", "--include-drafts", "--profile", profile, "--format", formats, "--quiet"]


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[tuple[str, int], Path]:
    base = tmp_path_factory.mktemp("reproducible")
    edition = copy_edition(base / "edition")
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "SCHOLIA_CACHE": str(base / "no-cache")}
    outs: dict[tuple[str, int], Path] = {}
    for profile in ("a4", "archival"):  # the two runs of a profile side by side: they share nothing
        procs = []
        for run in (1, 2):
            out = base / f"{profile}-{run}"
            outs[(profile, run)] = out
            procs.append(subprocess.Popen(_command(edition, out, profile, one_core=profile == "a4" and run == 2),
                                          env=env, cwd=base,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for p in procs:
            stdout, stderr = p.communicate(timeout=600)
            assert p.returncode == 0, stderr
    return outs


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("profile, name", [("a4", f"{SLUG}.pdf"), ("archival", f"{SLUG}.pdf"),
                                           ("a4", f"{SLUG}.epub"), ("a4", f"{SLUG}.html")])
def test_two_builds_are_byte_identical(builds, profile, name):
    first, second = builds[(profile, 1)] / name, builds[(profile, 2)] / name
    assert first.stat().st_size > 10_000
    assert _sha(first) == _sha(second)


def test_profiles_differ_and_ids_derive_from_content(builds):
    default, archival = builds[("a4", 1)] / f"{SLUG}.pdf", builds[("archival", 1)] / f"{SLUG}.pdf"
    assert _sha(default) != _sha(archival)
    with pikepdf.open(default) as a, pikepdf.open(archival) as b:
        assert bytes(a.trailer.ID[0]) != bytes(b.trailer.ID[0])  # the options are part of the content
        assert str(a.docinfo["/CreationDate"]) == str(b.docinfo["/CreationDate"]) == "D:20260101000000Z"
        assert "/AF" not in a.Root and "/OutputIntents" not in a.Root
        record = json.loads(b.attachments["provenance.json"].get_file().read_bytes())
        assert record["build"]["date"] == EPOCH_ISO
        assert str(b.Root.Names.EmbeddedFiles.Names[0]) == "annotations/about.md"  # sorted name tree
        dates = {str(spec.EF.F.Params.CreationDate) for spec in b.Root.AF}
        assert dates == {"D:20260101000000Z"}


def test_record_is_the_same_from_another_folder(tmp_path, monkeypatch):
    """The record holds no absolute path: two copies of an edition record the same inputs."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    a, b = copy_edition(tmp_path / "a"), copy_edition(tmp_path / "b")
    ia, ib = provenance.input_files(a), provenance.input_files(b)
    assert [(f.name, f.sha256) for f in ia] == [(f.name, f.sha256) for f in ib]
    assert provenance.inputs_digest(ia) == provenance.inputs_digest(ib)
    opts = B.BuildOptions(include_drafts=True, out=tmp_path / "x")
    assert provenance.option_record(opts, a) == provenance.option_record(B.BuildOptions(include_drafts=True), b)


def _git(repo: Path, *args: str, date: str = "") -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def test_build_date_without_source_date_epoch(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    repo = copy_edition(tmp_path / "repo")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "edition", date="2024-03-05T06:07:08+00:00")
    assert B.build_date(repo) == dt.datetime(2024, 3, 5, 6, 7, 8, tzinfo=dt.UTC)
    assert B.dated(repo)[1] == "git commit"
    loose = copy_edition(tmp_path / "loose")  # not in git: the newest input file's time, stable
    note = next((loose / "annotations").rglob("*.md"))
    os.utime(note, (1_700_000_000, 1_800_000_000))
    assert B.build_date(loose) == dt.datetime.fromtimestamp(1_800_000_000, dt.UTC) == B.build_date(loose)
    assert B.dated(loose)[1] == "newest input file"
    empty = tmp_path / "empty"
    empty.mkdir()
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    assert before <= B.build_date(empty) <= dt.datetime.now(dt.UTC)
    assert B.dated(empty)[1] == "build time"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    assert B.build_date(repo).strftime("%Y-%m-%dT%H:%M:%SZ") == EPOCH_ISO
    assert B.dated(repo)[1] == "SOURCE_DATE_EPOCH"
