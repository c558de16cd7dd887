"""The simple way to match: test every topic of a query against every paper, no index.

It is the tests' oracle and the match benchmark's baseline: the indexed engine must return
exactly what this returns. It shares only the tokeniser, the parser and the scoring constants.
"""

from __future__ import annotations

from dataclasses import dataclass

from digest.matching import index
from digest.matching.index import FIELD_WEIGHT, PHRASE_FACTOR, TOGETHER_BONUS, PaperText
from digest.matching.query import Query, Term, Topic
from digest.matching.text import stem, words


@dataclass
class Fields:
    stems: dict[str, tuple[str, ...]]
    raw: dict[str, tuple[str, ...]]
    categories: tuple[str, ...]


def prepare(paper: PaperText) -> Fields:
    raw = {
        "title": tuple(words(paper.title)),
        "abstract": tuple(words(paper.abstract)),
        "author": tuple(w for name in paper.authors for w in (*words(name), "\x00")),
    }
    stems = {field: tuple(stem(w) if w != "\x00" else w for w in ws) for field, ws in raw.items()}
    return Fields(stems, raw, tuple(c.casefold() for c in paper.categories))


def contains(sequence: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(sequence[i : i + n] == phrase for i in range(len(sequence) - n + 1))


def field_hit(term: Term, fields: Fields, field: str) -> bool:
    if term.kind == "prefix":
        return any(w.startswith(term.tokens[0]) for w in fields.raw[field])
    if term.kind == "word":
        return term.tokens[0] in fields.stems[field]
    return contains(fields.stems[field], term.tokens)


def term_weight(term: Term, fields: Fields) -> float:
    if term.field == "category":
        value = term.tokens[0]
        if term.kind == "prefix":
            return 1.0 if any(c.startswith(value) for c in fields.categories) else 0.0
        return 1.0 if value in fields.categories else 0.0
    names = ("title", "abstract") if term.field == "any" else (term.field,)
    factor = PHRASE_FACTOR if term.kind == "phrase" else 1.0
    return factor * sum(FIELD_WEIGHT[f] for f in names if field_hit(term, fields, f))


def topic_relevance(topic: Topic, fields: Fields) -> float | None:
    if any(term_weight(t, fields) for t in topic.excluded):
        return None
    total = 0.0
    for clause in topic.required:
        best = max(term_weight(t, fields) for t in clause)
        if not best:
            return None
        total += best
    together = index._together_words(topic)
    if together and any(contains(fields.stems[f], together) for f in ("title", "abstract")):
        total += TOGETHER_BONUS
    return total


def naive_select(
    query: Query, prepared: list[Fields], quality: list[float], limit: int
) -> list[tuple[float, int]]:
    scored = []
    for i, fields in enumerate(prepared):
        relevances = [topic_relevance(topic, fields) for topic in query.topics]
        matched = [r for r in relevances if r is not None]
        if matched:
            scored.append((quality[i] + sum(matched), i))
    return sorted(scored, key=lambda e: (-e[0], e[1]))[:limit]
