"""Where the edition's fonts are, what they cover, and the @font-face rules that load them.

Fonts are installed by the project's set-up from package registries, never fetched at build time:
the book faces come from PyPI (``font-source-serif-pro``, ``font-source-sans-pro``), the faces for
Chinese and Arabic-script (Uyghur) quotations from Debian (``fonts-noto-cjk``, ``fonts-noto-core``).
A missing font, or a character that no face of a stack covers, is a build error, not silent tofu.
Used by the PDF writer and by the EPUB writer (which embeds the same files).
"""

from __future__ import annotations

import bisect
import hashlib
import html as htmllib
import importlib.util
import re
import subprocess
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cache import Store
    from .render import Rendered

DEBIAN_FONT_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/truetype/noto"))


class FontError(Exception):
    """A font or a glyph the edition needs is missing; the message says how to install it."""


@dataclass(frozen=True)
class Face:
    """One font file (or one face of a .ttc collection) and the CSS descriptors it serves."""

    family: str
    weight: int
    style: str  # "normal" | "italic"
    path: Path
    index: int = 0  # face number inside a .ttc
    package: str = ""  # what installs it: "pip:font-source-serif-pro", "apt:fonts-noto-cjk"

    def css(self) -> str:
        return (f'@font-face {{ font-family: "{self.family}"; font-weight: {self.weight}; '
                f'font-style: {self.style}; src: url("{self.path.as_uri()}"); }}')


@dataclass(frozen=True)
class Stack:
    """A font stack: a primary family for Latin script and fallbacks for other scripts."""

    role: str  # "text" (primary text, headings) or "note" (commentary, apparatus)
    faces: tuple[Face, ...]

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.family for f in self.faces))

    def css_family(self) -> str:
        return ", ".join(f'"{f}"' for f in self.families)


