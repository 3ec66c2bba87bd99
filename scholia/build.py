"""Build outputs from an edition: load, render once, hand the result to each writer, and replace
the previous outputs only when every writer succeeded. A build whose inputs are all unchanged is
answered from the content-addressed cache (scholia.cache) without loading the pipeline, so the
heavy imports live inside the functions that need them."""

from __future__ import annotations

import datetime as dt
import functools
import gc
import importlib
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from . import __version__, cache
from .options import FORMATS, BuildError, BuildOptions
from .timing import merge, stage

if TYPE_CHECKING:
    from jinja2 import Environment

    from .load import Loaded
    from .model import Edition
    from .render import Rendered

T = TypeVar("T")
TOOL_STYLES = Path(__file__).resolve().parent.parent / "styles"


@dataclass
class Context:
    """What every writer gets besides the rendered edition."""

    root: Path
    options: BuildOptions
    build_date: dt.datetime
    env: Environment
    style_dirs: list[Path]
    date_from: str = "build time"  # where build_date comes from (see ``dated``)
    shared: dict[str, object] = field(default_factory=dict)  # results one writer leaves for another

    def style_file(self, relative: str) -> Path:
        """The edition's own ``styles/<relative>`` if it has one, else the tool's."""
        for d in self.style_dirs:
            if (d / relative).is_file():
                return d / relative
        raise BuildError(f"style file styles/{relative} not found in {', '.join(map(str, self.style_dirs))}")


def build_date(root: Path) -> dt.datetime:
    """SOURCE_DATE_EPOCH if set; else the date of the last commit in a git checkout; else the newest
    modification time among the edition's files (so that unchanged inputs give the same bytes, and
    the cache answers, outside git too); else now."""
    return dated(root)[0]


def dated(root: Path) -> tuple[dt.datetime, str]:
    """The build date and where it comes from (see ``build_date``)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC), "SOURCE_DATE_EPOCH"
    try:
        out = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%ct"], capture_output=True,
                             text=True, timeout=10, check=False).stdout.strip()
        if out:
            return dt.datetime.fromtimestamp(int(out), dt.UTC), "git commit"
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
    from .provenance import files_under

    times = [p.stat().st_mtime for d in ("source", "annotations", "styles") for p in files_under(root / d)]
    if times:
        return dt.datetime.fromtimestamp(int(max(times)), dt.UTC), "newest input file"
    return dt.datetime.now(dt.UTC).replace(microsecond=0), "build time"


def style_dirs(root: Path) -> list[Path]:
    dirs = [root / "styles", TOOL_STYLES]
    return [d for i, d in enumerate(dirs) if d.is_dir() and d.resolve() not in [x.resolve() for x in dirs[:i]]]


def make_env(dirs: list[Path]) -> Environment:
    from jinja2 import ChoiceLoader, Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined

    compiled = cache.cache_dir() / "jinja"  # templates compiled once (0.16 s for all), by their source's hash
    try:
        compiled.mkdir(parents=True, exist_ok=True)
        bytecode = FileSystemBytecodeCache(str(compiled)) if os.access(compiled, os.W_OK) else None
    except OSError:
        bytecode = None
    env = Environment(loader=ChoiceLoader([FileSystemLoader(str(d / "templates")) for d in dirs]),
                      autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      bytecode_cache=bytecode)
    env.globals["tool_version"] = __version__
    return env


def citation_formatter(edition: Edition, options: BuildOptions, dirs: list[Path],
                       meanwhile: Sequence[Callable[[], object]] = ()):
    """The function that formats the edition's citations (by Pandoc); while Pandoc runs, this
    process takes the steps of ``meanwhile``: work the build needs afterwards whatever the
    citations say."""
    from .citeproc import CitationProcessor, PandocError

    try:
        processor = CitationProcessor(edition.bibliography, style=options.csl,
                                      style_dirs=[d / "csl" for d in dirs], locale=edition.metadata.language,
                                      store=cache.stage_store("cite") if options.cache else None)
    except ValueError as exc:
        raise BuildError(str(exc)) from exc

    def cite(clusters):
        with stage("cite"):
            try:
                result = processor.process(clusters, meanwhile=meanwhile)
            except PandocError as exc:  # a style file Pandoc cannot read, most often
                raise BuildError(f"citations (style {options.csl!r}): {exc}") from exc
        return result.citations, result.bibliography

    return cite


def load_writers(options: BuildOptions) -> None:
    """Import the writers of the build's formats (WeasyPrint's import is the longest)."""
    with stage("import writers"):
        for fmt in (f for f in FORMATS if f in options.formats):
            writer(fmt)


def ready_writers(edition: Edition, options: BuildOptions) -> None:
    """Each writer's ``ready(edition)``: what it will need whatever the notes say."""
    for fmt in (f for f in FORMATS if f in options.formats):
        if (ready := getattr(writer_module(fmt), "ready", None)) is not None:
            ready(edition)


