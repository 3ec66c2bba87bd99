"""Time the PDF build of an edition (default: the repository's white paper): load + render, then the
PDF writer (layout passes, write_pdf, page labels, font checks). Usage: bench_pdf.py [DIR] [--profile P]."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scholia.build import BuildOptions, prepare  # noqa: E402
from scholia.writers import pdf  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dir", nargs="?", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--profile", default="a4")
    args = ap.parse_args()
    os.environ.setdefault("SOURCE_DATE_EPOCH", "1758240000")
    t0 = time.perf_counter()
    _, rendered, ctx = prepare(args.dir.resolve(), BuildOptions(formats=("pdf",), include_drafts=True,
                                                                 profile=args.profile))
    t1 = time.perf_counter()
    data = pdf.write(rendered, ctx)
    t2 = time.perf_counter()
    lay = pdf.layout(rendered, ctx, args.profile)
    print(f"profile {args.profile}: {len(lay.document.pages)} pages, {len(rendered.notes)} notes, "
          f"{lay.passes} layout pass(es), {len(data) / 1024:.0f} KiB")
    print(f"load+render {t1 - t0:.1f} s; PDF writer {t2 - t1:.1f} s; total {t2 - t0:.1f} s")


if __name__ == "__main__":
    main()
