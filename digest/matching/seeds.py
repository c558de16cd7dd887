"""Seed papers: what a reader gives as papers they like, read into references.

Two ways in: ids and links typed into a box (parse_seed_text), or a file exported from a
reference manager (parse_library): BibTeX or BibLaTeX, Zotero's CSL JSON, or RIS, told apart
by their content. Either way the result is at most MAX_SEEDS references, each with an arXiv
id, a DOI or a title, and a plain-English line for each entry we could not use (the first
MAX_PROBLEMS of them). Pure: no Django; profiles.set_seeds finds the papers they name.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import unquote, urlsplit

import bibtexparser
from bibtexparser.library import Library
from bibtexparser.middlewares import RemoveEnclosingMiddleware
from bibtexparser.model import Entry, ParsingFailedBlock
from pylatexenc.latex2text import LatexNodes2Text

from digest.ingest.identifiers import find_arxiv_id, find_doi, parse_arxiv_id

MAX_SEEDS = 50
MAX_LIBRARY_BYTES = 5_000_000
# bibtexparser spends ~50 µs on a block even when it is only "@a{": 5 MB of those would take
# over a minute. 20,000 entries is more than a 5 MB export of real papers holds.
MAX_LIBRARY_ENTRIES = 20_000
# Problem lines past this are summed up in one: a broken 5 MB file can hold 20,000 of them.
MAX_PROBLEMS = 20
MAX_DOI_LENGTH = 200  # SeedPaper.doi; a longer "DOI" is a runaway match, not a paper
NOT_A_LIBRARY = "This file is not a BibTeX, BibLaTeX or Zotero (CSL JSON) export."

_TITLE_CHARS = 1_000  # of a title's LaTeX read; SeedPaper keeps 500 characters
_ARXIV_DOI = "10.48550/arxiv."  # arXiv's own DOIs, 10.48550/arXiv.<id>, lower-cased by find_doi

# Text: "arXiv: 2401.01234" and "doi: 10.1145/…" are one reference each, not two tokens.
_SEPARATORS = re.compile(r"[\s,;]+")
_PREFIX_SPACE = re.compile(r"\b(arxiv|doi)[ \t]*:[ \t]+", re.IGNORECASE)
_WRAPPING = "\"'<>()[]."  # quotes, brackets and a sentence's full stop around a token
_ARXIV_LINK_PATH = re.compile(r"/(?:abs|pdf|html|papers)/(?P<id>.+?)(?:\.pdf)?/?")

# Files: how each format starts, and the fields that carry identifiers and dates.
_BIBTEX_ENTRY = re.compile(r"^[ \t]*@[ \t]*\w+[ \t]*[{(]", re.MULTILINE)
_BIBTEX_BLOCK = re.compile(r"@\w*[ \t]*[{(]")  # what bibtexparser's splitter takes for a block
_BIBTEX_KEY = re.compile(r"@\w*\s*[{(]\s*([^\s,{}()\"=]+)\s*,")
# Google Scholar writes journal = {arXiv preprint arXiv:2401.01234}; Zotero, number = {arXiv:…}.
_BIBTEX_ARXIV_FIELDS = ("eprint", "doi", "url", "howpublished", "note", "journal", "journaltitle")
_BIBTEX_ARXIV_FIELDS += ("number", "pages")
_BIBTEX_ADDED_FIELDS = ("timestamp", "dateadded", "date-added", "added-at", "creationdate")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_CSL_KEYS = {"id", "type", "title", "DOI", "URL"}
_CSL_ARXIV_FIELDS = ("DOI", "URL", "number", "note", "container-title", "archive_location")
_CSL_SOURCE_FIELDS = ("archive", "publisher", "source", "container-title")
# Zotero keeps rich text in CSL titles as a few HTML tags (<i>, <sup>, <span class="nocase">).
_CSL_MARKUP = re.compile(r"</?(?:i|b|sub|sup|sc|span)\b[^>]*>", re.IGNORECASE)
_RIS_START = re.compile(r"TY {1,2}- ")
_RIS_LINE = re.compile(r"([A-Z][A-Z0-9]) {1,2}-(?: (.*)|$)")
_RIS_ARXIV_TAGS = ("DO", "UR", "L1", "L2", "N1", "T2", "JO", "JF", "M1")
_DATE = re.compile(
    r"(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?",
    re.ASCII,
)
_LATEX = LatexNodes2Text(math_mode="verbatim")
_UNENCLOSE = RemoveEnclosingMiddleware()


@dataclass(frozen=True)
class SeedRef:
    arxiv_id: str = ""  # canonical, without version: "2401.01234", "hep-th/9901001"
    doi: str = ""  # lower-cased, without https://doi.org/
    title: str = ""  # plain text, to find a paper with no id by its title, and for messages
    label: str = ""  # how the reader gave it: the typed token, the BibTeX key or the CSL id


@dataclass
class SeedList:
    refs: list[SeedRef]  # each paper once, in the order given (files: newest first)
    problems: list[str]  # one line per entry we could not use, in words for the reader
    truncated: int = 0  # entries beyond MAX_SEEDS, not read


class SeedError(ValueError):
    """Input we cannot use at all; `message` says why, in words for the reader."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class _Entry:
    """One entry of a library file, before ordering."""

    ref: SeedRef
    name: str  # how a problem line calls it: its key, or its place in the file
    added: str = ""  # when the reader saved it, as "YYYY-MM-DD HH:MM:SS" so that dates sort
    published: str = ""


