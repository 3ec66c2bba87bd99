"""Benchmark: anchor N notes on a text of about S bytes. Prints figures; asserts nothing.

    .venv/bin/python bench/bench_anchor.py [--notes 10000] [--bytes 1000000] [--runs 5]

The text is made of the white paper's own words in a seeded random order (so quotes are realistic
but unique), split into paragraphs; each note quotes 3 to 9 consecutive words of one paragraph,
with typographic apostrophes folded in a quarter of them to exercise the variant matching.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scholia.anchoring import TextIndex, resolve  # noqa: E402
from scholia.model import Block, Line, Note, Target  # noqa: E402


def make_text(size: int, rng: random.Random) -> list[Block]:
    words = (ROOT / "source" / "cpc-guidelines-governing-xinjiang-2025.en.txt").read_text(encoding="utf-8").split()
    blocks, total, n = [], 0, 0
    while total < size:
        para = " ".join(rng.choice(words) for _ in range(rng.randint(60, 160)))
        n += 1
        blocks.append(Block(f"p-{n}", "paragraph", str(n), para, (Line(n, total, para),)))
        total += len(para.encode("utf-8")) + 1
    return blocks


def make_notes(blocks: list[Block], count: int, rng: random.Random) -> list[Note]:
    notes = []
    for i in range(count):
        words = rng.choice(blocks).text.split(" ")
        k = rng.randint(3, 9)
        start = rng.randrange(0, len(words) - k)
        quote = " ".join(words[start:start + k])
        if i % 4 == 0:
            quote = quote.replace("’", "'")
        notes.append(Note(id=f"n{i}", path=f"n{i}.md", type="gloss", status="reviewed", authors=(), tags=(),
                          target=Target(quote=quote), body="", body_line=6, citations=()))
    return notes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--notes", type=int, default=10_000)
    ap.add_argument("--bytes", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(20250919)
    blocks = make_text(args.bytes, rng)
    notes = make_notes(blocks, args.notes, rng)
    index_times, resolve_times, anchored = [], [], 0
    for _ in range(args.runs):
        t0 = time.perf_counter()
        index = TextIndex(blocks)
        t1 = time.perf_counter()
        done, diags = resolve(index, notes)
        t2 = time.perf_counter()
        index_times.append(t1 - t0)
        resolve_times.append(t2 - t1)
        anchored = len(done)
    total = [a + b for a, b in zip(index_times, resolve_times, strict=True)]
    size = sum(len(b.text.encode("utf-8")) + 1 for b in blocks)
    print(f"text: {size:,} bytes in {len(blocks):,} paragraphs; notes: {len(notes):,} "
          f"({anchored:,} anchored, {len(notes) - anchored:,} ambiguous or not found)")
    print(f"index build: median {statistics.median(index_times) * 1000:.0f} ms")
    print(f"anchor all notes: median {statistics.median(resolve_times) * 1000:.0f} ms")
    print(f"total (median of {args.runs}): {statistics.median(total) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
