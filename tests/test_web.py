"""The web edition in a real browser (Debian's Chromium driven by Playwright), and the live preview."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, run_cli

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup.sh --test)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("web")
    assert run_cli("build", "--format", "html", "--out", str(out)).returncode == 0
    assert run_cli("build", str(FIXTURES / "gettysburg"), "--format", "html", "--out", str(out)).returncode == 0
    return {"paper": out / "cpc-guidelines-xinjiang-2025.html", "fixture": out / "address.html"}


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser, path: Path, width: int, js: bool = True, fragment: str = ""):
    context = browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=js)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri() + fragment)
    return context, page, errors


@pytest.mark.parametrize("width", [390, 1280])
def test_loads_clean_without_overflow(browser, pages, width):
    context, page, errors = _open(browser, pages["paper"], width)
    assert errors == []
    overflow = page.evaluate("""() => {
        const w = document.documentElement.clientWidth;
        const bad = [];
        for (const el of document.querySelectorAll('main *, header *, nav *, footer *')) {
            const r = el.getBoundingClientRect();
            if (r.width && (r.right > w + 1 || r.left < -1) && getComputedStyle(el).position !== 'absolute')
                bad.push(el.tagName + '#' + el.id + '.' + el.className);
        }
        return {scroll: document.documentElement.scrollWidth, width: w, bad: bad.slice(0, 5)};
    }""")
    assert overflow["scroll"] <= overflow["width"], overflow
    assert overflow["bad"] == [], overflow
    from PIL import Image, ImageStat

    shot = Image.open(io.BytesIO(page.screenshot(full_page=False))).convert("L")
    assert ImageStat.Stat(shot).stddev[0] > 10  # not blank
    context.close()


def test_marker_opens_note_and_focus_returns(browser, pages):
    context, page, _ = _open(browser, pages["fixture"], 390)
    body = page.locator("#n2 .note-body")
    assert not body.is_visible()
    page.locator("#ref-n2").click()
    assert body.is_visible()
    assert page.evaluate("location.hash") == "#n2"
    back = page.locator("#n2 a.note-back")
    back.focus()
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#ref-n2"
    page.keyboard.press("Tab")  # keyboard focus continues from the marker, in the text
    active = page.evaluate("document.activeElement.closest('p.para, aside') && "
                           "document.activeElement.closest('p.para, aside').id")
    assert active in ("p-I-1", "n3")
    context.close()


def test_paragraph_link_scrolls_to_paragraph(browser, pages):
    context, page, _ = _open(browser, pages["paper"], 1280, fragment="#p-IV-3")
    top = page.evaluate("document.getElementById('p-IV-3').getBoundingClientRect().top")
    assert 0 <= top < 100
    assert page.locator('#p-IV-3 a.pnum').get_attribute("href") == "#p-IV-3"
    context.close()


def test_notes_readable_without_javascript(browser, pages):
    context, page, errors = _open(browser, pages["fixture"], 1280, js=False)
    for note in page.locator("aside.note").all():
        assert note.locator(".note-body").is_visible()
    context.close()
    context, page, _ = _open(browser, pages["fixture"], 390, js=False)
    page.locator("#ref-n5").click()
    assert page.locator("#n5 .note-body").is_visible()
    context.close()


def test_sidenotes_do_not_overlap(browser, pages):
    context, page, _ = _open(browser, pages["paper"], 1400)
    boxes = page.evaluate("""() => Array.from(document.querySelectorAll('aside.note'))
        .map(n => { const r = n.getBoundingClientRect(); return [r.top + scrollY, r.bottom + scrollY, r.right]; })""")
    boxes.sort()
    assert boxes and all(a[1] <= b[0] + 0.5 for a, b in zip(boxes, boxes[1:], strict=False))
    assert all(b[2] <= 1400 for b in boxes)
    context.close()


def test_text_nodes_are_the_source_text(browser, pages):
    """Annotation tools see each paragraph's text exactly: markers are generated content."""
    from scholia.load import load_edition

    edition = load_edition(ROOT).edition
    context, page, _ = _open(browser, pages["paper"], 1280)
    texts = page.evaluate("""() => Object.fromEntries(Array.from(document.querySelectorAll('p.para'))
        .map(p => [p.id, p.querySelector('.ptext').textContent]))""")
    for block in edition.blocks:
        if block.kind == "paragraph":
            assert texts[block.id] == block.text.strip()
    context.close()


def test_script_filters_notes_by_type(browser, pages):
    context, page, _ = _open(browser, pages["fixture"], 1280)
    page.locator('#note-tools input[value="gloss"]').uncheck()
    assert not page.locator("#n1").is_visible() and not page.locator("#n3").is_visible()  # glosses
    assert page.locator("#n2").is_visible()  # context
    context.close()


def test_accessibility_axe(browser, pages):
    axe_mod = pytest.importorskip("axe_playwright_python.sync_playwright")
    for key in ("paper", "fixture"):
        for width in (390, 1280):
            context, page, _ = _open(browser, pages[key], width)
            results = axe_mod.Axe().run(page)
            bad = [(v["id"], v["impact"]) for v in results.response["violations"]
                   if v["impact"] in ("serious", "critical")]
            assert bad == [], (key, width, bad)
            context.close()


def test_live_preview(tmp_path: Path):
    ed = tmp_path / "ed"
    shutil.copytree(FIXTURES / "gettysburg", ed)
    proc = subprocess.Popen([sys.executable, str(ROOT / "make_edition.py"), "serve", str(ed), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        deadline = time.time() + 60
        while url is None and time.time() < deadline:
            line = proc.stdout.readline()
            m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            url = m.group(1) if m else None
        assert url, "serve did not start"

        def page() -> str:
            return urllib.request.urlopen(url, timeout=10).read().decode("utf-8")

        def wait_for(pred) -> str:
            end = time.time() + 10
            while time.time() < end:
                text = page()
                if pred(text):
                    return text
                time.sleep(0.2)
            raise AssertionError("the served page did not change in time")

        assert "Eighty-seven years" in page()
        note = ed / "annotations" / "notes" / "I" / "four-score.md"
        original = note.read_text(encoding="utf-8")
        note.write_text(original.replace("Eighty-seven years", "Eighty-seven (87) years"), encoding="utf-8")
        wait_for(lambda t: "Eighty-seven (87) years" in t)
        note.write_text(original.replace('quote: "Four score and seven years"', 'quote: "Five score"'),
                        encoding="utf-8")
        broken = wait_for(lambda t: "check-errors" in t)
        assert "four-score.md:3: error: quote not found" in broken
        note.write_text(original, encoding="utf-8")
        wait_for(lambda t: "Eighty-seven years" in t and "check-errors" not in t)
        with pytest.raises(OSError):
            urllib.request.urlopen(url.replace("127.0.0.1", "0.0.0.0").replace("http://0.0.0.0", "http://[::1]"),
                                   timeout=2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
