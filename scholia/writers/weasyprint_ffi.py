"""WeasyPrint's C declarations parsed once per installation, not at every start.

``weasyprint.text.ffi`` hands cffi some 450 lines of C declarations (Pango, HarfBuzz, fontconfig)
at import, and cffi parses them with pycparser: 0.19 s of every build, most of it longer than the
Pandoc run the imports overlap. cffi's out-of-line ABI mode turns parsed declarations into the
arguments of one ``_cffi_backend.FFI(...)`` call; those are kept in the cache folder under a
SHA-256 of the declarations, cffi's version and Python's. When WeasyPrint is imported after
``declare()``, its ``cffi.FFI()`` is that object, and its ``cdef()`` does nothing: the libraries
are opened and called as before.

The kept file is read with ``ast.literal_eval``, never imported or run: a file that is not one such
call of literals, for this module name, is ignored and the declarations are parsed as usual. Like
Python's own bytecode cache, the folder is trusted to hold what this tool wrote there.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.util
import io
import os
import sys
import tempfile
from pathlib import Path

import _cffi_backend
import cffi

MODULE = "weasyprint.text.ffi"


class _Declared(_cffi_backend.FFI):
    """An out-of-line FFI whose declarations are made already."""

    def cdef(self, *args, **kwargs) -> None:
        pass


def _declarations() -> str | None:
    """The C declarations in ``weasyprint/text/ffi.py``, found without importing WeasyPrint."""
    spec = importlib.util.find_spec("weasyprint")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "text" / "ffi.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    found = [node.args[0].value for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "cdef"
             and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)]
    return found[0] if len(found) == 1 else None


def _read(path: Path) -> tuple[tuple, dict] | None:
    """The arguments of the ``_cffi_backend.FFI(...)`` call in a generated file, or None."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = [n.value for n in tree.body if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)]
        if len(calls) != 1:
            return None
        call = calls[0]
        return (tuple(ast.literal_eval(a) for a in call.args),
                {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg})
    except (OSError, SyntaxError, ValueError, TypeError):
        return None


def _generate(text: str, name: str, path: Path) -> None:
    """Parse the declarations once and keep cffi's out-of-line form of them at ``path``."""
    ffi = cffi.FFI()
    ffi.cdef(text)
    ffi.set_source(name, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ffi", suffix=".py", dir=path.parent)
    os.close(fd)
    with contextlib.redirect_stdout(io.StringIO()):  # cffi says "generating ..."
        ffi.emit_python_code(tmp)
    os.replace(tmp, path)


def declare(folder: Path) -> bool:
    """Make WeasyPrint's next import take its declarations from ``folder``; False if it cannot
    (WeasyPrint imported already, its declarations not found, or the folder not writable)."""
    if MODULE in sys.modules:
        return False
    text = _declarations()
    if text is None:
        return False
    key = hashlib.sha256(f"{cffi.__version__}\0{sys.version}\0{text}".encode()).hexdigest()[:32]
    name = f"_weasyprint_ffi_{key}"
    path = folder / f"{name}.py"
    try:
        if not path.is_file():
            _generate(text, name, path)
    except (OSError, cffi.CDefError):
        return False
    arguments = _read(path)
    if arguments is None or arguments[0] != (name,) or not {"_version", "_types", "_globals"} <= set(arguments[1]):
        return False  # not what cffi writes for these declarations
    args, kwargs = arguments
    try:
        declared = _Declared(*args, **kwargs)
    except Exception:  # noqa: BLE001 - a file cffi does not accept: parse as usual
        return False
    real = cffi.FFI

    def factory(*a, **k):
        if sys._getframe(1).f_globals.get("__name__") == MODULE:  # WeasyPrint's, once
            cffi.FFI = real
            return declared
        return real(*a, **k)

    cffi.FFI = factory
    return True
