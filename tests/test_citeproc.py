"""Citation formatting: CSL-JSON conversion and Pandoc's citeproc with the real CSL styles.

Expected strings were checked against the manuals: The Chicago Manual of Style, 18th ed.
(author-date ch. 13/15 examples; no place of publication, no page range for chapters in the
reference list (14.8), prepositions of five or more letters capitalised in title case), the APA
Publication Manual, 7th ed. (sentence-case titles, "(Ed.)", "[White paper]", "Retrieved … from"
for pages that change), and the MLA Handbook, 9th ed. (containers, "pp.", "Accessed" dates).
"""

import pathlib
import re
import subprocess
import time

import pytest

from scholia.citeproc import CitationProcessor, find_style
from scholia.csl import latex_to_csl_markup, sentence_case, to_csl_item
from scholia.model import Citation, CitationItem
from scholia.readers.bibtex import read_bibliographies

BIB = r"""
@book{millward2007,
  author = {Millward, James A.},
  title = {Eurasian Crossroads: A History of {Xinjiang}},
  publisher = {Columbia University Press},
  address = {New York},
  year = {2007},
}
@book{starr2004,
  editor = {Starr, S. Frederick},
  title = {{Xinjiang}: {China}'s {Muslim} Borderland},
  publisher = {M. E. Sharpe},
  address = {Armonk, NY},
  year = {2004},
}
@incollection{gladney2004,
  author = {Gladney, Dru C.},
  title = {Responses to {Chinese} Rule: Patterns of Cooperation and Opposition},
  pages = {375--396},
  crossref = {starr2004},
}
@article{zenz2019,
  author = {Zenz, Adrian},
  title = {`Thoroughly Reforming Them towards a Healthy Heart Attitude': {China}'s Political
           Re-{education} Campaign in {Xinjiang}},
  journal = {Central Asian Survey},
  volume = {38}, number = {1}, pages = {102--128}, year = {2019},
  doi = {10.1080/02634937.2018.1507997},
}
@misc{scio2019,
  author = {{State Council Information Office of the People's Republic of China}},
  title = {Historical Matters Concerning {Xinjiang}},
  howpublished = {White paper},
  date = {2019-07-21},
  url = {http://english.scio.gov.cn/node_8013441.htm},
}
@legislation{uflpa2021,
  title = {{Uyghur Forced Labor Prevention Act}},
  number = {117-78},
  journaltitle = {Stat.},
  volume = {135}, pages = {1525},
  date = {2021-12-23},
}
@online{ohchr2025,
  author = {{Office of the United Nations High Commissioner for Human Rights}},
  title = {{OHCHR} and {China}},
  url = {https://www.ohchr.org/en/countries/china},
  urldate = {2025-10-02},
}
@report{hrc2022,
  author = {{United Nations Human Rights Council}},
  title = {Holding a Debate on the Situation of Human Rights
           in the {Xinjiang Uyghur Autonomous Region}},
  type = {Draft decision},
  number = {A/HRC/51/L.6},
  institution = {United Nations},
  address = {Geneva},
  date = {2022-10-06},
}
"""

SCIO = "State Council Information Office of the People’s Republic of China"
DOI = "https://doi.org/10.1080/02634937.2018.1507997"
SCIO_URL = "http://english.scio.gov.cn/node_8013441.htm"
OHCHR_URL = "https://www.ohchr.org/en/countries/china"
ZENZ_TITLE = (
    "‘Thoroughly Reforming Them Towards a Healthy Heart Attitude’: China’s Political "
    "Re-education Campaign in Xinjiang"
)


def link(url):
    return f'<a href="{url}">{url}</a>'


def read_bib(tmp_path, text):
    path = tmp_path / "refs.bib"
    path.write_text(text, encoding="utf-8")
    entries, diags = read_bibliographies([path], tmp_path)
    assert [d for d in diags if d.severity == "error"] == []
    return entries


@pytest.fixture(scope="module")
def entries(tmp_path_factory):
    return read_bib(tmp_path_factory.mktemp("bib"), BIB)


def cite(*items, narrative=False):
    its = tuple(CitationItem(**i) if isinstance(i, dict) else CitationItem(i) for i in items)
    return Citation(its, narrative, 0, 0, 1)


def one_by_one(entries, style, keys, **item):
    """Cite each key once (with ``item`` fields) → ({key: citation}, {key: bibliography entry})."""
    out = CitationProcessor(entries, style).process([cite(dict(key=k, **item)) for k in keys])
    return dict(zip(keys, out.citations, strict=True)), dict(out.bibliography)


