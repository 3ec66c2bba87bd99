"""Command line: ``make_edition.py [build|check] [DIR] ...``. Exit codes: 0 ok, 1 errors, 2 usage."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .annotate import reanchor
from .build import FORMATS, BuildError, BuildOptions, build
from .load import LoadOptions, load_edition

DEFAULT_ROOT = Path(__file__).resolve().parent.parent


def _dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_ROOT,
                        help="the edition folder (with source/ and annotations/); "
                        "default: the repository's own edition")


def _formats(value: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [v for v in items if v not in FORMATS]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"unknown format {', '.join(bad) or value!r}; choose from {','.join(FORMATS)}")
    return items


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="make_edition.py", description="Build and check printable annotated editions. "
                                "With no command, builds the repository's own edition into build/.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    b = sub.add_parser("build", help="write the edition as PDF, EPUB and HTML",
                       description="Read, anchor and check the edition, then write <out>/<slug>.{pdf,epub,html}. "
                       "On any error nothing in <out> is replaced.")
    _dir_arg(b)
    b.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build/)")
    b.add_argument("--format", type=_formats, default=FORMATS,
                   help="comma-separated outputs: pdf,epub,html (default: all)")
    b.add_argument("--include-drafts", action="store_true", help="print notes whose status is draft too")
    b.add_argument("--profile", default="a4", help="page profile under styles/profiles/ (a4, letter, wide-margin)")
    b.add_argument("--csl", default="chicago-author-date", help="citation style: a CSL style name or a .csl file")

    v = sub.add_parser("serve", help="live preview of the web edition on localhost",
                       description="Build the web edition, serve it on 127.0.0.1, rebuild and reload the page when "
                       "anything under source/, annotations/ or styles/ changes. Errors show on the page.")
    _dir_arg(v)
    v.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000; 0 picks a free one)")
    v.add_argument("--include-drafts", action="store_true", help="show draft notes too")
    v.add_argument("--csl", default="chicago-author-date", help="citation style")

    c = sub.add_parser("check", help="report every problem in the edition as path:line: lines",
                       description="Check metadata, text, structure layer, notes and bibliography. Exit 0 when there "
                       "are no errors (warnings allowed), 1 when there are.")
    _dir_arg(c)
    c.add_argument("--format", dest="output", choices=("text", "github"), default="text",
                   help="'github' adds GitHub Actions annotations (::error file=...,line=...::)")
    reanchor.add_parser(sub, _dir_arg)
    return p


def _github(d) -> str:
    message = d.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::{d.severity} file={d.path},line={d.line}::{message}"


def cmd_check(args: argparse.Namespace) -> int:
    root = args.dir.resolve()
    if not root.is_dir():
        print(f"make_edition.py: error: no such edition folder: {args.dir}", file=sys.stderr)
        return 2
    loaded = load_edition(root, LoadOptions(include_drafts=True))
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
    if not root.is_dir():
        print(f"make_edition.py: error: no such edition folder: {args.dir}", file=sys.stderr)
        return 2
    options = BuildOptions(formats=args.format, out=args.out, include_drafts=args.include_drafts,
                           profile=args.profile, csl=args.csl)
    try:
        written = build(root, options)
    except BuildError as exc:
        print(f"make_edition.py: build failed, previous outputs left as they were:\n{exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    root = args.dir.resolve()
    if not root.is_dir():
        print(f"make_edition.py: error: no such edition folder: {args.dir}", file=sys.stderr)
        return 2
    serve(root, BuildOptions(include_drafts=args.include_drafts, csl=args.csl), port=args.port)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = parser()
    if not argv:
        argv = ["build"]
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command is None:
        p.print_help()
        return 2
    return {"check": cmd_check, "build": cmd_build, "serve": cmd_serve,
            "reanchor": reanchor.run}[args.command](args)