@dataclass
class _Seeds:
    """References in the order they come: each paper once, at most MAX_SEEDS, the rest counted."""

    problems: list[str] = field(default_factory=list)
    refs: list[SeedRef] = field(default_factory=list)
    truncated: int = 0
    seen: set[str] = field(default_factory=set)

    def add(self, ref: SeedRef | None, problem: str) -> None:
        """Keep the reference unless it names a paper we have, or the problem if there is no
        reference; past the limit, only count."""
        if len(self.refs) >= MAX_SEEDS:
            self.truncated += 1
        elif ref is None:
            self.problems.append(problem)
        else:
            identities = _identities(ref)
            if not identities & self.seen:
                self.refs.append(ref)
            self.seen |= identities

    def result(self, clean_title: Callable[[str], str]) -> SeedList:
        refs = [replace(ref, title=clean_title(ref.title)) for ref in self.refs]
        problems = self.problems[:MAX_PROBLEMS]
        extra = len(self.problems) - MAX_PROBLEMS
        if extra > 0:
            problems.append(f"And {extra:,} more we could not use.")
        return SeedList(refs=refs, problems=problems, truncated=self.truncated)


def _identities(ref: SeedRef) -> set[str]:
    found = {f"arxiv:{ref.arxiv_id}"} if ref.arxiv_id else set()
    if ref.doi:
        found.add(f"doi:{ref.doi}")
    return found or {"title:" + " ".join(_unbraced(ref.title).casefold().split())}


def _unbraced(title: str) -> str:
    return title.replace("{", "").replace("}", "")


# --- typed text -------------------------------------------------------------------------------


def parse_seed_text(text: str) -> SeedList:
    """Read the arXiv ids, arXiv links and DOIs a reader typed, separated by spaces, commas,
    semicolons or lines. Anything else is a problem line naming its line, never an error."""
    seeds = _Seeds()
    for number, line in enumerate(_PREFIX_SPACE.sub(r"\1:", text).split("\n"), start=1):
        for token in _SEPARATORS.split(line):
            if token := token.strip(_WRAPPING):
                seeds.add(_read_token(token), f"Line {number}: {_not_an_id(token)}")
    return seeds.result(_clean_text)


def _not_an_id(token: str) -> str:
    return f'"{_shorten(token)}" is not an arXiv id, arXiv link or DOI.'


def _read_token(token: str) -> SeedRef | None:
    arxiv_id, doi = _ids_in_token(token)
    return SeedRef(arxiv_id=arxiv_id, doi=doi, label=token) if arxiv_id or doi else None


def _ids_in_token(token: str) -> tuple[str, str]:
    arxiv = parse_arxiv_id(token)
    if arxiv:
        return arxiv.id, ""
    doi = token[4:] if token[:4].lower() == "doi:" else token
    if doi.startswith("10."):
        return _split_arxiv_doi(find_doi(doi))
    return _ids_in_link(token)


