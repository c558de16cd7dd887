"""One bounded cache for the whole project: a dict that keeps its most recently used entries.

Every memo that a request can fill (the preview index's terms and topics, say) must be one of
these, so that a stream of distinct queries costs a fixed amount of memory, not more and more.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most `size` entries; adding one more drops the least recently used."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("an LRU holds at least one entry")
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()  # put's insert-then-drop is two steps

    def get(self, key: K) -> V | None:
        """The entry for `key` (now the most recently used), or None."""
        # Hits are the hot path (a matching index looks up every term of every subscriber):
        # each OrderedDict call is atomic under the GIL, so only put() takes the lock. A bare
        # try costs nothing when nothing is raised; contextlib.suppress would cost more than
        # the lookup itself.
        value = self._entries.get(key)
        if value is not None:
            try:  # noqa: SIM105
                self._entries.move_to_end(key)
            except KeyError:  # dropped by another thread meanwhile
                pass
        return value

    def put(self, key: K, value: V) -> V:
        """Store `value` under `key`, dropping the least recently used entry if full."""
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The entry for `key`, made (outside the lock) and stored if missing."""
        value = self.get(key)
        return self.put(key, make()) if value is None else value

    def __len__(self) -> int:
        return len(self._entries)
