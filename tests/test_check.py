"""`make_edition.py check`: one line per problem, exact file and line, exit codes 0/1/2."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, run_cli

BROKEN = FIXTURES / "broken"

EXPECTED = [
    ("annotations/notes/ambiguous.md:3: error: ambiguous quote: 2 occurrences (¶ I.2, ¶ I.2)"),
    ("annotations/notes/b/same-id.md:1: error: duplicate note id 'same-id' (also annotations/notes/a/same-id.md)"),
    ("annotations/notes/crossing.md:3: error: quote crosses a paragraph boundary (¶ I.1 → ¶ I.2)"),
    ("annotations/notes/malformed-yaml.md:5: error: malformed YAML front matter"),
    ("annotations/notes/missing-field.md:2: error: missing required field 'status'"),
    ("annotations/notes/no-front-matter.md:1: error: missing front matter"),
    ("annotations/notes/not-found.md:3: error: quote not found in the text; nearest match in ¶ I.1: "
     "'Four score and seven years'"),
    ("annotations/notes/unknown-field.md:6: error: unknown field 'author'; did you mean 'authors'?"),
    ("annotations/notes/unknown-key.md:8: error: unknown citation key 'wills1992lincon'; nearest key: "
     "'wills1992lincoln'"),
    ("annotations/notes/unknown-status.md:5: error: unknown status 'published'"),
    ("annotations/notes/unknown-type.md:4: error: unknown type 'glos'"),
    ("annotations/notes/wrong-type.md:6: error: 'authors' must be a list of strings"),
    ("annotations/refs.bib:8: error: duplicate key 'wills1992lincoln' (first defined at annotations/refs.bib:1)"),
    ("annotations/refs.bib:17: error: syntax error in @article{broken1999"),
    ("source/edition.toml:1: warning: source/address.md no longer matches the recorded sha256"),
]


def test_clean_fixture_exits_0():
    result = run_cli("check", str(FIXTURES / "gettysburg"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_repo_edition_is_clean():
    result = run_cli("check")
    assert result.returncode == 0, result.stdout
    assert " error:" not in result.stdout


def test_every_planted_error_is_named_with_its_line():
    result = run_cli("check", str(BROKEN))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    for expected in EXPECTED:
        assert sum(line.startswith(expected) for line in lines) == 1, (expected, lines)
    assert len(lines) == len(EXPECTED), lines
    assert "14 error(s), 1 warning(s)" in result.stderr


def test_ambiguous_quote_suggests_a_context():
    result = run_cli("check", str(BROKEN))
    line = next(ln for ln in result.stdout.splitlines() if "ambiguous.md" in ln)
    assert "add suffix: ','" in line or "add prefix:" in line


def test_github_annotations():
    result = run_cli("check", str(BROKEN), "--format", "github")
    assert "::error file=annotations/notes/not-found.md,line=3::quote not found" in result.stdout
    assert "::warning file=source/edition.toml,line=1::" in result.stdout


def test_usage_errors_exit_2(tmp_path: Path):
    assert run_cli("check", "--no-such-flag").returncode == 2
    assert run_cli("check", str(tmp_path / "missing")).returncode == 2
    assert run_cli("frobnicate").returncode == 2


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "ed"
    shutil.copytree(FIXTURES / "gettysburg", target)
    return target


def test_missing_source_file(tmp_path: Path):
    ed = _copy(tmp_path)
    (ed / "source" / "address.md").unlink()
    result = run_cli("check", str(ed))
    assert result.returncode == 1
    assert "source/edition.toml:1: error: text file 'source/address.md' not found" in result.stdout


def test_missing_and_invalid_metadata(tmp_path: Path):
    ed = _copy(tmp_path)
    (ed / "source" / "edition.toml").write_text(
        'title = "T"\ndate = "19 Nov 1863"\nlanguage = "en"\ntext = "address.md"\nsubtitel = "x"\n', encoding="utf-8")
    out = run_cli("check", str(ed)).stdout
    assert "source/edition.toml:1: error: required key 'author' is missing or empty" in out
    assert "source/edition.toml:2: error: 'date' must be ISO 8601" in out
    assert "source/edition.toml:5: error: unknown key 'subtitel'" in out


def test_unreadable_metadata(tmp_path: Path):
    ed = _copy(tmp_path)
    (ed / "source" / "edition.toml").write_text('title = "T\n', encoding="utf-8")
    result = run_cli("check", str(ed))
    assert result.returncode == 1 and "source/edition.toml:1: error: invalid TOML" in result.stdout


def test_note_body_cannot_reach_files_or_urls(tmp_path: Path):
    """A hostile note: raw HTML, script, images and file/javascript links are all neutralised."""
    from scholia.render import markdown_html

    hostile = ('<script>alert(1)</script> <img src="file:///etc/hostname"> ![x](file:///etc/hostname) '
               '[a](javascript:alert(1)) [b](file:///etc/passwd) <iframe src="http://127.0.0.1/"></iframe> '
               '[ok](https://example.org)')
    out = markdown_html(hostile)
    assert "<script" not in out and "<img" not in out and "<iframe" not in out
    assert 'href="javascript' not in out and 'href="file' not in out
    assert 'href="https://example.org"' in out


def _spoil(ed: Path, case: str) -> None:
    """Damage a copy of the fixture the way ``case`` names."""
    src, notes = ed / "source", ed / "annotations" / "notes" / "I"
    meta = (src / "edition.toml").read_text(encoding="utf-8")
    if case == "metadata not UTF-8":
        (src / "edition.toml").write_bytes(meta.replace("Address", "Addr\xe9ss").encode("latin-1"))
    elif case == "structure not UTF-8":
        (src / "structure.toml").write_bytes(b'headings = ["Caf\xe9"]\n')
    elif case == "introduction not UTF-8":
        (ed / "annotations" / "introduction.md").write_bytes(b"An introduction\n\nCaf\xe9\n")
    elif case == "NUL in the text":
        text = (src / "address.md").read_text(encoding="utf-8")
        (src / "address.md").write_text(text.replace("our fathers", "our\x00fathers"), encoding="utf-8")
    elif case == "form feed in a paragraph":
        text = (src / "address.md").read_text(encoding="utf-8")
        (src / "address.md").write_text(text.replace("\n\nNow we", "\n\f\nNow\fwe"), encoding="utf-8")
    elif case == "NUL in a note":
        note = (notes / "liberty.md").read_text(encoding="utf-8")
        (notes / "liberty.md").write_text(note.replace("---\n", "---\n# \x00\n", 1), encoding="utf-8")
    elif case == "YAML nested too deep":
        note = (notes / "liberty.md").read_text(encoding="utf-8")
        (notes / "liberty.md").write_text(note.replace("---\n", "---\ntags: " + "[" * 1001 + "]" * 1001 + "\n", 1),
                                          encoding="utf-8")
    elif case == "slug with a folder":
        (src / "edition.toml").write_text(meta + 'slug = "../escaped"\n', encoding="utf-8")
    elif case == "text outside source":
        (ed / "outside.md").write_text("# I. Elsewhere\n\nA text outside the source folder.\n", encoding="utf-8")
        (src / "edition.toml").write_text(meta.replace('text = "address.md"', 'text = "../outside.md"'),
                                          encoding="utf-8")


@pytest.mark.parametrize(("case", "expected"), [
    ("metadata not UTF-8", "source/edition.toml:1: error: not valid UTF-8 at byte"),
    ("structure not UTF-8", "source/structure.toml:1: error: not valid UTF-8 at byte"),
    ("introduction not UTF-8", "annotations/introduction.md:3: error: not valid UTF-8 at byte"),
    ("NUL in the text", "source/address.md:3: error: control character U+0000"),
    ("form feed in a paragraph", "source/address.md:5: error: control character U+000C"),
    ("NUL in a note", "annotations/notes/I/liberty.md:2: error: control character U+0000"),
    ("YAML nested too deep", "annotations/notes/I/liberty.md:2: error: malformed YAML front matter"),
    ("slug with a folder", "source/edition.toml:7: error: 'slug' names the output files"),
    ("text outside source", "source/edition.toml:1: error: 'text' names '../outside.md', outside source/"),
])
def test_damaged_inputs_are_errors_with_their_line(tmp_path: Path, case: str, expected: str):
    ed = _copy(tmp_path)
    _spoil(ed, case)
    result = run_cli("check", str(ed))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert expected in result.stdout, result.stdout


def test_a_byte_order_mark_is_not_part_of_the_text(tmp_path: Path):
    from scholia.load import load_edition

    ed = _copy(tmp_path)
    text = (ed / "source" / "address.md").read_text(encoding="utf-8")
    (ed / "source" / "address.md").write_text("\ufeff" + text, encoding="utf-8")
    loaded = load_edition(ed)
    assert loaded.edition is not None and not loaded.errors, loaded.diagnostics
    assert loaded.edition.parts[0].heading.text == "I. The Address" and loaded.edition.source_text == text


def test_build_refuses_an_out_that_is_a_file_or_inside_the_inputs(tmp_path: Path):
    ed = _copy(tmp_path)
    (tmp_path / "afile").write_text("kept", encoding="utf-8")
    for out, expected in ((tmp_path / "afile", "that is a file"),
                          (ed / "source" / "out", "inside the edition's inputs")):
        result = run_cli("build", str(ed), "--out", str(out), "--format", "html", "--no-cache")
        assert result.returncode == 1 and expected in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "kept"


def test_a_style_pandoc_cannot_read_is_an_error(tmp_path: Path):
    ed = _copy(tmp_path)
    bad = tmp_path / "bad.csl"
    bad.write_text('<?xml version="1.0"?><style xmlns="http://purl.org/net/xbiblio/csl"><broken', encoding="utf-8")
    result = run_cli("build", str(ed), "--out", str(tmp_path / "out"), "--format", "html", "--no-cache",
                     "--csl", str(bad))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "citations (style" in result.stderr


def test_a_part_with_a_heading_and_nothing_else_builds(tmp_path: Path):
    ed = _copy(tmp_path)
    with (ed / "source" / "address.md").open("a", encoding="utf-8") as fh:
        fh.write("\n# Appendix\n")
    result = run_cli("build", str(ed), "--out", str(tmp_path / "out"), "--format", "epub,html", "--no-cache")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "address.epub").stat().st_size > 0


@pytest.mark.parametrize(("body", "keys", "warned"), [
    ("[his post](https://medium.com/@wills1992lincoln)", [], []),
    ("<https://twitter.com/@wills1992lincoln> and https://medium.com/@x/post", [], []),
    ("[as argued by @wills1992lincoln](https://example.org/)", [], [1]),
    ("see https://medium.com/@x/post,\nand @wills1992lincoln [p. 4]; [see @a, 20; -@b]", ["wills1992lincoln", "a"], []),
])
def test_an_at_sign_in_an_address_or_a_link_is_no_citation(body: str, keys: list[str], warned: list[int]):
    """Pandoc's rule: an address is read before citations; a link's text cannot hold a citation's link."""
    from scholia.citesyntax import citations_in_link_text, parse_citations

    assert [c.items[0].key for c in parse_citations(body)] == keys
    assert citations_in_link_text(body) == warned


