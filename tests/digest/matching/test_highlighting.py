"""Highlighting marks the words a plain scan of the text finds, with or without a run's index."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from digest.matching import highlighting
from digest.matching.index import Match
from digest.matching.text import stem, word_spans

WORDS = ["learn", "learning", "Learned", "learner", "LLMs", "prune", "pruning", "graph", "grá"]
TEXTS = st.lists(
    st.sampled_from([*WORDS, "a", "C++", "re-learning", "(graphs)", "  ", "—", "9lives"]),
    max_size=40,
).map(" ".join)


def match_of(stems: frozenset[str], prefixes: tuple[str, ...]) -> Match:
    return Match(1, 1.0, ("t",), ("t",), ("title",), stems, prefixes)


def scan(text: str, match: Match) -> list[tuple[int, int]]:
    return [
        (start, end)
        for start, end, word in word_spans(text)
        if stem(word) in match.stems or word.startswith(match.prefixes)
    ]


@given(
    text=TEXTS,
    stems=st.frozensets(st.sampled_from([stem(w.casefold()) for w in WORDS] + ["absent"])),
    prefixes=st.lists(st.sampled_from(["learn", "lea", "gr", "pru", "zz", "c"]), max_size=3),
)
@example(text="Learned learning re-learning", stems=frozenset(), prefixes=["learn", "lea"])
def test_indexed_hits_are_the_words_a_scan_finds(text, stems, prefixes):
    match = match_of(stems, tuple(prefixes))
    indexed = highlighting.IndexedText.of(text)
    assert indexed.hits(match) == scan(text, match)
    assert highlighting.highlight(text, match, indexed) == highlighting.highlight(text, match)
    assert highlighting.excerpt(text, match, 40, indexed) == highlighting.excerpt(text, match, 40)
