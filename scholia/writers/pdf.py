"""The print edition: HTML from ``pdf.html.j2`` + ``print.css`` + a page profile, typeset by WeasyPrint
through a fetcher that reads only the style and font folders; page labels, and for archival profiles
the XMP packet and the attached sources, are written in the same pass by WeasyPrint's finisher.

``layout(rendered, ctx, profile)`` gives the laid-out ``weasyprint.Document`` (cached in ``ctx.shared``)
so that the EPUB writer can find where each printed page begins: paragraphs keep their ``Block.id``.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import weasyprint
from markupsafe import Markup

from .. import cache, fonts
from ..build import BuildError, Context
from ..fetcher import RefusedURL, SafeFetcher
from ..model import Edition
from ..render import Rendered, RenderedNote, block_runs_html, initials
from ..timing import stage
from . import (
    lexbor_parse,
    tinyhtml5_fix,
    weasyprint_fix,
    weasyprint_memory,
    weasyprint_paint,
    weasyprint_split,
    weasyprint_styles,
    weasyprint_subsets,
)
from .common import page_model

LEMMA_MAX = 60  # longer lemmas are not repeated in the note (the underline shows the span)
MAX_SIDENOTE_PASSES = 6
MAX_FOOTNOTE_PASSES = 8  # footnotes: each pass may move a page break up to keep notes with their calls


PAPERS = {"a4": "A4", "letter": "letter", "a5": "A5"}  # --paper → CSS page size
NOTE_MODES = ("footnotes", "sidenotes", "endnotes")


@dataclass(frozen=True)
class Profile:
    """``styles/profiles/<name>.toml``: the page stylesheet and how notes are set; ``--paper`` and
    ``--notes`` may override the profile's paper and notes mode (see ``effective_profile``)."""

    name: str
    css: str
    notes: str  # "footnotes" | "sidenotes" | "endnotes"
    paper: str = ""  # "a4" | "letter" | "a5": the paper the profile's CSS sets ("" unknown)
    sidenotes: str = ""  # the profile whose page CSS to use when sidenotes are asked for

    @property
    def mode(self) -> str:
        """The class notes get in the print HTML: fn | sn | en."""
        return {"sidenotes": "sn", "endnotes": "en"}.get(self.notes, "fn")


@dataclass
class Layout:
    """A laid-out print edition and what the writer learnt about it."""

    document: weasyprint.Document
    profile: Profile
    front_pages: int  # pages before the first chapter (labelled i, ii, iii…)
    anchor_pages: dict[str, int]  # element id → 0-based page index
    footnoted: set[int] = field(default_factory=set)  # sidenote profile: notes set as footnotes instead
    passes: int = 1
    fetcher: SafeFetcher | None = None
    breaks: frozenset[str] = frozenset()  # blocks set at a page top to keep footnotes with their calls


def load_profile(ctx: Context, name: str) -> Profile:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise BuildError(f"bad profile name {name!r}")
    try:
        path = ctx.style_file(f"profiles/{name}.toml")
    except BuildError:
        names = sorted({p.stem for d in ctx.style_dirs for p in (d / "profiles").glob("*.toml")})
        raise BuildError(f"unknown profile {name!r}; choose from {', '.join(names)}") from None
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    notes = data.get("notes", "footnotes")
    if notes not in NOTE_MODES:
        raise BuildError(f"{path}: notes must be one of {', '.join(NOTE_MODES)}, not {notes!r}")
    paper = data.get("paper", "")
    if paper and paper not in PAPERS:
        raise BuildError(f"{path}: paper must be one of {', '.join(PAPERS)}, not {paper!r}")
    css = ctx.style_file(f"profiles/{data.get('css', name + '.css')}").read_text(encoding="utf-8")
    return Profile(name, css, notes, paper, data.get("sidenotes", ""))