def _ids_in_link(token: str) -> tuple[str, str]:
    """An arXiv (or Hugging Face papers) link, or any link with a DOI in its path: doi.org,
    dx.doi.org, dl.acm.org/doi/10.1145/…. Only arXiv's own hosts count for an arXiv id."""
    try:
        parts = urlsplit(token if "://" in token else f"https://{token}")
    except ValueError:  # a malformed address, such as an unclosed "[" in the host
        return "", ""
    host = (parts.hostname or "").removeprefix("www.")
    path = unquote(parts.path)
    if host in ("arxiv.org", "huggingface.co") or host.endswith(".arxiv.org"):
        match = _ARXIV_LINK_PATH.fullmatch(path)
        arxiv = parse_arxiv_id(match["id"]) if match else None
        return (arxiv.id if arxiv else ""), ""
    return _split_arxiv_doi(find_doi(path))


def _split_arxiv_doi(doi: str) -> tuple[str, str]:
    """(arXiv id, "") for arXiv's own DOIs, else ("", doi)."""
    if doi.startswith(_ARXIV_DOI):
        arxiv = parse_arxiv_id(doi.removeprefix(_ARXIV_DOI))
        if arxiv:
            return arxiv.id, ""
    return "", doi if len(doi) <= MAX_DOI_LENGTH else ""


# --- library files ----------------------------------------------------------------------------


def parse_library(data: bytes, filename: str = "") -> SeedList:
    """Read a reference manager's export: BibTeX or BibLaTeX, CSL JSON (Zotero) or RIS.
    The content decides the format, not `filename` (files get renamed; Zotero names them all
    "Exported Items"). Newest entries first when the file dates them, else in file order.
    Raises SeedError when the file as a whole cannot be used."""
    if len(data) > MAX_LIBRARY_BYTES:
        raise SeedError(
            f"This file is larger than {MAX_LIBRARY_BYTES // 1_000_000} MB; "
            "export fewer papers, such as one collection."
        )
    text = _decode(data)
    stripped = text.lstrip()
    if not stripped:
        raise SeedError("This file is empty.")
    if stripped.startswith(("[", "{")):
        return _read_csl(stripped)
    if _RIS_START.match(stripped):
        return _read_ris(stripped)
    if _BIBTEX_ENTRY.search(text):
        return _read_bibtex(text)
    raise SeedError(NOT_A_LIBRARY)


def _decode(data: bytes) -> str:
    """UTF-8, with or without a BOM, as Zotero and JabRef write; UTF-16 when its BOM says so;
    else cp1252, and latin-1 for the five bytes cp1252 leaves out, so any bytes decode. NULs
    are dropped: PostgreSQL refuses them in text."""
    encodings = ["utf-8-sig", "cp1252"]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings.insert(0, "utf-16")
    for encoding in encodings:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = data.decode("latin-1")
    return text.replace("\x00", "")


def _collect(
    entries: list[_Entry], problems: list[str], clean_title: Callable[[str], str]
) -> SeedList:
    if not entries and not problems:
        raise SeedError("This file has no entries.")
    seeds = _Seeds(problems)
    # Newest first: a reader's latest papers say most about what they read now. The sort is
    # stable, so entries without dates keep the file's order.
    for entry in sorted(entries, key=lambda entry: (entry.added, entry.published), reverse=True):
        ref = entry.ref
        usable = ref.arxiv_id or ref.doi or _unbraced(ref.title).strip()
        problem = f"Entry {_shorten(entry.name)} has no arXiv id, DOI or title."
        seeds.add(ref if usable else None, problem)
    return seeds.result(clean_title)


def _too_many() -> SeedError:
    return SeedError(
        f"This file has more than {MAX_LIBRARY_ENTRIES:,} entries; "
        "export fewer papers, such as one collection."
    )


def _sortable_date(*texts: str) -> str:
    """The first date among the texts, as "YYYY-MM-DD HH:MM:SS" with zeros for what is missing."""
    for text in texts:
        match = _DATE.search(text[:64])
        if match:
            parts = (group or "0" for group in match.groups())
            return "{}-{:0>2}-{:0>2} {:0>2}:{:0>2}:{:0>2}".format(*parts)
    return ""


