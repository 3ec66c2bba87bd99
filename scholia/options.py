"""Build options: what a build may be asked for, kept free of heavy imports so that the command
line can answer a cached build without loading the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .select import NoteFilter

FORMATS = ("pdf", "epub", "html")


class BuildError(Exception):
    """A build that cannot go on; the message says what to do."""


@dataclass(frozen=True)
class BuildOptions:
    """Everything a build may be asked for; a reader recipe (``--reader``) fills the same fields."""

    formats: tuple[str, ...] = FORMATS
    out: Path = Path("build")
    include_drafts: bool = False  # shorthand for statuses ("draft", "reviewed")
    profile: str = "a4"
    csl: str = "chicago-author-date"
    select: str = ""  # "I,IV-V" or "II.3-II.9": an excerpt
    layers: tuple[Path, ...] = ()  # further annotation trees
    types: tuple[str, ...] = ()  # print only these note types
    exclude_types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()  # default: reviewed (and draft with include_drafts)
    no_notes: bool = False  # the clean text, paragraph numbers kept
    notes_only: bool = False  # a commentary volume: each note with its lemma, no text
    paper: str = ""  # a4 | letter | a5 (default: the profile's)
    notes: str = ""  # footnotes | sidenotes | endnotes (default: the profile's)
    booklet: bool = False  # also an imposed PDF for saddle-stitch printing
    cache: bool = True  # reuse cached outputs (never changes a byte of output)

    def note_filter(self) -> NoteFilter:
        from .select import NoteFilter  # the model's import is not needed to answer from the cache

        statuses = self.statuses or (("draft", "reviewed") if self.include_drafts else ("reviewed",))
        return NoteFilter(self.types, self.exclude_types, self.tags, statuses, self.no_notes)
