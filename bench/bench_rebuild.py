"""Benchmark: rebuilding the white-paper edition (PDF + EPUB + HTML) when nothing changed, and after
editing one note. Prints medians of fresh-process runs.

    .venv/bin/python bench/bench_rebuild.py [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from common import PYTHON, ROOT, alternate, median, paired_ratio, run, stamp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ed = Path(tmp) / "ed"
        for name in ("source", "annotations"):
            shutil.copytree(ROOT / name, ed / name)
        env = {"SCHOLIA_CACHE": str(Path(tmp) / "cache")}
        cmd = [PYTHON, str(ROOT / "make_edition.py"), "build", str(ed), "-q", "--out", str(Path(tmp) / "out")]
        stamp("first build (fills the cache)")
        run(cmd, env)
        noop = []
        for _ in range(args.runs):
            noop.append(run(cmd, env)[0])
        note = next(iter(sorted((ed / "annotations" / "notes").rglob("*.md"))))
        edits = iter(range(args.runs))

        def edit_and_rebuild() -> float:
            with open(note, "a", encoding="utf-8") as fh:
                fh.write(f"\nEdited ({next(edits)}).\n")
            return run(cmd, env)[0]

        full, one = alternate(args.runs, [("full build without the cache", lambda: run([*cmd, "--no-cache"], env)[0]),
                                          ("edit one note, rebuild", edit_and_rebuild)])
    f, o = median(full), median(one)
    print(f"full build (no cache):    {f:7.2f} s (median of {args.runs})")
    print(f"no-op rebuild:            {median(noop):7.3f} s (median of {args.runs}; target ≤ 0.3 s)")
    print(f"one note edited, rebuild: {o:7.2f} s (median of {args.runs}; {o / f:.0%} of full, "
          f"{paired_ratio(one, full):.0%} the median of the rounds' ratios)")


if __name__ == "__main__":
    main()
