"""The archival edition: PDF/A-3b claims read back with pikepdf (and qpdf's checks), attachments
byte-identical to the inputs, the provenance record, and the BagIt package with its verification.

veraPDF is not installable here; docs/archival.md says which checks a library should still run.
One archive of a copy of the white paper is built per module (about a minute)."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import bagit
import pikepdf
import pytest

from scholia.provenance import MEDIA_TYPES
from tests.conftest import ROOT, run_cli

EPOCH = "1767225600"  # 2026-01-01T00:00:00Z
EPOCH_ISO = "2026-01-01T00:00:00Z"


def copy_edition(dest: Path) -> Path:
    """The white paper's inputs in a folder of their own (other people edit the repository's)."""
    for tree in ("source", "annotations"):
        shutil.copytree(ROOT / tree, dest / tree, ignore=shutil.ignore_patterns(".*", "__pycache__"))
    return dest


def edition_files(root: Path) -> dict[str, bytes]:
    out = {}
    for tree in ("source", "annotations"):
        for p in sorted((root / tree).rglob("*")):
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts):
                out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    base = tmp_path_factory.mktemp("archive")
    edition = copy_edition(base / "edition")
    bag = base / "bag"
    result = run_cli("archive", str(edition), "--out", str(bag), "--include-drafts", "--organization", "Test Library",
                     env={"SOURCE_DATE_EPOCH": EPOCH})
    assert result.returncode == 0, result.stderr
    pdfs = list((bag / "data").glob("*.pdf"))
    assert len(pdfs) == 1
    return {"edition": edition, "bag": bag, "pdf": pdfs[0], "inputs": edition_files(edition)}


@pytest.fixture(scope="module")
def pdf(archive):
    with pikepdf.open(archive["pdf"]) as doc:
        yield doc


def test_header_id_and_no_encryption(archive, pdf):
    data = archive["pdf"].read_bytes()
    assert data.startswith(b"%PDF-1.7\n%")
    assert all(b > 127 for b in data.split(b"\n")[1][1:5])  # a binary comment line, as PDF/A asks
    assert not pdf.is_encrypted and "/Encrypt" not in pdf.trailer
    ids = pdf.trailer.ID
    assert len(ids) == 2 and all(len(bytes(i)) >= 16 for i in ids)


def test_xmp_claims_pdfa3b_and_mirrors_the_info_dictionary(archive, pdf):
    meta = pdf.open_metadata()
    assert meta.pdfa_status == "3B"
    xmp = pdf.Root.Metadata
    assert "/Filter" not in xmp  # readable as it stands
    raw = xmp.read_bytes().decode("utf-8")
    assert raw.startswith('<?xpacket begin="\ufeff"') and raw.rstrip().endswith("<?xpacket end=\"w\"?>")
    info = pdf.docinfo
    assert meta["dc:title"] == str(info["/Title"])
    assert meta["dc:creator"] == [str(info["/Author"])]  # exactly one entry, equal to /Author
    assert meta["dc:description"] == str(info["/Subject"])
    assert meta["pdf:Keywords"] == str(info["/Keywords"])
    assert meta["pdf:Producer"] == str(info["/Producer"]) == f"WeasyPrint {importlib.metadata.version('weasyprint')}"
    assert meta["xmp:CreatorTool"] == str(info["/Creator"])
    assert meta["xmp:CreateDate"] == meta["xmp:ModifyDate"] == EPOCH_ISO
    assert str(info["/CreationDate"]) == str(info["/ModDate"]) == "D:20260101000000Z"
    edition = (archive["edition"] / "source" / "edition.toml").read_text(encoding="utf-8")
    identifier = re.search(r'^identifier = "(.*)"', edition, re.M).group(1)
    assert meta["dc:identifier"] == identifier
    assert meta["dc:language"] == {"en"}
    assert meta["dc:rights"].startswith("Primary text:")
    assert re.fullmatch(r"uuid:[0-9a-f-]{36}", meta["xmpMM:DocumentID"])


def test_output_intent_language_title_and_tags(pdf):
    intents = pdf.Root.OutputIntents
    assert len(intents) == 1
    intent = intents[0]
    assert intent.S == "/GTS_PDFA1"
    profile = intent.DestOutputProfile
    assert int(profile.N) == 3 and profile.read_bytes()[36:40] == b"acsp"  # an RGB ICC profile
    assert "sRGB" in str(intent.OutputConditionIdentifier)
    assert str(pdf.Root.Lang) == "en"
    assert bool(pdf.Root.ViewerPreferences.DisplayDocTitle) is True
    assert bool(pdf.Root.MarkInfo.Marked) is True and "/StructTreeRoot" in pdf.Root
    labels = pdf.Root.PageLabels.Nums
    assert labels[1].S == "/r" and labels[3].S == "/D" and int(labels[2]) > 0


def test_fonts_embedded_no_javascript_no_forbidden_actions(pdf):
    fonts = 0
    for page in pdf.pages:
        for font in page.Resources.get("/Font", {}).values():
            target = font.DescendantFonts[0] if "/DescendantFonts" in font else font
            desc = target.FontDescriptor
            assert any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3")), target.BaseFont
            fonts += 1
        for annot in page.get("/Annots", []):
            assert annot.get("/Subtype") == "/Link"
            assert int(annot.F) & 4  # printed
            action = annot.get("/A")
            if action is not None:
                assert action.S in ("/URI", "/GoTo"), action.S
        assert "/AA" not in page
    assert fonts > 0
    names = pdf.Root.get("/Names", {})
    assert "/JavaScript" not in names and "/OpenAction" not in pdf.Root and "/AA" not in pdf.Root
    for obj in pdf.objects:
        if isinstance(obj, pikepdf.Dictionary):
            assert obj.get("/S") not in ("/JavaScript", "/Launch", "/ImportData", "/ResetForm", "/SubmitForm")
            assert "/JS" not in obj


def test_qpdf_finds_no_errors(archive, pdf):
    assert pdf.check_pdf_syntax() == []  # qpdf's checks through pikepdf
    if shutil.which("qpdf"):
        run = subprocess.run(["qpdf", "--check", str(archive["pdf"])], capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "No syntax or stream encoding errors found" in run.stdout


def test_attachments_are_byte_identical_to_the_inputs(archive, pdf):
    attached = {name: spec.get_file().read_bytes() for name, spec in pdf.attachments.items()}
    inputs = archive["inputs"]
    assert len(inputs) > 100  # every note file, not a sample
    assert set(attached) == set(inputs) | {"provenance.json"}
    for name, data in inputs.items():
        assert attached[name] == data, name


def test_associated_files_relationships_media_types_dates(archive, pdf):
    af = list(pdf.Root.AF)
    assert len(af) == len({spec.objgen for spec in af}) == len(archive["inputs"]) + 1  # each once
    names = [str(spec.UF) for spec in af]
    assert names == sorted(names)
    for spec in af:
        name = str(spec.UF)
        assert str(spec.F) == name
        rel = str(spec.AFRelationship)
        if name.startswith("source/") or name.endswith(".md"):
            assert rel == "/Source", name
        else:
            assert rel == "/Data", name
        stream = spec.EF.F
        suffix = Path(name).suffix
        assert str(stream.Subtype) == "/" + MEDIA_TYPES.get(suffix, "application/octet-stream"), name
        assert str(stream.Params.ModDate) == "D:20260101000000Z"
        assert int(stream.Params.Size) == len(stream.read_bytes())


def test_provenance_record(archive, pdf):
    embedded = pdf.attachments["provenance.json"].get_file().read_bytes()
    assert embedded == (archive["bag"] / "data" / "provenance.json").read_bytes()
    record = json.loads(embedded)
    assert str(archive["edition"]) not in embedded.decode() and "/tmp" not in embedded.decode()  # no local paths
    hashes = {i["path"]: i["sha256"] for i in record["inputs"]}
    assert hashes == {n: hashlib.sha256(d).hexdigest() for n, d in archive["inputs"].items()}
    assert record["build"]["date"] == EPOCH_ISO and record["build"]["date_from"] == "SOURCE_DATE_EPOCH"
    assert record["build"]["options"]["profile"] == "archival"
    assert record["build"]["options"]["statuses"] == ["draft", "reviewed"]
    for lib in ("weasyprint", "pypdf", "pydyf", "fonttools", "jinja2"):
        assert record["libraries"][lib] == importlib.metadata.version(lib)
    assert record["tool"]["version"] and re.fullmatch(r"[0-9a-f]{40}", record["tool"]["git_commit"])
    assert {f["file"] for f in record["fonts"]} >= {"SourceSerifPro-Regular.otf", "SourceSansPro-Regular.otf"}
    manifest = "".join(f"{i['sha256']}  {i['path']}\n" for i in record["inputs"])
    assert record["inputs_sha256"] == hashlib.sha256(manifest.encode()).hexdigest()
    # the colophon states it
    colophon = next(p for p in (page_text(pdf, i) for i in range(8)) if "Provenance" in p)
    assert record["inputs_sha256"] in colophon.replace("\n", "")
    assert record["tool"]["git_commit"][:12] in colophon and "WeasyPrint" in colophon


def page_text(pdf, index: int) -> str:
    from pypdf import PdfReader

    reader = PdfReader(pdf.filename)
    return reader.pages[index].extract_text() if index < len(reader.pages) else ""


def test_bag_is_valid_with_both_manifests_and_bag_info(archive):
    bag = bagit.Bag(str(archive["bag"]))
    bag.validate()  # raises on any failure
    assert set(bag.algorithms) == {"sha256", "sha512"}
    info = bag.info
    assert info["Source-Organization"] == "Test Library"
    assert info["External-Identifier"].startswith("urn:")
    assert info["Edition-Version"] and info["External-Description"]
    assert info["Bagging-Date"] == "2026-01-01"
    size, count = info["Payload-Oxum"].split(".")
    files = [p for p in (archive["bag"] / "data").rglob("*") if p.is_file()]
    assert int(count) == len(files) and int(size) == sum(p.stat().st_size for p in files)
    data = {p.relative_to(archive["bag"] / "data").as_posix() for p in files}
    slug = archive["pdf"].stem
    assert {f"{slug}.pdf", f"{slug}.epub", f"{slug}.html", "provenance.json"} <= data
    assert {f"sources/{n}" for n in archive["inputs"]} == {d for d in data if d.startswith("sources/")}
    run = run_cli("verify-archive", str(archive["bag"]))
    assert run.returncode == 0, run.stdout + run.stderr


def _reported(run: subprocess.CompletedProcess) -> set[str]:
    return {line.split(": ", 1)[0] for line in run.stdout.splitlines() if ": " in line}


@pytest.mark.parametrize("victim", ["sources/source/edition.toml", "{slug}.epub", "{slug}.pdf"])
def test_verify_archive_names_exactly_the_corrupted_file(archive, tmp_path, victim):
    bag = tmp_path / "bag"
    shutil.copytree(archive["bag"], bag)
    rel = "data/" + victim.format(slug=archive["pdf"].stem)
    target = bag / rel
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01  # one byte, size unchanged (Payload-Oxum still agrees)
    target.write_bytes(bytes(data))
    run = run_cli("verify-archive", str(bag))
    assert run.returncode == 1
    assert _reported(run) == {rel}, run.stdout
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(bag)).validate()


def test_verify_archive_finds_a_bagged_source_that_differs_from_the_pdf(archive, tmp_path):
    """A source replaced and the manifests rewritten to match: bagit is content, the PDF is not."""
    bag = tmp_path / "bag"
    shutil.copytree(archive["bag"], bag)
    rel = "data/sources/source/structure.toml"
    (bag / rel).write_bytes((bag / rel).read_bytes() + b"\n# changed\n")
    b = bagit.Bag(str(bag))
    b.save(manifests=True)
    b.validate()
    run = run_cli("verify-archive", str(bag))
    assert run.returncode == 1 and _reported(run) == {rel}, run.stdout
    assert "differs from the copy attached" in run.stdout and "provenance.json" in run.stdout


def test_archive_refuses_a_folder_in_use(archive, tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    run = run_cli("archive", str(archive["edition"]), "--out", str(tmp_path), env={"SOURCE_DATE_EPOCH": EPOCH})
    assert run.returncode == 1 and "not empty" in run.stderr
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_bagging_date_defaults_to_today(monkeypatch):
    from scholia.archive import bag_info

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    info = bag_info({"edition": {"title": "T", "identifier": "urn:x", "editors": ["A", "B"]}})
    assert info["Bagging-Date"] == dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    assert info["Source-Organization"] == "A, B" and info["External-Identifier"] == "urn:x"


def test_an_edition_profile_can_ask_for_pdf_ua1(tmp_path):
    """The accessible reading edition: an edition's own profile over the a4 layout, as PDF/UA-1."""
    from tests.conftest import FIXTURES

    edition = tmp_path / "edition"
    shutil.copytree(FIXTURES / "gettysburg", edition)
    (edition / "styles" / "profiles").mkdir(parents=True)
    (edition / "styles" / "profiles" / "accessible.toml").write_text(
        'css = "a4.css"\nlayout = "a4"\npdf_variant = "pdf/ua-1"\npdf_tags = true\n', encoding="utf-8")
    (edition / "styles" / "profiles" / "bad.toml").write_text('css = "a4.css"\npdf_variant = "pdf/z"\n')
    env = {"SOURCE_DATE_EPOCH": EPOCH}
    run = run_cli("build", str(edition), "--out", str(tmp_path / "out"), "--format", "pdf", "--profile", "accessible",
                  "--include-drafts", env=env)
    assert run.returncode == 0, run.stderr
    with pikepdf.open(next((tmp_path / "out").glob("*.pdf"))) as doc:
        meta = doc.open_metadata()
        assert meta["pdfuaid:part"] == "1" and "pdfaid:part" not in meta
        assert meta["dc:title"] == str(doc.docinfo["/Title"])
        assert "/StructTreeRoot" in doc.Root and bool(doc.Root.ViewerPreferences.DisplayDocTitle)
        assert str(doc.Root.Lang) and "/AF" not in doc.Root
    bad = run_cli("build", str(edition), "--out", str(tmp_path / "bad"), "--format", "pdf", "--profile", "bad",
                  env=env)
    assert bad.returncode == 1 and "pdf_variant must be one of" in bad.stderr