def test_line_ends_are_lf_crlf_or_cr_only(tmp_path: Path):
    """U+2028 and U+0085 in a paragraph are characters of the text (str.splitlines took them for line
    ends, splitting the paragraph); a note saved with CR line ends is read like any other."""
    from scholia.load import load_edition

    ed = _copy(tmp_path)
    text = (ed / "source" / "address.md").read_text(encoding="utf-8")
    spoilt = text.replace("our fathers", "our\u2028fathers").replace("Delivered at", "Delivered\x85at")
    (ed / "source" / "address.md").write_text(spoilt, encoding="utf-8", newline="")
    liberty = ed / "annotations" / "notes" / "I" / "liberty.md"
    liberty.write_bytes(liberty.read_bytes().replace(b"\n", b"\r"))
    plain = load_edition(_copy(tmp_path / "plain"))
    loaded = load_edition(ed)
    assert not loaded.errors, loaded.diagnostics
    assert [b.number for b in loaded.edition.blocks] == [b.number for b in plain.edition.blocks]
    assert loaded.edition.source_text == spoilt and len(loaded.edition.notes) == len(plain.edition.notes)


def test_a_date_that_does_not_exist_is_an_error(tmp_path: Path):
    ed = _copy(tmp_path)
    meta = ed / "source" / "edition.toml"
    meta.write_text(meta.read_text(encoding="utf-8").replace('date = "1863-11-19"', 'date = "2020-13-45"'),
                    encoding="utf-8")
    result = run_cli("check", str(ed))
    assert result.returncode == 1 and "source/edition.toml:3: error: 'date' must be ISO 8601" in result.stdout


