from __future__ import annotations

import gc
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("paperdigest")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _tune_garbage_collection(**kwargs: object) -> None:
    # A sending worker allocates many short-lived containers per digest while it holds large,
    # long-lived objects (the edition's index, its papers), which Python's default thresholds
    # walk again and again. Collect young objects less often, and leave what start-up loaded
    # out of collections (and shared with the forked pool). The README's benchmark section
    # has what it saved.
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()


GC_THRESHOLDS = (20_000, 20, 20)


@worker_ready.connect
def _worker_started(sender: object = None, **kwargs: object) -> None:
    from digest.console.heartbeats import seen

    seen(f"worker:{getattr(sender, 'hostname', 'unknown')}")


@task_prerun.connect
def _task_starting(sender: object = None, **kwargs: object) -> None:
    if not _eager(sender):
        _close_old_connections()


@task_postrun.connect
def _task_finished(sender: object = None, **kwargs: object) -> None:
    if _eager(sender):  # in-process, inside a request or a test: its connection is not ours
        return
    _close_old_connections()
    hostname = getattr(getattr(sender, "request", None), "hostname", None)
    if hostname:
        from digest.console.heartbeats import seen

        seen(f"worker:{hostname}")


def _eager(task: object) -> bool:
    return bool(getattr(getattr(task, "request", None), "is_eager", True))


def _close_old_connections() -> None:
    # Django's rule between requests, here between tasks: keep the connection for
    # CONN_MAX_AGE, drop it if it broke. Celery's own fixup would close it around every task
    # (CELERY_DB_REUSE_MAX turns that off), opening a new PostgreSQL session per chunk.
    from django.db import close_old_connections

    close_old_connections()
