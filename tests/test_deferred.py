"""``deferred``: a module stood in for while the writers are imported is imported at its first use,
the usual way, and the use goes on as if it had been imported at start; WeasyPrint imported so
writes the same PDF."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scholia.writers import deferred

ROOT = str(Path(__file__).resolve().parent.parent)


def test_a_module_stood_in_for_is_imported_at_its_first_use(tmp_path, monkeypatch):
    pkg = tmp_path / "slowpkg"
    (pkg / "sub").mkdir(parents=True)
    count = "import builtins\nbuiltins.imported = [*getattr(builtins, 'imported', []), __name__]\n"
    (pkg / "__init__.py").write_text("")
    (pkg / "heavy.py").write_text(count + "def twice(x):\n    return 2 * x\nSIZE = 7\n")
    (pkg / "sub" / "__init__.py").write_text(count + "from . import deep\n")
    (pkg / "sub" / "deep.py").write_text(count + "def half(x):\n    return x / 2\n")
    (pkg / "user.py").write_text(count + "from slowpkg import heavy\nfrom slowpkg.sub.deep import half\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("slowpkg", "slowpkg.heavy", "slowpkg.sub", "slowpkg.sub.deep", "slowpkg.user", "slowpkg.gone"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import builtins

    monkeypatch.setattr(builtins, "imported", [], raising=False)
    with deferred.standing_in({"slowpkg.heavy": (), "slowpkg.sub.deep": ("half",), "slowpkg.gone": ()}):
        from slowpkg import user
    assert builtins.imported == ["slowpkg.user"]  # neither heavy nor sub nor deep
    assert not any(name in sys.modules for name in ("slowpkg.heavy", "slowpkg.sub.deep", "slowpkg.gone"))

    assert user.half(5) == 2.5  # the first call imports the module, the usual way (its package first)
    assert builtins.imported == ["slowpkg.user", "slowpkg.sub", "slowpkg.sub.deep"]
    assert user.heavy.SIZE == 7 and user.heavy.twice(2) == 4
    assert builtins.imported == ["slowpkg.user", "slowpkg.sub", "slowpkg.sub.deep", "slowpkg.heavy"]
    import slowpkg.heavy

    assert slowpkg.heavy is sys.modules["slowpkg.heavy"] is not user.heavy and user.heavy.twice is slowpkg.heavy.twice
    assert builtins.imported.count("slowpkg.heavy") == 1

    with deferred.standing_in({"slowpkg.gone": ()}):  # not installed: no stand-in, fails as it would have
        try:
            import slowpkg.gone  # noqa: F401
        except ModuleNotFoundError:
            pass
        else:
            raise AssertionError("a missing module was found")


SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from scholia.writers import deferred
with deferred.standing_in({modules}, {sheets}):
    import weasyprint
import weasyprint.pdf.fonts
sheet = weasyprint.html.PH_STYLESHEET
print(type(weasyprint.pdf.fonts.subset).__name__, "fontTools.varLib" in sys.modules, type(sheet).__name__,
      "matcher" in vars(sheet), file=sys.stderr)
html = "<p style='font: 12pt serif'>" + "Reservoirs and irrigation canals. " * 80 + "</p><p align=right>Right</p>"
sys.stdout.buffer.write(weasyprint.HTML(string=html).write_pdf(presentational_hints=True))
print("matcher" in vars(sheet), file=sys.stderr)
"""


def test_weasyprint_with_its_seldom_called_modules_stood_in_for_writes_the_same_pdf():
    """fontTools' subsetter is not imported, and the presentational hints' style sheet is parsed
    only when a document asks for those hints; the PDF (with the hints) is the same."""
    def pdf(modules: dict, sheets: tuple) -> tuple[bytes, list[str]]:
        out = subprocess.run([sys.executable, "-c", SCRIPT.format(root=ROOT, modules=modules, sheets=sheets)],
                             capture_output=True, check=True)
        return out.stdout, out.stderr.decode().strip().splitlines()[-2:]

    plain, said = pdf({}, ())
    assert said == ["module True CSS True", "True"]
    later, said = pdf(deferred.MODULES, deferred.SHEETS)
    assert said == ["Deferred False Later False", "True"]  # parsed when the document asked for the hints
    assert plain == later and plain.startswith(b"%PDF")