def test_an_empty_text_and_an_outsized_bibtex_field_are_errors(tmp_path: Path):
    ed = _copy(tmp_path)
    (ed / "source" / "address.md").write_text("\n\n", encoding="utf-8")
    with (ed / "annotations" / "refs.bib").open("a", encoding="utf-8") as fh:
        fh.write("\n@book{huge2000,\n  author = {Huge, A.},\n  title = {" + "Long " * 5000 + "},\n  year = {2000}\n}\n")
    out = run_cli("check", str(ed)).stdout
    assert "source/address.md:1: error: the text has no headings or paragraphs" in out
    assert re.search(r"annotations/refs\.bib:\d+: error: field 'title' of 'huge2000' is 25,000 characters", out), out


def test_a_quote_in_another_normalisation_form_says_so(tmp_path: Path):
    ed = _copy(tmp_path)
    text = ed / "source" / "address.md"
    text.write_text(text.read_text(encoding="utf-8").replace("Now we are", "At the Caf\u00e9 we are"), encoding="utf-8")
    (ed / "annotations" / "notes" / "I" / "cafe.md").write_text(
        '---\ntarget:\n  quote: "At the Cafe\u0301 we"\ntype: gloss\nstatus: reviewed\n---\nA gloss.\n',
        encoding="utf-8")
    out = run_cli("check", str(ed)).stdout
    assert "annotations/notes/I/cafe.md:3: error: quote not found" in out and "accents encoded another way" in out, out


