"""BibTeX/biblatex entries → CSL-JSON items (the input of every CSL processor).

The mapping follows the biblatex → CSL conventions that Pandoc and Zotero use:

* entry types: ``@book`` → ``book``, ``@incollection`` → ``chapter``, ``@article`` →
  ``article-journal``, ``@techreport``/``@report`` → ``report``, ``@online`` → ``webpage``,
  ``@legislation`` → ``legislation``… An explicit ``entrysubtype`` (biblatex) or a CSL type
  name in a ``csltype`` field wins, so an edition can say what a ``@misc`` really is.
* text fields keep their markup as CSL-JSON's rich-text subset: ``{Protected}`` words become
  ``<span class="nocase">`` (so title- and sentence-casing styles leave them alone), ``\\emph``
  and ``\\textit`` become ``<i>``, ``\\textbf`` ``<b>``, ``\\textsc`` small caps. Everything
  else is plain text: the processor recognises only that fixed set of tags (anything else,
  ``<script>`` included, stays literal text) and its HTML writer escapes all text, so nothing
  from a .bib file can become markup of its own in the output.
* ``titleaddon`` (biblatex: an addition to the title, e.g. a translation) follows the title in
  square brackets, set in roman;
* ``howpublished`` becomes the ``genre`` when it is a short description ("White paper"), else a
  ``note``; ``institution``/``school``/``organization`` stand in for a missing publisher.
* dates: ``date`` (ISO 8601, also ranges ``2019/2020``) wins over ``year``/``month``/``day``;
  ``urldate`` is the access date.
"""

from __future__ import annotations

import re
from typing import Any

from scholia.model import BibEntry, Person
from scholia.readers.bibtex import decode_latex

__all__ = ["TYPE_MAP", "latex_to_csl_markup", "sentence_case", "to_csl_item", "to_csl_json"]

TYPE_MAP: dict[str, str] = {
    "article": "article-journal",
    "book": "book",
    "mvbook": "book",
    "bookinbook": "chapter",
    "booklet": "pamphlet",
    "collection": "book",
    "mvcollection": "book",
    "proceedings": "book",
    "mvproceedings": "book",
    "inbook": "chapter",
    "incollection": "chapter",
    "inreference": "entry-encyclopedia",
    "reference": "book",
    "inproceedings": "paper-conference",
    "conference": "paper-conference",
    "manual": "book",
    "mastersthesis": "thesis",
    "phdthesis": "thesis",
    "thesis": "thesis",
    "techreport": "report",
    "report": "report",
    "unpublished": "manuscript",
    "online": "webpage",
    "electronic": "webpage",
    "www": "webpage",
    "patent": "patent",
    "periodical": "periodical",
    "dataset": "dataset",
    "software": "software",
    "legislation": "legislation",
    "legal": "legal_case",
    "jurisdiction": "legal_case",
    "standard": "standard",
    "misc": "document",
    "letter": "personal_communication",
    "artwork": "graphic",
    "audio": "song",
    "video": "motion_picture",
    "movie": "motion_picture",
    "music": "song",
    "image": "graphic",
    "map": "map",
    "interview": "interview",
    "review": "review",
    "suppbook": "chapter",
    "suppcollection": "chapter",
}

#: CSL item types (CSL 1.0.2), accepted in an explicit ``csltype`` or ``entrysubtype`` field.
CSL_TYPES = frozenset(
    """article article-journal article-magazine article-newspaper bill book broadcast chapter
    classic collection dataset document entry entry-dictionary entry-encyclopedia event figure
    graphic hearing interview legal_case legislation manuscript map motion_picture
    musical_score pamphlet paper-conference patent performance periodical
    personal_communication post post-weblog regulation report review review-book software
    song speech standard thesis treaty webpage""".split()
)

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
         ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
         ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
         ("dec", "december")]
    )
    for m in names
}  # fmt: skip

_STYLE_COMMANDS = {
    "emph": ("<i>", "</i>"),
    "textit": ("<i>", "</i>"),
    "textsl": ("<i>", "</i>"),
    "mkbibemph": ("<i>", "</i>"),
    "textbf": ("<b>", "</b>"),
    "mkbibbold": ("<b>", "</b>"),
    "textsc": ('<span style="font-variant:small-caps;">', "</span>"),
    "textsuperscript": ("<sup>", "</sup>"),
    "textsubscript": ("<sub>", "</sub>"),
    "textup": ('<span style="font-style:normal;">', "</span>"),
    "textrm": ('<span style="font-style:normal;">', "</span>"),
    "textnormal": ('<span style="font-style:normal;">', "</span>"),
    "mkbibquote": ("\u201c", "\u201d"),
    "enquote": ("\u201c", "\u201d"),
}


