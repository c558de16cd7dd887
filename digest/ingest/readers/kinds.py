"""A kind of source document, declared once, in the module that reads it.

`Source.Kind`'s choices, detection, the admin's address rules, `ingest --kind` and the
README's list of kinds all come from these declarations (tests/digest/ingest/test_kinds.py
checks that they agree).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from digest.ingest.readers.papers import ParseResult


def _nowhere(host: str, path: str) -> bool:
    return False


def _anywhere(host: str) -> bool:
    return True


@dataclass(frozen=True)
class Kind:
    value: str  # stored in Source.kind and typed after `ingest --kind`
    label: str  # Source.Kind's label in the admin (changing it needs a migration)
    article: str  # how messages name such a document: "an arXiv RSS listing"
    syntax: str  # "xml" or "json": only documents of one syntax can be mistaken for each other
    read: Callable[[bytes], ParseResult]
    # From the document's first 64 KB, lowercased: does it look like one of ours?
    recognises: Callable[[str], bool]
    # Recognises what more specific kinds also do (any RSS/Atom): asked after them.
    generic: bool = False
    # (host, path) of an address known to serve this kind, so the admin needs no fetch.
    serves: Callable[[str, str], bool] = _nowhere
    # Where a source of this kind can live at all, and what to say when it points elsewhere.
    lives_on: Callable[[str], bool] = _anywhere
    elsewhere: str = ""

    @property
    def name(self) -> str:
        """The member name in Source.Kind: "arxiv-rss" is Source.Kind.ARXIV_RSS."""
        return self.value.upper().replace("-", "_")