def _pip_dir(module: str, package: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        raise FontError(f"font package {package} is not installed; run `pip install {package}`")
    return Path(spec.origin).resolve().parent / "files"


def _file(folder: Path, name: str, package: str) -> Path:
    path = folder / name
    if not path.is_file():
        how = f"pip install {package[4:]}" if package.startswith("pip:") else f"apt-get install {package[4:]}"
        raise FontError(f"font file {path} is missing; install it with `{how}`")
    return path


def _debian(name: str) -> Path:
    for d in DEBIAN_FONT_DIRS:
        if (d / name).is_file():
            return d / name
    return DEBIAN_FONT_DIRS[0] / name


@cache
def stacks() -> dict[str, Stack]:
    """The text and note stacks, with every file checked to exist."""
    serif_pkg, sans_pkg = "pip:font-source-serif-pro", "pip:font-source-sans-pro"
    serif = _pip_dir("font_source_serif_pro", serif_pkg[4:])
    sans = _pip_dir("font_source_sans_pro", sans_pkg[4:])
    cjk, arabic = "apt:fonts-noto-cjk", "apt:fonts-noto-core"

    def latin(folder: Path, family: str, prefix: str, package: str) -> list[Face]:
        files = {(400, "normal"): "Regular", (400, "italic"): "It", (600, "normal"): "Semibold",
                 (600, "italic"): "SemiboldIt", (700, "normal"): "Bold", (700, "italic"): "BoldIt"}
        return [Face(family, w, s, _file(folder, f"{prefix}-{n}.otf", package), 0, package)
                for (w, s), n in files.items()]

    def noto_cjk(kind: str) -> list[Face]:
        # Simplified Chinese is face 2 of Debian's collections (JP, KR, SC, TC, HK).
        return [Face(f"Noto {kind} CJK SC", w, "normal", _file(_debian(f"Noto{kind}CJK-{n}.ttc").parent,
                                                                  f"Noto{kind}CJK-{n}.ttc", cjk), 2, cjk)
                for w, n in ((400, "Regular"), (700, "Bold"))]

    def naskh() -> list[Face]:
        return [Face("Noto Naskh Arabic", w, "normal", _file(_debian(f"NotoNaskhArabic-{n}.ttf").parent,
                                                                f"NotoNaskhArabic-{n}.ttf", arabic), 0, arabic)
                for w, n in ((400, "Regular"), (700, "Bold"))]

    return {
        "text": Stack("text", tuple(latin(serif, "Source Serif Pro", "SourceSerifPro", serif_pkg)
                                    + noto_cjk("Serif") + naskh())),
        "note": Stack("note", tuple(latin(sans, "Source Sans Pro", "SourceSansPro", sans_pkg)
                                    + noto_cjk("Sans") + naskh())),
    }


def font_dirs() -> list[Path]:
    """Folders holding the font files: the only places outside styles/ that a writer may read."""
    return sorted({f.path.resolve().parent for s in stacks().values() for f in s.faces})


def font_face_css() -> str:
    """@font-face rules for every face that a document loads by URL (the .ttc collections are
    reached through fontconfig by family name, which selects the right face of the collection)."""
    return "\n".join(f.css() for s in stacks().values() for f in s.faces if f.path.suffix != ".ttc")


@cache
def _hb_face(path: Path, index: int) -> object:
    import uharfbuzz as hb

    return hb.Face(hb.Blob.from_file_path(str(path)), index)


@dataclass(frozen=True)
class Coverage:
    """The code points a face maps, as runs ``[starts[i], ends[i])``: a CJK face maps ~44,000, and
    a set of them took longer to build than the rest of the EPUB's fonts."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def __contains__(self, point: int) -> bool:
        i = bisect.bisect_right(self.starts, point) - 1
        return i >= 0 and point < self.ends[i]

    @classmethod
    def of(cls, points: Iterable[int]) -> Coverage:
        runs: list[list[int]] = []
        for n in sorted(points):
            if runs and runs[-1][1] == n:
                runs[-1][1] = n + 1
            else:
                runs.append([n, n + 1])
        return cls(tuple(a for a, _ in runs), tuple(b for _, b in runs))


def _face_key(kind: str, path: Path, index: int, *more: object) -> str:
    """A key for what is made from one face of a font file with uharfbuzz: the file's path, size and
    modification time, the face, ``more`` and uharfbuzz's version."""
    from .provenance import installed_version

    st = path.stat()
    return hashlib.sha256(repr((kind, str(path), st.st_size, st.st_mtime_ns, index, *more,
                                installed_version("uharfbuzz"))).encode()).hexdigest()


@cache
def cmap(path: Path, index: int = 0) -> Coverage:
    """The code points a face maps (HarfBuzz reads it in microseconds; fontTools took 1.2 s for the
    CJK collection). Kept in the cache folder, like compiled templates, under the font file's path,
    size and modification time, the face and uharfbuzz's version: each process that needs them (the
    reading, the HTML, the EPUB) spent 0.04-0.06 s importing uharfbuzz and reading the faces."""
    import json

    from .cache import stage_store

    key = _face_key("cmap-2", path, index)
    store = stage_store("cmaps")
    kept = store.load(key)
    try:
        runs = json.loads(kept) if kept is not None else None
    except ValueError:
        runs = None
    if isinstance(runs, list) and len(runs) == 2 and all(isinstance(r, list) and all(type(n) is int for n in r)
                                                         for r in runs) and len(runs[0]) == len(runs[1]):
        return Coverage(tuple(runs[0]), tuple(runs[1]))
    found = Coverage.of(_hb_face(path, index).unicodes)
    store.store({key: json.dumps([found.starts, found.ends], separators=(",", ":")).encode()})
    return found


@cache
def subset(path: Path, index: int, chars: frozenset[int]) -> bytes:
    """A face cut down to ``chars`` by HarfBuzz's subsetter (5 ms for a CJK face where fontTools took
    seconds). Every name record is kept, the OFL licence among them; the bytes depend only on the
    font and the characters."""
    import uharfbuzz as hb

    spec = hb.SubsetInput()
    for cp in sorted(chars):
        spec.unicode_set.add(cp)
    names = spec.sets(hb.SubsetInputSets.NAME_ID)
    for name_id in range(256):
        names.add(name_id)
    spec.sets(hb.SubsetInputSets.NAME_LANG_ID).invert()
    return hb.subset(_hb_face(path, index), spec).blob.data


def _ignorable(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp")


def missing_glyphs(text: str, role: str, bold: bool = False, italic: bool = False) -> list[str]:
    """Characters of ``text`` that no face of the ``role`` stack covers (in the regular/bold
    and upright/italic variant asked for, falling back to the regular faces of other scripts)."""
    stack = stacks()[role]
    weight = 700 if bold else 400
    style = "italic" if italic else "normal"
    candidates = [f for f in stack.faces if f.weight == weight and f.style == style] or list(stack.faces)
    candidates += [f for f in stack.faces if f.path.suffix == ".ttc" or "Arabic" in f.family]
    chars = sorted(ch for ch in set(text) if not _ignorable(ch))  # each distinct character once
    covered = [cmap(f.path, f.index) for f in candidates]
    return [ch for ch in chars if not any(ord(ch) in c for c in covered)]


def check_coverage(texts: Iterable[tuple[str, str, str]]) -> None:
    """``texts``: (role, where, text) triples. Raise FontError naming every uncovered character
    and the first place it occurs."""
    distinct = [(role, where, set(text)) for role, where, text in texts]
    roles: dict[str, set[str]] = {}
    for role, _, chars in distinct:
        roles.setdefault(role, set()).update(chars)
    missing = {role: set(missing_glyphs("".join(chars), role)) for role, chars in roles.items()}  # each once
    problems: dict[str, str] = {}
    for role, where, chars in distinct:
        for ch in sorted(chars & missing[role]):
            problems.setdefault(ch, f"{where} ({role} font)")
    if problems:
        lines = [f"  U+{ord(ch):04X} {unicodedata.name(ch, '?')} {ch!r} in {where}" for ch, where in problems.items()]
        raise FontError("no installed font has a glyph for these characters (they would print as empty boxes):\n"
                        + "\n".join(lines) + "\nadd a font that covers them to scholia/fonts.py or change the text")


def check_edition(rendered: Rendered) -> None:
    """Raise FontError if any character of the edition, as the print edition sets it, has no glyph
    in its font stack (text or notes)."""
    ed = rendered.edition
    m = ed.metadata
    texts = [("text", ed.source_path, ed.source_text),
             ("text", "source/edition.toml", " ".join([m.title, m.subtitle, m.author, m.date, *m.editors])),
             ("note", "source/edition.toml", " ".join([m.rights, m.publisher, m.identifier, m.source_url])),
             ("text", "annotations/introduction.md", plain_text(rendered.introduction_html)),
             ("text", "annotations/about.md", plain_text(rendered.about_html))]
    texts += [("note", rn.note.path, plain_text(rn.body_html) + rn.label + rn.byline + rn.lemma)
              for rn in rendered.notes]
    texts += [("note", f"bibliography entry {key}", plain_text(entry)) for key, entry in rendered.bibliography]
    texts += [("note", "note authors", " ".join(a for rn in rendered.notes for a in rn.note.authors))]
    check_coverage(texts)


def plain_text(html_text: str) -> str:
    """The characters of an HTML text as a reader sees them (tags as spaces, entities decoded)."""
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", html_text))


def allowed_pdf_fonts() -> set[str]:
    """PostScript-name prefixes that may appear in a PDF built with these stacks."""
    names = set()
    for s in stacks().values():
        for f in s.faces:
            names.add(f.family.replace(" ", ""))
    return names


# ---------------------------------------------------------------- fonts for EPUB and web pages

FALLBACK_FACES = (  # (role, family, weight, style, fontconfig pattern) when scholia.fonts has no fonts
    ("text", "DejaVu Serif", 400, "normal", "DejaVu Serif:style=Book"),
    ("text", "DejaVu Serif", 700, "normal", "DejaVu Serif:style=Bold"),
    ("text", "DejaVu Serif", 400, "italic", "DejaVu Serif:style=Italic"),
    ("text", "DejaVu Serif", 700, "italic", "DejaVu Serif:style=Bold Italic"),
    ("note", "DejaVu Sans", 400, "normal", "DejaVu Sans:style=Book"),
    ("note", "DejaVu Sans", 700, "normal", "DejaVu Sans:style=Bold"),
    ("note", "DejaVu Sans", 400, "italic", "DejaVu Sans:style=Oblique"),
    ("note", "DejaVu Sans", 700, "italic", "DejaVu Sans:style=Bold Oblique"),
)
WEB_WEIGHTS = (400, 700)  # the weights the stylesheet uses (regular, bold)


@dataclass(frozen=True)
class FontFace:
    role: str  # "text" or "note"
    family: str
    weight: int
    style: str
    path: Path
    index: int = 0  # face number in a .ttc collection


def web_faces() -> tuple[dict[str, list[str]], list[FontFace]]:
    """The edition's open-licensed fonts in the weights EPUB and web pages use (regular, bold), or
    the system's DejaVu when those are not installed: (families of each role, faces)."""
    try:
        stacks_ = stacks()
        faces = [FontFace(role, f.family, f.weight, f.style, f.path, f.index)
                 for role, stack in sorted(stacks_.items()) for f in stack.faces if f.weight in WEB_WEIGHTS]
        return {role: list(stack.families) for role, stack in stacks_.items()}, faces
    except Exception:  # noqa: BLE001 -- fonts missing or module absent: fall back, the EPUB stays valid
        pass
    found: list[FontFace] = []
    for role, family, weight, style, pattern in FALLBACK_FACES:
        try:
            path = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True, text=True,
                                  timeout=20, check=False).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            break
        if path and Path(path).is_file() and path.lower().endswith((".ttf", ".otf")):
            found.append(FontFace(role, family, weight, style, Path(path)))
    return {role: sorted({f.family for f in found if f.role == role}) for role in ("text", "note")}, found


def embed(faces: list[FontFace], families: dict[str, list[str]], text: str, store: Store | None = None
          ) -> list[tuple[FontFace, bytes]]:
    """Subsets of the faces for the characters of ``text``: each role's first family gets every character
    it has (and basic Latin); the fallback families (other scripts) only what the first one lacks, and
    are left out when the text needs nothing from them. With ``store``, subsets made by earlier
    builds are read back (``kept_subsets``)."""
    used = {ord(c) for c in set(text) if not c.isspace()} | set(range(0x20, 0x7F))  # set(): once per character
    cmaps = {face: cmap(face.path, face.index) for face in faces}
    primary: dict[str, list[Coverage]] = {}
    for face in faces:
        if families.get(face.role) and face.family == families[face.role][0] and face.style == "normal":
            primary.setdefault(face.role, []).append(cmaps[face])
    wants: dict[tuple[Path, int], set[int]] = {}  # one file may serve both roles (a shared fallback)
    for face in faces:
        is_primary = bool(families.get(face.role)) and face.family == families[face.role][0]
        others = () if is_primary else primary.get(face.role, ())
        want = {c for c in used if c in cmaps[face] and not any(c in p for p in others)}
        wants.setdefault((face.path, face.index), set()).update(want)
    chosen = {}
    for face in faces:
        if wants[(face.path, face.index)]:
            chosen.setdefault((face.path, face.index), face)
    made = kept_subsets([(face.path, face.index, frozenset(wants[key])) for key, face in chosen.items()], store)
    return list(zip(chosen.values(), made, strict=True))


def kept_subsets(asked: list[tuple[Path, int, frozenset[int]]], store: Store | None) -> list[bytes]:
    """``subset`` of each (path, index, characters), those made before read back from ``store`` (0.04 s
    of an EPUB's 0.2 s), under the font file's path, size and modification time, the face, the
    characters and HarfBuzz's version; new ones are kept there."""
    if store is None:
        return [subset(*a) for a in asked]
    out, new = [], {}
    for path, index, chars in asked:
        key = _face_key("web-subset-1", path, index, sorted(chars))
        data = store.load(key)
        if data is None:
            data = new[key] = subset(path, index, chars)
        out.append(data)
    if new:
        store.store(new)
    return out
