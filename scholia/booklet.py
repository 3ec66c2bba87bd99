"""Impose a reading PDF as a saddle-stitched booklet for a duplex copier.

The pages are padded with blanks to a multiple of four; each sheet side holds two pages side by
side, in folding order: the first sheet's front carries the last page (left) and page 1 (right),
its back page 2 (left) and the second-to-last page (right), and so on inwards. Printed duplex
(flip on the short edge), folded and stapled, the sheets read in order.
"""

from __future__ import annotations

import io

from pypdf import PageObject, PdfReader, PdfWriter, Transformation


def folding_order(pages: int) -> list[tuple[int | None, int | None]]:
    """(left, right) 0-based page indexes for each sheet side; None is a blank."""
    total = -(-pages // 4) * 4

    def page(i: int) -> int | None:
        return i if i < pages else None

    sides = []
    for sheet in range(total // 4):
        sides.append((page(total - 1 - 2 * sheet), page(2 * sheet)))  # front
        sides.append((page(2 * sheet + 1), page(total - 2 - 2 * sheet)))  # back
    return sides


def impose(pdf: bytes) -> bytes:
    """The booklet PDF: ⌈n/4⌉·4/2 sheet sides, each twice the width of a page."""
    reader = PdfReader(io.BytesIO(pdf))
    first = reader.pages[0]
    width, height = float(first.mediabox.width), float(first.mediabox.height)
    writer = PdfWriter()
    for left, right in folding_order(len(reader.pages)):
        side = PageObject.create_blank_page(width=2 * width, height=height)
        for slot, index in ((0, left), (1, right)):
            if index is not None:
                side.merge_transformed_page(reader.pages[index], Transformation().translate(tx=slot * width, ty=0))
        writer.add_page(side)
    writer.add_metadata({k: v for k, v in (reader.metadata or {}).items() if isinstance(v, str)})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
