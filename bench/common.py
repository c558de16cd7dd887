"""Shared set-up for benchmarks: Django on a throwaway test database, JSON output, memory."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def setup_django() -> None:
    import django

    django.setup()


@contextmanager
def throwaway_database(*, shared: bool = False) -> Iterator[str]:
    """Create test_<name>, migrate it, and drop it afterwards. With shared=True a SQLite test
    database is a file, so that other processes (gunicorn, Celery workers) can open it."""
    from django.db import connection

    old_name = connection.settings_dict["NAME"]
    if shared and connection.vendor == "sqlite":
        connection.settings_dict["TEST"]["NAME"] = str(ROOT / "var" / "bench.sqlite3")
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield connection.vendor
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def database_url() -> str:
    """DATABASE_URL for the database this process is using now (e.g. the throwaway one)."""
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = quote(db["USER"] or "") + (":" + quote(db["PASSWORD"]) if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**overrides: str) -> dict[str, str]:
    """The environment of a process a benchmark starts (Celery worker, gunicorn): this one's,
    on the same database, with DEBUG off as in production (DEBUG records every query and
    renders templates in debug mode) and quiet logs."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-not-for-production",
        "LOG_LEVEL": "ERROR",
        **overrides,
    }


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def emit(figures: dict) -> None:
    print(json.dumps(figures), flush=True)


def as_paper_data(paper: dict, published_at: object) -> object:
    """A synthetic paper (tests/support/feedgen.py) in the shape ingestion stores."""
    from digest.ingest.readers import PaperData

    arxiv_id = paper["arxiv_id"]
    return PaperData(
        key=f"arxiv:{arxiv_id}",
        title=paper["title"],
        abstract=paper["abstract"],
        authors=tuple(paper["authors"]),
        categories=tuple(paper["categories"]),
        arxiv_id=arxiv_id,
        version=1,
        upvotes=paper["upvotes"],
        abs_url=f"https://arxiv.org/abs/{arxiv_id}",
        pdf_url=f"https://arxiv.org/pdf/{arxiv_id}",
        published_at=published_at,
    )


def load_edition(papers: int, subscribers: int) -> None:
    """`papers` synthetic papers first seen an hour ago (the next daily edition's window) and
    `subscribers` active subscribers with realistic keywords (the match benchmark's topics)."""
    import random

    from django.utils import timezone

    from bench.match import make_queries, topic_pool
    from digest.ingest import sources
    from digest.models import Paper
    from subscribers.models import Subscriber
    from tests.support.feedgen import synthetic_papers
    from tests.support.papers import as_paper_text

    now = timezone.now()
    data = synthetic_papers(papers, seed=11)
    sources.store_papers([as_paper_data(p, now) for p in data])
    Paper.objects.update(first_seen_at=now - timezone.timedelta(hours=1))
    rng = random.Random(5)
    texts = [as_paper_text(i, p) for i, p in enumerate(data)]
    queries = make_queries(topic_pool(texts, rng), subscribers, rng)
    Subscriber.objects.bulk_create(
        [
            Subscriber(
                email=f"reader{i}@example.org",
                email_key=f"reader{i}@example.org",
                query=query,
                per_email=limit,
                status="active",
                confirmed_at=now,
            )
            for i, (query, limit) in enumerate(queries)
        ],
        batch_size=2000,
    )


def start_worker(name: str, queue: str, env: dict[str, str]) -> object:
    """A Celery worker (one process) in its own process group, so a SIGKILL to the group
    takes it down at once, as a crash or the OOM killer would."""
    import subprocess

    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "-c", "1"]
    command += ["-n", f"{name}@%h", "--without-gossip", "--without-mingle", "-l", "warning"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True
    )


def start_sink(port: int, delay: float = 0.0) -> object:
    """bench/smtpsink.py in its own process: an aiosmtpd server that only counts (waiting
    `delay` seconds before answering each message)."""
    import subprocess

    sink = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "smtpsink.py"), str(port), str(delay)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout.readline().strip() == "ready"
    return sink


def stop_sink(sink: object) -> dict[str, int]:
    """Stop the sink; returns how many messages (and bytes) it received."""
    sink.terminate()
    return json.loads(sink.stdout.readline())