def _group_end(text: str, start: int) -> int:
    """Index just past the brace group that opens at ``text[start] == '{'`` (or len(text))."""
    depth = 0
    i = start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


def _decode_piece(latex: str) -> str:
    """Decode LaTeX to text keeping the white space at both ends (collapsed to one space)."""
    if not latex:
        return ""
    lead = " " if latex[:1].isspace() else ""
    trail = " " if latex[-1:].isspace() and latex.strip() else ""
    return lead + decode_latex(latex) + trail


def latex_to_csl_markup(latex: str) -> str:
    """A raw BibTeX value → CSL-JSON rich text (the HTML-like subset CSL processors read)."""
    out: list[str] = []
    plain_start = 0
    i = 0

    def flush(end: int) -> None:
        if end > plain_start:
            out.append(_decode_piece(latex[plain_start:end]))

    while i < len(latex):
        c = latex[i]
        if c == "\\":
            m = re.match(r"\\([A-Za-z]+)\s*\{", latex[i:])
            if m and m.group(1) in _STYLE_COMMANDS:
                flush(i)
                open_at = i + m.end() - 1
                end = _group_end(latex, open_at)
                start_tag, end_tag = _STYLE_COMMANDS[m.group(1)]
                out.append(start_tag + latex_to_csl_markup(latex[open_at + 1 : end - 1]) + end_tag)
                i = plain_start = end
                continue
            if m:  # another command with an argument ({\"u}-style or \'{e}): keep with the text
                i = _group_end(latex, i + m.end() - 1)
                continue
            i += 2
            continue
        if c == "{":
            end = _group_end(latex, i)
            inner = latex[i + 1 : end - 1]
            if inner.startswith("\\") and not re.match(r"\\(emph|textit|textbf|textsc)\b", inner):
                # {\"u}, {\'e}: an accented letter, not a protected word
                i = end
                continue
            flush(i)
            out.append(
                '<span class="nocase">' + latex_to_csl_markup(inner) + "</span>"
                if inner.strip()
                else ""
            )
            i = plain_start = end
            continue
        i += 1
    flush(len(latex))
    text = "".join(out)
    text = re.sub(r"\s+", " ", text)
    # the decoder turns a lone ' into ’; CSL quotes ‘…’ and “…” are kept as the writer typed them
    return text.strip()


_LANGIDS = {
    "english": "en-US", "american": "en-US", "british": "en-GB", "ukenglish": "en-GB",
    "usenglish": "en-US", "french": "fr-FR", "german": "de-DE", "ngerman": "de-DE",
    "chinese": "zh-CN", "russian": "ru-RU", "spanish": "es-ES", "italian": "it-IT",
    "japanese": "ja-JP", "turkish": "tr-TR", "uyghur": "ug-CN",
}  # fmt: skip


def _is_english(entry: BibEntry) -> bool:
    lang = (_plain(entry, "langid") or _plain(entry, "language")).lower()
    return (
        not lang
        or lang.startswith("en")
        or lang in ("american", "british", "ukenglish", "usenglish", "australian", "canadian")
    )


_WORD = re.compile(r"[^\s\u2014\u2013/]+")


def _lower_capitalised(word: str) -> str:
    if re.fullmatch(r"[A-Z][a-z\u00df-\u024f'\u2019]*", word):
        return word[0].lower() + word[1:]
    return word


def sentence_case(markup: str) -> str:
    """Title Case → Sentence case in CSL rich text, as Pandoc does for English BibTeX titles.

    CSL-JSON stores titles in sentence case; styles that want title case (Chicago, MLA) convert
    them back, styles that do not (APA) print them as stored. A word is lowered only if it is
    capitalised and otherwise lower case ("Guidelines", not "CPC", "IUDs", "U.N."), is not the
    first word or the first after a colon, question or exclamation mark, and is outside a
    ``<span class="nocase">`` ({Protected} in BibTeX).
    """
    out: list[str] = []
    pos = 0
    depth_nocase = 0
    stack: list[bool] = []
    keep_next = True
    for m in re.finditer(r"<[^>]*>", markup + "<end>"):
        text = markup[pos : m.start()]
        if depth_nocase:
            out.append(text)
            if text.strip():
                keep_next = False
        else:
            pieces = []
            last = 0
            for w in _WORD.finditer(text):
                pieces.append(text[last : w.start()])
                word = w.group(0)
                lead = re.match(r"[\"'\u2018\u201c(\[]*", word).end()
                trail = len(word) - len(re.search(r"[\"'\u2019\u201d)\].,:;?!]*$", word).group(0))
                core = word[lead:trail]
                if core:
                    parts = core.split("-")
                    first = 1 if keep_next else 0
                    parts = parts[:first] + [_lower_capitalised(p) for p in parts[first:]]
                    word = word[:lead] + "-".join(parts) + word[trail:]
                pieces.append(word)
                if core:
                    keep_next = bool(re.search(r"[:?!]$", word.rstrip("\"'\u2019\u201d)]")))
                last = w.end()
            pieces.append(text[last:])
            out.append("".join(pieces))
        tag = m.group(0)
        if tag == "<end>":
            break
        if tag.startswith("</"):
            if stack and stack.pop():
                depth_nocase -= 1
        elif not tag.endswith("/>"):
            nocase = 'class="nocase"' in tag
            stack.append(nocase)
            depth_nocase += nocase
        out.append(tag)
        pos = m.end()
    return "".join(out)