def text(fragment):
    """The fragment without the tags (links and emphasis are checked separately)."""
    return re.sub(r"<[^>]+>", "", fragment)


KINDS = [
    "millward2007", "starr2004", "gladney2004", "zenz2019", "scio2019", "uflpa2021",
    "ohchr2025", "hrc2022",
]  # fmt: skip


# ------------------------------------------------------------------------------------------
# Chicago author-date (the default), every kind of work


CHICAGO_AD = {
    "millward2007": (
        "(Millward 2007, 12)",
        "Millward, James A. 2007. <em>Eurasian Crossroads: A History of Xinjiang</em>. "
        "Columbia University Press.",
    ),
    "starr2004": (
        "(Starr 2004, 12)",
        "Starr, S. Frederick, ed. 2004. <em>Xinjiang: China’s Muslim Borderland</em>. "
        "M. E. Sharpe.",
    ),
    "gladney2004": (
        "(Gladney 2004, 12)",
        "Gladney, Dru C. 2004. “Responses to Chinese Rule: Patterns of Cooperation and "
        "Opposition.” In <em>Xinjiang: China’s Muslim Borderland</em>, edited by S. Frederick "
        "Starr. M. E. Sharpe.",
    ),
    "zenz2019": (
        "(Zenz 2019, 12)",
        f"Zenz, Adrian. 2019. “{ZENZ_TITLE}.” <em>Central Asian Survey</em> 38 (1): 102–28. "
        f"{link(DOI)}.",
    ),
    "scio2019": (
        f"({SCIO} 2019, 12)",
        f"{SCIO}. 2019. <em>Historical Matters Concerning Xinjiang</em>. White paper. "
        f"{link(SCIO_URL)}.",
    ),
    "uflpa2021": (
        "(Uyghur Forced Labor Prevention Act 2021, 12)",
        "Uyghur Forced Labor Prevention Act, Pub. L. No. 117\u201178, 135 Stat. 1525 (2021).",
    ),
    "ohchr2025": (
        "(Office of the United Nations High Commissioner for Human Rights, n.d., 12)",
        "Office of the United Nations High Commissioner for Human Rights. n.d. “OHCHR and "
        f"China.” Accessed October 2, 2025. {link(OHCHR_URL)}.",
    ),
    "hrc2022": (
        "(United Nations Human Rights Council 2022, 12)",
        "United Nations Human Rights Council. 2022. <em>Holding a Debate on the Situation of "
        "Human Rights in the Xinjiang Uyghur Autonomous Region</em>. Draft Decision "
        "A/HRC/51/L.6. United Nations.",
    ),
}


@pytest.mark.parametrize("key", KINDS)
def test_chicago_author_date_each_kind(entries, key):
    cites, bib = one_by_one(entries, "chicago-author-date", KINDS, locator="12")
    expected_cite, expected_bib = CHICAGO_AD[key]
    assert text(cites[key]) == expected_cite
    assert cites[key].startswith("(") and f'<a href="#ref-{key}">' in cites[key]
    assert bib[key] == expected_bib


def test_chicago_author_date_is_the_default_and_sorted(entries):
    out = CitationProcessor(entries).process([cite(k) for k in KINDS])
    assert [k for k, _ in out.bibliography] == [
        "gladney2004", "millward2007", "ohchr2025", "starr2004", "scio2019", "hrc2022",
        "uflpa2021", "zenz2019",
    ]  # fmt: skip
    assert out.style_class == "in-text"


# ------------------------------------------------------------------------------------------
# in-note citation syntax


