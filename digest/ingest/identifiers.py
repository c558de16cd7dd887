"""Paper identity: arXiv ids, DOIs and normalized URLs, folded into one canonical key.

The same paper reaches us as https://arxiv.org/abs/2403.01234, http://arxiv.org/pdf/2403.01234v2,
oai:arXiv.org:2403.01234v2 or a Hugging Face "2403.01234"; all of them are key "arxiv:2403.01234".
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

_NEW_ID = r"\d{4}\.\d{4,5}"
# Old-style: archive (cond-mat, hep-th, math, …), maybe a subject class, then 7 digits.
_OLD_ID = r"[a-z][a-z\-]{0,15}(?:\.[A-Z]{2})?/\d{7}"
# An id ends where its digits do: "2401.012345" is not 2401.01234 with a stray digit.
_ID = rf"(?P<id>{_NEW_ID}|{_OLD_ID})(?:v(?P<version>\d{{1,3}}))?(?![\d])"

BARE_ARXIV_ID = re.compile(rf"^\s*(?:arxiv:)?{_ID}\s*$", re.IGNORECASE)
# Places an arXiv id appears in links and guids; only these count, so that a blog URL that
# happens to contain "2403.01234" is not mistaken for a paper.
ARXIV_IN_TEXT = re.compile(
    # arxiv.org itself or a subdomain (export.arxiv.org), not a lookalike such as notarxiv.org
    rf"(?:(?:(?<![\w-])|(?<=\.))arxiv\.org/(?:abs|pdf|html|format)/|oai:arxiv\.org:"
    rf"|\barxiv:\s*|huggingface\.co/papers/|10\.48550/arxiv\.){_ID}",
    re.IGNORECASE,
)
# A "?" or "#" after a DOI in a link starts the query or fragment, not the DOI.
DOI_IN_TEXT = re.compile(r"\b(10\.\d{4,9}/[^\s\"'<>?#]+)", re.IGNORECASE)
TRACKING_PARAMS = re.compile(r"^(utm_\w+|ref|fbclid|gclid|mc_cid|mc_eid)$", re.IGNORECASE)
MAX_KEY_LENGTH = 300


@dataclass(frozen=True)
class ArxivRef:
    id: str
    version: int = 0

    @property
    def abs_url(self) -> str:
        return f"https://arxiv.org/abs/{self.id}"

    @property
    def pdf_url(self) -> str:
        return f"https://arxiv.org/pdf/{self.id}"


def _ref(match: re.Match[str]) -> ArxivRef:
    return ArxivRef(id=match["id"], version=int(match["version"] or 0))


def parse_arxiv_id(text: str) -> ArxivRef | None:
    """Read a bare id such as "2403.01234v2" or "hep-th/9901001"."""
    match = BARE_ARXIV_ID.match(text or "")
    return _ref(match) if match else None


def find_arxiv_id(*texts: str) -> ArxivRef | None:
    """Find an arXiv id in links, guids or DOIs; the first text that has one wins."""
    for text in texts:
        match = ARXIV_IN_TEXT.search(text or "")
        if match:
            return _ref(match)
    return None


def find_doi(*texts: str) -> str:
    for text in texts:
        match = DOI_IN_TEXT.search(text or "")
        if match:
            return match[1].rstrip(".,;)").lower()
    return ""


def normalize_url(url: str) -> str:
    """Scheme-less, lower-case host, no www, no tracking parameters, no fragment or trailing /."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    query = urlencode(
        sorted((k, v) for k, v in parse_qsl(parts.query) if not TRACKING_PARAMS.match(k))
    )
    path = parts.path.rstrip("/")
    return f"{host}{path}" + (f"?{query}" if query else "")


def _bounded(prefix: str, value: str) -> str:
    key = f"{prefix}:{value}"
    if len(key) <= MAX_KEY_LENGTH:
        return key
    digest = hashlib.sha1(value.encode()).hexdigest()
    return f"{key[: MAX_KEY_LENGTH - 41]}#{digest}"


def canonical_key(
    *, arxiv: ArxivRef | None = None, doi: str = "", url: str = "", guid: str = "", title: str = ""
) -> str:
    """The strongest identity available: arXiv id, then DOI, then link, then guid, then title."""
    if arxiv:
        return f"arxiv:{arxiv.id}"
    if doi:
        return _bounded("doi", doi.lower())
    if url and urlsplit(url).hostname:
        return _bounded("url", normalize_url(url))
    if guid.strip():
        return _bounded("guid", guid.strip())
    folded = " ".join(title.lower().split())
    return "title:" + hashlib.sha1(folded.encode()).hexdigest()
