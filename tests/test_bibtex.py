from pathlib import Path

from scholia.model import Person
from scholia.readers.bibtex import read_bibliographies

BIB = Path(__file__).parents[1] / "annotations/bibliography.bib"


def read(tmp_path, **files):
    paths = []
    for name, text in files.items():
        p = tmp_path / "refs" / f"{name}.bib"
        p.parent.mkdir(exist_ok=True)
        p.write_text(text, encoding="utf-8")
        paths.append(p)
    return read_bibliographies(paths, tmp_path)


def errors(diags):
    return [str(d) for d in diags if d.severity == "error"]


def test_accents_dashes_and_quotes(tmp_path):
    entries, diags = read(
        tmp_path,
        a="""
@book{mueller2001,
  author = {M{\\"u}ller, J{\\'e}r{\\^o}me and \\v{S}ediv{\\'y}, Ji{\\v r}{\\'\\i}},
  title = {{\\"U}ber {Qing} Politik, 1759--1864 --- ``a study'' of `the frontier'},
  publisher = {Presses de l'Universit{\\'e}},
  year = {2001},
}
""",
    )
    assert errors(diags) == []
    e = entries["mueller2001"]
    assert e.fields["title"] == "Über Qing Politik, 1759–1864 — “a study” of ‘the frontier’"
    assert e.fields["publisher"] == "Presses de l’Université"
    assert e.persons["author"] == (
        Person(last="Müller", first="Jérôme"),
        Person(last="Šedivý", first="Jiří"),
    )
    assert "author" not in e.fields
    assert e.path == "refs/a.bib"
    assert e.line == 2


def test_protected_capitals_kept_in_raw_only(tmp_path):
    entries, _ = read(tmp_path, a="@misc{k, title = {The {CPC} and {Xinjiang}}}\n")
    e = entries["k"]
    assert e.fields["title"] == "The CPC and Xinjiang"
    assert e.raw["title"] == "The {CPC} and {Xinjiang}"
    assert e.entry_type == "misc"


def test_string_macros_concatenation_and_month(tmp_path):
    entries, diags = read(
        tmp_path,
        a="""@string{CUP = "Cambridge {U}niversity Press"}
@STRING{place = {Cambridge}}
@Book{k,
  Author = {Doe, Jane},
  Title = {T},
  Publisher = cup # ", " # place,
  Month = jul,
  Year = 1999
}
""",
    )
    assert errors(diags) == []
    e = entries["k"]
    assert e.entry_type == "book"
    assert e.fields["publisher"] == "Cambridge University Press, Cambridge"
    assert e.fields["month"] == "July"
    assert e.fields["year"] == "1999"
    assert e.line == 3


def test_undefined_macro_is_an_error(tmp_path):
    _, diags = read(tmp_path, a="@misc{k,\n  title = {T},\n  publisher = nowhere,\n}\n")
    assert errors(diags) == [
        "refs/a.bib:3: error: undefined macro 'nowhere' in field 'publisher' of 'k'"
    ]


def test_crossref_inheritance(tmp_path):
    entries, diags = read(
        tmp_path,
        a="""@incollection{chap,
  author = {Gladney, Dru C.},
  title = {Responses to {Chinese} Rule},
  pages = {375--396},
  crossref = {starr2004},
}

@book{starr2004,
  editor = {Starr, S. Frederick},
  title = {{Xinjiang}: {China}'s {Muslim} Borderland},
  publisher = {M. E. Sharpe},
  address = {Armonk, NY},
  year = {2004},
}
""",
    )
    assert [d for d in diags] == []
    c = entries["chap"]
    assert c.fields["booktitle"] == "Xinjiang: China’s Muslim Borderland"
    assert c.raw["booktitle"] == "{Xinjiang}: {China}'s {Muslim} Borderland"
    assert c.fields["publisher"] == "M. E. Sharpe"
    assert c.fields["year"] == "2004"
    assert c.fields["title"] == "Responses to Chinese Rule"
    assert c.persons["author"] == (Person(last="Gladney", first="Dru C."),)
    assert c.persons["editor"] == (Person(last="Starr", first="S. Frederick"),)
    assert c.line == 1


def test_crossref_to_missing_entry(tmp_path):
    _, diags = read(tmp_path, a="@misc{k,\n  title = {T},\n  crossref = {nope},\n}\n")
    assert errors(diags) == ["refs/a.bib:3: error: crossref 'nope' of 'k': no such entry"]


def test_institutional_and_particle_names(tmp_path):
    entries, _ = read(
        tmp_path,
        a="""@misc{k,
  author = {{State Council Information Office of the People's Republic of China}
            and {Statistics Bureau} and van der Berg, Jr., Jan and Ludwig van Beethoven},
  title = {T},
}
""",
    )
    assert entries["k"].persons["author"] == (
        Person(last="State Council Information Office of the People’s Republic of China",
               literal=True),
        Person(last="Statistics Bureau", literal=True),
        Person(last="Berg", first="Jan", von="van der", jr="Jr."),
        Person(last="Beethoven", first="Ludwig", von="van"),
    )  # fmt: skip


