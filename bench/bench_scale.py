"""Benchmark: build time and peak memory as the text grows ×1, ×2, ×5, ×10 with proportional notes.

The white paper is repeated (each copy's chapters renumbered, so parts stay distinct) and each copy
gets the edition's reviewed notes again, targeting the same paragraphs by number. Prints, for each
size: bytes of text, notes, pages, the median wall time and the highest peak memory of the build
process over the rounds. Each round builds every size, in reverse order every other round, and each
size's ratio to ×1 is given as the median of the rounds' ratios (the machine's speed drifts between
rounds) and as the ratio of the medians.

    .venv/bin/python bench/bench_scale.py [--sizes 1,2,5,10] [--formats pdf,epub,html] [--runs 3]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

from common import ROOT, build_cmd, median, paired_ratio, run, stamp

ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"]


def roman(n: int) -> str:
    out = ""
    for value, sym in ((100, "C"), (90, "XC"), (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"),
                       (1, "I")):
        while n >= value:
            out, n = out + sym, n - value
    return out


def make_edition(times: int, dest: Path) -> tuple[int, int]:
    """An edition folder with the text repeated ``times`` times; returns (text bytes, notes)."""
    sys.path.insert(0, str(ROOT))
    from scholia.load import load_edition

    ed = load_edition(ROOT).edition
    text = (ROOT / "source" / ed.metadata.text).read_text(encoding="utf-8")
    (dest / "source").mkdir(parents=True)
    (dest / "annotations" / "notes").mkdir(parents=True)
    for name in ("edition.toml", "structure.toml"):
        shutil.copy(ROOT / "source" / name, dest / "source" / name)
    for bib in (ROOT / "annotations").glob("*.bib"):
        shutil.copy(bib, dest / "annotations" / bib.name)
    copies, notes = [], 0
    label_of = {}
    for k in range(times):
        def renumber(m: re.Match[str], k: int = k) -> str:
            n = ROMAN.index(m.group(1)) + 1 + 10 * k
            label_of[(k, m.group(1))] = roman(n)
            return f"\n{roman(n)}. "
        copy = re.sub(r"\n(I|II|III|IV|V|VI|VII|VIII|IX|X)\. ", renumber, "\n" + text)
        if k:
            copy = copy.replace(" Preface\n", f"Preface {k + 1}\n", 1)
            copy = copy.replace("\nConclusion\n", f"\nConclusion {k + 1}\n")
        copies.append(copy.lstrip("\n"))
    (dest / "source" / ed.metadata.text).write_text("\n\n\n".join(copies), encoding="utf-8")
    edition_toml = (dest / "source" / "edition.toml").read_text(encoding="utf-8")
    (dest / "source" / "edition.toml").write_text(re.sub(r"(?m)^sha256 = .*\n", "", edition_toml), encoding="utf-8")
    probe = load_edition(dest).edition
    labels = [p.label for p in probe.parts]
    per_copy = len(labels) // times
    originals = [p.label for p in ed.parts]
    for note in (n for n in ed.notes if n.status == "reviewed"):
        block = note.anchor.block_id
        part_label, _, number = block.removeprefix("p-").removeprefix("h-").partition("-")
        if not number:
            continue
        for k in range(times):
            label = labels[k * per_copy + originals.index(part_label)]
            body = note.body.replace("\n---", "\n- - -")
            (dest / "annotations" / "notes" / f"{note.id}-{k}.md").write_text(
                f"---\ntarget:\n  paragraph: \"{label}.{number}\"\ntype: {note.type}\nstatus: reviewed\n"
                f"authors: [\"Editorial team\"]\n---\n{body}", encoding="utf-8")
            notes += 1
    return len("\n\n\n".join(copies).encode("utf-8")), notes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1,2,5,10")
    ap.add_argument("--formats", default="pdf,epub,html")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    secs: dict[int, list[float]] = {t: [] for t in sizes}
    peaks: dict[int, list[float]] = {t: [] for t in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        made = {t: make_edition(t, Path(tmp) / f"x{t}") for t in sizes}
        for r in range(args.runs):
            for times in sizes if r % 2 == 0 else list(reversed(sizes)):
                ed = Path(tmp) / f"x{times}"
                stamp(f"round {r + 1}/{args.runs}: ×{times} ({made[times][0]:,} bytes, {made[times][1]} notes)")
                wall, mb = run(build_cmd(str(ed), "--format", args.formats, "--out", str(ed / "out")))
                secs[times].append(wall)
                peaks[times].append(mb)
        for times in sizes:
            pages = "-"
            pdf = next((Path(tmp) / f"x{times}" / "out").glob("*.pdf"), None)
            if pdf:
                from pypdf import PdfReader

                pages = str(len(PdfReader(pdf).pages))
            size, notes = made[times]
            print(f"×{times:<3} text {size / 1e6:5.2f} MB  notes {notes:5d}  pages {pages:>5}  "
                  f"time {median(secs[times]):7.1f} s (median of {args.runs})  peak {max(peaks[times]):7.0f} MB",
                  flush=True)
    first = sizes[0]
    for times in sizes[1:]:
        print(f"×{times}: {paired_ratio(secs[times], secs[first]):.2f}× the ×{first} time (median of the rounds' "
              f"ratios; {median(secs[times]) / median(secs[first]):.2f}× of the medians; target for ×10: ≤ 11×)")


if __name__ == "__main__":
    main()