def effective_profile(ctx: Context, name: str, paper: str = "", notes: str = "") -> Profile:
    """The profile ``name`` with ``--paper`` and ``--notes`` applied. Sidenotes asked of a profile set
    for footnotes take the page CSS of its ``sidenotes`` profile (a wide outer margin). Another paper
    takes that paper's own profile CSS (its size and margins) when notes sit at the foot or the end;
    sidenotes keep their margins and only change the page size."""
    prof = load_profile(ctx, name)
    if paper and paper not in PAPERS:
        raise BuildError(f"unknown paper {paper!r}; choose from {', '.join(PAPERS)}")
    if notes and notes not in NOTE_MODES:
        raise BuildError(f"unknown notes placement {notes!r}; choose from {', '.join(NOTE_MODES)}")
    mode = notes or prof.notes
    if mode == "sidenotes" and prof.notes != "sidenotes":
        if not prof.sidenotes:
            raise BuildError(f"the {prof.name} profile has no margin for sidenotes; use --notes footnotes "
                             "or endnotes, or a profile with sidenotes")
        wide = load_profile(ctx, prof.sidenotes)
        prof = Profile(prof.name, wide.css, prof.notes, wide.paper or prof.paper, prof.sidenotes)
    paper = paper or prof.paper
    css = prof.css
    if paper != prof.paper:
        if mode == "sidenotes":
            if paper == "a5":
                raise BuildError("A5 has no margin for sidenotes; use --notes footnotes or endnotes")
            css += f"\n@page {{ size: {PAPERS[paper]}; }}"
        else:
            css = load_profile(ctx, paper).css
    return Profile(prof.name, css, mode, paper, prof.sidenotes)


def _date_long(iso: str) -> str:
    try:
        d = dt.date.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{d.day} {d.strftime('%B')} {d.year}"


@dataclass(frozen=True)
class ContributorView:
    name: str
    initials: str
    count: int
    role: str = ""
    affiliation: str = ""


def _contributors(rendered: Rendered) -> list[ContributorView]:
    counts = Counter(a for rn in rendered.notes for a in rn.note.authors)
    known = {c.name: c for c in rendered.edition.contributors}
    out = []
    for name in sorted(counts, key=lambda n: (n.split()[-1].lower(), n.lower())):
        c = known.get(name)
        out.append(ContributorView(name, initials(name), counts[name], c.role if c else "", c.affiliation if c else ""))
    return out