def _load(root: Path, options: BuildOptions) -> tuple[Loaded, Edition]:
    """Read and check the edition, and select what the build prints."""
    from .load import LoadOptions, load_edition
    from .select import SelectionError, excerpt

    with stage("read"):
        loaded = load_edition(root, LoadOptions(layers=options.layers))
    if loaded.errors or loaded.edition is None:
        raise BuildError(f"{len(loaded.errors)} error(s) in the edition; run `make_edition.py check` for all of them:\n"
                         + "\n".join(str(d) for d in loaded.errors[:20]))
    known = {t.name for t in loaded.edition.note_types}
    unknown = [t for t in options.types + options.exclude_types if t not in known]
    if unknown:
        raise BuildError(f"unknown note type(s) {', '.join(unknown)}; the edition has: {', '.join(sorted(known))}")
    try:
        return loaded, excerpt(loaded.edition, options.select, options.note_filter())
    except SelectionError as exc:
        raise BuildError(f"--select: {exc}") from exc


def _render(edition: Edition, options: BuildOptions, dirs: list[Path],
            meanwhile: Sequence[Callable[[], object]] = ()) -> Rendered:
    from .render import render

    with stage("render notes"):
        return render(edition, citation_formatter(edition, options, dirs, meanwhile))


def _latex_kept(options: BuildOptions):
    """The bibliography's LaTeX decodings kept between builds, for reading and for the citations'
    rich text alike (``readers.bibtex.decoded_kept``)."""
    from .readers.bibtex import decoded_kept

    return decoded_kept(cache.stage_store("latex") if options.cache else None)


def _read(root: Path, options: BuildOptions, dirs: list[Path]) -> tuple[Loaded, Rendered]:
    with _latex_kept(options):
        loaded, edition = _load(root, options)
        rendered = _render(edition, options, dirs)
    check_fonts(rendered, options)
    return loaded, rendered


def check_fonts(rendered: Rendered, options: BuildOptions) -> None:
    """Fail before typesetting if any character the print edition sets (the PDF, and the EPUB's page
    list, come from its layout) has no glyph in its font stack."""
    from . import fonts

    if {"pdf", "epub"} & set(options.formats):
        try:
            fonts.check_edition(rendered)
        except fonts.FontError as exc:
            raise BuildError(str(exc)) from exc


def prepare(root: Path, options: BuildOptions) -> tuple[Loaded, Rendered, Context]:
    """Read, check, select and render the edition: everything the writers need.

    Given a second core, a forked process reads and renders while this one imports the writers
    and hashes the font files for the provenance record (0.4-0.5 s, most of it WeasyPrint's
    import); otherwise this process does those while Pandoc formats the citations."""
    from . import parallel
    from .provenance import Provenance, font_records

    dirs = style_dirs(root)
    # A fork copies only this thread: beside others (the preview server's), a lock one of them held
    # would stay locked in the child. Then this process reads, as on one core. The fork comes
    # first: the reading needs none of what follows (the build date, Jinja, the provenance record).
    alone = threading.active_count() == 1
    reading = parallel.elsewhere(lambda: in_child(lambda: _read(root, options, dirs))) if alone else None
    hashing = None
    try:
        date, date_from = dated(root)
        ctx = Context(root, options, date, make_env(dirs), dirs, date_from)
        prov = ctx.shared["provenance"] = ctx.env.globals["provenance"] = Provenance(ctx)
        hashing = threading.Thread(target=font_records, daemon=True)  # file reads and SHA-256 let others run
        hashing.start()
        if reading is not None:
            load_writers(options)
            prov.inputs  # noqa: B018 - hashed while the other process reads
            (loaded, rendered), times, own = reading.result()
            merge(times, own)
            prov.metadata = rendered.edition.metadata
            ready_writers(rendered.edition, options)
        else:
            with _latex_kept(options):
                loaded, edition = _load(root, options)
                prov.metadata = edition.metadata
                rendered = _render(edition, options, dirs, meanwhile=[
                    lambda: load_writers(options), lambda: ready_writers(edition, options), lambda: prov.record])
            check_fonts(rendered, options)
    except BaseException:
        if reading is not None:
            reading.cancel()
        raise
    finally:
        if hashing is not None:
            hashing.join()  # no thread may run when a writer forks
    return loaded, rendered, ctx


def writer(fmt: str):
    """The writer of one output format: a function (Rendered, Context) -> bytes."""
    return writer_module(fmt).write


def writer_module(fmt: str):
    """The module of one output format's writer: its ``write``, and optionally ``ready(edition)``,
    what it will need whatever the notes say, made ready while Pandoc formats the citations."""
    from .writers import deferred

    _declare_weasyprint()
    with deferred.standing_in():  # what WeasyPrint seldom calls, imported when called
        return importlib.import_module(f".writers.{fmt}", __package__)


@functools.cache
def _declare_weasyprint() -> None:
    """WeasyPrint's C declarations from the cache folder, not parsed again (``weasyprint_ffi``)."""
    from .writers import weasyprint_ffi

    weasyprint_ffi.declare(cache.cache_dir() / "cffi")


