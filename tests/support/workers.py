"""Real Celery worker processes for tests: started, waited for, killed with SIGKILL if asked."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import quote

from celery import Celery
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class WorkerProcess:
    def __init__(self, proc: subprocess.Popen[str], name: str) -> None:
        self.proc = proc
        self.name = name
        self.lines: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(" ready." in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"worker {self.name} did not start:\n" + "\n".join(self.lines[-40:]))

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once, as a crash or OOM kill would."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return "\n".join(self.lines)


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
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        worker = WorkerProcess(proc, name)
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
