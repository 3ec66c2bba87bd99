"""Read BibTeX files into :class:`scholia.model.BibEntry` records, with diagnostics.

Parsing (splitting a file into blocks and fields) is bibtexparser v2's; everything the model
promises on top of it is done here, in this order, so each step sees what it needs:

1. ``@string`` macros (and the standard month macros ``jan`` … ``dec``) are resolved, also in
   ``#`` concatenations. The result, with its outer ``{}``/``""`` removed but its LaTeX kept, is
   ``BibEntry.raw`` (so ``{Protected}`` capitals survive there for the CSL converter).
2. ``BibEntry.fields`` is ``raw`` decoded to Unicode: LaTeX accents and commands, ``--`` → en
   dash, ``---`` → em dash, ``~`` → no-break space, TeX quotes → typographic quotes, protective
   braces dropped. URL-like fields (url, doi, eprint, file) are kept verbatim.
3. ``author``, ``editor`` … become ``BibEntry.persons`` (BibTeX name splitting); a name that is a
   single brace group, ``{{World Health Organization}}``, is an institution
   (``Person(last=..., literal=True)``).
4. ``crossref`` is resolved across all files: a child gets its parent's missing fields (and a
   book's title as ``booktitle`` for chapters and proceedings papers).

Diagnostics name the file relative to ``root`` and a 1-based line: syntax errors, duplicate
keys (across all files, case-insensitively as BibTeX does), undefined macros, unknown
crossref targets (errors), and entries missing a field their type requires (warnings).
"""

from __future__ import annotations

import hashlib
import json
import logging
import pathlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import bibtexparser
import pylatexenc.latex2text
from bibtexparser import model as bpmodel
from bibtexparser.middlewares.names import (
    InvalidNameError,
    parse_single_name_into_parts,
)
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec

from scholia.model import BibEntry, Diagnostic, Person

if TYPE_CHECKING:
    from scholia.cache import Store

__all__ = ["REQUIRED_FIELDS", "decode_latex", "read_bibliographies", "read_bibliography_text"]

#: Fields holding names, split into ``BibEntry.persons``.
NAME_FIELDS = ("author", "editor", "translator", "bookauthor", "editora", "editorb", "editorc")

#: Fields whose value is not LaTeX text and is kept verbatim.
VERBATIM_FIELDS = frozenset({"url", "doi", "eprint", "file", "verba", "verbb", "verbc", "pdf"})

MONTHS = {
    "jan": "January", "feb": "February", "mar": "March", "apr": "April", "may": "May",
    "jun": "June", "jul": "July", "aug": "August", "sep": "September", "oct": "October",
    "nov": "November", "dec": "December",
}  # fmt: skip

#: Required fields per entry type, after the BibTeX manual (btxdoc) and the biblatex manual
#: (§2.1). Each requirement is a tuple of alternatives: ("author", "editor") means either.
REQUIRED_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "article": (("author",), ("title",), ("journal", "journaltitle"), ("year", "date")),
    "book": (("author", "editor"), ("title",), ("publisher",), ("year", "date")),
    "mvbook": (("author", "editor"), ("title",), ("year", "date")),
    "booklet": (("title",),),
    "inbook": (("author", "editor"), ("title",), ("chapter", "pages"), ("publisher",),
               ("year", "date")),
    "bookinbook": (("author",), ("title",), ("year", "date")),
    "incollection": (("author",), ("title",), ("booktitle",), ("publisher",), ("year", "date")),
    "collection": (("editor",), ("title",), ("year", "date")),
    "inproceedings": (("author",), ("title",), ("booktitle",), ("year", "date")),
    "conference": (("author",), ("title",), ("booktitle",), ("year", "date")),
    "proceedings": (("title",), ("year", "date")),
    "manual": (("title",),),
    "mastersthesis": (("author",), ("title",), ("school", "institution"), ("year", "date")),
    "phdthesis": (("author",), ("title",), ("school", "institution"), ("year", "date")),
    "thesis": (("author",), ("title",), ("type",), ("institution", "school"), ("year", "date")),
    "techreport": (("author",), ("title",), ("institution",), ("year", "date")),
    "report": (("author",), ("title",), ("type",), ("institution",), ("year", "date")),
    "unpublished": (("author",), ("title",), ("note",)),
    "misc": (("title",),),
    "online": (("author", "editor"), ("title",), ("year", "date"), ("url",)),
    "electronic": (("title",), ("url",)),
    "www": (("title",), ("url",)),
    "patent": (("author",), ("title",), ("number",), ("year", "date")),
    "periodical": (("editor",), ("title",), ("year", "date")),
    "dataset": (("author", "editor"), ("title",), ("year", "date")),
    "software": (("author", "editor"), ("title",), ("year", "date")),
    "legislation": (("title",),),
    "legal": (("title",),),
    "jurisdiction": (("title",),),
    "standard": (("title",),),
}  # fmt: skip

