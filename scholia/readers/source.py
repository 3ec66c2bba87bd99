"""Read ``source/``: the metadata, the primary text (plain text or Markdown) and the structure layer."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from ..model import Block, Diagnostic, Emphasis, Line, Metadata, Part, Section
from . import decode_utf8, read_utf8

REQUIRED_KEYS = ("title", "author", "date", "language", "text")
_ISO_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def _iso_date(text: str) -> bool:
    """YYYY, YYYY-MM or YYYY-MM-DD, naming a month and day that exist."""
    if not _ISO_DATE.match(text):
        return False
    try:
        dt.date.fromisoformat((text + "-01-01")[:10])
    except ValueError:
        return False
    return True


# Lines end at LF, CRLF or CR only: U+2028, U+0085 and the like are characters of the text.
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_NUMBERED = re.compile(r"^\s*((?:[IVXLCDM]+|\d+)\.)\s+(.*\S)\s*$", re.S)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s*$")
HEADING_MAX = 90  # a heading line is shorter than this


@dataclass(frozen=True)
class Structure:
    """``source/structure.toml``: marks plain text lost, without editing the text."""

    run_in_heads: tuple[tuple[str, int], ...] = ()  # (exact opening words, line in structure.toml)
    run_in_subheads: tuple[tuple[str, int], ...] = ()
    headings: tuple[tuple[str, int], ...] = ()
    not_headings: tuple[tuple[str, int], ...] = ()


def toml_line(raw: str, needle: str, default: int = 1) -> int:
    """The 1-based line where ``needle`` first stands in a TOML file's text (for messages)."""
    for quoted in (f'"{needle}"', f"'{needle}'", needle):
        at = raw.find(quoted)
        if at >= 0:
            return raw.count("\n", 0, at) + 1
    return default


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def read_metadata(root: Path) -> tuple[Metadata | None, list[Diagnostic]]:
    """Read and validate ``source/edition.toml``."""
    path = root / "source" / "edition.toml"
    rel = _rel(path, root)
    if not path.is_file():
        return None, [Diagnostic(rel, 1, "error", "metadata file missing: create source/edition.toml "
                                 f"with {', '.join(REQUIRED_KEYS)}")]
    raw, bad = read_utf8(path, rel)
    if raw is None:
        return None, bad
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        return None, [Diagnostic(rel, int(m.group(1)) if m else 1, "error", f"invalid TOML: {exc}")]
    diags: list[Diagnostic] = []
    known = {f.name for f in fields(Metadata)}
    for key in REQUIRED_KEYS:
        if not str(data.get(key, "")).strip():
            diags.append(Diagnostic(rel, 1, "error", f"required key '{key}' is missing or empty"))
    for key, value in data.items():
        line = toml_line(raw, key + " ")
        if key not in known:
            diags.append(Diagnostic(rel, line, "error", f"unknown key '{key}' (known: {', '.join(sorted(known))})"))
        elif key == "editors":
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                diags.append(Diagnostic(rel, line, "error", "'editors' must be a list of names"))
        elif not isinstance(value, str):
            diags.append(Diagnostic(rel, line, "error", f"'{key}' must be a string"))
    if isinstance(data.get("date"), str) and data["date"] and not _iso_date(data["date"]):
        diags.append(Diagnostic(rel, toml_line(raw, "date "), "error",
                                f"'date' must be ISO 8601 (YYYY-MM-DD), not {data['date']!r}"))
    if isinstance(data.get("language"), str) and data["language"] and not _BCP47.match(data["language"]):
        diags.append(Diagnostic(rel, toml_line(raw, "language "), "error",
                                f"'language' must be a BCP 47 tag such as 'en' or 'zh-Hans', not {data['language']!r}"))
    if isinstance(data.get("slug"), str) and data["slug"] and not _SLUG.fullmatch(data["slug"]):
        diags.append(Diagnostic(rel, toml_line(raw, "slug "), "error", f"'slug' names the output files: use "
                                f"letters, digits, '.', '-' and '_' (no folders), not {data['slug']!r}"))
    if any(d.severity == "error" for d in diags):
        return None, diags
    values = {k: v for k, v in data.items() if k in known}
    values["editors"] = tuple(values.get("editors", ()))
    meta = Metadata(**values)
    if not meta.slug:
        meta = Metadata(**{**values, "slug": Path(meta.text).stem})
    return meta, diags


