"""Reader recipes: a course reader's choices in a small TOML file, so an instructor rebuilds the same
reader each term (``make_edition.py build --reader readers/week3.toml``).

    select = "II,IV"            # parts or paragraph ranges
    layers = ["../course-notes"]  # relative to this file
    types = ["context", "gloss"]  # or exclude_types = [...]
    paper = "letter"            # a4 | letter | a5
    notes = "endnotes"          # footnotes | sidenotes | endnotes
    booklet = true
    out = "build/week3"         # relative to this file
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

from .options import FORMATS, BuildError, BuildOptions

_LISTS = {"layers", "types", "exclude_types", "tags", "statuses", "formats"}
_BOOLS = {"include_drafts", "no_notes", "notes_only", "booklet"}
_PATHS = {"out"}


def read_recipe(path: Path) -> dict[str, object]:
    """The recipe's fields as BuildOptions keyword arguments; paths resolved against its folder."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BuildError(f"{path}: reader recipe not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BuildError(f"{path}: invalid TOML: {exc}") from None
    known = {f.name for f in fields(BuildOptions)}
    out: dict[str, object] = {}
    for key, value in data.items():
        if key not in known:
            raise BuildError(f"{path}: unknown recipe key '{key}' (known: {', '.join(sorted(known))})")
        if key in _LISTS:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise BuildError(f"{path}: '{key}' must be a list of strings")
            if key == "layers":
                value = [(path.parent / v).resolve() for v in value]
            if key == "formats" and any(v not in FORMATS for v in value):
                raise BuildError(f"{path}: formats must be among {', '.join(FORMATS)}")
            out[key] = tuple(value)
        elif key in _BOOLS:
            if not isinstance(value, bool):
                raise BuildError(f"{path}: '{key}' must be true or false")
            out[key] = value
        elif key in _PATHS:
            out[key] = (path.parent / str(value)).resolve()
        elif not isinstance(value, str):
            raise BuildError(f"{path}: '{key}' must be a string")
        else:
            out[key] = value
    return out
