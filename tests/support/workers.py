"""Real Celery worker processes for tests: started, waited for, killed with SIGKILL if asked."""

from __future__ import annotations

import os
import subprocess
import time
from urllib.parse import quote

from celery import Celery
from django.conf import settings
from django.db import connection

from tests.support.processes import ROOT as ROOT  # several tests import it from here
from tests.support.processes import ChildProcess, spawn


def test_database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class WorkerProcess(ChildProcess):
    def __init__(self, proc: subprocess.Popen[str], name: str) -> None:
        super().__init__(proc)
        self.name = name

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(" ready." in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"worker {self.name} did not start:\n" + "\n".join(self.lines[-40:]))


class WorkerPool:
    def __init__(self, *, queue: str, python: str) -> None:
        self.queue = queue
        self.python = python
        self.started: list[WorkerProcess] = []

    def start(
        self, *, concurrency: int = 1, env: dict[str, str] | None = None, wait: bool = True
    ) -> WorkerProcess:
        name = f"w{len(self.started) + 1}-{os.getpid()}"
        environ = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_QUEUE": self.queue,
            "SEND_RATE_PER_SECOND": "0",  # as fast as it goes, unless a test says otherwise
            **(env or {}),
        }
        command = [
            self.python,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            self.queue,
            "-c",
            str(concurrency),
            "-n",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "info",
        ]
        worker = WorkerProcess(spawn(command, environ), name)
        self.started.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    def purge(self, app: Celery) -> None:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(self.queue)

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()
