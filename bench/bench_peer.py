"""Benchmark: our full build (PDF + EPUB + HTML) against the peer pipeline on the same text and notes.

The peer pipeline is what a scholar would otherwise script: the edition turned into Pandoc Markdown
with footnotes and citations, then `pandoc --citeproc` to HTML and WeasyPrint to PDF, and
`pandoc --citeproc` to EPUB. Both are timed in fresh processes, alternately, and the medians printed.

    .venv/bin/python bench/bench_peer.py [--runs 5]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import PYTHON, ROOT, alternate, build_cmd, median, paired_ratio, run


def to_pandoc_markdown(out: Path) -> Path:
    """The white-paper edition as Pandoc Markdown: headings, paragraphs, a footnote where each note's
    span ends (the note's own Markdown and Pandoc citations), and the bibliography files."""
    import sys

    sys.path.insert(0, str(ROOT))
    from scholia.load import load_edition
    from scholia.model import blocks_of

    ed = load_edition(ROOT).edition
    notes = [n for n in ed.notes if n.status == "reviewed"]
    by_block: dict[str, list] = {}
    for n in notes:
        by_block.setdefault(n.anchor.block_id, []).append(n)
    lines = [f"---\ntitle: \"{ed.metadata.title}\"\nsubtitle: \"{ed.metadata.subtitle}\"\n"
             f"author: \"{ed.metadata.author}\"\nlang: {ed.metadata.language}\n"
             f"bibliography: [{', '.join(str(p) for p in sorted((ROOT / 'annotations').glob('*.bib')))}]\n"
             "link-citations: true\n---\n"]
    footnotes: list[str] = []
    for block, _part in blocks_of(ed.parts):
        text = block.text.strip()
        lead = len(block.text) - len(block.text.lstrip())
        cuts = sorted(((n.anchor.end - lead, n) for n in by_block.get(block.id, [])), key=lambda t: -t[0])
        for end, n in cuts:
            label = f"n{len(footnotes) + 1}"
            body = " ".join(n.body.split())
            footnotes.append(f"[^{label}]: **{ed.type_label(n.type)}.** {body}")
            text = text[:end] + f"[^{label}]" + text[end:]
        lines.append(("# " if block.kind == "heading" else "") + text.replace("*", "\\*") + "\n")
    lines += footnotes
    path = out / "edition.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from scholia.citeproc import pandoc_path

    pandoc = pandoc_path()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        md = to_pandoc_markdown(work)
        peer_pdf = [PYTHON, "-c", (
            "import subprocess, sys, weasyprint; "
            f"subprocess.run([{pandoc!r}, '--citeproc', '-s', {str(md)!r}, '-o', {str(work / 'peer.html')!r}], "
            "check=True); "
            f"weasyprint.HTML({str(work / 'peer.html')!r}).write_pdf({str(work / 'peer.pdf')!r})")]
        peer_epub = [pandoc, "--citeproc", str(md), "-o", str(work / "peer.epub")]
        ours, peer = alternate(args.runs, [("ours", lambda: run(build_cmd("--out", str(work / "ours")))[0]),
                                           ("peer", lambda: run(peer_pdf)[0] + run(peer_epub)[0])])
    o, p = median(ours), median(peer)
    print(f"ours (PDF+EPUB+HTML, footnotes, page list, checks): median {o:.2f} s over {args.runs} runs")
    print(f"peer (pandoc --citeproc → HTML → WeasyPrint PDF; pandoc → EPUB): median {p:.2f} s")
    print(f"ratio ours/peer: {o / p:.2f} of the medians, {paired_ratio(ours, peer):.2f} the median of the "
          f"rounds' ratios ({' '.join(f'{x / y:.2f}' for x, y in zip(ours, peer, strict=True))}) (target ≤ 0.80)")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(ROOT))
    main()