def test_locators_prefixes_suffixes_and_modes(entries):
    clusters = [
        cite({"key": "millward2007", "locator": "20–23"}),  # [@millward2007, 20–23]
        cite({"key": "millward2007", "locator": "3", "label": "chapter"}),
        cite({"key": "starr2004", "locator": "2.1", "label": "section"}),
        cite({"key": "scio2019", "locator": "14", "label": "paragraph"}),
        cite({"key": "millward2007", "locator": "20", "label": "page"}),
        cite(  # [see @millward2007, 12; also @starr2004]
            {"key": "millward2007", "prefix": "see", "locator": "12"},
            {"key": "starr2004", "prefix": "also"},
        ),
        cite({"key": "zenz2019", "locator": "110", "suffix": "and passim"}),
        cite({"key": "millward2007", "suppress_author": True}),  # [-@millward2007]
        cite("millward2007", narrative=True),  # @millward2007
        cite({"key": "millward2007", "locator": "45"}, narrative=True),  # @millward2007 [45]
    ]
    out = CitationProcessor(entries).process(clusters)
    assert [text(c) for c in out.citations] == [
        "(Millward 2007, 20–23)",
        "(Millward 2007, chap. 3)",
        "(Starr 2004, sec. 2.1)",
        f"({SCIO} 2019, para. 14)",
        "(Millward 2007, 20)",
        "(see Millward 2007, 12; also Starr 2004)",
        "(Zenz 2019, 110 and passim)",
        "(2007)",
        "Millward (2007)",
        "Millward (2007, 45)",
    ]
    assert out.citations[5] == (
        '(see <a href="#ref-millward2007">Millward 2007, 12</a>; '
        'also <a href="#ref-starr2004">Starr 2004</a>)'
    )
    assert [k for k, _ in out.bibliography] == ["millward2007", "starr2004", "scio2019", "zenz2019"]


def test_same_author_same_year_is_disambiguated(tmp_path):
    entries = read_bib(
        tmp_path,
        """
@book{a, author = {Millward, James A.}, title = {Eurasian Crossroads}, publisher = {P}, year = 2007}
@article{b, author = {Millward, James A.}, title = {Violent Separatism}, journal = {J},
         volume = 1, pages = {1--10}, year = 2007}
@book{c, author = {Millward, James A.}, title = {Beyond the Pass}, publisher = {P}, year = 1998}
""",
    )
    out = CitationProcessor(entries).process([cite("b"), cite("a", "c"), cite("a", narrative=True)])
    assert [text(c) for c in out.citations] == [
        "(Millward 2007b)",
        "(Millward 2007a, 1998)",
        "Millward (2007a)",
    ]
    assert [text(b)[:24] for _, b in out.bibliography] == [
        "Millward, James A. 1998.",
        "Millward, James A. 2007a",
        "Millward, James A. 2007b",
    ]


def test_only_cited_works_and_links(entries):
    out = CitationProcessor(entries).process([cite("zenz2019"), cite("scio2019")])
    assert [k for k, _ in out.bibliography] == ["scio2019", "zenz2019"]
    bib = dict(out.bibliography)
    assert f'<a href="{DOI}">' in bib["zenz2019"]
    assert f'<a href="{SCIO_URL}">' in bib["scio2019"]
    assert out.citations[0] == '(<a href="#ref-zenz2019">Zenz 2019</a>)'


def test_everything_from_the_bib_is_escaped(tmp_path):
    entries = read_bib(
        tmp_path,
        r"""@book{x,
  author = {<script>alert(1)</script> and Smith, J.},
  title = {Fish \& Chips <b>bold</b> "quoted" <img src=x onerror=alert(1)>},
  publisher = {A & B <i>},
  year = 2001,
  url = {javascript:alert(1)},
}
""",
    )
    out = CitationProcessor(entries).process([cite({"key": "x", "prefix": "<em>see</em>"})])
    html = out.citations[0] + out.bibliography[0][1]
    # only the processor's own tags: a, em (the book title), strong (CSL-JSON's <b>)
    assert set(re.findall(r"</?([a-z]+)", html)) <= {"a", "em", "strong"}
    assert "javascript:" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Fish &amp; Chips" in html and "&lt;img" in html.replace("&lt;Img", "&lt;img")
    assert out.citations[0].startswith("(&lt;em&gt;see&lt;/em&gt; <a href=")


def test_empty_document(entries):
    out = CitationProcessor(entries).process([])
    assert out.citations == [] and out.bibliography == []


def test_unknown_key_is_marked_not_fatal(entries):
    out = CitationProcessor(entries).process([cite("nope"), cite("millward2007")])
    assert out.citations[0] == "(<strong>nope?</strong>)"
    assert out.missing == ["nope"]
    assert [k for k, _ in out.bibliography] == ["millward2007"]


# ------------------------------------------------------------------------------------------
# other styles: switching --csl changes the output as each manual says