def read_structure(root: Path) -> tuple[Structure, list[Diagnostic]]:
    """Read the optional structure layer ``source/structure.toml``."""
    path = root / "source" / "structure.toml"
    if not path.is_file():
        return Structure(), []
    rel = _rel(path, root)
    raw, bad = read_utf8(path, rel)
    if raw is None:
        return Structure(), bad
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        return Structure(), [Diagnostic(rel, int(m.group(1)) if m else 1, "error", f"invalid TOML: {exc}")]
    diags: list[Diagnostic] = []
    lists: dict[str, tuple[tuple[str, int], ...]] = {}
    for key in ("run_in_heads", "run_in_subheads", "headings", "not_headings"):
        value = data.pop(key, [])
        if not (isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)):
            diags.append(Diagnostic(rel, toml_line(raw, key), "error", f"'{key}' must be a list of non-empty strings"))
            value = []
        lists[key] = tuple((v, toml_line(raw, v)) for v in value)
    for key in data:
        diags.append(Diagnostic(rel, toml_line(raw, key), "error",
                                f"unknown key '{key}' (known: run_in_heads, run_in_subheads, headings, not_headings)"))
    return Structure(**lists), diags


def read_text(root: Path, meta: Metadata) -> tuple[str | None, Path, list[Diagnostic]]:
    """Read the primary text file as UTF-8, and compare its SHA-256 with the recorded one."""
    path = root / "source" / meta.text
    meta_rel = "source/edition.toml"
    if not path.resolve().is_relative_to((root / "source").resolve()):
        return None, path, [Diagnostic(meta_rel, 1, "error", f"'text' names {meta.text!r}, outside source/: "
                                       "keep the primary text in the source folder")]
    if not path.is_file():
        return None, path, [Diagnostic(meta_rel, 1, "error", f"text file 'source/{meta.text}' not found: "
                                       "put the primary text there or correct 'text'")]
    data = path.read_bytes()
    text, diags = decode_utf8(data, _rel(path, root))
    if text is None:
        return None, path, diags
    if meta.sha256 and hashlib.sha256(data).hexdigest() != meta.sha256.lower():
        diags.append(Diagnostic(meta_rel, 1, "warning",
                                f"source/{meta.text} no longer matches the recorded sha256: the text changed; "
                                "run `make_edition.py reanchor` or record the new hash"))
    return text, path, diags


# --- Building the parts -----------------------------------------------------------------------

@dataclass
class _RawBlock:
    kind: str  # "heading" | "subheading" | "paragraph"
    lines: list[Line]
    text: str
    emphasis: tuple[Emphasis, ...] = ()


def _source_lines(text: str) -> list[Line]:
    out, offset = [], 0
    for number, chunk in enumerate(_LINES.findall(text), 1):
        body = chunk.rstrip("\r\n")
        out.append(Line(number, offset, body))
        offset += len(chunk)
    return out


def _join(lines: list[Line]) -> str:
    text = ""
    for line in lines:
        if text and not text[-1].isspace() and not line.text[:1].isspace():
            text += " "
        text += line.text
    return text


def _looks_like_heading(stripped: str) -> bool:
    return len(stripped) < HEADING_MAX and not _SENTENCE_END.search(stripped)


def _plain_blocks(text: str, structure: Structure) -> list[_RawBlock]:
    forced = {s.strip() for s, _ in structure.headings}
    vetoed = {s.strip() for s, _ in structure.not_headings}
    blocks: list[_RawBlock] = []
    previous_heading = False
    for line in _source_lines(text):
        stripped = line.text.strip()
        if not stripped:
            previous_heading = False
            continue
        heading = stripped in forced or (stripped not in vetoed and _looks_like_heading(stripped))
        if heading and previous_heading:
            blocks[-1].lines.append(line)
            blocks[-1].text = _join(blocks[-1].lines)
        elif heading:
            blocks.append(_RawBlock("heading", [line], line.text))
        else:
            blocks.append(_RawBlock("paragraph", [line], line.text))
        previous_heading = heading
    return blocks


_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
# Strong, then emphasis; as in CommonMark, an underscore inside a word (snake_case) is no delimiter.
_EMPH = re.compile(r"\*\*(?=\S)(?P<a>.+?)(?<=\S)\*\*|(?<!\w)__(?=\S)(?P<b>.+?)(?<=\S)__(?!\w)"
                   r"|\*(?=\S)(?P<c>.+?)(?<=\S)\*|(?<!\w)_(?=\S)(?P<d>.+?)(?<=\S)_(?!\w)")


def _strip_emphasis(text: str) -> tuple[str, tuple[Emphasis, ...]]:
    """Remove Markdown emphasis markers, recording where the emphasised runs stand."""
    out, spans, pos = [], [], 0
    for m in _EMPH.finditer(text):
        out.append(text[pos:m.start()])
        start = sum(map(len, out))
        strong = m.group("a") is not None or m.group("b") is not None
        inner = next(g for g in m.group("a", "b", "c", "d") if g is not None)
        out.append(inner)
        spans.append(Emphasis(start, start + len(inner), strong=strong))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out), tuple(spans)


