"""A package for a library's ingest: the archival edition as a BagIt bag (RFC 8493), and its check.

``make_edition.py archive`` builds the edition with the ``archival`` profile (PDF/A-3b with every
input and ``provenance.json`` attached), the EPUB and the HTML edition, and bags them::

    <out>/bagit.txt, bag-info.txt, manifest-sha256.txt, manifest-sha512.txt, tagmanifest-*.txt
    <out>/data/<slug>.pdf, <slug>.epub, <slug>.html, provenance.json
    <out>/data/sources/source/..., data/sources/annotations/...   (the inputs, as provenance.json lists them)

``make_edition.py verify-archive DIR`` validates the bag with the ``bagit`` library (every payload
file against both manifests, Payload-Oxum, tag files), then checks that the files attached to the
PDF are byte-identical to the bagged ``data/sources`` and ``data/provenance.json``, and that each
bagged source has the SHA-256 that ``provenance.json`` records. It names each file that fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from .options import FORMATS, BuildError, BuildOptions

CHECKSUMS = ("sha256", "sha512")
PROFILE = "archival"


@dataclass(frozen=True)
class Problem:
    """One failed check: ``path`` relative to the bag (``data/sources/source/edition.toml``)."""

    path: str
    message: str


def _bagging_date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC)
    return when.strftime("%Y-%m-%d")


def attachments(pdf: bytes) -> dict[str, bytes]:
    """The files attached to a PDF, by name."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    return {name: data[0] for name, data in reader.attachments.items() if data}


def bag_info(record: dict, organization: str = "") -> dict[str, str]:
    """bag-info.txt fields from the provenance record (bagit adds Payload-Oxum and the agent)."""
    ed = record.get("edition", {})
    title = ed.get("title", "")
    if ed.get("subtitle"):
        title += f": {ed['subtitle']}"
    editors = ed.get("editors") or []
    version = f", version {ed['version']}" if ed.get("version") else ""
    issued = f"{ed.get('author', 'its author')} ({ed.get('date', 'undated')})"
    info = {
        "Source-Organization": organization or ", ".join(editors) or ed.get("author", "") or "unknown",
        "External-Description": (f"{title}. An annotated edition{version} of the text issued by {issued}: the "
                                 "archival PDF (PDF/A-3b, with its sources and provenance attached), the EPUB, "
                                 "the HTML edition, and the sources with provenance.json."),
        "Bagging-Date": _bagging_date(),
        "External-Identifier": ed.get("identifier", "") or ed.get("slug", ""),
        "Edition-Version": ed.get("version", ""),
        "Edition-Build-Date": record.get("build", {}).get("date", ""),
        "Edition-Inputs-SHA256": record.get("inputs_sha256", ""),
    }
    return {k: v for k, v in info.items() if v}


def make_archive(root: Path, out: Path, options: BuildOptions, organization: str = "") -> Path:
    """Build the archival edition, EPUB and HTML and bag them with the sources in ``out`` (a new or
    empty folder). Returns the bag's folder."""
    import bagit

    from .build import build
    from .provenance import input_files

    root, out = root.resolve(), out.resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BuildError(f"{out} exists and is not empty: give --out a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        written = build(root, replace(options, formats=FORMATS, profile=PROFILE, out=staging, booklet=False))
        pdf = next(p for p in written if p.suffix == ".pdf")
        record_bytes = attachments(pdf.read_bytes()).get("provenance.json")
        if record_bytes is None:
            raise BuildError(f"the {PROFILE} profile did not attach provenance.json to the PDF")
        (staging / "provenance.json").write_bytes(record_bytes)
        record = json.loads(record_bytes)
        recorded = {i["path"]: i["sha256"] for i in record["inputs"]}
        found = {f.name: f for f in input_files(root, options.layers)}
        if set(found) != set(recorded) or any(found[n].sha256 != h for n, h in recorded.items()):
            raise BuildError("the edition's files changed while it was being archived; run archive again")
        for name, f in found.items():
            target = staging / "sources" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f.path, target)
        logging.getLogger("bagit").setLevel(logging.WARNING)
        bagit.make_bag(str(staging), bag_info(record, organization), processes=1, checksums=list(CHECKSUMS))
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _bag_problems(bag_dir: Path) -> tuple[list[Problem], bool]:
    """bagit's validation, one Problem per failing file; and whether the bag could be read at all."""
    import bagit

    logging.getLogger("bagit").setLevel(logging.ERROR)
    try:
        bag = bagit.Bag(str(bag_dir))
    except bagit.BagError as exc:
        return [Problem(".", f"not a BagIt bag: {exc}")], False
    problems: list[Problem] = []
    try:
        bag.validate(processes=1)
    except bagit.BagValidationError as exc:
        for d in exc.details or ():
            if isinstance(d, bagit.ChecksumMismatch):
                problems.append(Problem(str(d.path), f"{d.algorithm} is {d.found}, the manifest says {d.expected}"))
            elif isinstance(d, bagit.FileMissing):
                problems.append(Problem(str(d.path), "in the manifest but missing"))
            elif isinstance(d, bagit.UnexpectedFile):
                problems.append(Problem(str(d.path), "present but in no manifest"))
            else:
                problems.append(Problem(str(getattr(d, "path", ".")), str(d)))
        if not exc.details:  # Payload-Oxum or structure: say which files where possible
            missing, extra = bag.compare_manifests_with_fs()
            problems += [Problem(p, "in the manifest but missing") for p in missing]
            problems += [Problem(p, "present but in no manifest") for p in extra]
            if not missing and not extra:
                problems.append(Problem("bag-info.txt" if "Oxum" in str(exc) else ".", str(exc)))
    except bagit.BagError as exc:
        problems.append(Problem(".", str(exc)))
    return problems, True