def test_more_calls_at_one_place_than_a_line_holds_is_an_error(tmp_path: Path):
    ed = _copy(tmp_path)
    for i in range(25):
        (ed / "annotations" / "notes" / "I" / f"crowd{i:02}.md").write_text(
            f'---\ntarget:\n  quote: "conceived in Liberty"\ntype: gloss\nstatus: reviewed\n---\nGloss {i}.\n',
            encoding="utf-8")
    out = run_cli("check", str(ed)).stdout
    assert re.search(r"\.md:\d+: error: 2\d notes end at the same place in ¶ I\.1; .* at most 20", out), out


def test_a_comma_with_nothing_after_it_is_no_suffix():
    from scholia.citesyntax import parse_citations

    (item,) = parse_citations("as shown [@wills1992lincoln, ].")[0].items
    assert (item.key, item.locator, item.suffix) == ("wills1992lincoln", "", "")


def test_a_layer_style_sheet_not_in_utf8_is_an_error(tmp_path: Path):
    ed = _copy(tmp_path)
    layer = tmp_path / "layer"
    (layer / "notes").mkdir(parents=True)
    (layer / "layer.toml").write_text('name = "course"\nstyle = "course.css"\n', encoding="utf-8")
    (layer / "course.css").write_bytes(b".note { color: #333; }\n/* caf\xe9 */\n")
    result = run_cli("check", str(ed), "--layer", str(layer))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "course.css:2: error: not valid UTF-8" in result.stdout, result.stdout
