"""Real gunicorn for tests: the project's gunicorn.conf.py, DEBUG off, the test database."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

from tests.support.processes import ROOT, ChildProcess, spawn
from tests.support.workers import test_database_url


def find_free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(var_dir: Path, port: int) -> dict[str, str]:
    """The environment of a production web process, on loopback, against the test database.

    The secret key is the test process's, so tokens a test makes are valid on the server.
    """
    url = f"http://127.0.0.1:{port}"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    environ.pop("CELERY_BROKER_URL", None)  # tasks run in-process unless a test passes a broker
    return {
        **environ,
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,
        "SITE_URL": url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": test_database_url(),
        "VAR_DIR": str(var_dir),
        "EMAIL_FILE_PATH": str(var_dir / f"outbox-{port}"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": "WARNING",
    }


def collect_static(var_dir: Path) -> None:
    """DEBUG off serves hashed static files from a manifest, which collectstatic writes."""
    env = production_env(var_dir, 8000)
    command = [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True)


class GunicornServer(ChildProcess):
    def __init__(self, proc: subprocess.Popen[str], url: str, outbox: Path) -> None:
        super().__init__(proc)
        self.url = url
        self.outbox = outbox  # the file email backend's folder, unless a test sets EMAIL_*

    def wait_ready(self, timeout: float = 30) -> None:
        """Until a worker answers anything (a test may make /healthz redirect to HTTPS)."""
        host, port = self.url.removeprefix("http://").split(":")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                conn = http.client.HTTPConnection(host, int(port), timeout=2)
                conn.request("GET", "/healthz")
                conn.getresponse().close()
                conn.close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not start:\n" + self.log())


class GunicornLauncher:
    """Starts gunicorn servers for one test; `start(env={...})` overrides any variable."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.started: list[GunicornServer] = []

    def start(self, *, env: dict[str, str] | None = None) -> GunicornServer:
        port = find_free_port()
        environ = {**production_env(self.var_dir, port), **(env or {})}
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "config.wsgi"]
        outbox = Path(environ["EMAIL_FILE_PATH"])
        server = GunicornServer(spawn(command, environ), f"http://127.0.0.1:{port}", outbox)
        self.started.append(server)
        server.wait_ready()
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()
