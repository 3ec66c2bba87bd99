"""Benchmark: our end-to-end PDF build against WeasyPrint alone laying out and writing our own final
print HTML. The ratio is our overhead: reading, anchoring, citations, templates, extra layout passes,
page labels and checks. Fresh processes, alternately, medians.

    .venv/bin/python bench/bench_limit.py [--runs 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import PYTHON, ROOT, alternate, build_cmd, median, paired_ratio, run, stamp


def final_html(dest: Path) -> Path:
    """Run our PDF writer once and keep the HTML of its last layout pass."""
    sys.path.insert(0, str(ROOT))
    from scholia.build import BuildOptions, prepare
    from scholia.writers import pdf

    pages: list[str] = []
    original = pdf._render

    def spy(page, *args):
        pages.append(page)
        return original(page, *args)

    pdf._render = spy
    _, rendered, ctx = prepare(ROOT, BuildOptions(formats=("pdf",)))
    pdf.write(rendered, ctx)
    path = dest / "final.html"
    path.write_text(pages[-1], encoding="utf-8")
    (dest / "base").write_text(ctx.style_dirs[0].resolve().as_uri() + "/", encoding="utf-8")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        stamp("capturing our final print HTML")
        html = final_html(work)
        base = (work / "base").read_text(encoding="utf-8")
        alone = [PYTHON, "-c", f"import weasyprint; weasyprint.HTML(filename={str(html)!r}, base_url={base!r}, "
                               f"media_type='print').write_pdf({str(work / 'alone.pdf')!r})"]
        ours, limit = alternate(args.runs, [
            ("ours", lambda: run(build_cmd("--format", "pdf", "--out", str(work / "ours")))[0]),
            ("WeasyPrint alone", lambda: run(alone)[0])])
    o, w = median(ours), median(limit)
    print(f"ours (PDF end to end): median {o:.2f} s over {args.runs} runs")
    print(f"WeasyPrint alone on our final HTML: median {w:.2f} s")
    print(f"ratio ours/limit: {o / w:.2f} of the medians, {paired_ratio(ours, limit):.2f} the median of the "
          f"rounds' ratios (target ≤ 1.15)")


if __name__ == "__main__":
    main()