def test_apa(entries):
    cites, bib = one_by_one(entries, "apa", KINDS, locator="12")
    assert text(cites["millward2007"]) == "(Millward, 2007, p. 12)"
    assert text(cites["scio2019"]) == f"({SCIO}, 2019, p. 12)"
    assert bib["millward2007"] == (
        "Millward, J. A. (2007). <em>Eurasian crossroads: A history of Xinjiang</em>. "
        "Columbia University Press."
    )
    assert bib["starr2004"] == (
        "Starr, S. F. (Ed.). (2004). <em>Xinjiang: China’s Muslim borderland</em>. M. E. Sharpe."
    )
    assert bib["gladney2004"] == (
        "Gladney, D. C. (2004). Responses to Chinese rule: Patterns of cooperation and "
        "opposition. In S. F. Starr (Ed.), <em>Xinjiang: China’s Muslim borderland</em> "
        "(pp. 375–396). M. E. Sharpe."
    )
    assert bib["zenz2019"] == (
        "Zenz, A. (2019). “Thoroughly reforming them towards a healthy heart attitude”: "
        "China’s political re-education campaign in Xinjiang. <em>Central Asian Survey</em>, "
        f"<em>38</em>(1), 102–128. {link(DOI)}"
    )
    assert bib["scio2019"] == (
        f"{SCIO}. (2019). <em>Historical matters concerning Xinjiang</em> [White paper]. "
        f"{link(SCIO_URL)}"
    )
    assert bib["ohchr2025"] == (
        "Office of the United Nations High Commissioner for Human Rights. (n.d.). "
        f"<em>OHCHR and China</em>. Retrieved October 2, 2025, from {link(OHCHR_URL)}"
    )
    assert bib["uflpa2021"] == (
        "Uyghur Forced Labor Prevention Act, Pub. L. No. 117\u201178, 135 Stat. 1525 (2021)."
    )


def test_apa_chapter_locator(entries):
    out = CitationProcessor(entries, "apa").process(
        [cite({"key": "millward2007", "locator": "3", "label": "chapter"})]
    )
    assert text(out.citations[0]) == "(Millward, 2007, Chapter 3)"


def test_mla(entries):
    cites, bib = one_by_one(entries, "modern-language-association", KINDS, locator="12")
    assert text(cites["millward2007"]) == "(Millward 12)"
    assert text(cites["zenz2019"]) == "(Zenz 12)"
    assert bib["millward2007"] == (
        "Millward, James A. <em>Eurasian Crossroads: A History of Xinjiang</em>. "
        "Columbia University Press, 2007."
    )
    assert bib["starr2004"] == (
        "Starr, S. Frederick, editor. <em>Xinjiang: China’s Muslim Borderland</em>. "
        "M. E. Sharpe, 2004."
    )
    assert bib["gladney2004"] == (
        "Gladney, Dru C. “Responses to Chinese Rule: Patterns of Cooperation and Opposition.” "
        "<em>Xinjiang: China’s Muslim Borderland</em>, edited by S. Frederick Starr, "
        "M. E. Sharpe, 2004, pp. 375–96."
    )
    assert bib["zenz2019"] == (
        f"Zenz, Adrian. “{ZENZ_TITLE}.” <em>Central Asian Survey</em>, vol. 38, no. 1, 2019, "
        f"pp. 102–28, {link(DOI)}."
    )
    assert bib["ohchr2025"] == (
        "Office of the United Nations High Commissioner for Human Rights. <em>OHCHR and "
        f"China</em>. {link(OHCHR_URL)}. Accessed 2 Oct. 2025."
    )


def test_mla_name_alias_and_short_titles(entries):
    out = CitationProcessor(entries, "mla").process(
        [cite({"key": "millward2007", "locator": "20"}), cite({"key": "zenz2019", "locator": "5"})]
    )
    assert [text(c) for c in out.citations] == ["(Millward 20)", "(Zenz 5)"]


def test_chicago_notes_bibliography(entries):
    proc = CitationProcessor(entries, "chicago-note-bibliography")
    out = proc.process(
        [
            cite({"key": "millward2007", "locator": "12"}),
            cite({"key": "zenz2019", "locator": "110"}),
            cite({"key": "millward2007", "locator": "14"}),
        ]
    )
    assert out.style_class == "note"
    # full note form the first time, short form (author, short title, page) after (CMOS 14.29)
    assert [text(c) for c in out.citations] == [
        "(James A. Millward, Eurasian Crossroads: A History of Xinjiang (Columbia University "
        "Press, 2007), 12)",
        f"(Adrian Zenz, “{ZENZ_TITLE},” Central Asian Survey 38, no. 1 (2019): 110, {DOI})",
        "(Millward, Eurasian Crossroads, 14)",
    ]
    assert dict(out.bibliography)["millward2007"] == (
        "Millward, James A. <em>Eurasian Crossroads: A History of Xinjiang</em>. "
        "Columbia University Press, 2007."
    )
    assert dict(out.bibliography)["zenz2019"] == (
        f"Zenz, Adrian. “{ZENZ_TITLE}.” <em>Central Asian Survey</em> 38, no. 1 (2019): "
        f"102–28. {link(DOI)}."
    )


