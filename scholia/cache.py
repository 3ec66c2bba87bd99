"""A content-addressed cache of build outputs.

The key is a SHA-256 over everything that can change a byte of output: every file of the edition's
source/, annotations/ and styles/, of each --layer, of the tool's own styles and code, the versions of
the libraries and fonts that shape the output, the build date, and every option. A changed input
gives a new key, so a cached output can never be stale; unchanged inputs give the same bytes a fresh
build would (builds are deterministic), which the tests check.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import sys
import time
import zlib
from dataclasses import asdict
from pathlib import Path

from . import provenance
from .options import BuildOptions

KEEP = 24  # cached builds kept; older ones are removed
_ENTRY = re.compile(r"[0-9a-f]{64}")  # a cached build's folder (the stage folders beside it are not)
# Those whose code or data reaches an output, and the readers' (which decide what anchors where).
LIBRARIES = (*provenance.LIBRARIES, "pyahocorasick", "rapidfuzz")
FONT_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/truetype/noto"))


def cache_dir() -> Path:
    base = os.environ.get("SCHOLIA_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "scholia")
    return Path(base)


@functools.cache
def versions() -> dict[str, str]:
    """The versions of Python and of the libraries that shape the output (they cannot change under a
    running build)."""
    return {"python": sys.version, **{name: provenance.installed_version(name) or "-" for name in LIBRARIES}}


def _font_stamp() -> list[tuple[str, int, int]]:
    """System font files by name, size and mtime (hashing gigabytes of CJK fonts would be slow)."""
    stamp = []
    for d in FONT_DIRS:
        for p in provenance.files_under(d):
            st = p.stat()
            stamp.append((str(p), st.st_size, int(st.st_mtime)))
    return stamp


def _files_digest(folders: list[Path]) -> str:
    """A SHA-256 over every file below ``folders``: its path in its folder and its bytes."""
    h = hashlib.sha256()
    for folder in dict.fromkeys(f.resolve() for f in folders):
        for path in provenance.files_under(folder):
            h.update(f"{path.relative_to(folder)}\0".encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
        h.update(f"\0{folder}\1".encode())
    return h.hexdigest()


@functools.cache
def _tool_digest() -> str:
    """The tool's own code and styles (they cannot change under a running build)."""
    tool = Path(__file__).resolve().parent
    return _files_digest([tool, tool.parent / "styles"])


def layout_stamp(roots: list[Path]) -> str:
    """What every kept layout (``writers/weasyprint_memory``) depends on beyond its document: the
    tool's code, the libraries' versions, and the font files, system ones and those under ``roots``
    (the folders the print writer may read), by path, size and modification time."""
    files = [(str(p), p.stat().st_size, int(p.stat().st_mtime)) for r in roots for p in provenance.files_under(r)]
    return hashlib.sha256(json.dumps({"tool": _tool_digest(), "versions": versions(), "fonts": _font_stamp(),
                                      "files": files}, sort_keys=True).encode()).hexdigest()


def build_key(root: Path, options: BuildOptions, build_date: str) -> str:
    """The cache key of a build (see the module docstring for what it covers)."""
    folders = [root / "source", root / "annotations", root / "styles"]
    settings = {k: str(v) for k, v in asdict(options).items() if k not in ("out", "cache")}
    return hashlib.sha256(json.dumps({
        "edition": _files_digest(folders), "layers": _files_digest([Path(p) for p in options.layers]),
        "tool": _tool_digest(), "options": settings, "date": build_date, "versions": versions(),
        "fonts": _font_stamp(), "env": os.environ.get("SCHOLIA_PANDOC", ""),
        "provenance": provenance.cache_stamp()}, sort_keys=True).encode()).hexdigest()


def load(key: str) -> dict[str, bytes] | None:
    """The outputs of a cached build (file name → bytes), or None."""
    entry = cache_dir() / key
    manifest = entry / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        names = json.loads(manifest.read_text(encoding="utf-8"))
        out = {}
        for name, digest in names.items():
            data = (entry / name).read_bytes()
            if hashlib.sha256(data).hexdigest() != digest:
                return None  # a damaged entry is a miss, never an output
            out[name] = data
    except (OSError, ValueError):
        return None
    os.utime(entry)
    return out