def _write(fmt: str, rendered: Rendered, ctx: Context) -> bytes:
    with stage(f"write {fmt.upper()}"):
        return writer(fmt)(rendered, ctx)


def in_child(task: Callable[[], T]) -> tuple[T, dict, dict]:
    """``task()`` with its stages recorded apart (in a forked process: they are merged back)."""
    from .timing import current, recording

    parent = current()
    with recording(progress=bool(parent and parent.progress), started=parent.started if parent else None) as rec:
        out = task()
    return out, rec.times, rec.own


def write_formats(formats: list[str], rendered: Rendered, ctx: Context) -> dict[str, bytes]:
    """Each format's bytes. Given a second core, a forked process writes the formats that do not
    follow the print layout (the HTML) while WeasyPrint parses and styles the print HTML, which
    leaves that core idle; the PDF's pages are painted on both cores, and then another forked
    process writes the rest (the EPUB, whose page list comes from the PDF's layout) while this one
    finishes the PDF (fonts, compression: work for one core)."""
    rest = [f for f in formats if f != "pdf"]
    if "pdf" not in formats or not rest:
        return {fmt: _write(fmt, rendered, ctx) for fmt in formats}
    from . import parallel

    pdf = writer_module("pdf")
    apart = [f for f in rest if not getattr(writer_module(f), "FOLLOWS_PRINT", False)]
    after = [f for f in rest if f not in apart]
    jobs: list[parallel.Job] = []

    def start(fmts: list[str]) -> None:
        if fmts:
            jobs.append(parallel.start(lambda: in_child(lambda: {fmt: _write(fmt, rendered, ctx) for fmt in fmts})))

    def others() -> None:  # the PDF writer now uses one core (called at most once with formats)
        nonlocal after
        start(after)
        after = []

    try:
        start(apart)
        with stage("write PDF"):
            out = {"pdf": pdf.write(rendered, ctx, painted=others)}
        others()
        for job in jobs:
            written, times, own = job.result()
            merge(times, own)
            out |= written
    except BaseException:
        for job in jobs:
            job.cancel()
        raise
    return out


@contextmanager
def cycles_left_for_later() -> Iterator[None]:
    """Python's cycle collector paused within the block. A build makes millions of objects (the
    box tree, laid-out pages) that live until it ends, and each full collection scans them all
    again: 7 full passes took 0.6-0.8 s of a 9 s build, and in a forked writer every object a
    pass touches is a memory page the system must copy. The garbage only this collector can free
    comes to ~13 MB for the white paper; it is freed after the build, when collection resumes."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def produce(root: Path, options: BuildOptions) -> dict[str, bytes]:
    """Run the pipeline: output file name → bytes."""
    with cycles_left_for_later():
        return _produce(root, options)


def _produce(root: Path, options: BuildOptions) -> dict[str, bytes]:
    loaded, rendered, ctx = prepare(root, options)
    slug = loaded.edition.metadata.slug
    formats = [f for f in FORMATS if f in options.formats]
    outputs = write_formats(formats, rendered, ctx)
    produced = {f"{slug}.{fmt}": outputs[fmt] for fmt in formats}
    if options.booklet:
        if f"{slug}.pdf" not in produced:
            raise BuildError("--booklet imposes the PDF: add pdf to --format")
        from .booklet import impose

        with stage("impose booklet"):
            produced[f"{slug}-booklet.pdf"] = impose(produced[f"{slug}.pdf"])
    return produced


def build(root: Path, options: BuildOptions) -> list[Path]:
    """Write every requested format; on any failure, the previous outputs stay as they were.
    Unchanged inputs are answered from the cache with the bytes a fresh build would give."""
    root = root.resolve()
    unknown = [f for f in options.formats if f not in FORMATS]
    if unknown:
        raise BuildError(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    out = options.out.resolve()
    if out.exists() and not out.is_dir():
        raise BuildError(f"--out {options.out}: that is a file; name a folder for the outputs")
    if any(out.is_relative_to(root / inputs) for inputs in ("source", "annotations")):
        raise BuildError(f"--out {options.out}: inside the edition's inputs, where the outputs would be read "
                         "as inputs at the next build; name a folder outside source/ and annotations/")
    outputs = None
    key = ""
    if options.cache:
        with stage("cache look-up"):
            key = cache.build_key(root, options, build_date(root).isoformat())
            outputs = cache.load(key)
    if outputs is None:
        outputs = produce(root, options)
        if key:
            cache.store(key, outputs)
    with stage("write files"):
        return write_outputs(options.out, outputs)


def write_outputs(out: Path, outputs: dict[str, bytes]) -> list[Path]:
    """Stage every file beside its target, then rename them all into place."""
    out = out if out.is_absolute() else Path.cwd() / out
    out.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, data in outputs.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            staged.append((Path(tmp), out / name))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in staged:
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    return [final for _, final in staged]
