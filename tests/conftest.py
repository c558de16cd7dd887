from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

import pytest
from django.conf import settings

# Our own queue, so a developer's worker on the same Redis never eats test tasks (and vice
# versa). Celery reads its settings lazily, so this lands before the first task is sent.
TEST_QUEUE = f"paperdigest-test-{os.getpid()}"
settings.CELERY_TASK_DEFAULT_QUEUE = TEST_QUEUE

from config import celery_app  # noqa: E402
from tests.support.workers import WorkerPool  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
DATA = Path(__file__).parent / "data"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _missing_postgres() -> str:
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        return "needs PostgreSQL: set DATABASE_URL=postgres://…"
    return ""


def _missing_redis() -> str:
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        return "needs a Redis broker: set CELERY_BROKER_URL=redis://…"
    host, _, port = url.removeprefix("redis://").split("/")[0].rpartition("@")[2].partition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=2).close()
    except OSError:
        return f"needs Redis at {url}, which is not reachable"
    return _missing_postgres()  # a worker in another process needs a database it can share


def _missing_browser() -> str:
    return "" if CHROMIUM else "needs Chromium (apt-get install chromium)"


REQUIREMENTS = {"postgres": _missing_postgres, "redis": _missing_redis, "browser": _missing_browser}


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, check in REQUIREMENTS.items():
        if item.get_closest_marker(marker) and (reason := check()):
            if IN_CI:
                pytest.fail(f"CI must run this test, but it {reason}", pytrace=False)
            pytest.skip(reason)


@pytest.fixture(autouse=True)
def _tasks_run_in_process():
    """Tasks run eagerly unless a test starts real workers (the `workers` fixture)."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def feed_server():
    from tests.support.feedserver import FeedServer

    server = FeedServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def workers(transactional_db, request):
    """Real Celery workers (subprocesses) on the real Redis broker and the test database."""
    pool = WorkerPool(queue=TEST_QUEUE, python=sys.executable)
    celery_app.conf.task_always_eager = False
    pool.purge(celery_app)
    yield pool
    pool.stop_all()
