"""The keyword language subscribers type, parsed into Query -> Topic -> clauses of Terms.

One topic per line (or comma-separated); a paper matches when any topic matches. Inside a
topic, bare words must all appear; "quoted phrases" must appear as consecutive words; OR joins
alternatives; -word excludes; word* is a prefix; title:, abstract:, author:, category: scope a
term. Parsing never raises anything but QueryError, whose message is shown to the user as-is.

A line made only of exclusions ("-survey -quantum") is a filter, allowed where the reader also
has seed papers or an interest (parse_query(..., filters=True)): it matches nothing itself and
keeps those words out of every paper of the digest. Exclusions, scopes and categories are the
guardrails that matching by meaning never overrides (see semantic.py).

Parsing keeps nothing: a caller that parses many keywords (a sending run, a benchmark) passes
a memo for topics, and the index it matches against remembers whole queries (PaperIndex.query).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from digest.matching.text import clip, fold, stem_all, words
from lib.lru import LRU

MAX_LENGTH = 2_000
MAX_TOPICS = 25
MAX_TERMS = 12
MAX_PHRASE_WORDS = 8
MIN_PREFIX = 2

Kind = Literal["word", "phrase", "prefix", "category"]
Field = Literal["any", "title", "abstract", "author", "category"]
FIELDS: dict[str, Field] = {
    "title": "title",
    "ti": "title",
    "abstract": "abstract",
    "abs": "abstract",
    "author": "author",
    "authors": "author",
    "au": "author",
    "category": "category",
    "cat": "category",
}

# A quoted phrase (possibly negated and scoped), an unclosed one, or a run of other characters.
_LEXEME = re.compile(
    r'(?P<phrase>-?(?:[A-Za-z]+:)?"[^"]*")|(?P<open>-?(?:[A-Za-z]+:)?"[^"]*$)|(?P<word>[^\s"]+)'
)
_SCOPE = re.compile(r"^([A-Za-z]+):(?!//)(.*)$", re.DOTALL)
# A topic within a line: characters other than commas, quoted runs included whole (an unclosed
# quote runs to the end of the line).
_PIECE = re.compile(r'(?:[^,"]|"[^"]*"?)+')


class QueryError(ValueError):
    """A query we cannot use; `message` says why, in words for the person who typed it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Term:
    kind: Kind
    field: Field
    tokens: tuple[str, ...]  # stems (word, phrase), a folded prefix, or a category value
    text: str  # how to show it: "mixture of experts", "grok*", "cs.lg"

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.field}:{' '.join(self.tokens)}"


Clause = tuple[Term, ...]  # alternatives joined by OR


@dataclass(frozen=True)
class Topic:
    text: str  # as typed, whitespace tidied: shown as "matched: <topic>"
    required: tuple[Clause, ...]
    excluded: tuple[Term, ...]
    key: str  # identical for topics that match identically; caches key on it


@dataclass(frozen=True)
class Query:
    topics: tuple[Topic, ...]
    excluded: tuple[Term, ...] = ()  # from filter lines: kept out of every paper

    @property
    def text(self) -> str:
        return ", ".join(topic.text for topic in self.topics)

    @property
    def key(self) -> str:
        return "&".join(t.key for t in self.topics) + "!" + ";".join(t.key for t in self.excluded)


def parse_query(text: str, memo: LRU[str, Topic] | None = None, *, filters: bool = False) -> Query:
    """Parse what a subscriber typed; raise QueryError with a helpful message if unusable.
    `memo`, if given, remembers parsed topics between calls: subscribers share topics far
    more often than whole queries. With `filters`, lines of exclusions only are filters and
    no topic is needed (the reader has seed papers or an interest)."""
    if len(text) > MAX_LENGTH:
        raise QueryError(
            f"Keep your keywords under {MAX_LENGTH:,} characters (yours have {len(text):,})."
        )
    pieces = split_topics(text)
    if not pieces and not filters:
        raise QueryError("Enter at least one topic, for example: federated learning")
    if len(pieces) > MAX_TOPICS:
        raise QueryError(f"Up to {MAX_TOPICS} topics, please (you have {len(pieces)}).")
    parsed = [parse_topic(p) if memo is None else _remembered(p, memo) for p in pieces]
    if not filters:
        for topic in parsed:
            _require_something(topic)
    topics = {topic.key: topic for topic in parsed if topic.required}
    excluded = {t.key: t for topic in parsed if not topic.required for t in topic.excluded}
    return Query(topics=tuple(topics.values()), excluded=tuple(excluded.values()))


def _remembered(piece: str, memo: LRU[str, Topic]) -> Topic:
    return memo.get_or_make(piece, lambda: parse_topic(piece))


def topic_texts(text: str) -> list[str]:
    """The topics of stored keywords as they read, for emails; keywords stored before a limit
    changed may no longer parse, and then read as typed."""
    try:
        return [topic.text for topic in parse_query(text).topics]
    except QueryError:
        return [text]


def plain_words(topic_text: str) -> str:
    """A topic as a subject line names it, in the reader's own words without the syntax:
    "title:global -federated" reads "global", "fair*" reads "fair…", "a OR b" reads "a or b";
    a category shows only when the topic has nothing else. As typed if it does not parse."""
    try:
        lexemes = [lexeme for lexeme in _lexemes(topic_text) if not lexeme.startswith("-")]
    except QueryError:
        return topic_text
    words, categories = [], []
    for lexeme in lexemes:
        scoped = _SCOPE.match(lexeme)
        field = FIELDS.get(scoped[1].lower()) if scoped else None
        body = scoped[2] if field else lexeme
        body = "or" if body == "OR" else body.strip('"')
        body = body.removesuffix("*") + "…" if body.endswith("*") else body
        (categories if field == "category" else words).append(body)
    words = words if any(w != "or" for w in words) else categories
    return " ".join(words).removeprefix("or ").removesuffix(" or") or topic_text


