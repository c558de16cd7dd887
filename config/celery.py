from __future__ import annotations

import os

from celery import Celery
from celery.signals import task_postrun, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("paperdigest")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _worker_started(sender: object = None, **kwargs: object) -> None:
    from digest.heartbeats import seen

    seen(f"worker:{getattr(sender, 'hostname', 'unknown')}")


@task_postrun.connect
def _task_finished(sender: object = None, **kwargs: object) -> None:
    hostname = getattr(getattr(sender, "request", None), "hostname", None)
    if hostname:  # None when a task runs in-process (no broker)
        from digest.heartbeats import seen

        seen(f"worker:{hostname}")