#: Entry types whose ``booktitle`` a crossref parent's ``title`` supplies (biblatex's mapping).
_CONTAINED_TYPES = frozenset(
    {"inbook", "incollection", "inproceedings", "conference", "bookinbook", "suppbook",
     "suppcollection", "inreference"}
)  # fmt: skip

logging.getLogger("bibtexparser").addHandler(logging.NullHandler())  # we report, not it

_CONTEXT = pylatexenc.latex2text.get_default_latex_context_db()
_CONTEXT.add_context_category(
    "scholia-bibtex", prepend=True, macros=[MacroTextSpec("url", simplify_repl="%s")]
)
_DECODER = LatexNodes2Text(latex_context=_CONTEXT, math_mode="verbatim", keep_braced_groups=False)

_SINGLE_QUOTED = re.compile(r"`(?!`)(.*?)'(?![\w'])", re.DOTALL)


_kept: dict[str, str] | None = None  # within ``decoded_kept``: value → its decoding
_used: set[str] = set()

MAX_FIELD_CHARS = 20_000  # an abstract fits; a field that long otherwise is a mistake or an attack


def decode_latex(value: str) -> str:
    """Decode a BibTeX field value (LaTeX) to plain Unicode text."""
    if not any(c in value for c in "\\{}$~-`'"):
        return " ".join(value.split())
    if _kept is None:
        return _decode(value)
    _used.add(value)
    found = _kept.get(value)
    if found is None:
        found = _kept[value] = _decode(value)
    return found


@contextmanager
def decoded_kept(store: Store | None) -> Iterator[None]:
    """Within the block, ``decode_latex`` takes the decodings an earlier build kept in ``store`` (a
    ``cache.Store``), and afterwards the decodings of the values it was given are kept there, when
    any was new. pylatexenc took 0.08-0.1 s for the white paper's 181 fields in every build. They
    are kept as JSON (no pickle) under a SHA-256 of this module's code and pylatexenc's version."""
    global _kept
    if store is None:
        yield
        return
    key = hashlib.sha256(b"latex-1\0" + pylatexenc.__version__.encode() + b"\0"
                         + pathlib.Path(__file__).read_bytes()).hexdigest()
    try:
        found = json.loads(store.load(key) or b"{}")
    except ValueError:  # a damaged file is a miss
        found = {}
    kept = {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str)} \
        if isinstance(found, dict) else {}
    _kept, known = kept, set(kept)
    _used.clear()
    try:
        yield
    finally:
        _kept = None
    if _used - known:
        store.store({key: json.dumps({v: kept[v] for v in sorted(_used)}, ensure_ascii=False).encode()})


def _decode(value: str) -> str:
    try:
        text = _DECODER.latex_to_text(value)
    except Exception:  # noqa: BLE001  (pylatexenc is lenient; keep the text readable if not)
        text = value.replace("{", "").replace("}", "")
    text = _SINGLE_QUOTED.sub(lambda m: "\u2018" + m.group(1) + "\u2019", text)
    text = text.replace("`", "\u2018").replace("'", "\u2019")
    # line breaks and runs of white space inside a field are one space (the no-break space stays)
    return re.sub(r"[ \t\r\n]+", " ", text).strip()


def _verbatim(value: str) -> str:
    value = re.sub(r"\\([_%&#$~])", r"\1", value)
    value = re.sub(r"^\\url\{(.*)\}$", r"\1", value.strip(), flags=re.DOTALL)
    return "".join(value.split())


