"""Benchmark: rebuilding the white-paper edition (PDF + EPUB + HTML) when nothing changed, and after
editing one note. Prints medians of fresh-process runs. For scale, the edited note's chapter is also
rebuilt alone (``--select``, front and back matter included) after the same kind of edit: what a
rebuild would cost if it did only the work the edit reaches. Last, a note is added beside the
edited one, as an annotator does: every note after it is numbered anew, so each later chapter
changes.

    .venv/bin/python bench/bench_rebuild.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from common import PYTHON, ROOT, alternate, median, paired_ratio, run, stamp

from scholia.readers.notes import split_front_matter


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
        os.environ["SCHOLIA_CACHE"] = env["SCHOLIA_CACHE"]  # for the reading below, as for the builds
        chapter = _chapter(ed, note)
        alone = [*cmd, "--select", chapter, "--out", str(Path(tmp) / "alone")]
        env_alone = {"SCHOLIA_CACHE": str(Path(tmp) / "cache-alone")}
        run(alone, env_alone)
        edits = iter(range(2 * args.runs))

        def edit_and(build: list[str], env: dict[str, str]) -> float:
            with open(note, "a", encoding="utf-8") as fh:
                fh.write(f"\nEdited ({next(edits)}).\n")
            return run(build, env)[0]

        # A note added on the edited note's words renumbers every note after it. Each round adds it
        # to a copy of the cache as it was before any edit (so the new numbers are new to it) and
        # takes it away again, which leaves the other cases as they were.
        snapshot, env_add = Path(tmp) / "cache-before", {"SCHOLIA_CACHE": str(Path(tmp) / "cache-add")}
        shutil.copytree(env["SCHOLIA_CACHE"], snapshot)
        added = note.parent / f"{note.stem}-added.md"
        front, _, _ = split_front_matter(note.read_text(encoding="utf-8"))  # the note reader's own split

        def add_and(build: list[str], env: dict[str, str]) -> float:
            shutil.rmtree(env["SCHOLIA_CACHE"], ignore_errors=True)
            shutil.copytree(snapshot, env["SCHOLIA_CACHE"])
            added.write_text(f"---\n{front}\n---\nA note added to measure a rebuild.\n", encoding="utf-8")
            try:
                return run(build, env)[0]
            finally:
                added.unlink()

        full, one, part, add = alternate(args.runs, [
            ("full build without the cache", lambda: run([*cmd, "--no-cache"], env)[0]),
            ("edit one note, rebuild", lambda: edit_and(cmd, env)),
            (f"edit it again, rebuild its chapter alone (--select {chapter})", lambda: edit_and(alone, env_alone)),
            ("add a note beside it, rebuild", lambda: add_and(cmd, env_add))])
    f, o, a, n = median(full), median(one), median(part), median(add)
    print(f"full build (no cache):    {f:7.2f} s (median of {args.runs})")
    print(f"no-op rebuild:            {median(noop):7.3f} s (median of {args.runs}; target ≤ 0.3 s)")
    print(f"one note edited, rebuild: {o:7.2f} s (median of {args.runs}; {o / f:.0%} of full, "
          f"{paired_ratio(one, full):.0%} the median of the rounds' ratios)")
    print(f"  its chapter alone ({chapter}):  {a:7.2f} s (median of {args.runs}; {a / f:.0%} of full, "
          f"{paired_ratio(part, full):.0%} the median of the rounds' ratios): the floor of a rebuild that "
          f"does only what the edit reaches")
    print(f"one note added, rebuild:  {n:7.2f} s (median of {args.runs}; {n / f:.0%} of full, "
          f"{paired_ratio(add, full):.0%} the median of the rounds' ratios): every later note is numbered anew")


def _chapter(edition: Path, note: Path) -> str:
    """The label of the part (chapter) the note points into, for ``--select``."""
    from scholia.build import BuildOptions, prepare

    _, rendered, _ = prepare(edition, BuildOptions(formats=("html",)))
    return next(rn.part.label for rn in rendered.notes if rn.note.id == note.stem)


if __name__ == "__main__":
    main()
