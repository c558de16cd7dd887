from __future__ import annotations

import http.client
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from tests.support.workers import ROOT

pytestmark = pytest.mark.postgres


def _get(url: str, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    response.body = response.read().decode()
    conn.close()
    return response


def _gunicorn_setting(name: str, env: dict[str, str]) -> str:
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--print-config"]
    out = subprocess.run(
        [*command, "config.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    line = next(line for line in out.splitlines() if line.split(" ", 1)[0] == name)
    return line.split("=", 1)[1].strip()


def test_it_serves_the_site_with_debug_off(gunicorn_server):
    server = gunicorn_server.start()

    landing = _get(server.url, "/")
    missing = _get(server.url, "/no/such/page/")

    assert landing.status == 200
    assert missing.status == 404
    assert "URLconf" not in missing.body  # DEBUG's technical page lists the URL patterns


def test_it_ignores_a_forwarded_proto_from_loopback_unless_told_to_trust_it(gunicorn_server):
    server = gunicorn_server.start(env={"SECURE_SSL_REDIRECT": "1"})

    spoofed = _get(server.url, "/", {"X-Forwarded-Proto": "https"})

    assert spoofed.status == 301
    assert spoofed.headers["Location"].startswith("https://")


def test_it_trusts_a_forwarded_proto_from_the_proxy_when_configured(gunicorn_server):
    server = gunicorn_server.start(env={"SECURE_SSL_REDIRECT": "1", "TRUST_X_FORWARDED_PROTO": "1"})

    proxied = _get(server.url, "/", {"X-Forwarded-Proto": "https"})

    assert proxied.status == 200


def test_it_gives_web_workers_longer_than_the_fetch_deadline():
    env = {"PATH": "/usr/bin:/bin", "FETCH_TIMEOUT_SECONDS": "30"}

    assert int(_gunicorn_setting("timeout", env)) > 30


def test_it_runs_the_web_role_with_the_project_gunicorn_config():
    procfile = (ROOT / "Procfile").read_text()
    web = next(line for line in procfile.splitlines() if line.startswith("web:"))

    assert "-c gunicorn.conf.py" in web