def _lemma_text(rn: RenderedNote, limit: int = 90) -> str:
    """The quoted words of a lemma, shortened in the middle of a long one."""
    words = " ".join(rn.lemma.split())
    if len(words) <= limit:
        return words
    head, tail = words[: limit * 2 // 3].rsplit(" ", 1)[0], words[-limit // 3:].split(" ", 1)[-1]
    return f"{head} … {tail}"


def build_html(rendered: Rendered, ctx: Context, profile: Profile, footnoted: set[int] | None = None,
               breaks: frozenset[str] = frozenset()) -> str:
    """The print edition's HTML. ``footnoted`` lists notes that the sidenote profile sets as
    footnotes; ``breaks`` the ids of blocks that start a page (so that a footnote can stand on its
    call's page). Paragraph numbers and sidenotes are set in the right margin (``_mirror_verso`` moves
    those of verso pages after layout). With endnotes, the text carries linked calls and each chapter
    closes with its notes; with ``--notes-only`` the chapters hold only their notes, each with its
    lemma."""
    footnoted = footnoted or set()
    note_template = ctx.env.get_template("pdf/note.html.j2")
    notes_only = ctx.options.notes_only

    def marker(rn: RenderedNote) -> str:
        if notes_only:
            return ""
        if profile.mode == "en":
            return note_template.render(rn=rn, mode="en", lemma="")
        mode = "sn" if profile.mode == "sn" and rn.number not in footnoted else "fn"
        lemma = rn.lemma.strip()
        whole = rn.note.target.paragraph or len(lemma) >= len(rn.block.display_text)
        lemma = lemma if lemma and not whole and len(lemma) <= LEMMA_MAX else ""
        return note_template.render(rn=rn, mode=mode, lemma=lemma)

    model = page_model(rendered, ctx, lambda block, notes: Markup(block_runs_html(block, notes, marker)))
    stacks = fonts.stacks()
    families = f"--text-font: {stacks['text'].css_family()}; --note-font: {stacks['note'].css_family()};"
    font_css = fonts.font_face_css() + f"\n:root {{ {families} }}"
    meta = rendered.edition.metadata
    tags = [t for t, _ in Counter(t for rn in rendered.notes for t in rn.note.tags).most_common(12)]
    page = ctx.env.get_template("pdf.html.j2").render(
        css=Markup(ctx.style_file("css/print.css").read_text(encoding="utf-8")),
        profile_css=Markup(profile.css + _break_css(breaks)), font_css=Markup(font_css),
        mode=profile.mode, no_notes=ctx.options.no_notes, paper=profile.paper,
        lemma_text=_lemma_text,
        keywords=["annotated edition", meta.author, *tags], date_long=_date_long(meta.date),
        source_name=Path(rendered.edition.source_path).name, contributor_list=_contributors(rendered),
        **model)
    return page


def _render(page: str, ctx: Context, fetcher: SafeFetcher, memory: weasyprint_memory.Memory | None
            ) -> weasyprint.Document:
    base = (ctx.style_dirs[0] if ctx.style_dirs else Path.cwd()).resolve().as_uri() + "/"
    try:
        with stage("layout PDF"):
            html = weasyprint.HTML(string=page, base_url=base, url_fetcher=fetcher, media_type="print")
            return weasyprint_split.render(html, memory=memory)
    except RefusedURL as exc:
        raise BuildError(f"PDF: {exc}") from None


def _anchor_pages(doc: weasyprint.Document) -> dict[str, int]:
    where: dict[str, int] = {}
    for i, p in enumerate(doc.pages):
        for name in p.anchors:
            where.setdefault(name, i)
    return where


def _break_css(breaks: frozenset[str]) -> str:
    """A page break before each element whose id is in ``breaks`` (its top margin dropped, as at any
    page top)."""
    sel = (b.replace("\\", "\\\\").replace('"', '\\"') for b in sorted(breaks))
    return "".join(f'\n[id="{b}"] {{ break-before: page; margin-top: 0; }}' for b in sel)


def _area_notes(area) -> Iterator[int]:
    """The numbers of the notes in a footnote area."""
    for note in area.children:
        ident = note.element.get("id", "") if getattr(note, "element", None) is not None else ""
        if re.fullmatch(r"n\d+", ident):
            yield int(ident[1:])


def _stray_footnotes(doc: weasyprint.Document) -> dict[int, tuple[int, float]]:
    """Footnotes that do not stand on the page of their call: note number → (call's page, call's y)."""
    from weasyprint.formatting_structure.boxes import FootnoteAreaBox

    calls: dict[int, tuple[int, float]] = {}
    feet: dict[int, int] = {}
    for i, page in enumerate(doc.pages):
        for box in _walk(page._page_box):
            if isinstance(box, FootnoteAreaBox):
                for n in _area_notes(box):
                    feet.setdefault(n, i)
            elif (getattr(box, "element_tag", None) or "").endswith("::footnote-call"):
                ident = box.element.get("id", "")
                if re.fullmatch(r"n\d+", ident):
                    calls.setdefault(int(ident[1:]), (i, box.position_y))
    return {n: call for n, call in calls.items() if feet.get(n) != call[0]}


def _overfull_footnote_areas(doc: weasyprint.Document) -> set[int]:
    """Notes in a footnote area that rises above the top of its page: a note longer than a page,
    which WeasyPrint does not split, would be printed over the text and off the paper."""
    from weasyprint.formatting_structure.boxes import FootnoteAreaBox

    over: set[int] = set()
    for page in doc.pages:
        pbox = page._page_box
        for area in pbox.children:
            if isinstance(area, FootnoteAreaBox) and area.border_box_y() < pbox.content_box_y() - 0.5:
                over.update(_area_notes(area))
    return over


def _footnote_breaks(doc: weasyprint.Document, anchors: dict[str, int], block_ids: set[str],
                     breaks: frozenset[str]) -> frozenset[str]:
    """Where to break pages so that each stray footnote can stand on its call's page.

    WeasyPrint 70 does not split a footnote, and when a later paragraph on the call's page could
    otherwise leave a single line (orphans), it moves the page's last footnotes on instead of the
    paragraph. So the page is made to end earlier: before the last block that starts after the call
    on that page (a heading just above it goes with it); a next pass moves the break up one more
    block if that was not enough. If no block starts after the call, the break goes before the block
    holding the call. A note whose break is already in ``breaks`` is left as it is (no loop)."""
    from weasyprint.formatting_structure.boxes import BlockBox

    stray = _stray_footnotes(doc)
    if not stray:
        return frozenset()
    flow: dict[int, list[tuple[str, str, float]]] = {}  # page → (block id, tag, top) in document order
    for i in sorted({page for page, _ in stray.values()}):
        items: list[tuple[str, str, float]] = []
        for box in _walk(doc.pages[i]._page_box):
            el = getattr(box, "element", None)
            ident = el.get("id", "") if el is not None else ""
            if (ident in block_ids and isinstance(box, BlockBox)
                    and not any(ident == b for b, _, _ in items)):
                items.append((ident, box.element_tag, box.position_y))
        flow[i] = items
    out: set[str] = set()
    for _, (page, y) in sorted(stray.items()):
        items = flow[page]
        after = [k for k, (b, _, top) in enumerate(items) if top > y + 0.5 and anchors.get(b) == page]
        holding = [k for k, (_, _, top) in enumerate(items) if top <= y + 0.5]
        if after:
            k = after[-1]
            while k - 1 in after and items[k - 1][1] in ("h2", "h3"):
                k -= 1
        elif holding:
            k = holding[-1]
        else:
            continue
        if items[k][0] not in breaks:
            out.add(items[k][0])
    return frozenset(out)


def _mirror_verso(doc: weasyprint.Document) -> None:
    """Move the paragraph numbers and sidenotes of verso pages to the outer (left) margin, as far
    from the text as they were on the right; numbers are right-aligned there.

    Both are set in the right margin and take no part in line or page breaking (numbers are
    absolutely positioned; a sidenote floats with a margin box of zero width), so moving them after
    layout gives the pages that a second pass with the sides known would give, without that pass."""
    from weasyprint.formatting_structure.boxes import BlockBox

    for page in doc.pages[1::2]:
        stack = [(page._page_box, None, None)]
        while stack:
            box, para, block = stack.pop()
            el = getattr(box, "element", None)
            tag = getattr(box, "element_tag", "")
            classes = el.get("class", "").split() if el is not None and tag in ("span", "div") else ()
            if para is not None and "pnum" in classes:  # absolutely positioned: the paragraph's padding box
                left, right = para.padding_box_x(), para.padding_box_x() + para.padding_width()
                x, width = box.position_x, box.margin_width()
            elif block is not None and "sn" in classes and box.style["float"] == "right":  # floated: content box
                left, right = block.content_box_x(), block.content_box_x() + block.width
                x, width = box.border_box_x(), box.border_width()
            else:
                if isinstance(box, BlockBox):
                    block = box
                    if "para" in classes and tag == "div":
                        para = box
                stack.extend((c, para, block) for c in getattr(box, "children", None) or ())
                continue
            box.translate(left - (x - right) - width - x)
            if "pnum" in classes:
                for line in box.children:
                    if line.children:
                        end = max(c.position_x + c.margin_width() for c in line.children)
                        for c in line.children:
                            c.translate(box.content_box_x() + box.width - end)


def layout(rendered: Rendered, ctx: Context, profile: str = "a4", paper: str = "", notes: str = "") -> Layout:
    """Typeset the print edition (cached per profile, paper and notes placement in ``ctx.shared``).

    One pass in the usual case: paragraph numbers and sidenotes are moved to the outer margin of
    verso pages afterwards (``_mirror_verso``), and ``weasyprint_fix`` keeps every footnote on its
    call's page. Should a footnote still stray, a page break goes before the paragraph that pushed
    it; sidenotes that the margin cannot hold become footnotes; either way the text is set again."""
    key = f"pdf.layout.{profile}" + (f".{paper or '-'}.{notes or '-'}" if paper or notes else "")
    cached = ctx.shared.get(key)
    if isinstance(cached, Layout):
        return cached
    prof = effective_profile(ctx, profile, paper, notes)
    fetcher = SafeFetcher([*ctx.style_dirs, *fonts.font_dirs()])
    # The stage cache, for every pass (its stamp reads the fetcher's folders: once).
    memory = (weasyprint_memory.Memory(cache.cache_dir() / "layout", cache.layout_stamp(fetcher.roots))
              if ctx.options.cache else None)
    weasyprint_fix.apply()
    weasyprint_styles.apply()
    tinyhtml5_fix.apply()
    lexbor_parse.apply()
    sidenotes = prof.notes == "sidenotes" and not ctx.options.notes_only
    fix_footnotes = prof.mode == "fn" and not ctx.options.notes_only and not ctx.options.no_notes
    footnoted: set[int] = set()
    breaks: frozenset[str] = frozenset()
    block_ids = {b.id for b in rendered.edition.blocks}
    doc = None
    anchors: dict[str, int] = {}
    passes = 0
    limit = MAX_SIDENOTE_PASSES if sidenotes else MAX_FOOTNOTE_PASSES
    for passes in range(1, limit + 1):
        with stage("render HTML"):
            page = build_html(rendered, ctx, prof, footnoted, breaks)
        doc = _render(page, ctx, fetcher, memory)
        _mirror_verso(doc)
        anchors = _anchor_pages(doc)
        if sidenotes:
            _stack_sidenotes(doc)
            bad = _overfull_sidenotes(doc)
            if not bad:
                break
            if passes == limit - 1:  # not settled: every note from the first bad one on becomes a footnote
                bad |= {rn.number for rn in rendered.notes if rn.number >= min(bad)}
            elif passes == limit:
                raise BuildError(f"PDF: the {prof.name} profile could not place notes {sorted(bad)} in the margin")
            footnoted |= bad
        else:
            more = _footnote_breaks(doc, anchors, block_ids, breaks) if fix_footnotes else frozenset()
            if not more:
                break
            breaks |= more
    assert doc is not None
    if over := _overfull_footnote_areas(doc):
        raise BuildError("\n".join(f"{rn.note.path}: note {rn.number} is longer than a page can hold as a footnote: "
                                   "shorten or split it, or build with --notes endnotes"
                                   for rn in rendered.notes if rn.number in over))
    first = rendered.edition.parts[0].id if rendered.edition.parts else ""
    result = Layout(doc, prof, anchors.get(first, 0), anchors, footnoted, passes, fetcher, breaks)
    ctx.shared[key] = result
    return result


def _walk(box):
    yield box
    for child in getattr(box, "children", None) or ():
        yield from _walk(child)


@dataclass(frozen=True)
class Placed:
    """Where a sidenote (or its call) ended up: page index and rectangle in CSS px."""

    number: int
    page: int
    x: float
    y: float
    width: float
    height: float

    @property
    def bottom(self) -> float:
        return self.y + self.height


def _margin_items(pbox) -> Iterator[tuple[int, object | None]]:
    """A page's note calls ``(n, None)`` and sidenote fragments ``(n, box)``, in tree order (a float
    met twice in the walk is given once)."""
    seen: set[int] = set()
    for box in _walk(pbox):
        el = getattr(box, "element", None)
        if el is None or getattr(box, "element_tag", "") != "span":
            continue
        ident, classes = el.get("id", ""), el.get("class", "").split()
        if ident.startswith("call-n") and "note-call" in classes:
            yield int(ident[6:]), None
        elif (ident.startswith("n") and "sn" in classes and box.style["float"] in ("left", "right")
              and id(box) not in seen and hasattr(box, "border_box_x")):
            seen.add(id(box))
            yield int(ident[1:]), box


def sidenote_placements(doc: weasyprint.Document
                        ) -> tuple[dict[int, list[Placed]], dict[int, int], list[tuple[float, float]]]:
    """Sidenote border boxes (a note broken over two pages has two), the page of each note call, and
    each page's content-box bottom and page width."""
    notes: dict[int, list[Placed]] = {}
    calls: dict[int, int] = {}
    bottoms: list[tuple[float, float]] = []
    for i, page in enumerate(doc.pages):
        pbox = page._page_box
        bottoms.append((pbox.content_box_y() + pbox.height, pbox.margin_width()))
        for n, box in _margin_items(pbox):
            if box is None:
                calls.setdefault(n, i)
            else:
                notes.setdefault(n, []).append(Placed(n, i, box.border_box_x(), box.border_box_y(),
                                                      box.border_width(), box.border_height()))
    return notes, calls, bottoms


def _stack_sidenotes(doc: weasyprint.Document) -> None:
    """Move each sidenote down below the one above it where they would overlap.

    ``clear`` stacks notes floated from one paragraph, not those of the next paragraph, which
    WeasyPrint sets at their own line's height over a longer note above. A sidenote takes no part in
    line or page breaking (its margin box has no width), so moving it after layout gives the page a
    layout that stacks them would; a note moved past the foot of the page is then found overfull."""
    for page in doc.pages:
        floor = None
        for box in sorted((b for _, b in _margin_items(page._page_box) if b is not None),
                          key=lambda b: b.border_box_y()):
            if floor is not None and box.border_box_y() < floor:
                box.translate(dy=floor - box.border_box_y())
            floor = box.border_box_y() + box.border_height() + box.margin_bottom


def _overfull_sidenotes(doc: weasyprint.Document) -> set[int]:
    """Sidenotes that the margin cannot hold: split over pages, not on their call's page, running
    past the foot of the page, or overlapping another (which ``_stack_sidenotes`` prevents)."""
    notes, calls, bottoms = sidenote_placements(doc)
    bad: set[int] = set()
    for n, placed in notes.items():
        first = placed[0]
        bottom, width = bottoms[first.page]
        if (len(placed) > 1 or calls.get(n) != first.page or first.bottom > bottom + 0.5
                or first.x < 0 or first.x + first.width > width + 0.5):
            bad.add(n)
    by_page: dict[int, list[Placed]] = {}
    for placed in notes.values():
        by_page.setdefault(placed[0].page, []).append(placed[0])
    for items in by_page.values():
        items.sort(key=lambda p: p.y)
        for a, b in zip(items, items[1:], strict=False):
            if b.y < a.bottom - 0.5 and not (b.x >= a.x + a.width or a.x >= b.x + b.width):
                bad.add(b.number)
    return bad


def font_problems(pdf) -> set[str]:
    """Fonts of a PDF that are not embedded or not the edition's (a silent fallback), as WeasyPrint
    wrote them into ``pdf`` (a ``pydyf.PDF``, seen by the finisher): each font dictionary but a
    composite font's top one (its descendant is seen), its name and its descriptor's font file."""
    allowed = fonts.allowed_pdf_fonts()
    problems = set()
    for obj in pdf.objects:
        if not isinstance(obj, dict) or obj.get("Type") != "/Font" or "DescendantFonts" in obj:
            continue
        base = obj.get("BaseFont", b"")
        name = (base.decode() if isinstance(base, bytes) else str(base)).lstrip("/").split("+", 1)[-1]
        desc = obj.get("FontDescriptor")
        desc = pdf.objects[int(desc.split()[0])] if desc else {}
        if not any(k in desc for k in ("FontFile", "FontFile2", "FontFile3")):
            problems.add(f"{name}: not embedded")
        if not any(name.replace("-", "").startswith(a) for a in allowed):
            problems.add(f"{name}: not one of the edition's fonts (a glyph fell back to a system font)")
    return problems


def ready(edition: Edition) -> None:
    """What typesetting will need whatever the notes say (``build.writer_module``): the hyphenation
    patterns of the edition's language."""
    if edition.metadata.language:
        weasyprint_split.load_hyphenation([edition.metadata.language])


def output_layout(rendered: Rendered, ctx: Context) -> Layout:
    """The layout of this build's PDF (its profile, paper and notes placement)."""
    out = pdf_output(ctx, ctx.options.profile)
    return layout(rendered, ctx, out.layout, ctx.options.paper, ctx.options.notes)


def write(rendered: Rendered, ctx: Context, painted: Callable[[], None] = lambda: None) -> bytes:
    """The PDF of ``ctx.options.profile``. Page labels, and for a PDF/A or PDF/UA profile the XMP
    metadata and the attached sources, are written by WeasyPrint's finisher hook, in the same pass
    (no second writer that could change the header, the IDs or the output intent). ``painted`` is
    called once the writer uses one core (the painting child has ended, or every page is painted)."""
    out = pdf_output(ctx, ctx.options.profile)
    lay = output_layout(rendered, ctx)
    prov = ctx.shared.get("provenance")
    digest = getattr(prov, "digest", "") or rendered.edition.metadata.sha256
    ident = digest[:32] or None  # the document ID derives from the inputs, the tool and the options
    doc = lay.document.copy()
    doc.color_profiles = dict(doc.color_profiles)  # a variant adds its output-intent profile: not to the layout
    options: dict[str, object] = {"pdf_identifier": ident.encode() if ident else None}
    if out.variant:
        options["pdf_variant"] = out.variant
    if out.tags:
        options["pdf_tags"] = True
    attached = source_attachments(prov, ctx) if out.attach_sources else []
    if attached:
        options["attachments"] = [a for a, _ in attached]
    finisher = _finisher(lay.front_pages, out, rendered, ctx, digest, dict(attached))
    subsets = cache.stage_store("subsets") if ctx.options.cache else None
    with weasyprint_paint.painting_split(doc, options, painted, getattr(lay.document, "scholia_paint_memory", None)), \
            weasyprint_subsets.kept(subsets):
        return doc.write_pdf(finisher=finisher, **options)


@dataclass(frozen=True)
class PdfOutput:
    """How a profile's PDF is written (its page layout is ``load_profile``'s business):
    ``layout`` typesets as another profile (sharing its layout), ``pdf_variant`` is one of
    WeasyPrint's (``pdf/a-3b``, ``pdf/ua-1``…), ``pdf_tags`` adds the structure tree and
    ``attach_sources`` embeds every input and ``provenance.json`` as PDF/A-3 associated files."""

    layout: str
    variant: str = ""
    tags: bool = False
    attach_sources: bool = False


def pdf_output(ctx: Context, name: str) -> PdfOutput:
    from weasyprint.pdf import VARIANTS

    load_profile(ctx, name)  # a known profile, with valid page settings
    path = ctx.style_file(f"profiles/{name}.toml")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    variant = data.get("pdf_variant", "")
    if variant and variant not in VARIANTS:
        raise BuildError(f"{path}: pdf_variant must be one of {', '.join(sorted(VARIANTS))}, not {variant!r}")
    base = data.get("layout", name)
    if base != name:
        load_profile(ctx, base)
    attach = bool(data.get("attach_sources", False))
    if attach and variant.startswith(("pdf/a-1", "pdf/a-2")):
        raise BuildError(f"{path}: {variant} forbids attached sources; use pdf/a-3b")
    return PdfOutput(base, variant, bool(data.get("pdf_tags", False)), attach)


def source_attachments(prov: object, ctx: Context) -> list[tuple[weasyprint.Attachment, str]]:
    """Every input file of the edition and ``provenance.json``, as PDF attachments (sorted by name,
    as a PDF name tree must be) with the build date as their dates, each with its media type."""
    if prov is None:
        raise BuildError("attached sources need the build's provenance record (build through scholia.build)")
    import hashlib

    items: list[tuple[str, bytes, str, str]] = []
    for f in prov.inputs:
        data = f.path.read_bytes()
        if hashlib.sha256(data).hexdigest() != f.sha256:
            raise BuildError(f"{f.name} changed during the build; build again")
        items.append((f.name, data, f.relationship, f.media_type))
    items.append(("provenance.json", prov.json_bytes, "Data", "application/json"))
    when = ctx.build_date.astimezone(dt.UTC).replace(tzinfo=None)
    out = []
    for name, data, relationship, media_type in sorted(items, key=lambda i: i[0].encode("utf-8")):
        desc = "provenance of this edition" if name == "provenance.json" else f"{relationship.lower()} file {name}"
        out.append((weasyprint.Attachment(string=data, name=name, description=desc, created=when, modified=when,
                                          relationship=relationship), media_type))
    return out


def _finisher(front_pages: int, out: PdfOutput, rendered: Rendered, ctx: Context, digest: str,
              media_types: dict[weasyprint.Attachment, str]):
    """WeasyPrint finisher: page labels i, ii… then 1, 2…; the attachments' media types (from our
    table, not the machine's) and one AF entry each; for PDF/A and PDF/UA, XMP that mirrors the
    document information dictionary and adds language, identifier, rights and IDs."""
    import pydyf

    names = {a.name: media for a, media in media_types.items()}

    def finish(document: weasyprint.Document, pdf: pydyf.PDF) -> None:
        if problems := font_problems(pdf):  # before anything is written
            raise BuildError("PDF fonts: " + "; ".join(sorted(problems)))
        total = len(document.pages)
        nums = pydyf.Array()
        if front_pages > 0:
            nums.extend([0, pydyf.Dictionary({"S": "/r", "St": 1})])
        if front_pages < total:
            nums.extend([front_pages, pydyf.Dictionary({"S": "/D", "St": 1})])
        pdf.catalog["PageLabels"] = pydyf.Dictionary({"Nums": nums})
        pdf.catalog["PageMode"] = "/UseOutlines"
        for obj in pdf.objects:
            if isinstance(obj, dict) and obj.get("Type") == "/Filespec":
                name = getattr(obj.get("UF"), "string", "")
                stream = pdf.objects[int(obj["EF"]["F"].split()[0])]
                stream.extra["Subtype"] = "/" + names.get(name, "application/octet-stream").replace("/", "#2f")
        if "AF" in pdf.catalog:  # WeasyPrint 70 lists each attachment twice
            pdf.catalog["AF"] = pydyf.Array(dict.fromkeys(pdf.catalog["AF"]))
        if out.variant:
            pdf.catalog["ViewerPreferences"] = pydyf.Dictionary({"DisplayDocTitle": "true"})
            stream = pdf.objects[int(pdf.catalog["Metadata"].split()[0])]
            stream.stream = [xmp_packet(document.metadata, out.variant, rendered.edition.metadata, digest)]
            stream.compress = False  # readable with any tool, as archives like it

    return finish


def _xml(text: str) -> str:
    from xml.sax.saxutils import escape

    return escape(text)


def xmp_packet(doc_meta: object, variant: str, meta: object, digest: str) -> bytes:
    """The XMP of a PDF/A or PDF/UA file. Title, creator, description, keywords, creator tool,
    producer and dates say exactly what the information dictionary says (PDF/A requires it: one
    dc:creator entry equal to /Author); language, identifier, rights, format and IDs are added."""
    import uuid

    import weasyprint as wp

    kind, _, level = variant.partition("/")[2].partition("-")  # "a", "3b" | "ua", "1"
    part = "".join(c for c in level if c.isdigit())
    conformance = "".join(c for c in level if c.isalpha()).upper()
    ident = uuid.UUID(hex=(digest + "0" * 32)[:32])
    instance = uuid.uuid5(ident, variant)
    title = doc_meta.title or ""
    author = ", ".join(doc_meta.authors)
    fields = [f'<pdf:Producer>WeasyPrint {wp.__version__}</pdf:Producer>', "<dc:format>application/pdf</dc:format>",
              f"<xmpMM:DocumentID>uuid:{ident}</xmpMM:DocumentID>",
              f"<xmpMM:InstanceID>uuid:{instance}</xmpMM:InstanceID>"]
    if kind == "a":
        fields.append(f"<pdfaid:part>{part}</pdfaid:part>")
        if conformance:
            fields.append(f"<pdfaid:conformance>{conformance}</pdfaid:conformance>")
    elif kind == "ua":
        fields.append(f"<pdfuaid:part>{part}</pdfuaid:part>")
    if title:
        fields.append(f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{_xml(title)}</rdf:li></rdf:Alt></dc:title>')
    if author:
        fields.append(f"<dc:creator><rdf:Seq><rdf:li>{_xml(author)}</rdf:li></rdf:Seq></dc:creator>")
    if doc_meta.description:
        fields.append(f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{_xml(doc_meta.description)}'
                      "</rdf:li></rdf:Alt></dc:description>")
    if doc_meta.keywords:
        fields.append(f"<pdf:Keywords>{_xml(', '.join(doc_meta.keywords))}</pdf:Keywords>")
    if doc_meta.generator:
        fields.append(f"<xmp:CreatorTool>{_xml(doc_meta.generator)}</xmp:CreatorTool>")
    if doc_meta.created:
        fields.append(f"<xmp:CreateDate>{_xml(doc_meta.created)}</xmp:CreateDate>")
        fields.append(f"<dc:date><rdf:Seq><rdf:li>{_xml(doc_meta.created)}</rdf:li></rdf:Seq></dc:date>")
    if doc_meta.modified:
        fields.append(f"<xmp:ModifyDate>{_xml(doc_meta.modified)}</xmp:ModifyDate>")
        fields.append(f"<xmp:MetadataDate>{_xml(doc_meta.modified)}</xmp:MetadataDate>")
    lang = doc_meta.lang or getattr(meta, "language", "")
    if lang:
        fields.append(f"<dc:language><rdf:Bag><rdf:li>{_xml(lang)}</rdf:li></rdf:Bag></dc:language>")
    if getattr(meta, "identifier", ""):
        fields.append(f"<dc:identifier>{_xml(meta.identifier)}</dc:identifier>")
    if getattr(meta, "rights", ""):
        fields.append(f'<dc:rights><rdf:Alt><rdf:li xml:lang="x-default">{_xml(meta.rights)}'
                      "</rdf:li></rdf:Alt></dc:rights>")
    namespaces = {"dc": "http://purl.org/dc/elements/1.1/", "pdf": "http://ns.adobe.com/pdf/1.3/",
                  "xmp": "http://ns.adobe.com/xap/1.0/", "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
                  "pdfaid": "http://www.aiim.org/pdfa/ns/id/", "pdfuaid": "http://www.aiim.org/pdfua/ns/id/"}
    xmlns = " ".join(f'xmlns:{k}="{v}"' for k, v in namespaces.items() if any(f"<{k}:" in f for f in fields))
    body = "\n  ".join(fields)
    packet = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
              '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
              '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
              f'<rdf:Description rdf:about="" {xmlns}>\n  {body}\n</rdf:Description>\n'
              "</rdf:RDF>\n</x:xmpmeta>\n" + " " * 2000 + '\n<?xpacket end="w"?>')
    return packet.encode("utf-8")
