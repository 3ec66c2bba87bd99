"""What every writer's templates get: the edition laid out as parts, sections and marked
paragraphs, with notes grouped where they belong. One piece for HTML, PDF and EPUB."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from markupsafe import Markup

from ..build import Context
from ..model import Block, Part
from ..render import Rendered, RenderedNote


@dataclass(frozen=True)
class BlockView:
    block: Block
    html: Markup  # the block's text with marks and note markers
    notes: tuple[RenderedNote, ...]  # notes anchored in this block, by number


@dataclass(frozen=True)
class SectionView:
    id: str
    title: str
    heading: BlockView | None
    paragraphs: tuple[BlockView, ...]


@dataclass(frozen=True)
class PartView:
    part: Part
    heading: BlockView | None
    sections: tuple[SectionView, ...]
    notes: tuple[RenderedNote, ...]  # every note of the part, in order


def page_model(rendered: Rendered, ctx: Context,
               block_html: Callable[[Block, list[RenderedNote]], Markup]) -> dict[str, object]:
    """Template variables shared by the writers; ``block_html`` decides how markers look."""
    by_block: dict[str, list[RenderedNote]] = {}
    for rn in rendered.notes:
        by_block.setdefault(rn.block.id, []).append(rn)

    def view(block: Block | None) -> BlockView | None:
        if block is None:
            return None
        notes = by_block.get(block.id, [])
        return BlockView(block, block_html(block, notes), tuple(notes))

    parts = []
    for part in rendered.edition.parts:
        sections = tuple(SectionView(s.id, s.title, view(s.heading), tuple(view(p) for p in s.paragraphs))
                         for s in part.sections)
        part_notes = tuple(rn for rn in rendered.notes if rn.part.id == part.id)
        parts.append(PartView(part, view(part.heading), sections, part_notes))
    edition = rendered.edition
    authors = sorted({a for rn in rendered.notes for a in rn.note.authors})
    return {
        "meta": edition.metadata,
        "parts": parts,
        "notes": rendered.notes,
        "bibliography": [(key, Markup(entry)) for key, entry in rendered.bibliography],
        "introduction": Markup(rendered.introduction_html),
        "about": Markup(rendered.about_html),
        "contributors": edition.contributors,
        "note_authors": authors,
        "note_types": edition.note_types,
        "build_date": ctx.build_date,
        "profile": ctx.options.profile,
        "sha256": edition.source_sha256,
        "excerpt": edition.contents,
        "layer_css": Markup("\n".join(layer.css for layer in edition.layers)),
        "layers": edition.layers,
        "notes_only": ctx.options.notes_only,
    }
