"""Command line: ``make_edition.py [build|check] [DIR] ...``. Exit codes: 0 ok, 1 errors, 2 usage."""

from __future__ import annotations

import argparse
import gc
import sys
from dataclasses import fields
from pathlib import Path

from .options import FORMATS, BuildError, BuildOptions
from .recipe import read_recipe

BUILD_FIELDS = {f.name for f in fields(BuildOptions)}

DEFAULT_ROOT = Path(__file__).resolve().parent.parent


def _edition_dir(value: str) -> Path:
    """An existing folder (checked once here for every command, exit 2 when it is not)."""
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"no such edition folder: {value}")
    return path


def _dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", nargs="?", type=_edition_dir, default=DEFAULT_ROOT,
                        help="the edition folder (with source/ and annotations/); "
                        "default: the repository's own edition")


def _names(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _formats(value: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [v for v in items if v not in FORMATS]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"unknown format {', '.join(bad) or value!r}; choose from {','.join(FORMATS)}")
    return items


def parser(full: bool = True) -> argparse.ArgumentParser:
    """The command line; ``full=False`` leaves out the annotators' commands (and their imports) so that
    a build, above all a cached one, starts fast."""
    p = argparse.ArgumentParser(prog="make_edition.py", description="Build and check printable annotated editions. "
                                "With no command, builds the repository's own edition into build/.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    b = sub.add_parser("build", help="write the edition as PDF, EPUB and HTML",
                       description="Read, anchor and check the edition, then write <out>/<slug>.{pdf,epub,html}. "
                       "On any error nothing in <out> is replaced. Options given here override a --reader recipe.")
    _dir_arg(b)
    b.add_argument("--reader", type=Path, help="a reader recipe (TOML) with any of the options below")
    b.add_argument("--out", type=Path, help="output folder (default: build/)")
    b.add_argument("--format", dest="formats", type=_formats,
                   help="comma-separated outputs: pdf,epub,html (default: all)")
    b.add_argument("--include-drafts", action="store_true", default=None, help="print notes whose status is draft too")
    b.add_argument("--profile", help="page profile under styles/profiles/ (a4, letter, a5, wide-margin)")
    b.add_argument("--csl", help="citation style: a CSL style name or a .csl file (default: chicago-author-date)")
    b.add_argument("--timings", action="store_true", help="print the time of each stage")
    b.add_argument("--no-cache", action="store_true",
                   help="build everything afresh (the cache serves unchanged inputs with identical bytes)")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress lines, even on a terminal")
    g = b.add_argument_group("course readers")
    g.add_argument("--select", help='an excerpt: parts ("I,IV-V") or paragraph ranges ("II.3-II.9"), or both')
    g.add_argument("--layer", dest="layers", type=Path, action="append",
                   help="another annotation folder on top of the edition's own (repeatable)")
    g.add_argument("--types", type=_names, help="print only notes of these types (comma-separated)")
    g.add_argument("--exclude-types", type=_names, help="leave out notes of these types")
    g.add_argument("--tags", type=_names, help="print only notes with one of these tags")
    g.add_argument("--status", dest="statuses", type=_names, help="print notes with these statuses (default: reviewed)")
    g.add_argument("--no-notes", action="store_true", default=None, help="the clean text, with paragraph numbers")
    g.add_argument("--notes-only", action="store_true", default=None,
                   help="a commentary volume: each note with its lemma, without the text")
    g.add_argument("--paper", choices=("a4", "letter", "a5"), help="paper size (default: the profile's)")
    g.add_argument("--notes", choices=("footnotes", "sidenotes", "endnotes"),
                   help="where notes go (default: the profile's; endnotes close each chapter)")
    g.add_argument("--booklet", action="store_true", default=None,
                   help="also write <slug>-booklet.pdf, imposed for saddle-stitch printing on a duplex copier")

    v = sub.add_parser("serve", help="live preview of the web edition on localhost",
                       description="Build the web edition, serve it on 127.0.0.1, rebuild and reload the page when "
                       "anything under source/, annotations/ or styles/ changes. Errors show on the page.")
    _dir_arg(v)
    v.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000; 0 picks a free one)")
    v.add_argument("--include-drafts", action="store_true", help="show draft notes too")
    v.add_argument("--csl", help="citation style (default: chicago-author-date)")

    c = sub.add_parser("check", help="report every problem in the edition as path:line: lines",
                       description="Check metadata, text, structure layer, notes and bibliography. Exit 0 when there "
                       "are no errors (warnings allowed), 1 when there are.")
    _dir_arg(c)
    c.add_argument("--layer", action="append", type=Path, default=[], help="check this annotation layer too")
    c.add_argument("--format", dest="output", choices=("text", "github"), default="text",
                   help="'github' adds GitHub Actions annotations (::error file=...,line=...::)")
    if full:  # `build` alone needs none of these (nor their imports)
        from . import archive
        from .annotate import newnote, reanchor, stats, webanno

        archive.add_archive_parser(sub, _dir_arg)
        archive.add_verify_parser(sub)
        reanchor.add_parser(sub, _dir_arg)
        newnote.add_parser(sub, _dir_arg)
        webanno.add_export_parser(sub, _dir_arg)
        webanno.add_import_parser(sub, _dir_arg)
        stats.add_parser(sub, _dir_arg)
    return p