# ------------------------------------------------------------------------------------------------
# values: @string macros and concatenation


def _split_concatenation(value: str) -> list[str] | None:
    """Split a field value at top-level ``#``; None if its delimiters do not balance."""
    parts: list[str] = []
    depth = 0
    in_quotes = False
    start = 0
    for i, c in enumerate(value):
        if c == "\\" and i + 1 < len(value):
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return None
        elif c == '"' and depth == 0 and (i == 0 or value[i - 1] != "\\"):
            in_quotes = not in_quotes
        elif c == "#" and depth == 0 and not in_quotes:
            parts.append(value[start:i].strip())
            start = i + 1
    if depth != 0 or in_quotes:
        return None
    parts.append(value[start:].strip())
    return parts


def _trailing_garbage(value: str) -> int | None:
    """Offset of text after a complete ``{...}`` or ``"..."`` value that is no ``#`` concatenation
    (the sign of a missing comma between two fields), else None."""
    v = value.rstrip()
    lead = len(v) - len(v.lstrip())
    v = v.lstrip()
    if not v or v[0] not in '{"':
        return None
    depth = 0
    for i, c in enumerate(v):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == '"' and v[0] == '"' and i > 0 and depth == 0 and v[i - 1] != "\\":
            pass
        else:
            continue
        if depth == 0 and (v[0] == "{" or c == '"'):
            rest = v[i + 1 :]
            if rest.strip() and not rest.lstrip().startswith("#"):
                return lead + i + 1 + (len(rest) - len(rest.lstrip()))
            return None
    return None


def _resolve(value: str, strings: dict[str, str], undefined: list[str]) -> str:
    """A raw field value as written → its text with macros resolved and outer delimiters off."""
    parts = _split_concatenation(value.strip())
    if parts is None:
        return value.strip()
    out = []
    for part in parts:
        if (
            len(part) >= 2
            and part[0] == "{"
            and part[-1] == "}"
            or len(part) >= 2
            and part[0] == '"'
            and part[-1] == '"'
        ):
            out.append(part[1:-1])
        elif part.isdigit():
            out.append(part)
        elif part.lower() in strings:
            out.append(strings[part.lower()])
        elif part.lower() in MONTHS:
            out.append(MONTHS[part.lower()])
        else:
            undefined.append(part)
            out.append(part)
    return "".join(out)


# ------------------------------------------------------------------------------------------------
# names


def _is_single_group(name: str) -> bool:
    """True if ``name`` is one brace group ``{...}`` from its first to its last character."""
    if len(name) < 2 or name[0] != "{" or name[-1] != "}":
        return False
    depth = 0
    for i, c in enumerate(name):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0 and i != len(name) - 1:
                return False
    return True


def split_names(value: str) -> list[str]:
    """Split a name list at the word ``and`` outside braces (BibTeX's rule)."""
    names: list[str] = []
    word_start = 0
    depth = 0
    current: list[str] = []
    words: list[str] = []
    i = 0
    text = value + " "
    while i < len(text):
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth = max(0, depth - 1)
        elif c.isspace() and depth == 0:
            word = text[word_start:i]
            if word:
                words.append(word)
            word_start = i + 1
        i += 1
    for word in words:
        if word.lower() == "and":
            names.append(" ".join(current))
            current = []
        else:
            current.append(word)
    names.append(" ".join(current))
    return [n for n in names if n]


def parse_names(value: str) -> tuple[tuple[Person, ...], list[str]]:
    """Split a raw (LaTeX) name list into persons; also returns problems found."""
    persons: list[Person] = []
    problems: list[str] = []
    for name in split_names(value):
        name = " ".join(name.split())
        if not name:
            continue
        if _is_single_group(name):
            persons.append(Person(last=decode_latex(name[1:-1]), literal=True))
            continue
        try:
            parts = parse_single_name_into_parts(name, strict=True)
        except InvalidNameError as exc:
            problems.append(f"name {name!r}: {exc}")
            parts = parse_single_name_into_parts(name, strict=False)
        persons.append(
            Person(
                last=decode_latex(" ".join(parts.last)),
                first=decode_latex(" ".join(parts.first)),
                von=decode_latex(" ".join(parts.von)),
                jr=decode_latex(" ".join(parts.jr)),
            )
        )
    return tuple(persons), problems