def _plain(entry: BibEntry, name: str) -> str:
    return entry.fields.get(name, "").strip()


def _rich(entry: BibEntry, name: str) -> str:
    if name in entry.raw:
        return latex_to_csl_markup(entry.raw[name])
    return entry.fields.get(name, "")


def _name(p: Person) -> dict[str, str]:
    if p.literal:
        return {"literal": p.last}
    out: dict[str, str] = {"family": p.last}
    if p.first:
        out["given"] = p.first
    if p.von:
        out["non-dropping-particle"] = p.von
    if p.jr:
        out["suffix"] = p.jr
    return out


def _date(text: str) -> dict[str, Any] | None:
    """ISO 8601 date or range (``2019-07-21``, ``2019-07``, ``2019/2021``) → CSL date."""
    text = text.strip()
    if not text:
        return None
    parts = []
    for piece in text.split("/")[:2]:
        m = re.fullmatch(r"(-?\d{1,4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?", piece.strip())
        if not m:
            return {"literal": text}
        parts.append([int(g) for g in m.groups() if g])
    return {"date-parts": parts}


def _issued(entry: BibEntry) -> dict[str, Any] | None:
    if _plain(entry, "date"):
        return _date(_plain(entry, "date"))
    year = _plain(entry, "year")
    if not year:
        return None
    m = re.fullmatch(r"(\d{1,4})([a-z]?)", year)
    if not m:
        return {"literal": year}
    parts = [int(m.group(1))]
    month = _plain(entry, "month").lower().rstrip(".")
    month_n = int(month) if month.isdigit() else _MONTHS.get(month)
    if month_n and 1 <= month_n <= 12:
        parts.append(month_n)
        day = _plain(entry, "day")
        if day.isdigit():
            parts.append(int(day))
    return {"date-parts": [parts]}


_GENRE = re.compile(
    r"(?i)(white|green|policy|position|working|discussion|briefing|background|concept) paper"
    r"|(annual |technical |research |government |special |country )?report|policy brief"
    r"|fact ?sheet|press release|(joint )?statement|speech|communiqu[eé]|(draft )?resolution"
    r"|(draft )?decision|circular|notice|briefing|handbook|data ?set|thesis|dissertation"
)


def _csl_type(entry: BibEntry) -> str:
    for name in ("csltype", "entrysubtype"):
        explicit = _plain(entry, name).lower()
        if explicit in CSL_TYPES:
            return explicit
    t = entry.entry_type
    if t == "article" and "newspaper" in _plain(entry, "entrysubtype").lower():
        return "article-newspaper"
    if t == "article" and "magazine" in _plain(entry, "entrysubtype").lower():
        return "article-magazine"
    if t == "misc" and not _plain(entry, "howpublished") and _plain(entry, "url"):
        return "webpage" if _plain(entry, "urldate") else "document"
    return TYPE_MAP.get(t, "document")


def _safe_url(url: str) -> str:
    url = url.strip()
    return url if re.match(r"(?i)^(https?|ftp)://[^\s\"<>]+$", url) else ""


