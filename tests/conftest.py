"""Shared fixtures: paths, a CLI runner, and the white-paper edition loaded once per session."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Tests never share the user's build cache, and start each session with an empty one.
os.environ["SCHOLIA_CACHE"] = tempfile.mkdtemp(prefix="scholia-test-cache-")

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