# ------------------------------------------------------------------------------------------------
# syntax errors


def _syntax_error(block: bpmodel.ParsingFailedBlock, text: str | None) -> tuple[int, str]:
    """A failed block → (1-based line, message) pointing at the actual fault where possible."""
    start = (block.start_line or 0) + 1
    raw = block.raw or ""
    head = re.match(r"\s*@\s*(\w+)\s*[{(]\s*([^,\s]*)", raw)
    what = f"@{head.group(1)}{{{head.group(2)}" if head else "block"
    # Walk the block's braces: a value whose '{' is never closed is the usual fault. It shows
    # as a new "name =" line, or a new "@type{", while still inside a field value.
    stack: list[int] = []
    field_name = ""
    quote_line = 0
    line = start
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\n":
            line += 1
            rest = raw[i + 1 : raw.find("\n", i + 1) if "\n" in raw[i + 1 :] else len(raw)]
            if quote_line and re.match(r"\s*([\w:.-]+\s*=|@\s*\w+\s*[{(])", rest):
                return quote_line, (
                    f"syntax error in {what}: the value of field {field_name!r} opened here "
                    "with '\"' is never closed"
                )
            if len(stack) >= 2 and re.match(r"\s*[\w:.-]+\s*=", rest):
                return stack[1], (
                    f"syntax error in {what}: the value of field {field_name!r} opened here "
                    "with '{' is never closed"
                )
            if stack and re.match(r"\s*@\s*\w+\s*[{(]", rest):
                if len(stack) >= 2:
                    return stack[1], (
                        f"syntax error in {what}: the value of field {field_name!r} opened "
                        "here with '{' is never closed"
                    )
                return start, f"syntax error in {what}: entry is not closed (missing '}}')"
        elif c == "\\":
            i += 2
            continue
        elif c == '"' and len(stack) == 1:
            if not quote_line:
                m = re.search(r"([\w:.-]+)\s*=\s*$", raw[:i])
                field_name = m.group(1).lower() if m else ""
            quote_line = 0 if quote_line else line
        elif c == "{":
            if len(stack) == 1 and not quote_line:
                m = re.search(r"([\w:.-]+)\s*=\s*$", raw[:i])
                field_name = m.group(1).lower() if m else ""
            stack.append(line)
        elif c == "}":
            if stack:
                stack.pop()
            else:
                return line, f"syntax error in {what}: unmatched '}}'"
        i += 1
    if len(stack) >= 2:
        return stack[1], (
            f"syntax error in {what}: the value of field {field_name!r} opened here with '{{' "
            "is never closed"
        )
    err = block.error
    reason = str(getattr(err, "abort_reason", "") or err).strip()
    end_index = getattr(err, "end_index", None)
    if "end of file" in reason or not reason:
        if len(stack) == 1:
            return start, f"syntax error in {what}: entry is not closed (missing '}}')"
        return start, f"syntax error in {what}: {reason or type(err).__name__}"
    # the parser's own reason, at the line where it gave up
    stop = start + raw.rstrip().count("\n")
    if isinstance(end_index, int) and text is not None:
        stop = text.count("\n", 0, min(end_index, len(text))) + 1
    if "`=`" in reason:
        reason = reason.replace("entry key, but", "field name, but")
    elif "after entry key" in reason:
        stop = start
    return stop, f"syntax error in {what}: {' '.join(reason.split())}"


# ------------------------------------------------------------------------------------------------
# reading


