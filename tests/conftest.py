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


@pytest.fixture(autouse=True)
def _no_send_rate(settings):
    """Tests send as fast as they can; the ones about the shared send rate set their own."""
    settings.SEND_RATE_PER_SECOND = 0


@pytest.fixture(autouse=True)
def _fresh_cache_and_recent_index():
    """Rate-limit counters and the preview index must not leak from one test to the next."""
    from django.core.cache import cache

    from digest.matching import recent

    cache.clear()
    recent.forget()
    yield


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def feed_server(settings, monkeypatch):
    """A feed server on 127.0.0.1. Private networks are allowed while it runs (workers started
    by the test inherit that through the environment); the SSRF tests turn it off again."""
    from tests.support.feedserver import FeedServer

    settings.FETCH_ALLOW_PRIVATE_NETWORKS = True
    monkeypatch.setenv("FETCH_ALLOW_PRIVATE_NETWORKS", "true")
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


@pytest.fixture(scope="session")
def _gunicorn_var_dir(tmp_path_factory) -> Path:
    from tests.support.gunicorn import collect_static

    var_dir = tmp_path_factory.mktemp("gunicorn-var")
    collect_static(var_dir)
    return var_dir


@pytest.fixture
def gunicorn_server(transactional_db, _gunicorn_var_dir):
    """Real gunicorn (gunicorn.conf.py, DEBUG off) on a free loopback port, the test database.

    `server = gunicorn_server.start(env={"NAME": "value"})` overrides any variable; tasks run
    in the web process unless `env` names a CELERY_BROKER_URL. `server.url` has no slash.
    """
    from tests.support.gunicorn import GunicornLauncher

    launcher = GunicornLauncher(_gunicorn_var_dir)
    yield launcher
    launcher.stop_all()


@pytest.fixture
def smtp_sink(settings):
    """A real SMTP server on loopback; Django sends to it for the duration of the test."""
    from tests.support.smtp import SmtpSink

    sink = SmtpSink()
    sink.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    settings.EMAIL_USE_TLS = False
    yield sink
    sink.stop()


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The machine has no internet; without these Chromium keeps dialling Google's hosts.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"


@pytest.fixture(scope="session")
def chromium(django_db_setup, django_db_blocker):
    if _missing_browser():
        (pytest.fail if IN_CI else pytest.skip)(_missing_browser())
    from playwright.sync_api import sync_playwright

    # Playwright's sync API parks an event loop on this thread; Django then refuses ORM calls
    # from the test body although nothing runs concurrently (Playwright's documented fix).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(chromium, request):
    """A fresh browser tab; on failure a screenshot lands in var/screenshots/."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SCREENSHOTS / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def postmark(settings):
    """django-anymail's Postmark backend, talking to a fake Postmark API on loopback."""
    from tests.support.esp import FakePostmark

    fake = FakePostmark()
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": "test-token",
        "POSTMARK_API_URL": fake.url,
        "WEBHOOK_SECRET": "hooks:s3cret",
    }
    yield fake
    fake.stop()


@pytest.fixture
def staff(django_user_model):
    """make(group): a staff login in one of the migration's groups (viewer, operator)."""
    from django.contrib.auth.models import Group

    def make(group: str):
        user = django_user_model.objects.create_user(
            f"{group}-user", password="a-long-test-password", is_staff=True
        )
        user.groups.add(Group.objects.get(name=group))
        return user

    return make
