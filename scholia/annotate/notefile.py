"""Note files as text: where a note goes, how a new one is written, and byte-preserving edits.

Edits never re-dump YAML: the value of a front-matter field is replaced in place using the
character marks of the YAML parser, so every other byte of the file stays as it was.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..model import Part
from ..readers.notes import split_front_matter


def part_folder(part: Part) -> str:
    """The folder under ``annotations/notes/`` for a part: its number ("I", "II") or its title ("preface")."""
    if part.number:
        return slugify(part.number.rstrip(".")).upper() or part.label
    return slugify(part.title).lower() or slugify(part.label).lower() or "front"


def slugify(text: str, max_words: int = 0) -> str:
    """ASCII, lower-case words joined by hyphens (``max_words``: keep at most that many, skipping small words)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[A-Za-z0-9]+", ascii_text)
    if max_words:
        small = {"a", "an", "the", "of", "and", "in", "on", "to", "for", "by", "with", "as", "at", "its", "their"}
        kept = [w for w in words if w.lower() not in small] or words
        words = kept[:max_words]
    return "-".join(w.lower() for w in words)


def yaml_str(value: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax, which YAML reads as the same string)."""
    return json.dumps(value, ensure_ascii=False)


@dataclass
class NewNote:
    """The fields of a note file written by the tool (new-note, import-annotations)."""

    quote: str = ""
    prefix: str = ""
    suffix: str = ""
    paragraph: str = ""
    type: str = "gloss"
    authors: tuple[str, ...] = ()
    status: str = "draft"
    tags: tuple[str, ...] = ()
    extra: tuple[tuple[str, str], ...] = ()  # optional fields in order: created, modified, title, license...
    body: str = ""


def render_note(n: NewNote) -> str:
    """The text of a note file in the format of the README."""
    lines = ["---", "target:"]
    if n.paragraph:
        lines.append(f"  paragraph: {yaml_str(n.paragraph)}")
    else:
        lines.append(f"  quote: {yaml_str(n.quote)}")
        if n.prefix:
            lines.append(f"  prefix: {yaml_str(n.prefix)}")
        if n.suffix:
            lines.append(f"  suffix: {yaml_str(n.suffix)}")
    lines.append(f"type: {n.type}")
    if n.authors:
        lines.append(f"authors: [{', '.join(yaml_str(a) for a in n.authors)}]")
    lines.append(f"status: {n.status}")
    if n.tags:
        lines.append(f"tags: [{', '.join(yaml_str(t) for t in n.tags)}]")
    for key, value in n.extra:
        lines.append(f"{key}: {yaml_str(value)}")
    lines.append("---")
    body = n.body.strip("\n")
    return "\n".join(lines) + "\n" + body + "\n"


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write a file so that readers see the old or the new content, never a half-written one."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EditError(ValueError):
    """The front matter cannot be edited in place (it is not the YAML mapping a note needs)."""


DELETE = None


def edit_front_matter(text: str, fields: dict[str, str | None], target: dict[str, str | None]) -> str:
    """Set (value) or remove (None) top-level ``fields`` and ``target`` sub-fields, textually.

    Values are written as double-quoted scalars; a field that is not there is added after its
    siblings with their indentation. Everything else in ``text`` is kept byte for byte.
    """
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    crlf = "\r\n" in text
    body = text[len(bom):].replace("\r\n", "\n") if crlf else text[len(bom):]
    split = split_front_matter(body)
    if split is None:
        raise EditError("missing front matter")
    fm = split[0]
    start = body.index("\n") + 1  # the front matter begins after the first '---' line
    try:
        root = yaml.compose(fm, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise EditError(f"malformed YAML: {exc}") from exc
    if not isinstance(root, yaml.MappingNode):
        raise EditError("front matter is not a mapping")
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement) in front-matter offsets
    edits += _plan(fm, root, fields, top=True)
    if target:
        tnode = next((v for k, v in root.value if k.value == "target"), None)
        if not isinstance(tnode, yaml.MappingNode):
            raise EditError("'target' is not a mapping")
        edits += _plan(fm, tnode, target, top=False)
    new_fm = fm
    for s, e, rep in sorted(edits, key=lambda x: (x[0], x[1]), reverse=True):
        new_fm = new_fm[:s] + rep + new_fm[e:]
    out = body[:start] + new_fm + body[start + len(fm):]
    if crlf:
        out = out.replace("\n", "\r\n")
    return bom + out


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    """The index just past the line break of the line holding ``index - 1`` (end of a value)."""
    nl = text.find("\n", max(index - 1, 0))
    return len(text) if nl < 0 else nl + 1


def _value_span(fm: str, node: yaml.Node) -> tuple[int, int]:
    s, e = node.start_mark.index, node.end_mark.index
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        while e > s and fm[e - 1] == "\n":  # a block scalar's marks include its final line breaks
            e -= 1
    return s, e


def _scalar(value: str, top: bool) -> str:
    """Top-level keywords (``status: orphaned``) stay plain; every other value is double-quoted."""
    return value if top and re.fullmatch(r"[a-z][a-z0-9_-]*", value) and value not in ("null", "true", "false",
                                                                                       "yes", "no", "on", "off") \
        else yaml_str(value)


def _plan(fm: str, mapping: yaml.MappingNode, changes: dict[str, str | None], top: bool) -> list[tuple[int, int, str]]:
    edits: list[tuple[int, int, str]] = []
    present = {k.value: (k, v) for k, v in mapping.value}
    flow = mapping.flow_style
    for key, value in changes.items():
        if key in present:
            knode, vnode = present[key]
            if value is not None:
                s, e = _value_span(fm, vnode)
                edits.append((s, e, _scalar(value, top)))
            elif flow:
                s = knode.start_mark.index
                e = _value_span(fm, vnode)[1]
                m = re.match(r"\s*,\s*", fm[e:])
                if m:
                    e += m.end()
                else:  # the last item: take the comma before it instead
                    before = fm[:s].rstrip()
                    if before.endswith(","):
                        s = len(before) - 1
                edits.append((s, e, ""))
            else:
                s = _line_start(fm, knode.start_mark.index)
                e = _line_end(fm, _value_span(fm, vnode)[1])
                edits.append((s, e, ""))
        elif value is not None:
            if not mapping.value:
                raise EditError("cannot add a field to an empty mapping")
            last_k, last_v = mapping.value[-1]
            end = _value_span(fm, last_v)[1]
            if flow:
                edits.append((end, end, f", {key}: {_scalar(value, top)}"))
            else:
                indent = " " * last_k.start_mark.column
                at = _line_end(fm, end)
                text = f"{indent}{key}: {_scalar(value, top)}\n"
                if at == len(fm) and not fm.endswith("\n"):
                    text = "\n" + text.rstrip("\n")
                edits.append((at, at, text))
    return edits