def _clean_text(text: str) -> str:
    return " ".join(text.split())


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


# --- BibTeX and BibLaTeX ----------------------------------------------------------------------


def _read_bibtex(text: str) -> SeedList:
    if sum(1 for _ in _BIBTEX_BLOCK.finditer(text)) > MAX_LIBRARY_ENTRIES:
        raise _too_many()
    # The default middlewares only: LaTeX decoding takes ~8 ms an entry with its abstract (40 s
    # for 5,000), so only the titles we keep are decoded (_clean_latex).
    library = bibtexparser.parse_string(text)
    entries, problems = [], []
    for block in library.blocks:
        entry = _recovered(block, library) if isinstance(block, ParsingFailedBlock) else block
        if isinstance(entry, Entry):
            entries.append(_bibtex_entry(entry))
        elif isinstance(block, ParsingFailedBlock):
            problems.append(_unreadable(block))
    return _collect(entries, problems, _clean_latex)


def _recovered(block: ParsingFailedBlock, library: Library) -> object:
    """A duplicate key or field fails the block, but the entry itself is whole. It comes back
    as written, so its values still have their braces and quotes."""
    if isinstance(block.ignore_error_block, Entry):
        return _UNENCLOSE.transform_entry(block.ignore_error_block, library)
    return None


def _bibtex_entry(entry: Entry) -> _Entry:
    fields = {field.key.lower(): str(field.value) for field in entry.fields}
    # Braces are LaTeX, never part of a DOI: doi = {{10.1145/…}} or url = {\url{…}}.
    dois = (_unbraced(fields.get("doi", "")), _unbraced(fields.get("url", "")))
    doi_arxiv_id, doi = _split_arxiv_doi(find_doi(*dois))
    ref = SeedRef(
        arxiv_id=_bibtex_arxiv_id(fields) or doi_arxiv_id,
        doi=doi,
        title=fields.get("title", "")[:_TITLE_CHARS],
        label=entry.key,
    )
    return _Entry(
        ref,
        name=entry.key or "without a key",
        added=_sortable_date(*(fields.get(name, "") for name in _BIBTEX_ADDED_FIELDS)),
        published=_sortable_date(fields.get("date", ""), _year_month(fields)),
    )


def _bibtex_arxiv_id(fields: Mapping[str, str]) -> str:
    """eprint when its archivePrefix (BibTeX) or eprinttype (BibLaTeX) is arXiv or unset, then
    Mendeley's arxivid, then "arXiv:…" or an arXiv link wherever exporters put one."""
    archive = fields.get("archiveprefix") or fields.get("eprinttype") or "arxiv"
    eprint = fields.get("eprint", "") if archive.strip().lower() == "arxiv" else ""
    found = (
        parse_arxiv_id(eprint)
        or parse_arxiv_id(fields.get("arxivid", ""))
        or find_arxiv_id(*(fields.get(name, "") for name in _BIBTEX_ARXIV_FIELDS))
    )
    return found.id if found else ""


def _year_month(fields: Mapping[str, str]) -> str:
    month = fields.get("month", "").strip().lower()
    number = str(_MONTHS.index(month[:3]) + 1) if month[:3] in _MONTHS else month
    return f"{fields.get('year', '')}-{number}"


def _unreadable(block: ParsingFailedBlock) -> str:
    key = _BIBTEX_KEY.match(block.raw[:300] if block.raw else "")
    what = f"entry {_shorten(key[1])}" if key else "an entry"
    where = f"Line {block.start_line + 1}: " if block.start_line is not None else ""
    return f"{where}{what} is not valid BibTeX and was skipped."


def _clean_latex(title: str) -> str:
    try:
        text = _LATEX.latex_to_text(title)
    except Exception:  # pylatexenc recurses once per brace: some 300 nested ones overflow
        text = ""
    # A title that decodes to nothing ("\relax", a stray "%") is still the reader's title.
    return _clean_text(text) or _clean_text(_unbraced(title))


# --- CSL JSON ---------------------------------------------------------------------------------


