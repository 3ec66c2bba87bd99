"""Modules WeasyPrint imports at start but seldom calls, imported when first used.

``weasyprint.pdf.fonts`` imports fontTools' subsetter and variable-font instancer (with the
``fontTools.varLib`` package under it: 0.08-0.14 s of every start, a quarter of WeasyPrint's
import), yet subsets fonts with HarfBuzz where HarfBuzz's subsetter is found, and instantiates only
variable fonts. While the writers are imported (``standing_in()``), ``sys.modules`` holds a
stand-in for each of those modules not imported yet, so that ``from fontTools import subset`` binds
the stand-in and ``from fontTools.varLib.instancer import instantiateVariableFont`` a function of
it. The stand-ins leave ``sys.modules`` when the block ends: any later import is the usual one. The
first use of a stand-in's contents imports the module then (the usual way) and goes on with it.

``weasyprint.html`` also parses, at import, two user-agent style sheets that WeasyPrint applies only
when asked: the forms' (``pdf_forms``) and the presentational hints' (``presentational_hints``):
0.03 s of every start. While it is imported within the block, those two are made as style sheets
parsed at their first use (any attribute asked of them), the same sheets then.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# module → the names taken from it by ``from module import name``
MODULES: dict[str, tuple[str, ...]] = {
    "fontTools.subset": (),  # weasyprint.pdf.fonts: ``from fontTools import subset``
    "fontTools.varLib.instancer": ("instantiateVariableFont",),
}


class Deferred(types.ModuleType):
    """A stand-in for a module not imported yet: using its contents imports it."""

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):  # what is asked of any module (``__path__``...), not its contents
            raise AttributeError(name)
        module = importlib.import_module(self.__name__)
        vars(self).update({k: v for k, v in vars(module).items() if not k.startswith("__")})
        return getattr(module, name)


def _calling(module: str, name: str) -> Callable:
    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


@functools.cache
def _installed(name: str) -> bool:
    """Whether module ``name`` can be found, its parent packages imported or not (asked each time the
    writers are looked up: the stand-ins leave, so the modules stay unimported)."""
    parts = name.split(".")
    folders = None
    for depth in range(1, len(parts) + 1):
        if folders is None and depth > 1:  # a parent that is a module, not a package
            return False
        spec = importlib.machinery.PathFinder.find_spec(".".join(parts[:depth]), folders)
        if spec is None:
            return False
        folders = spec.submodule_search_locations
    return True


# The sources, in ``weasyprint.html``, of the user-agent sheets parsed at their first use.
SHEETS = ("UA_FORM", "PH")


@functools.cache
def _parsed_later(css: type) -> type:
    class Later(css):
        """A style sheet parsed when first used (WeasyPrint only reads its attributes)."""

        def __init__(self, *args: object, **kwargs: object) -> None:  # noqa: D107
            vars(self)["_scholia_pending"] = (args, kwargs)

        def __getattr__(self, name: str) -> object:  # asked only for what is not set yet
            pending = vars(self).pop("_scholia_pending", None)
            if pending is None:
                raise AttributeError(name)
            css.__init__(self, *pending[0], **pending[1])
            return getattr(self, name)

    return Later


class _SheetsLater(importlib.abc.MetaPathFinder):
    """Imports ``weasyprint.html`` with the ``SHEETS`` made as ``_parsed_later`` style sheets."""

    def __init__(self, sheets: tuple[str, ...]) -> None:
        self.sheets = sheets

    def find_spec(self, fullname: str, path: object, target: object = None) -> object:
        if fullname != "weasyprint.html" or "weasyprint" not in sys.modules:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run, sheets = spec.loader.exec_module, self.sheets

        def exec_module(module: types.ModuleType) -> None:
            package = sys.modules["weasyprint"]
            css = package.CSS

            def made(*args: object, **kwargs: object) -> object:
                later = any(kwargs.get("string") is vars(module).get(name) is not None for name in sheets)
                return (_parsed_later(css) if later else css)(*args, **kwargs)

            package.CSS = made
            try:
                run(module)
            finally:
                package.CSS = module.CSS = css

        spec.loader.exec_module = exec_module
        return spec


@contextmanager
def standing_in(modules: dict[str, tuple[str, ...]] = MODULES, sheets: tuple[str, ...] = SHEETS
                ) -> Iterator[None]:
    """Within the block, ``sys.modules`` holds a stand-in for each module of ``modules`` that is
    installed and not imported yet, and ``weasyprint.html``, if imported, makes the ``sheets``
    style sheets parsed at their first use."""
    placed: dict[str, Deferred] = {}
    for name, functions in modules.items():
        if name in sys.modules or not _installed(name):
            continue
        placed[name] = stand_in = Deferred(name)
        for function in functions:
            setattr(stand_in, function, _calling(name, function))
    sys.modules.update(placed)
    finder = _SheetsLater(sheets) if sheets and "weasyprint.html" not in sys.modules else None
    if finder is not None:
        sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        if finder is not None:
            sys.meta_path.remove(finder)
        for name, stand_in in placed.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
