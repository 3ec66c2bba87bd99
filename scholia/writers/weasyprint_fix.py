"""Keep ``footnote-policy: line`` footnotes on the page of their call (a fix to WeasyPrint's layout).

When a line overflows a page and the paragraph could not break just before it (orphans, widows),
WeasyPrint 66+ first moves the page's last footnotes on to the next page to make room for the line
(Kozea/WeasyPrint#2437). Their calls stay behind, which is what ``footnote-policy: line`` exists to
prevent: a scholarly edition wants every note on the page of its call. With the fix, only footnotes
whose policy is ``auto`` are moved that way; the paragraph breaks before the line instead.

The fix rewrites one statement of ``weasyprint.layout.block._linebox_layout``. If a WeasyPrint
release no longer has that statement, nothing is patched and ``applied()`` is False: the PDF writer
then still finds stray footnotes after layout and moves page breaks up pass by pass (slower, same
rule).
"""

from __future__ import annotations

import inspect
import textwrap

from weasyprint.layout import block

_OLD = "report = not context.in_column and can_break_now and not could_break_before"
_NEW = _OLD + " and all(note.style['footnote_policy'] == 'auto' for note in context.current_page_footnotes)"
_state = {"applied": False}


def apply() -> bool:
    """Patch WeasyPrint once; True when the fix is in place."""
    if _state["applied"]:
        return True
    lines, first = inspect.getsourcelines(block._linebox_layout)
    source = textwrap.dedent("".join(lines))
    if source.count(_OLD) != 1:
        return False
    namespace: dict = {}
    patched = "\n" * (first - 1) + source.replace(_OLD, _NEW)  # tracebacks keep block.py's line numbers
    exec(compile(patched, block.__file__, "exec"), block.__dict__, namespace)  # noqa: S102
    block._linebox_layout = namespace["_linebox_layout"]
    _state["applied"] = True
    return True


def applied() -> bool:
    return _state["applied"]