# ------------------------------------------------------------------------------------------
# styles: names, files, style_dirs, dependent styles, errors


def test_style_names_and_files(tmp_path):
    assert find_style("chicago-author-date").name == "chicago-author-date.csl"
    assert find_style("chicago-note-bibliography").name == "chicago-notes-bibliography.csl"
    assert find_style("apa").name == "apa.csl"
    assert find_style("mla").name == "modern-language-association.csl"
    own = tmp_path / "styles"
    own.mkdir()
    (own / "apa.csl").write_bytes(find_style("modern-language-association").read_bytes())
    assert find_style("apa", [own]) == own / "apa.csl"  # the edition's own style wins
    assert find_style(str(own / "apa.csl")) == own / "apa.csl"


def test_dependent_style_resolves_to_its_parent_offline(tmp_path):
    dep = tmp_path / "my-journal.csl"
    dep.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<style xmlns="http://purl.org/net/xbiblio/csl" version="1.0" default-locale="en-US">'
        "<info><title>My Journal</title><id>x</id>"
        '<link href="http://www.zotero.org/styles/apa" rel="independent-parent"/></info></style>',
        encoding="utf-8",
    )
    assert find_style(str(dep)).name == "apa.csl"
    dep.write_text(dep.read_text().replace("/apa", "/no-such-style"), encoding="utf-8")
    with pytest.raises(ValueError, match="no-such-style"):
        find_style(str(dep))


def test_unknown_style_is_a_value_error(entries, tmp_path):
    with pytest.raises(ValueError, match="unknown citation style 'no-such-style'"):
        CitationProcessor(entries, "no-such-style")
    with pytest.raises(ValueError, match="not found"):
        CitationProcessor(entries, str(tmp_path / "missing.csl"))
    bad = tmp_path / "bad.csl"
    bad.write_text("<html/>", encoding="utf-8")
    with pytest.raises(ValueError, match="not a CSL style"):
        CitationProcessor(entries, str(bad))


# ------------------------------------------------------------------------------------------
# CSL-JSON conversion


def test_csl_markup_protects_and_escapes():
    assert latex_to_csl_markup(r"The {CPC} and \emph{Xinjiang} \& {\"U}rumqi") == (
        'The <span class="nocase">CPC</span> and <i>Xinjiang</i> & Ürumqi'
    )
    assert sentence_case(
        'Eurasian Crossroads: A History of <span class="nocase">Xinjiang</span>'
    ) == ('Eurasian crossroads: A history of <span class="nocase">Xinjiang</span>')
    assert sentence_case("Sterilizations, IUDs, and U.N. Birth Control") == (
        "Sterilizations, IUDs, and U.N. birth control"
    )


def test_csl_items(entries):
    scio = to_csl_item(entries["scio2019"])
    assert scio["type"] == "report" and scio["genre"] == "White paper"
    assert scio["author"] == [{"literal": SCIO}]
    assert scio["issued"] == {"date-parts": [[2019, 7, 21]]}
    assert scio["URL"] == "http://english.scio.gov.cn/node_8013441.htm"
    gl = to_csl_item(entries["gladney2004"])
    assert gl["type"] == "chapter"
    assert gl["editor"] == [{"family": "Starr", "given": "S. Frederick"}]
    assert gl["page"] == "375–396"
    assert to_csl_item(entries["ohchr2025"])["accessed"] == {"date-parts": [[2025, 10, 2]]}
    assert to_csl_item(entries["zenz2019"])["DOI"] == "10.1080/02634937.2018.1507997"


# ------------------------------------------------------------------------------------------
# the edition's own bibliography


EDITION_BIB = pathlib.Path(__file__).parents[1] / "annotations/bibliography.bib"