def _markdown_blocks(text: str) -> list[_RawBlock]:
    blocks: list[_RawBlock] = []
    para: list[Line] = []

    def flush() -> None:
        if para:
            plain, emph = _strip_emphasis("\n".join(ln.text for ln in para))
            blocks.append(_RawBlock("paragraph", list(para), plain, emph))
            para.clear()

    for line in _source_lines(text):
        m = _ATX.match(line.text)
        if m:
            flush()
            level = len(m.group(1))
            heading_line = Line(line.number, line.offset + m.start(2), m.group(2))
            blocks.append(_RawBlock("heading" if level == 1 else "subheading", [heading_line], m.group(2)))
        elif not line.text.strip():
            flush()
        else:
            para.append(line)
    flush()
    return blocks


def _label_for(title: str, taken: set[str]) -> str:
    """A short, unique label: the heading's number ("IV"), else its first letters ("P" for Preface);
    a repeated number gets a suffix ("IV-2") so that ids stay unique even in a malformed text."""
    m = _NUMBERED.match(title)
    if m:
        label = m.group(1).rstrip(".")
        n = 2
        while label in taken:
            label = f"{m.group(1).rstrip('.')}-{n}"
            n += 1
        return label
    words = re.findall(r"\w+", title)
    word = words[0] if words else "S"
    for n in range(1, len(word) + 1):
        candidate = word[:n].upper()
        if candidate not in taken:
            return candidate
    return f"{word.upper()}{len(taken)}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "x"


def build_parts(text: str, structure: Structure, markdown: bool,
                struct_rel: str) -> tuple[tuple[Part, ...], list[Diagnostic]]:
    """Turn the text into parts → sections → paragraphs with stable numbers and ids."""
    raw = _markdown_blocks(text) if markdown else _plain_blocks(text, structure)
    heads = [(s, ln, 1) for s, ln in structure.run_in_heads] + [(s, ln, 2) for s, ln in structure.run_in_subheads]
    used: set[str] = set()
    diags: list[Diagnostic] = []
    parts: list[Part] = []
    taken: set[str] = set()

    # group raw blocks under their part headings
    groups: list[tuple[_RawBlock | None, list[_RawBlock]]] = []
    for rb in raw:
        if rb.kind == "heading":
            groups.append((rb, []))
        else:
            if not groups:
                groups.append((None, []))
            groups[-1][1].append(rb)

    for heading_raw, body in groups:
        title_all = " ".join(heading_raw.text.split()) if heading_raw else ""
        label = _label_for(title_all, taken) if heading_raw else "0"
        taken.add(label)
        lid = _slug(label)
        m = _NUMBERED.match(title_all)
        heading = None
        if heading_raw:
            heading = Block(f"h-{lid}", "heading", label, heading_raw.text, tuple(heading_raw.lines))
        runs: list[tuple[str, Block | None, list[Block]]] = [("", None, [])]  # (title, heading, paragraphs)
        n = 0
        for rb in body:
            if rb.kind == "subheading":
                k = len(runs)
                runs.append((" ".join(rb.text.split()), Block(f"h-{lid}-{k}", "heading", f"{label}.§{k}", rb.text,
                                                              tuple(rb.lines)), []))
                continue
            n += 1
            lead = len(rb.text) - len(rb.text.lstrip())
            run_in, level = 0, 0
            for head, _, lvl in heads:
                if rb.text.startswith(head, lead):
                    run_in, level = lead + len(head), lvl
                    used.add(head)
                    break
            block = Block(f"p-{lid}-{n}", "paragraph", f"{label}.{n}", rb.text, tuple(rb.lines), run_in, rb.emphasis)
            if level == 1:
                runs.append((" ".join(rb.text[lead:run_in].split()), None, []))
            runs[-1][2].append(block)
        kept = [r for r in runs if r[1] or r[2]]
        sections = [Section(f"s-{lid}-{i}", title, tuple(paras), head)
                    for i, (title, head, paras) in enumerate(kept, 1)]
        parts.append(Part(f"part-{lid}", label, heading, m.group(1) if m else "",
                          m.group(2).strip() if m else title_all, tuple(sections)))

    if not markdown:
        present = {ln.strip() for ln in _LINES.findall(text)}
        for key, items in (("headings", structure.headings), ("not_headings", structure.not_headings)):
            for value, line in items:
                if value.strip() not in present:
                    diags.append(Diagnostic(struct_rel, line, "error",
                                            f"{key}: no line of the text reads {value.strip()[:60]!r}"))
    for head, line, _ in heads:
        if head not in used:
            diags.append(Diagnostic(struct_rel, line, "error",
                                    f"run-in head not found at the start of any paragraph: {head[:60]!r}"))
    return tuple(parts), diags
