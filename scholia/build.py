"""Build outputs from an edition: load, render once, hand the result to each writer, and replace
the previous outputs only when every writer succeeded."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

from . import __version__
from .load import Loaded, LoadOptions, load_edition
from .model import Edition
from .render import Rendered, render, tool_styles_dir
from .select import NoteFilter, SelectionError, excerpt

FORMATS = ("pdf", "epub", "html")


class BuildError(Exception):
    """A build that cannot go on; the message says what to do."""


@dataclass(frozen=True)
class BuildOptions:
    """Everything a build may be asked for; a reader recipe (``--reader``) fills the same fields."""

    formats: tuple[str, ...] = FORMATS
    out: Path = Path("build")
    include_drafts: bool = False  # shorthand for statuses ("draft", "reviewed")
    profile: str = "a4"
    csl: str = "chicago-author-date"
    select: str = ""  # "I,IV-V" or "II.3-II.9": an excerpt
    layers: tuple[Path, ...] = ()  # further annotation trees
    types: tuple[str, ...] = ()  # print only these note types
    exclude_types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()  # default: reviewed (and draft with include_drafts)
    no_notes: bool = False  # the clean text, paragraph numbers kept
    notes_only: bool = False  # a commentary volume: each note with its lemma, no text
    paper: str = ""  # a4 | letter | a5 (default: the profile's)
    notes: str = ""  # footnotes | sidenotes | endnotes (default: the profile's)
    booklet: bool = False  # also an imposed PDF for saddle-stitch printing

    def note_filter(self) -> NoteFilter:
        statuses = self.statuses or (("draft", "reviewed") if self.include_drafts else ("reviewed",))
        return NoteFilter(self.types, self.exclude_types, self.tags, statuses, self.no_notes)


@dataclass
class Context:
    """What every writer gets besides the rendered edition."""

    root: Path
    options: BuildOptions
    build_date: dt.datetime
    env: Environment
    style_dirs: list[Path]
    shared: dict[str, object] = field(default_factory=dict)  # results one writer leaves for another

    def style_file(self, relative: str) -> Path:
        """The edition's own ``styles/<relative>`` if it has one, else the tool's."""
        for d in self.style_dirs:
            if (d / relative).is_file():
                return d / relative
        raise BuildError(f"style file styles/{relative} not found in {', '.join(map(str, self.style_dirs))}")


def build_date(root: Path) -> dt.datetime:
    """SOURCE_DATE_EPOCH if set; else the date of the last commit in a git checkout; else now."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    try:
        out = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%ct"], capture_output=True,
                             text=True, timeout=10, check=False).stdout.strip()
        if out:
            return dt.datetime.fromtimestamp(int(out), dt.UTC)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def style_dirs(root: Path) -> list[Path]:
    dirs = [root / "styles", tool_styles_dir()]
    return [d for i, d in enumerate(dirs) if d.is_dir() and d.resolve() not in [x.resolve() for x in dirs[:i]]]


def make_env(dirs: list[Path]) -> Environment:
    env = Environment(loader=ChoiceLoader([FileSystemLoader(str(d / "templates")) for d in dirs]),
                      autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["tool_version"] = __version__
    return env


def citation_formatter(edition: Edition, options: BuildOptions, dirs: list[Path]):
    from .citeproc import CitationProcessor

    try:
        processor = CitationProcessor(edition.bibliography, style=options.csl,
                                      style_dirs=[d / "csl" for d in dirs], locale=edition.metadata.language)
    except ValueError as exc:
        raise BuildError(str(exc)) from exc

    def cite(clusters):
        result = processor.process(clusters)
        return result.citations, result.bibliography

    return cite


def prepare(root: Path, options: BuildOptions) -> tuple[Loaded, Rendered, Context]:
    loaded = load_edition(root, LoadOptions(layers=options.layers))
    if loaded.errors or loaded.edition is None:
        raise BuildError(f"{len(loaded.errors)} error(s) in the edition; run `make_edition.py check` for all of them:\n"
                         + "\n".join(str(d) for d in loaded.errors[:20]))
    known = {t.name for t in loaded.edition.note_types}
    unknown = [t for t in options.types + options.exclude_types if t not in known]
    if unknown:
        raise BuildError(f"unknown note type(s) {', '.join(unknown)}; the edition has: {', '.join(sorted(known))}")
    try:
        edition = excerpt(loaded.edition, options.select, options.note_filter())
    except SelectionError as exc:
        raise BuildError(f"--select: {exc}") from exc
    dirs = style_dirs(root)
    rendered = render(edition, citation_formatter(edition, options, dirs))
    ctx = Context(root, options, build_date(root), make_env(dirs), dirs)
    return loaded, rendered, ctx


def writer(fmt: str):
    """The writer of one output format: a function (Rendered, Context) -> bytes."""
    return importlib.import_module(f".writers.{fmt}", __package__).write


def build(root: Path, options: BuildOptions) -> list[Path]:
    """Write every requested format; on any failure, the previous outputs stay as they were."""
    root = root.resolve()
    unknown = [f for f in options.formats if f not in FORMATS]
    if unknown:
        raise BuildError(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    loaded, rendered, ctx = prepare(root, options)
    slug = loaded.edition.metadata.slug
    order = [f for f in FORMATS if f in options.formats]  # pdf first: the EPUB page list uses its layout
    produced: dict[str, bytes] = {}
    for fmt in order:
        produced[fmt] = writer(fmt)(rendered, ctx)
    if options.booklet:
        if "pdf" not in produced:
            raise BuildError("--booklet imposes the PDF: add pdf to --format")
        from .booklet import impose

        produced["booklet.pdf"] = impose(produced["pdf"])
    out = options.out if options.out.is_absolute() else Path.cwd() / options.out
    out.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for fmt, data in produced.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{slug}.", suffix=f".{fmt}.tmp", dir=out)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            name = f"{slug}-booklet.pdf" if fmt == "booklet.pdf" else f"{slug}.{fmt}"
            staged.append((Path(tmp), out / name))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in staged:
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    return [final for _, final in staged]
