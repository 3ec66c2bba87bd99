"""Read note files: YAML front matter, then a Markdown body (the public note format)."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path

import yaml

from ..citesyntax import citations_in_link_text, parse_citations
from ..model import Diagnostic, Note, NoteType, Target
from . import read_utf8

REQUIRED = ("target", "type", "status")
OPTIONAL = ("authors", "tags", "created", "modified", "title", "license", "source", "lang")
TARGET_KEYS = ("quote", "prefix", "suffix", "paragraph")
MAX_NOTE_BYTES = 256 * 1024


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when available: 10x faster
    """Safe YAML (no tags that build objects) that keeps every date as written text."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:null",
                                               "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _suggest(word: str, options: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def read_note_types(path: Path, rel: str) -> tuple[list[NoteType], list[Diagnostic]]:
    """An edition's or layer's own note types: ``[[type]] name = "question" label = "Question"``."""
    if not path.is_file():
        return [], []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return [], [Diagnostic(rel, 1, "error", f"invalid TOML: {exc}")]
    out = []
    for item in data.get("type", []):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            return out, [Diagnostic(rel, 1, "error", "each [[type]] needs a string 'name' (and a 'label')")]
        out.append(NoteType(item["name"], str(item.get("label", item["name"].capitalize()))))
    return out, []


def _precise_yaml_error(text: str) -> yaml.YAMLError | None:
    """libyaml's error marks are coarser: ask the pure-Python parser where the problem is."""
    try:
        yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        return exc
    except RecursionError:  # nested deeper than the pure-Python parser can follow: libyaml's mark stands
        return None
    return None


def split_front_matter(text: str) -> tuple[str, str, int] | None:
    """Split ``---\\nYAML\\n---\\nbody``; returns (yaml, body, 1-based line of the body's first line)."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].rstrip() in ("---", "..."):
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1:]), i + 2
    return None


def read_note(path: Path, rel: str, types: tuple[str, ...], statuses: tuple[str, ...],
              layer: str = "") -> tuple[Note | None, list[Diagnostic]]:
    """Read one note file; every problem becomes a Diagnostic with the offending line."""
    def err(line: int, msg: str) -> Diagnostic:
        return Diagnostic(rel, line, "error", msg)

    if path.stat().st_size > MAX_NOTE_BYTES:
        return None, [err(1, f"note file is larger than {MAX_NOTE_BYTES // 1024} KiB")]
    text, bad = read_utf8(path, rel)
    if text is None:
        return None, bad
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    split = split_front_matter(text)
    if split is None:
        return None, [err(1, "missing front matter: a note starts with a line '---', YAML fields, and a closing '---'")]
    fm_text, body, body_line = split
    try:
        loader = _Loader(fm_text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        found = _precise_yaml_error(fm_text) or exc
        mark = getattr(found, "problem_mark", None)
        line = mark.line + 2 if mark else 1
        problem = getattr(found, "problem", None) or str(found)
        return None, [err(line, f"malformed YAML front matter: {problem}")]
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        return None, [err(2, "front matter must be a YAML mapping of fields (target, type, status, ...)")]

    lines: dict[str, int] = {}
    sub_lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        lines[str(key_node.value)] = key_node.start_mark.line + 2
        if key_node.value == "target" and isinstance(value_node, yaml.MappingNode):
            for k, _ in value_node.value:
                sub_lines[str(k.value)] = k.start_mark.line + 2

    diags: list[Diagnostic] = []
    for key in data:
        if key not in REQUIRED + OPTIONAL:
            diags.append(err(lines.get(str(key), 2), f"unknown field '{key}'{_suggest(str(key), REQUIRED + OPTIONAL)}"))
    for key in REQUIRED:
        if key not in data:
            diags.append(err(2, f"missing required field '{key}'"))

    def text_field(key: str, allowed: tuple[str, ...] = ()) -> str:
        value = data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            diags.append(err(lines[key], f"'{key}' must be a string, not {type(value).__name__}"))
            return ""
        if allowed and value not in allowed:
            diags.append(err(lines[key], f"unknown {key} '{value}' (one of: {', '.join(allowed)})"
                                         f"{_suggest(value, allowed)}"))
        return value

    def list_field(key: str) -> tuple[str, ...]:
        value = data.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            diags.append(err(lines[key], f"'{key}' must be a list of strings"))
            return ()
        return tuple(value)

    note_type = text_field("type", types)
    status = text_field("status", statuses)
    authors = list_field("authors")
    tags = list_field("tags")
    for key in ("created", "modified", "title", "license", "source", "lang"):
        text_field(key)

    target = Target()
    raw_target = data.get("target")
    if "target" in data:
        if not isinstance(raw_target, dict):
            diags.append(err(lines["target"], "'target' must be a mapping with 'quote' (and optional 'prefix', "
                                              "'suffix') or 'paragraph'"))
        else:
            values: dict[str, str] = {}
            for key, value in raw_target.items():
                line = sub_lines.get(str(key), lines["target"])
                if key not in TARGET_KEYS:
                    diags.append(err(line, f"unknown target field '{key}'{_suggest(str(key), TARGET_KEYS)}"))
                elif not isinstance(value, (str, int, float)) or isinstance(value, bool):
                    diags.append(err(line, f"target '{key}' must be a string"))
                else:
                    values[key] = str(value)
            if "quote" in values and "paragraph" in values:
                diags.append(err(sub_lines["paragraph"], "give either target 'quote' or 'paragraph', not both"))
            elif not values.get("quote", "").strip() and not values.get("paragraph", "").strip():
                diags.append(err(lines["target"], "target needs a non-empty 'quote' (exact words of the text) "
                                                  "or a 'paragraph' number"))
            target = Target(**values)

    if not body.strip():
        diags.append(err(min(body_line, text.count("\n") + 1), "note body is empty: write it below the front matter"))
    citations = parse_citations(body, body_line)
    for line in citations_in_link_text(body, body_line):
        diags.append(Diagnostic(rel, line, "warning", "a citation inside a link's text is left as written "
                                "(a link cannot hold another): move it out of the brackets"))
    field_lines = dict(lines)
    field_lines.update({f"target.{k}": v for k, v in sub_lines.items()})
    known = set(REQUIRED + OPTIONAL)
    note = Note(
        id=path.stem, path=rel, type=note_type, status=status, authors=authors, tags=tags, target=target,
        body=body, body_line=body_line, citations=tuple(citations), field_lines=field_lines,
        extra={k: v for k, v in data.items() if k in known - {"target", "type", "status", "authors", "tags"}},
        layer=layer,
    )
    return (note if not any(d.severity == "error" for d in diags) else None), diags


def read_notes(notes_dir: Path, root: Path, types: tuple[str, ...], statuses: tuple[str, ...],
               layer: str = "") -> tuple[list[Note], list[Diagnostic]]:
    """Read every ``*.md`` under ``notes_dir`` in a stable order; ids (file stems) must be unique."""
    notes: list[Note] = []
    diags: list[Diagnostic] = []
    if not notes_dir.is_dir():
        return notes, diags
    for path in sorted(notes_dir.rglob("*.md")):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            rel = path.as_posix()
        note, found = read_note(path, rel, types, statuses, layer)
        diags.extend(found)
        if note:
            notes.append(note)
    return notes, diags