def _read_csl(text: str) -> SeedList:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # the decoder recurses once per bracket
        raise SeedError("This file looks like CSL JSON, but it is not valid JSON.") from exc
    items = data if isinstance(data, list) else [data]
    if len(items) > MAX_LIBRARY_ENTRIES:
        raise _too_many()
    if items and not any(isinstance(item, dict) and _CSL_KEYS & item.keys() for item in items):
        raise SeedError(NOT_A_LIBRARY)
    entries, problems = [], []
    for number, item in enumerate(items, start=1):
        if isinstance(item, dict):
            entries.append(_csl_entry(item, number))
        else:
            problems.append(f"Entry {number} is not a CSL JSON item.")
    return _collect(entries, problems, _clean_csl_title)


def _csl_entry(item: Mapping[str, object], number: int) -> _Entry:
    label = _plain(item.get("id"))
    doi_arxiv_id, doi = _split_arxiv_doi(find_doi(_plain(item.get("DOI")), _plain(item.get("URL"))))
    ref = SeedRef(
        arxiv_id=_csl_arxiv_id(item) or doi_arxiv_id,
        doi=doi,
        title=_plain(item.get("title"))[:_TITLE_CHARS],
        label=label,
    )
    added = _sortable_date(_plain(item.get("dateAdded")))
    return _Entry(ref, name=label or str(number), added=added, published=_csl_date(item))


def _csl_arxiv_id(item: Mapping[str, object]) -> str:
    """Zotero writes a preprint's id as number "arXiv:2401.01234"; a bare number counts when
    the item says it comes from arXiv."""
    found = find_arxiv_id(*(_plain(item.get(key)) for key in _CSL_ARXIV_FIELDS))
    source = " ".join(_plain(item.get(key)) for key in _CSL_SOURCE_FIELDS)
    if not found and "arxiv" in source.lower():
        found = parse_arxiv_id(_plain(item.get("number")))
    return found.id if found else ""


def _csl_date(item: Mapping[str, object]) -> str:
    issued = item.get("issued")
    if not isinstance(issued, dict):
        return ""
    parts = issued.get("date-parts")
    if isinstance(parts, list) and parts and isinstance(parts[0], list):
        return _sortable_date("-".join(_plain(part) for part in parts[0][:3]))
    return _sortable_date(_plain(issued.get("raw")), _plain(issued.get("literal")))


def _plain(value: object) -> str:
    """A JSON value as text when it is a string or a number; anything else is no text."""
    if isinstance(value, bool):
        return ""
    return str(value) if isinstance(value, str | int | float) else ""


def _clean_csl_title(title: str) -> str:
    return _clean_text(_CSL_MARKUP.sub("", title)) or _clean_text(title)


# --- RIS --------------------------------------------------------------------------------------


def _read_ris(text: str) -> SeedList:
    entries = []
    for number, record in enumerate(_ris_records(text), start=1):
        if number > MAX_LIBRARY_ENTRIES:
            raise _too_many()
        entries.append(_ris_entry(record, number))
    return _collect(entries, [], _clean_text)


def _ris_records(text: str) -> Iterator[dict[str, list[str]]]:
    """Each record's tags and values; a tag may repeat (UR links, N1 notes)."""
    record: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = _RIS_LINE.match(line)
        if match is None:  # the next line of a wrapped abstract
            continue
        if match[1] != "ER":
            record.setdefault(match[1], []).append((match[2] or "").strip())
        elif record:
            yield record
            record = {}
    if record:
        yield record


def _ris_entry(record: Mapping[str, list[str]], number: int) -> _Entry:
    def tag(*names: str) -> str:
        return " ".join(value for name in names for value in record.get(name, ()))

    doi_arxiv_id, doi = _split_arxiv_doi(find_doi(tag("DO"), tag("UR")))
    arxiv = find_arxiv_id(tag(*_RIS_ARXIV_TAGS))
    ref = SeedRef(
        arxiv_id=arxiv.id if arxiv else doi_arxiv_id,
        doi=doi,
        title=(tag("TI") or tag("T1"))[:_TITLE_CHARS],
        label=tag("ID"),
    )
    return _Entry(ref, name=tag("ID") or str(number), published=_sortable_date(tag("DA", "PY")))
