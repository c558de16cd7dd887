"""Progress bars for long commands: on stderr, and only when it is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import TypeVar

from django.core.management.base import OutputWrapper
from tqdm import tqdm

T = TypeVar("T")


def progress(items: Sequence[T], *, unit: str, total: int | None = None) -> Iterator[T]:
    return iter(
        tqdm(
            items,
            unit=unit,
            total=total,
            file=sys.stderr,
            disable=None,
            leave=False,
            dynamic_ncols=True,
        )
    )


def say(stream: OutputWrapper, text: str) -> None:
    """Print a line above an active progress bar instead of through it."""
    with tqdm.external_write_mode(file=sys.stderr):
        stream.write(text)


def bar(*, desc: str, unit: str) -> tqdm:
    """A bar to update by hand (with bar: ... bar.update(n)), shown as progress() is."""
    return tqdm(
        desc=desc, unit=unit, file=sys.stderr, disable=None, leave=False, dynamic_ncols=True
    )
