"""The web edition: one self-contained HTML file (styles inlined, no script, no remote asset)."""

from __future__ import annotations

from markupsafe import Markup

from ..build import Context
from ..render import Rendered, RenderedNote, block_runs_html
from .common import page_model


def _marker(rn: RenderedNote) -> str:
    return (f'<a class="noteref" id="ref-n{rn.number}" href="#n{rn.number}" role="doc-noteref" '
            f'aria-label="Note {rn.number}">{rn.number}</a>')


def write(rendered: Rendered, ctx: Context) -> bytes:
    css = ctx.style_file("css/html.css").read_text(encoding="utf-8")
    model = page_model(rendered, ctx, lambda block, notes: Markup(block_runs_html(block, notes, _marker)))
    page = ctx.env.get_template("edition.html.j2").render(css=Markup(css), **model)
    return page.encode("utf-8")
