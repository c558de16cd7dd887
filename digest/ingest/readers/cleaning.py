"""Clean-up every reader applies to a feed's fields: plain text within limits, sane dates."""

from __future__ import annotations

import calendar
import html
import math
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import nh3

MAX_TITLE = 1_000
MAX_ABSTRACT = 20_000
MAX_AUTHORS = 200
MAX_NAME = 200
MAX_CATEGORIES = 20
EARLIEST_DATE = datetime(1991, 1, 1, tzinfo=UTC)  # arXiv's first paper; older dates are junk

# Bidi overrides/isolates and C0/C1 controls: invisible, and used to disguise text.
INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u202a-\u202e\u2066-\u2069\ufeff]")
_AUTHOR_SPLIT = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+")


def clean_text(value: Any, limit: int) -> str:
    """Plain text from a feed field that may hold HTML, entities or control characters."""
    if not isinstance(value, str):
        value = "" if value is None else str(value)
    if "<" in value or "&" in value:
        value = html.unescape(nh3.clean(value, tags=set()))
    value = " ".join(INVISIBLE.sub("", value).split())
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def clean_names(names: Iterable[Any]) -> tuple[str, ...]:
    cleaned = (clean_text(name, MAX_NAME) for name in names)
    return tuple(name for name in cleaned if name)[:MAX_AUTHORS]


def split_author_line(line: str) -> tuple[str, ...]:
    """arXiv RSS puts every author in one dc:creator: "A. Smith, B. Jones and C. Wu"."""
    names = _AUTHOR_SPLIT.split(clean_text(line, MAX_AUTHORS * MAX_NAME))
    return tuple(name[:MAX_NAME] for name in names if name)[:MAX_AUTHORS]


def clean_categories(terms: Iterable[Any]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for term in terms:
        text = clean_text(term, 60)
        if text:
            seen.setdefault(text, None)
    return tuple(seen)[:MAX_CATEGORIES]


def http_url(url: str) -> str:
    # Only http(s) links reach a template: a feed's "javascript:" link must not become a button.
    url = (url or "").strip()
    return url[:1000] if url.lower().startswith(("http://", "https://")) else ""


def sane_date(value: datetime | None) -> datetime | None:
    """Drop dates before arXiv existed or more than two days in the future."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    latest = datetime.now(UTC) + timedelta(days=2)
    return value if EARLIEST_DATE <= value <= latest else None


def date_from_struct(parsed: time.struct_time | None) -> datetime | None:
    if not parsed:
        return None
    try:
        return sane_date(datetime.fromtimestamp(calendar.timegm(parsed), UTC))
    except (OverflowError, ValueError, OSError):
        return None


def date_from_iso(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return sane_date(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def as_count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):  # JSON's 1e999 is infinity
        return None
    return max(0, min(int(value), 10_000_000))
