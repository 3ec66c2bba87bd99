"""The EPUB 3.3 edition: one XHTML document per part, pop-up footnotes, a page list that follows the
A4 print edition, accessibility metadata, embedded font subsets, and a byte-stable container."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
import posixpath
import re
import textwrap
import uuid
import zipfile
from dataclasses import dataclass, field

from lxml import etree
from lxml import html as lxml_html
from markupsafe import Markup

from .. import cache, fonts, pagemap
from ..build import Context
from ..model import Block
from ..render import Rendered, RenderedNote, block_runs_html
from .common import page_model
from .patched import patched

XHTML_NS = "http://www.w3.org/1999/xhtml"
EPUB_NS = "http://www.idpf.org/2007/ops"
OPF_DIR = "EPUB"
_NOTE_OPEN, _NOTE_CLOSE = "\ue010", "\ue011"
_MARKERS = re.compile(f"{_NOTE_OPEN}(\\d+){_NOTE_CLOSE}")
FOLLOWS_PRINT = True  # the page list comes from the print layout: written once the PDF is laid out
_ROLES = {"editor": "edt", "editors": "edt", "annotator": "ann", "author": "aut", "translator": "trl",
          "reviewer": "rev", "compiler": "com", "contributor": "ctb"}


@dataclass
class Item:
    """A file of the publication: its path under ``EPUB/``, media type, and bytes."""

    id: str
    href: str
    media_type: str
    data: bytes
    properties: str = ""


@dataclass
class _Doc:
    """An XHTML content document while it is being assembled."""

    id: str
    href: str
    label: str
    text: str
    properties: str = ""
    ids: set[str] = field(default_factory=set)


# ---------------------------------------------------------------- markup helpers


def xhtml_fragment(fragment: str) -> str:
    """HTML (as the renderer and the citation processor give it) re-serialised as well-formed XHTML:
    void elements closed, named entities replaced by characters."""
    if not fragment.strip():
        return ""
    parts = lxml_html.fragments_fromstring(fragment)
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(html.escape(part, quote=False))
        else:
            out.append(etree.tostring(part, method="xml", encoding="unicode", with_tail=True))
    return "".join(out)


def _noteref(rn: RenderedNote) -> str:
    return (f'<a class="noteref" epub:type="noteref" role="doc-noteref" id="ref-n{rn.number}" '
            f'href="#n{rn.number}">{rn.number}</a>')


def _pagebreak(label: str, ident: str) -> str:
    label = html.escape(label)
    return (f'<span class="pagebreak" epub:type="pagebreak" role="doc-pagebreak" id="{ident}" '
            f'aria-label="{label}"></span>')


def block_xhtml(block: Block, notes: list[RenderedNote], breaks: list[tuple[int, str]]) -> str:
    """The block's marked text with note calls, and a page-break marker (given as ``(offset in
    block.text, markup)``) before the character at each offset: markers go between characters, after
    any tag that opens there, so the markup stays well nested."""
    marked = block_runs_html(block, notes, lambda rn: f"{_NOTE_OPEN}{rn.number}{_NOTE_CLOSE}")
    by_number = {rn.number: rn for rn in notes}
    pending = sorted(breaks)
    text = block.text
    pos = len(text) - len(text.lstrip())  # block_runs_html drops the outer white space
    out: list[str] = []
    i, n = 0, len(marked)
    while i < n and pending:  # the rest, once every marker is placed, is copied as it is
        ch = marked[i]
        if ch == "<":
            j = marked.index(">", i) + 1
            out.append(marked[i:j])
            i = j
            continue
        if ch == _NOTE_OPEN:
            j = marked.index(_NOTE_CLOSE, i) + 1
            out.append(marked[i:j])
            i = j
            continue
        while pending and pending[0][0] <= pos:
            out.append(pending.pop(0)[1])
        if ch == "&":
            j = marked.index(";", i) + 1
        else:
            j = i + 1
        out.append(marked[i:j])
        pos += 1
        i = j
    out.append(marked[i:])
    out.extend(markup for _, markup in pending)
    return _MARKERS.sub(lambda m: _noteref(by_number[int(m.group(1))]), "".join(out))


# ---------------------------------------------------------------- fonts


# ---------------------------------------------------------------- the writer


def _identifier(rendered: Rendered) -> str:
    meta = rendered.edition.metadata
    if meta.identifier:
        return meta.identifier
    seed = "\n".join([meta.sha256 or hashlib.sha256(rendered.edition.source_text.encode()).hexdigest(),
                      meta.slug, meta.title, meta.version])
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'scholia:' + seed)}"


def _role(text: str) -> str:
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in _ROLES:
            return _ROLES[word]
    return "ctb"


def _page_map(rendered: Rendered, ctx: Context) -> list[pagemap.PageStart]:
    document = pagemap.print_layout(rendered, ctx)
    return pagemap.page_starts(document, rendered.edition.blocks)


def _fix_links(docs: list[_Doc]) -> None:
    """Point every in-publication fragment link at the document that holds its target, and unwrap
    links to targets the publication does not have."""
    where: dict[str, str] = {}
    trees = {}
    for doc in docs:
        tree = etree.fromstring(doc.text.encode("utf-8"))
        trees[doc.href] = tree
        for el in tree.iter():
            ident = el.get("id")
            if ident is not None:
                doc.ids.add(ident)
                where.setdefault(ident, doc.href)
    for doc in docs:
        tree = trees[doc.href]
        changed = False
        for a in list(tree.iter(f"{{{XHTML_NS}}}a")):
            href = a.get("href") or ""
            if not href.startswith("#"):
                continue
            target = href[1:]
            if target in doc.ids:
                continue
            changed = True
            if target in where:
                rel = posixpath.relpath(where[target], posixpath.dirname(doc.href) or ".")
                a.set("href", f"{rel}#{target}")
            else:
                _unwrap(a)
        if changed:
            body = etree.tostring(tree, encoding="unicode")
            doc.text = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n' + body + "\n"


def _unwrap(el: etree._Element) -> None:
    parent = el.getparent()
    index = parent.index(el)
    text = el.text or ""
    children = list(el)
    tail = el.tail or ""
    prev = parent[index - 1] if index > 0 else None
    if prev is None:
        parent.text = (parent.text or "") + text
    else:
        prev.tail = (prev.tail or "") + text
    for offset, child in enumerate(children):
        parent.insert(index + offset, child)
    last = children[-1] if children else (parent[index - 1] if index > 0 else None)
    parent.remove(el)
    if last is None:
        parent.text = (parent.text or "") + tail
    else:
        last.tail = (last.tail or "") + tail


def _zip(items: list[Item], container: bytes, date: dt.datetime, store: cache.Store | None = None) -> bytes:
    """The OCF container: ``mimetype`` first and stored, then every file deflated, in a fixed
    order, with one fixed timestamp and fixed attributes. With ``store``, each file's deflated bytes
    made by an earlier build are read back (``cache.Store.deflated``)."""
    stamp = max(date.astimezone(dt.UTC), dt.datetime(1980, 1, 1, tzinfo=dt.UTC))
    when = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    buf = io.BytesIO()
    new: dict[str, bytes] = {}

    def add(zf: zipfile.ZipFile, name: str, data: bytes, method: int) -> None:
        info = zipfile.ZipInfo(name, date_time=when)
        info.compress_type = method
        info.create_system = 3
        info.external_attr = 0o100644 << 16
        level = 9 if method == zipfile.ZIP_DEFLATED else None
        if level is None or store is None or not hasattr(zipfile, "_get_compressor"):
            zf.writestr(info, data, compress_type=method, compresslevel=level)
            return
        raw, _ = store.deflated(data, new, wbits=-15)  # the fonts and unchanged chapters: 0.04-0.05 s
        with patched(zipfile, "_get_compressor", lambda *_: _Given(raw)):
            zf.writestr(info, data, compress_type=method, compresslevel=level)

    with zipfile.ZipFile(buf, "w") as zf:
        add(zf, "mimetype", b"application/epub+zip", zipfile.ZIP_STORED)
        add(zf, "META-INF/container.xml", container, zipfile.ZIP_DEFLATED)
        for item in items:
            add(zf, f"{OPF_DIR}/{item.href}", item.data, zipfile.ZIP_DEFLATED)
    if new:
        store.store(new)
    return buf.getvalue()


class _Given:
    """A compressor that gives bytes deflated beforehand (``zipfile`` asks for one per file)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def compress(self, data: bytes) -> bytes:
        raw, self.raw = self.raw, b""
        return raw

    def flush(self) -> bytes:
        return b""