def _safe_name(name: str) -> bool:
    p = PurePosixPath(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts and "\\" not in name


def verify_archive(bag_dir: Path) -> list[Problem]:
    """Every problem with the bag at ``bag_dir``; an empty list when it is valid and the PDF's
    attached sources equal the bagged ones."""
    problems, readable = _bag_problems(bag_dir)
    if not readable:
        return problems
    data = bag_dir / "data"
    bad = {p.path for p in problems}
    pdfs = sorted(p for p in data.glob("*.pdf") if p.is_file())
    if not pdfs:
        return [*problems, Problem("data", "no PDF in the payload")]
    pdf = pdfs[0]
    pdf_rel = pdf.relative_to(bag_dir).as_posix()
    if pdf_rel in bad:
        return [*problems, Problem(pdf_rel, "fails its checksums, so its attached sources were not compared")]
    try:
        attached = attachments(pdf.read_bytes())
    except Exception as exc:  # noqa: BLE001 - any parse failure of a damaged PDF is a finding
        return [*problems, Problem(pdf_rel, f"cannot be read: {exc}")]
    if "provenance.json" not in attached:
        problems.append(Problem(pdf_rel, "has no provenance.json attached (not an archival PDF)"))
    for name, content in sorted(attached.items()):
        if not _safe_name(name):
            problems.append(Problem(pdf_rel, f"attachment with an unsafe name {name!r}"))
            continue
        rel = "data/provenance.json" if name == "provenance.json" else f"data/sources/{name}"
        bagged = bag_dir / rel
        if not bagged.is_file():
            problems.append(Problem(rel, f"attached to {pdf.name} but not in the bag"))
        elif bagged.read_bytes() != content:
            problems.append(Problem(rel, f"differs from the copy attached to {pdf.name}"))
    sources = data / "sources"
    for path in sorted(sources.rglob("*")) if sources.is_dir() else ():
        name = path.relative_to(sources).as_posix()
        if path.is_file() and name not in attached:
            problems.append(Problem(f"data/sources/{name}", f"bagged but not attached to {pdf.name}"))
    record_file = data / "provenance.json"
    if record_file.is_file() and "data/provenance.json" not in bad:
        try:
            inputs = json.loads(record_file.read_bytes())["inputs"]
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(Problem("data/provenance.json", f"unreadable: {exc}"))
            inputs = []
        for item in inputs:
            rel = f"data/sources/{item['path']}"
            path = bag_dir / rel
            if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() != item["sha256"]:
                problems.append(Problem(rel, "SHA-256 differs from the one provenance.json records"))
    return problems


def report(problems: list[Problem]) -> str:
    """One line per failing file, its findings joined."""
    by: dict[str, list[str]] = {}
    for p in problems:
        by.setdefault(p.path, []).append(p.message)
    return "\n".join(f"{path}: {'; '.join(dict.fromkeys(msgs))}" for path, msgs in sorted(by.items()))


def add_archive_parser(sub: argparse._SubParsersAction, dir_arg) -> None:
    a = sub.add_parser("archive", help="write a BagIt bag for a library: archival PDF, EPUB, HTML, sources",
                       description="Build the edition with the archival profile (PDF/A-3b with its sources and "
                       "provenance.json attached), the EPUB and the HTML edition, and package them with the sources "
                       "as a BagIt bag (SHA-256 and SHA-512 manifests). See docs/archival.md.")
    dir_arg(a)
    a.add_argument("--out", type=Path, default=Path("build/archive"),
                   help="the bag's folder, new or empty (default: build/archive)")
    a.add_argument("--organization", default="",
                   help="bag-info Source-Organization (default: the edition's editors)")
    a.add_argument("--include-drafts", action="store_true", help="print notes whose status is draft too")
    a.add_argument("--status", dest="statuses", type=lambda v: tuple(s.strip() for s in v.split(",") if s.strip()),
                   default=(), help="print notes with these statuses (default: reviewed)")
    a.add_argument("--csl", default="chicago-author-date", help="citation style (default: chicago-author-date)")


def add_verify_parser(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("verify-archive", help="validate a bag made by archive; name every file that fails",
                       description="Validate the BagIt bag (manifests, Payload-Oxum, tag files) and check that the "
                       "sources attached to its PDF equal the bagged ones and the SHA-256 in provenance.json. "
                       "Exit 0 when all is well, 1 when any file fails.")
    v.add_argument("bag", type=Path, help="the bag's folder")


def run_archive(args: argparse.Namespace) -> int:
    root = args.dir.resolve()
    options = BuildOptions(include_drafts=args.include_drafts, statuses=args.statuses, csl=args.csl)
    try:
        bag = make_archive(root, args.out, options, args.organization)
    except BuildError as exc:
        print(f"make_edition.py: archive failed:\n{exc}", file=sys.stderr)
        return 1
    print(bag)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    if not args.bag.is_dir():
        print(f"make_edition.py: error: no such folder: {args.bag}", file=sys.stderr)
        return 2
    problems = verify_archive(args.bag)
    if problems:
        print(report(problems))
        print(f"{len({p.path for p in problems})} file(s) failed", file=sys.stderr)
        return 1
    count = sum(1 for p in (args.bag / "data").rglob("*") if p.is_file())
    print(f"valid: {count} payload files match both manifests; the PDF's attached sources equal the bagged ones",
          file=sys.stderr)
    return 0