def to_csl_item(entry: BibEntry) -> dict[str, Any]:
    """One BibEntry → one CSL-JSON item (a dict ready for ``json.dumps``)."""
    e = entry
    t = _csl_type(e)
    item: dict[str, Any] = {"id": e.key, "type": t}

    for role in ("author", "editor", "translator"):
        if e.persons.get(role):
            item[role] = [_name(p) for p in e.persons[role]]
    if e.persons.get("bookauthor"):
        item["container-author"] = [_name(p) for p in e.persons["bookauthor"]]

    title = _rich(e, "title")
    if _plain(e, "subtitle"):
        title += ": " + _rich(e, "subtitle")
    english = _is_english(e)
    if title and english:
        title = sentence_case(title)
    if _plain(e, "titleaddon"):
        title += " [" + _rich(e, "titleaddon") + "]"
    if title:
        item["title"] = title
    if _plain(e, "shorttitle"):
        short = _rich(e, "shorttitle")
        item["title-short"] = sentence_case(short) if english else short
    elif "title" in item:
        # the main title without its subtitle, as Pandoc derives it (CMOS 14.30, MLA 6.6)
        main = re.split(r":\s", item["title"].split(" [")[0], maxsplit=1)[0]
        if main != item["title"] and main.count("<") == main.count(">") and "</" not in main:
            item["title-short"] = main
    language = _plain(e, "langid") or _plain(e, "language")
    if language:
        item["language"] = _LANGIDS.get(language.lower(), language)

    container = ""
    for name in ("journaltitle", "journal", "booktitle", "maintitle"):
        if _plain(e, name):
            container = _rich(e, name)
            if name == "booktitle" and _plain(e, "booksubtitle"):
                container += ": " + _rich(e, "booksubtitle")
            if name in ("booktitle", "maintitle") and _is_english(e):
                container = sentence_case(container)  # book titles; journal names stay
            break
    if container:
        item["container-title"] = container
    if _plain(e, "series"):
        item["collection-title"] = _rich(e, "series")

    publisher = next(
        (
            _rich(e, n)
            for n in ("publisher", "institution", "school", "organization")
            if _plain(e, n)
        ),
        "",
    )
    if publisher:
        item["publisher"] = publisher
    place = _plain(e, "location") or _plain(e, "address")
    if place:
        item["publisher-place"] = place

    number = _plain(e, "number")
    if number:
        if t in ("article-journal", "article-magazine", "article-newspaper", "periodical"):
            item["issue"] = number
        elif _plain(e, "series") and t in ("book", "chapter", "paper-conference"):
            item["collection-number"] = number
        else:
            # a law's or report's number ("Pub. L. No. 117-78") is an identifier, not a range:
            # a non-breaking hyphen keeps processors from making it "Nos. 117–78"
            number = re.sub(r"(?<=\w)-(?=\w)", "\u2011", number)
            item["number"] = number
    if _plain(e, "issue") and "issue" not in item:
        item["issue"] = _plain(e, "issue")

    simple = {
        "volume": "volume",
        "pages": "page",
        "chapter": "chapter-number",
        "edition": "edition",
        "pagetotal": "number-of-pages",
        "volumes": "number-of-volumes",
        "isbn": "ISBN",
        "issn": "ISSN",
        "version": "version",
        "eventtitle": "event-title",
        "venue": "event-place",
        "abstract": "abstract",
    }
    for bib, csl in simple.items():
        if _plain(e, bib):
            item[csl] = _plain(e, bib)
    if "page" in item:
        item["page"] = item["page"].replace("-", "\u2013").replace("\u2013\u2013", "\u2013")

    genre = _plain(e, "type")
    howpublished = _plain(e, "howpublished")
    notes = [_rich(e, "note")] if _plain(e, "note") else []
    if howpublished and "publisher" not in item:
        # Pandoc's mapping: howpublished is the publication statement ("People's Daily
        # Online"). If it opens with a kind of document ("White paper, Beijing"), that is the
        # genre of a standalone report, and the rest its publication statement.
        head, _, rest = howpublished.partition(", ")
        if t == "document" and not genre and _GENRE.fullmatch(head.strip()):
            genre = head
            t = item["type"] = "report"
            if rest:
                item["publisher"] = rest[:1].upper() + rest[1:]
        else:
            item["publisher"] = _rich(e, "howpublished")
    elif howpublished:
        notes.insert(0, _rich(e, "howpublished"))
    if not genre and e.entry_type == "phdthesis":
        genre = "PhD diss."
    elif not genre and e.entry_type == "mastersthesis":
        genre = "Master’s thesis"
    if genre:
        item["genre"] = genre
    if _plain(e, "addendum"):
        notes.append(_rich(e, "addendum"))
    if notes:
        item["note"] = ". ".join(n.rstrip(".") for n in notes)

    issued = _issued(e)
    if issued:
        item["issued"] = issued
    accessed = _date(_plain(e, "urldate"))
    if accessed:
        item["accessed"] = accessed

    doi = re.sub(r"(?i)^(https?://(dx\.)?doi\.org/|doi:)", "", _plain(e, "doi"))
    if doi and re.fullmatch(r"10\.\S+", doi):
        item["DOI"] = doi
    url = _safe_url(_plain(e, "url"))
    if url:
        item["URL"] = url
    return item


def to_csl_json(entries: dict[str, BibEntry], keys: list[str] | None = None) -> list[dict]:
    """CSL-JSON items for ``keys`` (all entries if None), in that order."""
    chosen = entries if keys is None else [k for k in keys if k in entries]
    return [to_csl_item(entries[k]) for k in chosen]