def store(key: str, outputs: dict[str, bytes]) -> None:
    """Keep a build's outputs; failures to cache never fail a build."""
    base = cache_dir()
    try:
        base.mkdir(parents=True, exist_ok=True)
        tmp = base / f".{key}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for name, data in outputs.items():
            (tmp / name).write_bytes(data)
        (tmp / "manifest.json").write_text(json.dumps(
            {name: hashlib.sha256(data).hexdigest() for name, data in outputs.items()}), encoding="utf-8")
        final = base / key
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        entries = sorted((p for p in base.iterdir() if p.is_dir() and _ENTRY.fullmatch(p.name)),
                         key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP:]:
            shutil.rmtree(old, ignore_errors=True)
    except OSError:
        pass


class Store:
    """A folder of stage results kept between builds (laid-out chapters, painted pages, formatted
    citations, font subsets), each under a key that covers everything it depends on: files
    ``<key>.pickle``, each a tag, the SHA-256 of its body and the body. A file that is missing,
    damaged or of another kind is a miss, never an error; failing to keep one never fails a build.
    Files are written whole and renamed into place; the most recently used are kept up to
    ``keep_bytes``."""

    TAG = b"scholia-store-1\n"

    def __init__(self, folder: Path, keep_bytes: int = 128 * 2**20) -> None:
        self.folder = folder
        self.keep_bytes = keep_bytes

    def load(self, key: str) -> bytes | None:
        """The value kept under ``key``, or None."""
        path = self.folder / f"{key}.pickle"
        try:
            data = path.read_bytes()
            os.utime(path)  # used: kept longer
        except OSError:
            return None
        start = len(self.TAG) + 32
        if not data.startswith(self.TAG) or len(data) <= start:
            return None
        body = data[start:]
        return body if hashlib.sha256(body).digest() == data[len(self.TAG):start] else None

    def deflated(self, data: bytes, new: dict[str, bytes], wbits: int = 15) -> tuple[bytes, bool]:
        """``data`` deflated at level 9 (``wbits`` as zlib takes them: 15 a zlib stream, as in a PDF;
        -15 raw, as in a zip file): read back when an earlier build kept it and it inflates to
        exactly ``data`` (a planted file is ignored), else made here and put in ``new`` to be kept.
        Also says whether it was read back."""
        key = ("deflate-" if wbits > 0 else "deflate-raw-") + hashlib.sha256(data).hexdigest()
        kept = self.load(key)
        if kept is not None:
            try:
                if zlib.decompress(kept, wbits) == data:
                    return kept, True
            except zlib.error:
                pass
        compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
        made = new[key] = compressor.compress(data) + compressor.flush()
        return made, False

    def store(self, items: dict[str, bytes]) -> None:
        """Keep each value under its key."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for key, body in items.items():
                tmp = self.folder / f".{key}.{os.getpid()}.tmp"
                tmp.write_bytes(self.TAG + hashlib.sha256(body).digest() + body)
                os.replace(tmp, self.folder / f"{key}.pickle")
            files, stale = [], time.time() - 3600
            with os.scandir(self.folder) as entries:
                for entry in entries:
                    if entry.name.endswith(".pickle"):
                        files.append((entry.stat(), entry.path))
                    elif entry.name.endswith(".tmp") and entry.stat().st_mtime < stale:
                        with contextlib.suppress(OSError):  # left by a process stopped while writing
                            os.unlink(entry.path)
            files.sort(key=lambda f: f[0].st_mtime, reverse=True)
            total = 0
            for st, path in files:
                total += st.st_size
                if total > self.keep_bytes:
                    with contextlib.suppress(OSError):
                        os.unlink(path)
        except OSError:
            pass


def stage_store(name: str) -> Store:
    """The store of one kind of stage result, in its own folder of the cache."""
    return Store(cache_dir() / name)
