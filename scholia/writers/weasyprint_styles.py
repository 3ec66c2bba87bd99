"""Pseudo-element styles computed when the box tree first asks for them (a speed-up of WeasyPrint's
style step, same styles).

WeasyPrint's user-agent style sheet gives every element six pseudo-elements a declaration
(``::marker``, ``::footnote-call``, ``::footnote-marker``, ``::note-call``, ``::note-marker``,
``::note-callback``), and ``StyleFor`` computes a style for each one it has declarations for: 14,000
styles for the white paper's 2,300 elements, of which the box tree asks for a few hundred (list
items' markers, footnotes' calls and markers, ``::before`` and ``::after``). Each style is made
the same way whenever it is made: from its element's computed style, its own cascaded declarations
and the root's style, all of which exist once ``StyleFor`` is built. So the element
pseudo-elements' styles are made on first request instead (0.07-0.1 s of the 0.4-0.5 s step).
A pseudo-element that declares an ``anchor`` is made at once, as WeasyPrint collects anchors in the
order styles are made; page and margin-box styles are untouched.

The patch wraps ``StyleFor.set_computed_styles`` and ``StyleFor.__call__``, the only way styles
are read; ``pyproject.toml`` pins WeasyPrint to 70.x.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from weasyprint.css import StyleFor

_made = StyleFor.set_computed_styles
_read = StyleFor.__call__


def _set_computed_styles(self, element, parent, root=None, pseudo_type=None, base_url=None,
                         target_collector=None):
    if pseudo_type is not None and isinstance(element, ET.Element):
        cascaded = self._cascaded_styles.get((element, pseudo_type), {})
        if "anchor" not in cascaded:
            later = self.__dict__.setdefault("_scholia_later", {})
            later[element, pseudo_type] = (parent, root, base_url, target_collector, cascaded)
            return
    _made(self, element, parent, root, pseudo_type, base_url, target_collector)


def _call(self, element, pseudo_type=None):
    if pseudo_type is not None and (later := self.__dict__.get("_scholia_later")):
        args = later.pop((element, pseudo_type), None)
        if args is not None:  # made as StyleFor.__init__ would have, from the same declarations
            parent, root, base_url, target_collector, cascaded = args
            self._cascaded_styles[element, pseudo_type] = cascaded
            try:
                _made(self, element, parent, root, pseudo_type, base_url, target_collector)
            finally:
                del self._cascaded_styles[element, pseudo_type]
    return _read(self, element, pseudo_type)


def apply() -> None:
    """Patch WeasyPrint (once)."""
    StyleFor.set_computed_styles = _set_computed_styles
    StyleFor.__call__ = _call