def _github(d) -> str:
    message = d.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::{d.severity} file={d.path},line={d.line}::{message}"


def cmd_check(args: argparse.Namespace) -> int:
    root = args.dir.resolve()
    from .load import LoadOptions, load_edition

    loaded = load_edition(root, LoadOptions(layers=tuple(args.layer)))
    for d in loaded.diagnostics:
        print(d)
        if args.output == "github":
            print(_github(d))
    errors = len(loaded.errors)
    warnings = len(loaded.diagnostics) - errors
    notes = len(loaded.all_notes)
    print(f"{errors} error(s), {warnings} warning(s); {notes} note(s) anchored", file=sys.stderr)
    return 1 if errors else 0


def cmd_build(args: argparse.Namespace) -> int:
    root = args.dir.resolve()
    given = {k: v for k, v in vars(args).items() if k in BUILD_FIELDS and v is not None}
    if args.no_cache:
        given["cache"] = False
    if "layers" in given:
        given["layers"] = tuple(given["layers"])
    try:
        recipe = read_recipe(args.reader) if args.reader else {}
        options = BuildOptions(**{**recipe, **given})
    except BuildError as exc:
        print(f"make_edition.py: {exc}", file=sys.stderr)
        return 2
    from .build import build
    from .timing import recording

    with recording(progress=sys.stderr.isatty() and not args.quiet) as recorder:
        try:
            written = build(root, options)
        except BuildError as exc:
            print(f"make_edition.py: build failed, previous outputs left as they were:\n{exc}", file=sys.stderr)
            return 1
    for path in written:
        print(path)
    if args.timings:
        print(recorder.report(), file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    root = args.dir.resolve()
    gc.enable()  # a server lives on: what each build leaves behind is collected (see run())
    serve(root, BuildOptions(include_drafts=args.include_drafts, csl=args.csl or "chicago-author-date"),
          port=args.port)
    return 0


def run() -> None:
    """The command line: ``main()``, then the process ends. The cycle collector stays off (but in
    ``serve``): a build pauses it anyway (``build.cycles_left_for_later``), and switched back on it
    would at once scan all the build left behind (0.37 s after the white paper). What is left is
    frozen before the end, so that the interpreter's last collection, which runs even with the
    collector off, skips it (0.2-0.3 s); the system takes the memory back at once."""
    gc.disable()
    code = main()
    gc.freeze()
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        argv = ["build"]
    p = parser(full=argv[0] != "build")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command is None:
        p.print_help()
        return 2
    core = {"check": cmd_check, "build": cmd_build, "serve": cmd_serve}
    if args.command in core:
        return core[args.command](args)
    from . import archive
    from .annotate import newnote, reanchor, stats, webanno

    return {"archive": archive.run_archive, "verify-archive": archive.run_verify, "reanchor": reanchor.run,
            "new-note": newnote.run, "export-annotations": webanno.run_export,
            "import-annotations": webanno.run_import, "stats": stats.run}[args.command](args)
