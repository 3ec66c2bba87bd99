"""Shared fixtures: paths, a CLI runner, and the white-paper edition loaded once per session."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Tests never share the user's build cache, and start each session with an empty one, removed when
# the session ends (it grows to ~12 MB).
os.environ["SCHOLIA_CACHE"] = _CACHE = tempfile.mkdtemp(prefix="scholia-test-cache-")
_SESSION = os.getpid()
atexit.register(lambda: os.getpid() == _SESSION and shutil.rmtree(_CACHE, ignore_errors=True))

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SOURCE_TEXT = ROOT / "source" / "cpc-guidelines-governing-xinjiang-2025.en.txt"


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run make_edition.py in a fresh process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / "make_edition.py"), *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=full_env, timeout=600)


@pytest.fixture(scope="session")
def white_paper():
    from scholia.load import load_edition

    loaded = load_edition(ROOT)
    assert loaded.edition is not None, loaded.diagnostics
    return loaded


def font_family(fontname: str) -> str:
    return fontname.split("+", 1)[-1].replace("-", "")


def is_text_font(c: dict) -> bool:
    """A character (pdfplumber) set in the primary text's serif faces."""
    return font_family(c["fontname"]).startswith(("SourceSerifPro", "NotoSerifCJK"))


def is_note_font(c: dict) -> bool:
    """A character (pdfplumber) set in the apparatus's sans-serif faces."""
    return font_family(c["fontname"]).startswith(("SourceSansPro", "NotoSansCJK"))


def contents_numbers(page) -> int:
    """On a contents page: every page number ends at one right edge and stands clear of the title
    words on its line. Returns how many numbers there are."""
    numbers = [w for w in page.filter(lambda o: o.get("object_type") != "char" or is_note_font(o)).extract_words()
               if re.fullmatch(r"\d+|[ivxl]+", w["text"]) and w["bottom"] < page.height - 60]
    ends = [w["x1"] for w in numbers]
    assert max(ends) - min(ends) < 0.5, ends
    titles = [w for w in page.extract_words() if w["bottom"] < page.height - 60 and w not in numbers
              and not re.fullmatch(r"[.\s]+", w["text"])]
    for n in numbers:
        on_line = [w for w in titles if abs(w["bottom"] - n["bottom"]) < 2 and w["x1"] > n["x0"] - 0.5]
        assert not on_line, (n["text"], [w["text"] for w in on_line])
    return len(numbers)


def outline_titles(reader) -> list[str]:
    """Every bookmark title of a PDF (pypdf reader), depth first."""
    def titles(items):
        for item in items:
            if isinstance(item, list):
                yield from titles(item)
            else:
                yield item.title
    return list(titles(reader.outline))
