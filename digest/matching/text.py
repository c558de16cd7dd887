"""The one tokeniser for queries and papers: fold case and accents, split, stem.

Both sides go through the same functions, so "Mixture-of-Experts" in a title and
`mixture of experts` in a query become the same words, and "pruned" meets "pruning".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

import Stemmer

# Letters and digits; "C++" and "C#" keep their tails. Everything else separates words,
# so hyphens equal spaces and "Model(LLM)" holds "llm".
_WORD = re.compile(r"[^\W_]+(?:\+\+|#(?![^\W_]))?")
_VOWELS = frozenset("aeiouy")


def fold(text: str) -> str:
    """Lower-case and strip accents ("Réseaux" -> "reseaux")."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _normal(word: str) -> str:
    # Acronym plurals: Snowball leaves "LLMs" and "GPUs" alone, but readers mean LLM and GPU.
    if len(word) > 2 and word[-1] == "s" and word[:-1].isupper():
        word = word[:-1]
    return fold(word)


def words(text: str) -> list[str]:
    """Folded words in order: "Mixture-of-Experts (MoE)" -> ["mixture", "of", "experts", "moe"]."""
    return [_normal(word) for word in _WORD.findall(text)]


def word_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, folded word) for each word, with offsets into the original text."""
    for match in _WORD.finditer(text):
        yield match.start(), match.end(), _normal(match.group())


def _stemmer() -> Stemmer.Stemmer:
    # A new one per call: PyStemmer objects must not be shared between threads, and making one
    # costs about as much as stemming one word. Its own word cache is off: callers stem
    # distinct words (a vocabulary, a query's terms), which the cache only slows down.
    return Stemmer.Stemmer("english", 0)


def _vowelless_plural(word: str) -> bool:
    # "llms", "cnns", "mlps": lower-case acronym plurals (no vowel before the s).
    return len(word) > 2 and word[-1] == "s" and not _VOWELS.intersection(word[:-1])


def stem(word: str) -> str:
    """English stem of one folded word; words with digits or symbols are kept as they are."""
    if not word.isalpha():
        return word
    if _vowelless_plural(word):
        return word[:-1]
    return _stemmer().stemWord(word)


def stem_all(vocabulary: Iterable[str]) -> dict[str, str]:
    """Stem many distinct words in one call (index building); same results as stem()."""
    unique = set(vocabulary)
    alpha = [w for w in unique if w.isalpha() and not _vowelless_plural(w)]
    stems = dict(zip(alpha, _stemmer().stemWords(alpha), strict=True))
    return {w: stems.get(w) or stem(w) for w in unique}


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