def split_topics(text: str) -> list[str]:
    """Split on new lines and on commas outside quotes; drop empty pieces."""
    pieces = text.splitlines()
    if "," in text:
        pieces = [piece for line in pieces for piece in _PIECE.findall(line)]
    return [" ".join(piece.split()) for piece in pieces if piece and not piece.isspace()]


def parse_topic(text: str) -> Topic:
    """Parse one topic (a line or comma-separated piece)."""
    clauses: list[list[Term]] = []
    excluded: list[Term] = []
    joining = last_negated = False
    for lexeme in _lexemes(text):
        if lexeme == "OR":
            if not clauses or joining or last_negated:
                raise QueryError(_or_message(text))
            joining = True
            continue
        term, last_negated = _parse_item(lexeme, text)
        if last_negated:
            if joining:
                raise QueryError(_or_message(text))
            excluded.append(term)
        elif joining:
            clauses[-1].append(term)
            joining = False
        else:
            clauses.append([term])
    if joining:
        raise QueryError(_or_message(text))
    return _topic(text, clauses, excluded)


def _require_something(topic: Topic) -> None:
    if not topic.required:
        raise QueryError(
            f"“{clip(topic.text, 40)}” only excludes words; add something to look for, "
            f"for example: fairness -federated"
        )


def _topic(text: str, clauses: list[list[Term]], excluded: list[Term]) -> Topic:
    if not clauses and not excluded:
        raise QueryError(f"“{clip(text, 40)}” has nothing to search for.")
    if sum(map(len, clauses)) + len(excluded) > MAX_TERMS:
        raise QueryError(f"“{clip(text, 40)}” has too many terms; keep each topic to {MAX_TERMS}.")
    required = tuple(tuple(clause) for clause in clauses)
    excluded_terms = tuple(excluded)
    key = ";".join("|".join(t.key for t in clause) for clause in required)
    key += "!" + ";".join(sorted(t.key for t in excluded_terms))
    return Topic(text=text, required=required, excluded=excluded_terms, key=key)


def _lexemes(text: str) -> list[str]:
    lexemes = []
    for match in _LEXEME.finditer(text):
        if match["open"] is not None:
            raise QueryError(
                f"“{clip(text, 40)}” has an unmatched quote; close the phrase, "
                f'for example: "mixture of experts"'
            )
        lexemes.append(match.group())
    return lexemes


def _parse_item(lexeme: str, topic: str) -> tuple[Term, bool]:
    negated = lexeme.startswith("-")
    body = lexeme[1:] if negated else lexeme
    if not body:
        raise QueryError(
            f"A lone “-” in “{clip(topic, 40)}”: put it right before the word to exclude, "
            f"for example: -federated"
        )
    field: Field = "any"
    scoped = _SCOPE.match(body)
    if scoped and (scoped[1].lower() in FIELDS or scoped[2]):
        name, body = scoped[1].lower(), scoped[2]
        if name not in FIELDS:
            raise QueryError(
                f"“{name}:” is not a field we know; use title:, abstract:, author: or category:"
            )
        field = FIELDS[name]
        if not body:
            raise QueryError(f"“{name}:” needs a word or phrase after it, like {name}:pruning")
    return _term(body, field, topic), negated


def _term(body: str, field: Field, topic: str) -> Term:
    quoted = body.startswith('"')
    core = body.strip('"') if quoted else body
    prefix = not quoted and core.endswith("*")
    core = core.rstrip("*") if prefix else core
    if field == "category":
        value = fold(core.strip())
        if not value:
            raise QueryError("category: needs a category after it, like category:cs.LG")
        kind: Kind = "prefix" if prefix else "category"
        return Term(kind, field, (value,), value + ("*" if prefix else ""))
    found = words(core)
    if not found:
        if quoted and not core.strip():
            raise QueryError(f"Empty quotes in “{clip(topic, 40)}”: put words between them.")
        raise QueryError(f"“{clip(core or body, 40)}” has no letters or digits to search for.")
    if prefix:
        return _prefix_term(found, field, core)
    if len(found) > MAX_PHRASE_WORDS:
        raise QueryError(f"Phrases can have up to {MAX_PHRASE_WORDS} words: “{clip(core, 40)}”.")
    kind = "phrase" if len(found) > 1 else "word"
    stems = stem_all(found)
    return Term(kind, field, tuple(stems[w] for w in found), " ".join(found))


def _prefix_term(found: list[str], field: Field, core: str) -> Term:
    if len(found) != 1:
        raise QueryError(f"A * prefix works on one word, like grok*; “{core}*” has more.")
    if len(found[0]) < MIN_PREFIX:
        raise QueryError(f"“{core}*” is too short; give a prefix {MIN_PREFIX} letters or longer.")
    return Term("prefix", field, (found[0],), found[0] + "*")


def _or_message(topic: str) -> str:
    return (
        f"In “{clip(topic, 40)}”, OR needs a term on each side and cannot join an exclusion, "
        f'for example: coreset OR "data selection"'
    )