def test_duplicate_keys_across_files(tmp_path):
    entries, diags = read(
        tmp_path,
        one="% first\n\n@misc{dup, title = {One}}\n",
        two="@misc{other, title = {X}}\n@misc{dup,\n  title = {Two}}\n",
    )
    assert errors(diags) == [
        "refs/two.bib:2: error: duplicate key 'dup' (first defined at refs/one.bib:3)"
    ]
    assert entries["dup"].fields["title"] == "One"
    assert set(entries) == {"dup", "other"}


def test_syntax_error_unclosed_brace_exact_line(tmp_path):
    entries, diags = read(
        tmp_path,
        a="""@misc{good, title = {Fine}}

@article{bad,
  author = {Doe, Jane,
  title = {Broken},
  year = {2000},
}

@misc{after, title = {Also fine}}
""",
    )
    assert errors(diags) == [
        (
            "refs/a.bib:4: error: syntax error in @article{bad: the value of field 'author' "
            "opened here with '{' is never closed"
        )
    ]
    assert set(entries) == {"good", "after"}


def test_syntax_error_missing_comma_and_equals(tmp_path):
    _, diags = read(tmp_path, a="@misc{a,\n  title = {x}\n  year = {2000},\n}\n")
    assert errors(diags) == [
        "refs/a.bib:2: error: syntax error in @misc{a: missing ',' after the value of field 'title'"
    ]
    _, diags = read(tmp_path, a="@misc{a,\n  title {x},\n}\n")
    assert [(d.line, d.severity) for d in diags] == [(2, "error")]
    assert "Expected a `=`" in diags[0].message


def test_unclosed_entry_at_end_of_file(tmp_path):
    _, diags = read(tmp_path, a="@misc{a, title = {x}}\n\n@misc{b,\n  title = {y},\n")
    assert errors(diags) == [
        "refs/a.bib:3: error: syntax error in @misc{b: entry is not closed (missing '}')"
    ]


def test_missing_required_fields_warning(tmp_path):
    _, diags = read(
        tmp_path,
        a="""@book{b1,
  author = {Doe, Jane},
  title = {T},
  year = {2000},
}
@book{b2, editor = {Roe, R.}, title = {T}, publisher = {P}, date = {2001-02}}
@article{a1, author = {Doe, J.}, title = {T}, journaltitle = {J}, year = 2000}
@misc{m1, howpublished = {x}}
""",
    )
    assert [str(d) for d in diags] == [
        "refs/a.bib:1: warning: @book{b1} lacks publisher",
        "refs/a.bib:8: warning: @misc{m1} lacks title",
    ]


def test_the_editions_bibliography():
    entries, diags = read_bibliographies([BIB], BIB.parents[1])
    assert errors(diags) == []
    assert len(entries) > 30
    e = entries["scio2025guidelines"]
    assert e.path == "annotations/bibliography.bib"
    assert e.line == 9
    assert e.persons["author"] == (
        Person(last="State Council Information Office of the People’s Republic of China",
               literal=True),
    )  # fmt: skip
    assert e.fields["title"].startswith("CPC Guidelines for Governing Xinjiang")
    assert e.fields["titleaddon"] == "新时代党的治疆方略的成功实践"
    assert entries["scio2019historical"].fields["month"] == "July"
    assert entries["us2021uflpa"].fields["howpublished"].startswith("Public Law 117–78")
    assert len(entries["xuar2021census"].persons["author"]) == 2
    assert entries["zenz2019thoroughly"].fields["doi"] == "10.1080/02634937.2018.1507997"
    assert entries["millward2007eurasian"].fields["address"] == "New York"


def test_latex_decodings_are_kept_between_builds_and_give_the_same_entries(tmp_path, monkeypatch):
    from scholia import cache
    from scholia.readers import bibtex

    store = cache.Store(tmp_path / "latex")
    paths = [BIB]
    plain = read_bibliographies(paths, BIB.parent)
    with bibtex.decoded_kept(store):
        first = read_bibliographies(paths, BIB.parent)
    assert first == plain and len(list((tmp_path / "latex").glob("*.pickle"))) == 1

    decoded = []
    original = bibtex._DECODER.latex_to_text
    monkeypatch.setattr(bibtex._DECODER, "latex_to_text", lambda v: decoded.append(v) or original(v))
    with bibtex.decoded_kept(store):
        again = read_bibliographies(paths, BIB.parent)
    assert again == plain and decoded == []  # pylatexenc not called: every value was kept

    # Files that are not a table of strings (damaged, or planted) are misses, never an error.
    (key,) = [p.stem for p in (tmp_path / "latex").glob("*.pickle")]
    for body in (b"[1, 2]", b"{\"x\": 1}", b"\xff\xfe not json"):
        store.store({key: body})
        with bibtex.decoded_kept(store):
            assert read_bibliographies(paths, BIB.parent) == plain
    assert decoded and bibtex._kept is None  # decoded afresh; outside the block nothing is kept
