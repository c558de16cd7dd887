"""Subscribers in and out as CSV, for operators moving a list between services.

Import never activates anyone: each new address becomes a pending subscriber and gets the
usual confirmation email, so consent is always the subscriber's own click. Every row gets a
line in the report (created, already known, or the reason it was rejected); nothing is
dropped silently.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from django.core.exceptions import ValidationError
from django.db import models

from digest.matching.query import MAX_LENGTH, QueryError, parse_query
from digest.models import Frequency
from lib.numbers import ascii_int
from subscribers import subscriptions
from subscribers.addresses import clean_address, normalize_email
from subscribers.models import Subscriber

EXPORT_COLUMNS = (
    "email",
    "keywords",
    "frequency",
    "papers_per_email",
    "status",
    "paused",
    "created_at",
    "confirmed_at",
)
# Under Django's 2.5 MB form-field limit: the checked file rides in the confirmation form.
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 20_000
# A cell starting with one of these is a formula to spreadsheet programs (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class CsvError(Exception):
    """The file as a whole cannot be read (encoding, header, size)."""


class Outcome(models.TextChoices):
    """What importing a row does: checked rows are new, known or in error; imported ones
    are created or (signed up meanwhile) known."""

    NEW = "new", "Will be created"
    KNOWN = "known", "Already known"
    ERROR = "error", "Rejected"
    CREATED = "created", "Created"


@dataclass(frozen=True)
class Row:
    line: int
    email: str
    query: str = ""
    frequency: str = Frequency.DAILY
    per_email: int = 10
    outcome: Outcome = Outcome.NEW
    message: str = ""

    def becomes(self, outcome: Outcome, message: str) -> Row:
        return replace(self, outcome=outcome, message=message)


def _rejected(line: int, email: str, message: str) -> Row:
    return Row(line, email, outcome=Outcome.ERROR, message=message)


def export_rows(subscribers: Iterable[Subscriber]) -> Iterator[list[str]]:
    yield list(EXPORT_COLUMNS)
    for s in subscribers:
        yield [
            _safe_cell(value)
            for value in (
                s.email,
                s.query,
                s.frequency,
                str(s.per_email),
                s.status,
                "yes" if s.paused else "no",
                s.created_at.isoformat(),
                s.confirmed_at.isoformat() if s.confirmed_at else "",
            )
        ]


def _safe_cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def _unsafe_cell(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_START) else value


def check_import(data: bytes | str) -> list[Row]:
    """Read and validate every row; nothing is written. Raises CsvError for a bad file."""
    text = _decode(data)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fields = {(name or "").strip().lower() for name in reader.fieldnames or []}
    if "email" not in fields:
        raise CsvError('The first line must name the columns, including "email".')
    if not fields & {"keywords", "query"}:
        raise CsvError('The file needs a "keywords" column: subscribers need topics.')
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(reader, start=2):
        if number - 1 > MAX_IMPORT_ROWS:
            raise CsvError(f"At most {MAX_IMPORT_ROWS:,} rows per file; split it.")
        cells = {
            (k or "").strip().lower(): _unsafe_cell((v or "").strip())
            for k, v in raw.items()
            if isinstance(v, str)
        }
        row = _check_row(number, cells)
        if row.outcome != Outcome.ERROR:
            key = normalize_email(row.email)
            if key in seen:
                row = row.becomes(Outcome.ERROR, f"Same address as line {seen[key]}.")
            else:
                seen[key] = number
        rows.append(row)
    known = set(
        Subscriber.objects.filter(email_key__in=list(seen)).values_list("email_key", flat=True)
    )
    return [
        r.becomes(Outcome.KNOWN, "Already on the list; left as it is and not emailed.")
        if r.outcome == Outcome.NEW and normalize_email(r.email) in known
        else r
        for r in rows
    ]


def _check_row(line: int, cells: dict[str, str]) -> Row:
    email = cells.get("email", "")
    try:
        email = clean_address(email)
    except ValidationError as exc:
        return _rejected(line, email, exc.messages[0])
    query = cells.get("keywords") or cells.get("query") or ""
    if len(query) > MAX_LENGTH:
        return _rejected(line, email, "Keywords are too long.")
    try:
        if query.strip():  # none: the most upvoted papers
            parse_query(query)
    except QueryError as exc:
        return _rejected(line, email, f"Keywords: {exc.message}")
    frequency = (cells.get("frequency") or Frequency.DAILY).lower()
    if frequency not in Frequency.values:
        allowed = " or ".join(Frequency.values)
        return _rejected(line, email, f"Frequency must be {allowed}, not {frequency!r}.")
    raw_count = cells.get("papers_per_email") or "10"
    count = ascii_int(raw_count)
    if count is None or not 1 <= count <= 50:
        return _rejected(line, email, "papers_per_email must be a whole number from 1 to 50.")
    return Row(line, email, query, frequency, count)


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    if len(data) > MAX_IMPORT_BYTES:
        raise CsvError(f"The file is larger than {MAX_IMPORT_BYTES // 1_048_576} MB.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvError("The file is not UTF-8 text; save it as CSV UTF-8.") from None


def run_import(rows: list[Row], operator: str) -> list[Row]:
    """Create the new rows as pending subscribers and send their confirmation emails."""
    done = []
    for row in rows:
        if row.outcome != Outcome.NEW:
            done.append(row)
            continue
        created = subscriptions.import_pending(
            row.email,
            query=row.query,
            frequency=row.frequency,
            per_email=row.per_email,
            reason=f"imported from CSV by {operator}",
        )
        done.append(
            row.becomes(Outcome.CREATED, "Pending; confirmation email sent.")
            if created
            else row.becomes(Outcome.KNOWN, "Signed up meanwhile; left as it is.")
        )
    return done