def write(rendered: Rendered, ctx: Context) -> bytes:
    edition = rendered.edition
    meta = edition.metadata
    env = ctx.env
    identifier = _identifier(rendered)
    print_source = f"{meta.slug or 'edition'}.pdf, A4 print edition of {identifier}"

    # Where each print page begins, as markers keyed by block.
    starts = _page_map(rendered, ctx)
    breaks: dict[str, list[tuple[int, str]]] = {}
    pages: list[dict[str, str]] = []
    used: set[str] = set()
    part_of = {}
    for part in edition.parts:  # a part may have a heading and nothing else
        for b in [part.heading] if part.heading else []:
            part_of[b.id] = part.id
        for section in part.sections:
            for b in ([section.heading] if section.heading else []) + list(section.paragraphs):
                part_of[b.id] = part.id
    for start in starts:
        ident = f"page-{start.label}"
        if ident in used:
            ident = f"page-{start.label}-{start.index + 1}"
        used.add(ident)
        breaks.setdefault(start.block_id, []).append((start.offset, _pagebreak(start.label, ident)))
        pages.append({"label": start.label, "href": f"text/{part_of[start.block_id]}.xhtml#{ident}"})

    model = page_model(rendered, ctx, lambda block, notes: Markup(block_xhtml(block, notes, breaks.get(block.id, []))))
    common = {**model, "css_href": "../css/epub.css", "identifier": identifier, "print_source": print_source,
              "pages": pages, "no_notes": ctx.options.no_notes}
    note_body = {rn.number: Markup(xhtml_fragment(rn.body_html)) for rn in rendered.notes}

    docs: list[_Doc] = []

    def render(template: str, doc_id: str, href: str, label: str, **extra: object) -> None:
        text = env.get_template(f"epub/{template}").render(**{**common, **extra})
        docs.append(_Doc(doc_id, href, label, text))

    render("title.xhtml.j2", "title", "text/title.xhtml", "Title page")
    for kind, source, default, role in (("introduction", rendered.introduction_html, "Introduction",
                                         "doc-introduction"),
                                        ("preamble", rendered.about_html, "About this edition", "")):
        if source.strip():
            content = xhtml_fragment(source).strip()
            own = re.match(r"<h1[^>]*>(.*?)</h1>", content, re.DOTALL)
            heading = html.unescape(re.sub(r"<[^>]+>", "", own.group(1))).strip() if own else default
            name = "about" if kind == "preamble" else kind
            render("front.xhtml.j2", name, f"text/{name}.xhtml", heading, kind=kind, heading=heading, role=role,
                   content=Markup(content))
    first_part = len(docs)
    for pv in model["parts"]:  # type: ignore[union-attr]
        label = pv.heading.block.display_text if pv.heading else meta.title
        render("part.xhtml.j2", pv.part.id, f"text/{pv.part.id}.xhtml", label, pv=pv, note_body=note_body)
    if rendered.bibliography:
        render("bibliography.xhtml.j2", "bibliography", "text/bibliography.xhtml", "Bibliography",
               bibliography=[(key, Markup(xhtml_fragment(entry))) for key, entry in rendered.bibliography])
    names = {c.name for c in edition.contributors}
    if edition.contributors or model["note_authors"]:
        render("contributors.xhtml.j2", "contributors", "text/contributors.xhtml", "Contributors",
               contributor_names=names)
    families, faces = fonts.web_faces()
    render("colophon.xhtml.j2", "colophon", "text/colophon.xhtml", "Colophon",
           fonts=[fams[0] for _, fams in sorted(families.items()) if fams])

    # Navigation document.
    toc = []
    for doc in docs:
        entry = {"href": doc.href.removeprefix("text/"), "label": doc.label, "children": []}
        pv = next((p for p in model["parts"] if p.part.id == doc.id), None)  # type: ignore[union-attr]
        if pv is not None:
            entry["children"] = [{"href": f"{doc.href.removeprefix('text/')}#{s.id}", "label": s.title}
                                 for s in pv.sections if s.title]
        toc.append(entry)
    landmarks = [{"type": "titlepage", "href": "title.xhtml", "label": "Title page"},
                 {"type": "toc", "href": "nav.xhtml#toc", "label": "Contents"}]
    landmarks += [{"type": d.id, "href": d.href.removeprefix("text/"), "label": d.label}
                  for d in docs if d.id in ("introduction", "bibliography")]
    if len(docs) > first_part:
        landmarks.insert(2, {"type": "bodymatter", "href": docs[first_part].href.removeprefix("text/"),
                             "label": "Start of the text"})
    nav_pages = [{"label": p["label"], "href": p["href"].removeprefix("text/")} for p in pages]
    nav = _Doc("nav", "text/nav.xhtml", "Contents",
               env.get_template("epub/nav.xhtml.j2").render(**{**common, "pages": nav_pages, "toc": toc,
                                                              "landmarks": landmarks}), "nav")
    docs.insert(1, nav)
    _fix_links(docs)

    # Fonts (subset to the characters the publication uses) and the one stylesheet.
    all_text = "".join(etree.fromstring(d.text.encode()).xpath("string()") for d in docs)
    items: list[Item] = []
    face_rules = []
    seen: set[str] = set()
    store = cache.stage_store("web") if ctx.options.cache else None
    for face, data in fonts.embed(faces, families, all_text, store):
        suffix = ".otf" if data[:4] == b"OTTO" else ".ttf"
        stem = re.sub(r"[^A-Za-z0-9]+", "", face.family)
        name = f"fonts/{stem}-{face.weight}{'-italic' if face.style == 'italic' else ''}{suffix}"
        if name in seen:
            continue
        seen.add(name)
        items.append(Item(f"font-{len(seen)}", name, "font/otf" if suffix == ".otf" else "font/ttf", data))
        face_rules.append(f'@font-face {{ font-family: "{face.family}"; font-weight: {face.weight}; '
                          f'font-style: {face.style}; src: url("../{name}"); }}')
    css = ctx.style_file("css/epub.css").read_text(encoding="utf-8") + "\n" + str(model["layer_css"])  # --layer styles
    for role, generic in (("text", "serif"), ("note", "sans-serif")):
        stack = ", ".join([f'"{f}"' for f in families.get(role, [])] + [generic])
        css = css.replace(f"var(--{role}-font)", stack)
    css = "\n".join(face_rules) + "\n" + css
    items.insert(0, Item("css", "css/epub.css", "text/css", css.encode("utf-8")))
    cover = env.get_template("epub/cover.svg.j2").render(
        meta=meta, issuer_lines=textwrap.wrap(meta.author.upper(), 34),
        title_lines=textwrap.wrap(meta.title, 22), subtitle_lines=textwrap.wrap(meta.subtitle, 32),
        text_font=", ".join(families.get("text", [])[:1] + ["serif"]),
        note_font=", ".join(families.get("note", [])[:1] + ["sans-serif"]))
    items.insert(1, Item("cover-image", "images/cover.svg", "image/svg+xml", cover.encode("utf-8"), "cover-image"))
    for doc in docs:
        items.append(Item(doc.id if doc.id[0].isalpha() else f"d-{doc.id}", doc.href, "application/xhtml+xml",
                          doc.text.encode("utf-8"), doc.properties))

    contributors = [{"name": e, "role": "edt"} for e in meta.editors]
    contributors += [{"name": c.name, "role": _role(c.role)} for c in edition.contributors
                     if c.name not in meta.editors]
    features = ["structuralNavigation", "tableOfContents", "readingOrder", "annotations",
                "displayTransformability"] + (["pageNavigation"] if pages else [])
    summary = ("The text and its apparatus are structured with headings, a table of contents and landmarks; "
               "notes are linked from the text and back; the page list follows the A4 print edition. "
               "No images, audio or video; no reliance on colour alone.")
    title = f"{meta.title}: {meta.subtitle}" if meta.subtitle else meta.title
    spine = [next(i for i in items if i.href == d.href) for d in docs]
    opf = env.get_template("epub/package.opf.j2").render(
        meta=meta, identifier=identifier, title=title, contributors=contributors,
        date=ctx.build_date.strftime("%Y-%m-%d"), modified=ctx.build_date.strftime("%Y-%m-%dT%H:%M:%SZ"),
        features=features, summary=summary, certifier=", ".join(meta.editors) or meta.publisher or meta.author,
        pages=pages, print_source=print_source, manifest=items, spine=spine)
    items.append(Item("opf", "package.opf", "application/oebps-package+xml", opf.encode("utf-8")))
    container = env.get_template("epub/container.xml.j2").render(opf_path=f"{OPF_DIR}/package.opf")
    ordered = [items[-1]] + items[:-1]
    return _zip(ordered, container.encode("utf-8"), ctx.build_date, store)