def test_edition_bibliography_in_chicago_author_date():
    entries, diags = read_bibliographies([EDITION_BIB], EDITION_BIB.parents[1])
    assert [d for d in diags if d.severity == "error"] == []
    keys = sorted(entries)
    out = CitationProcessor(entries).process([cite(k) for k in keys])
    bib = dict(out.bibliography)
    assert sorted(bib) == keys
    assert all(c.startswith("(") and "#ref-" in c for c in out.citations)
    assert bib["scio2019historical"] == (
        f"{SCIO}. 2019a. <em>Historical Matters Concerning Xinjiang</em>. White paper. "
        f"{link('http://english.scio.gov.cn/node_8013441.htm')}."
    )
    assert bib["scio2025guidelines"].startswith(
        f"{SCIO}. 2025. <em>CPC Guidelines for Governing Xinjiang in the New Era: Practice and "
        "Achievements [新时代党的治疆方略的成功实践]</em>. White paper. Released at an SCIO press "
        "conference, Beijing, 19 September 2025."
    )
    assert bib["xuar2021census"].startswith(
        "Statistics Bureau of Xinjiang Uygur Autonomous Region, and Office of the Leading Group "
        "for the Seventh National Population Census of Xinjiang Uygur Autonomous Region. 2021. "
        "“新疆维吾尔自治区第七次全国人口普查主要数据 [Main Data of the Seventh National "
        "Population Census of the Xinjiang Uygur Autonomous Region].” June 14."
    )
    assert text(out.citations[keys.index("scio2019vocational")]) == f"({SCIO} 2019b)"


def test_three_hundred_clusters_in_one_run():
    entries, _ = read_bibliographies([EDITION_BIB], EDITION_BIB.parents[1])
    keys = sorted(entries)
    clusters = [
        cite({"key": keys[i % len(keys)], "locator": str(i)}, {"key": keys[(i * 7) % len(keys)]})
        for i in range(300)
    ]
    started = time.perf_counter()
    out = CitationProcessor(entries).process(clusters)
    elapsed = time.perf_counter() - started
    assert len(out.citations) == 300 and all(out.citations)
    assert elapsed < 10, elapsed  # one Pandoc run: ~0.5 s on the 2-core machine


def test_work_done_while_pandoc_runs_changes_nothing(entries, monkeypatch):
    """The steps of ``meanwhile`` run in order while Pandoc works, and none once it has finished;
    the result is the same; a step's failure stops Pandoc."""
    calls = []
    clusters = [cite("zenz2019"), cite("scio2019")]
    out = CitationProcessor(entries).process(clusters, meanwhile=[lambda: calls.append(1), lambda: calls.append(2)])
    assert calls == [1, 2]
    assert out == CitationProcessor(entries).process(clusters)

    started = []
    popen = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: started.append(popen(*a, **k)) or started[-1])
    calls.clear()
    late = CitationProcessor(entries).process(clusters, meanwhile=[lambda: started[0].wait(), lambda: calls.append(3)])
    assert calls == [] and late == out  # Pandoc was done before the second step: it is left for later
    monkeypatch.undo()

    def fail():
        raise RuntimeError("import failed")

    with pytest.raises(RuntimeError, match="import failed"):
        CitationProcessor(entries).process(clusters, meanwhile=[fail])


def test_kept_output_answers_without_pandoc_until_something_that_shapes_it_changes(entries, tmp_path, monkeypatch):
    """With a store, Pandoc's output for the same clusters, references, style and locale is read
    back (a note whose prose changed keeps its citations); any of those changed runs Pandoc again."""
    import dataclasses

    from scholia.cache import Store

    store = Store(tmp_path)
    clusters = [cite("zenz2019"), cite("scio2019")]
    first = CitationProcessor(entries, store=store).process(clusters)
    assert first == CitationProcessor(entries).process(clusters) and len(list(tmp_path.glob("*.pickle"))) == 1

    def no_pandoc(*args, **kwargs):
        raise AssertionError("Pandoc ran")

    monkeypatch.setattr(subprocess, "Popen", no_pandoc)
    steps = []
    assert CitationProcessor(entries, store=store).process(clusters, meanwhile=[lambda: steps.append(1)]) == first
    assert steps == []  # nothing to wait for
    monkeypatch.undo()
    retitled = dict(entries)
    zenz = entries["zenz2019"]
    retitled["zenz2019"] = dataclasses.replace(zenz, fields={**zenz.fields, "title": "Another title"},
                                               raw={**zenz.raw, "title": "Another title"})
    changed = [CitationProcessor(entries, store=store).process([*clusters, cite("millward2007")]),
               CitationProcessor(entries, "apa", store=store).process(clusters),
               CitationProcessor(entries, locale="de-DE", store=store).process(clusters),
               CitationProcessor(retitled, store=store).process(clusters)]
    assert len(list(tmp_path.glob("*.pickle"))) == 5
    assert changed[3].bibliography != first.bibliography
