"""Run one action in several threads at once, to show that the database keeps a race safe."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def run_at_once(action: Callable[[], object], threads: int = 2) -> list[BaseException]:
    """Start `action` in `threads` threads released together by a barrier; what they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def run() -> None:
        try:
            barrier.wait()
            action()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection; a test's teardown waits on it

    started = [threading.Thread(target=run) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    return errors
