"""Styles made once (speed-ups of WeasyPrint's styles, same styles).

**Pseudo-elements, when the box tree first asks for them.**
WeasyPrint's user-agent style sheet gives every element six pseudo-elements a declaration
(``::marker``, ``::footnote-call``, ``::footnote-marker``, ``::note-call``, ``::note-marker``,
``::note-callback``), and ``StyleFor`` computes a style for each one it has declarations for: 14,000
styles for the white paper's 2,300 elements, of which the box tree asks for a few hundred (list
items' markers, footnotes' calls and markers, ``::before`` and ``::after``). Each style is made
the same way whenever it is made: from its element's computed style, its own cascaded declarations
and the root's style, all of which exist once ``StyleFor`` is built. So the element
pseudo-elements' styles are made on first request instead (0.07-0.1 s of the 0.4-0.5 s step).
A pseudo-element that declares an ``anchor`` is made at once, as WeasyPrint collects anchors in the
order styles are made.

**Pages and margin boxes, shared between page types whose declarations are the same.** Every page
has a page type of its own (its index is part of it, for ``:nth()``), and WeasyPrint computes a
style for it and for each of its margin boxes and footnote areas: about 18 styles a page, each
computing its values again (fonts, ``var()``, lengths) when a margin box is made. A style is a
function of its parent's style and its cascaded declarations, so a page type whose declarations
(the same objects, with the same weights) and parent are those of an earlier one gets that one's
style. The only later change WeasyPrint makes to a page's style (``_standardize_page_based_counters``,
``overflow``) gives the same value each time. Margin boxes of the white paper: 0.24-0.26 s instead
of 0.30-0.46 s in a one-process layout.

The patch wraps ``StyleFor.set_computed_styles`` and ``StyleFor.__call__``, the only way styles
are read; ``pyproject.toml`` pins WeasyPrint to 70.x.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from weasyprint.css import StyleFor
from weasyprint.layout.page import PageType

_made = StyleFor.set_computed_styles
_read = StyleFor.__call__


def _set_computed_styles(self, element, parent, root=None, pseudo_type=None, base_url=None,
                         target_collector=None):
    if isinstance(element, PageType):
        cascaded = self._cascaded_styles.get((element, pseudo_type), {})
        parent_style = self._computed_styles.get((parent, None))
        key = (id(parent_style), pseudo_type,
               tuple((name, id(values), repr(weight)) for name, (values, weight) in sorted(cascaded.items())))
        made = self.__dict__.setdefault("_scholia_pages", {})
        if key in made:
            self._computed_styles[element, pseudo_type] = made[key][0]
            return
        _made(self, element, parent, root, pseudo_type, base_url, target_collector)
        # kept with what the key names by id, so that no id is reused while the key is
        made[key] = (self._computed_styles[element, pseudo_type], parent_style, cascaded)
        return
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