def _rel(path: pathlib.Path, root: pathlib.Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


class _Pending:
    """An entry read but not yet finished (crossref still to resolve)."""

    def __init__(self, entry: BibEntry, crossref: str, crossref_line: int):
        self.entry = entry
        self.crossref = crossref
        self.crossref_line = crossref_line


def _read_one(
    text: str, rel: str, strings: dict[str, str], diags: list[Diagnostic]
) -> list[_Pending]:
    library = bibtexparser.parse_string(text, parse_stack=[])
    out: list[_Pending] = []
    after_failure = False
    for block in library.blocks:
        previous_failed, after_failure = after_failure, False
        if isinstance(block, bpmodel.DuplicateBlockKeyBlock):
            block = block.ignore_error_block  # reported with the cross-file duplicates
        elif isinstance(block, bpmodel.DuplicateFieldKeyBlock):
            dup = ", ".join(sorted(block.duplicate_keys))
            diags.append(
                Diagnostic(rel, (block.start_line or 0) + 1, "error", f"duplicate field {dup}")
            )
            block = block.ignore_error_block
        elif isinstance(block, bpmodel.ParsingFailedBlock):
            line, msg = _syntax_error(block, text)
            diags.append(Diagnostic(rel, line, "error", msg))
            after_failure = True
            continue
        if isinstance(block, bpmodel.ImplicitComment):
            m = (
                None
                if previous_failed
                else re.search(r"^\s*,?\s*([\w:.-]+)\s*=\s*[{\"\w]", block.comment, re.MULTILINE)
            )
            if m:
                where = (block.start_line or 0) + 1 + block.comment[: m.start(1)].count("\n")
                diags.append(
                    Diagnostic(
                        rel,
                        where,
                        "error",
                        f"syntax error: field {m.group(1)!r} outside any entry "
                        "(an entry was closed early: one '}' too many before it?)",
                    )
                )
            continue
        if isinstance(block, bpmodel.String):
            undefined: list[str] = []
            strings[block.key.lower()] = _resolve(block.value, strings, undefined)
            for name in undefined:
                diags.append(
                    Diagnostic(rel, block.start_line + 1, "error", f"undefined macro {name!r}")
                )
            continue
        if not isinstance(block, bpmodel.Entry):
            continue
        line = block.start_line + 1
        raw: dict[str, str] = {}
        field_lines: dict[str, int] = {}
        for f in block.fields:
            undefined = []
            key = f.key.lower()
            garbage = _trailing_garbage(str(f.value))
            if garbage is not None:
                where = (
                    (f.start_line or block.start_line)
                    + 1
                    + str(f.value)[:garbage].rstrip().count("\n")
                )
                diags.append(
                    Diagnostic(
                        rel,
                        where,
                        "error",
                        f"syntax error in @{block.entry_type}{{{block.key}: missing ',' after the "
                        f"value of field {key!r}",
                    )
                )
            raw[key] = _resolve(str(f.value), strings, undefined)
            field_lines[key] = (f.start_line or block.start_line) + 1
            if len(raw[key]) > MAX_FIELD_CHARS:
                diags.append(Diagnostic(rel, field_lines[key], "error", f"field {key!r} of {block.key!r} is "
                                        f"{len(raw[key]):,} characters long; a field holds at most "
                                        f"{MAX_FIELD_CHARS:,}: shorten it"))
                raw[key] = raw[key][:MAX_FIELD_CHARS]
            for name in undefined:
                diags.append(
                    Diagnostic(
                        rel,
                        field_lines[key],
                        "error",
                        f"undefined macro {name!r} in field {key!r} of {block.key!r}",
                    )
                )
        entry = _make_entry(block.key, block.entry_type.lower(), raw, rel, line)
        for fname in NAME_FIELDS:
            if fname in raw:
                _, problems = parse_names(raw[fname])
                for p in problems:
                    diags.append(Diagnostic(rel, field_lines[fname], "warning", p))
        crossref = raw.get("crossref", "").strip()
        out.append(_Pending(entry, crossref, field_lines.get("crossref", line)))
    return out


def _make_entry(key: str, entry_type: str, raw: dict[str, str], rel: str, line: int) -> BibEntry:
    fields: dict[str, str] = {}
    persons: dict[str, tuple[Person, ...]] = {}
    for k, v in raw.items():
        if k in NAME_FIELDS:
            persons[k], _ = parse_names(v)
        elif k in VERBATIM_FIELDS:
            fields[k] = _verbatim(v)
        else:
            fields[k] = decode_latex(v)
    return BibEntry(
        key=key, entry_type=entry_type, fields=fields, raw=raw, persons=persons, path=rel, line=line
    )


def _inherit(child: BibEntry, parent: BibEntry) -> BibEntry:
    raw = dict(child.raw)
    for k, v in parent.raw.items():
        if k in ("crossref", "ids") or k in raw:
            continue
        raw[k] = v
    if (
        child.entry_type in _CONTAINED_TYPES
        and "booktitle" not in child.raw
        and "title" in parent.raw
    ):
        raw["booktitle"] = parent.raw["title"]
    if raw == child.raw:
        return child
    return _make_entry(child.key, child.entry_type, raw, child.path, child.line)


def _missing(entry: BibEntry) -> list[str]:
    need = REQUIRED_FIELDS.get(entry.entry_type)
    if need is None:
        return []
    have = set(entry.fields) | {k for k, v in entry.persons.items() if v}
    return [" or ".join(alts) for alts in need if not any(a in have for a in alts)]


def read_bibliographies(
    paths: list[pathlib.Path], root: pathlib.Path
) -> tuple[dict[str, BibEntry], list[Diagnostic]]:
    """Read every .bib file in ``paths``; keys are unique across them (first one wins)."""
    entries: dict[str, BibEntry] = {}
    diags: list[Diagnostic] = []
    pending: list[_Pending] = []
    seen: dict[str, BibEntry] = {}  # lower-case key → first entry
    for path in paths:
        rel = _rel(pathlib.Path(path), root)
        try:
            text = pathlib.Path(path).read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            line = pathlib.Path(path).read_bytes()[: exc.start].count(b"\n") + 1
            diags.append(Diagnostic(rel, line, "error", "file is not valid UTF-8"))
            continue
        except OSError as exc:
            diags.append(Diagnostic(rel, 1, "error", f"cannot read: {exc.strerror or exc}"))
            continue
        strings: dict[str, str] = {}  # @string macros are local to their file
        for p in _read_one(text, rel, strings, diags):
            first = seen.get(p.entry.key.lower())
            if first is not None:
                what = "duplicate key" if first.key == p.entry.key else "duplicate key (case)"
                diags.append(
                    Diagnostic(
                        p.entry.path,
                        p.entry.line,
                        "error",
                        f"{what} {p.entry.key!r} (first defined at {first.path}:{first.line})",
                    )
                )
                continue
            seen[p.entry.key.lower()] = p.entry
            entries[p.entry.key] = p.entry
            pending.append(p)

    # crossref: parents first, so chains (a → b → c) inherit all the way
    by_lower = {k.lower(): k for k in entries}
    done: set[str] = set()

    def resolve(p: _Pending, trail: tuple[str, ...]) -> BibEntry:
        entry = entries[p.entry.key]
        if not p.crossref or entry.key in done:
            return entry
        parent_key = by_lower.get(p.crossref.lower())
        if parent_key is None:
            diags.append(
                Diagnostic(
                    entry.path,
                    p.crossref_line,
                    "error",
                    f"crossref {p.crossref!r} of {entry.key!r}: no such entry",
                )
            )
        elif parent_key in trail:
            diags.append(
                Diagnostic(entry.path, p.crossref_line, "error", f"crossref cycle at {entry.key!r}")
            )
        else:
            parent = resolve(by_key[parent_key], trail + (entry.key,))
            entry = _inherit(entry, parent)
            entries[entry.key] = entry
        done.add(entry.key)
        return entry

    by_key = {p.entry.key: p for p in pending}
    for p in pending:
        resolve(p, ())

    for entry in entries.values():
        missing = _missing(entry)
        if missing:
            diags.append(
                Diagnostic(
                    entry.path,
                    entry.line,
                    "warning",
                    f"@{entry.entry_type}{{{entry.key}}} lacks {', '.join(missing)}",
                )
            )
    order = {_rel(pathlib.Path(p), root): i for i, p in enumerate(paths)}
    diags.sort(key=lambda d: (order.get(d.path, len(order)), d.line))
    return entries, diags


def read_bibliography_text(
    text: str, name: str = "<string>"
) -> tuple[dict[str, BibEntry], list[Diagnostic]]:
    """Read BibTeX from a string (for tests and tools); ``name`` stands for its path."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / name
        path.write_text(text, encoding="utf-8")
        entries, diags = read_bibliographies([path], pathlib.Path(tmp))
    return entries, diags
