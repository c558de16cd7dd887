"""Whole numbers from text that outsiders wrote (forms, webhooks, headers, CSV files)."""

from __future__ import annotations


def ascii_int(text: str, max_digits: int = 18) -> int | None:
    """The number `text` spells in ASCII digits, or None: str.isdigit() also accepts "²" and
    other digits int() refuses, and ids past 18 digits fit no database column."""
    if text.isascii() and text.isdigit() and len(text) <= max_digits:
        return int(text)
    return None
