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


def _post(url: str, path: str, body: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    form = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    conn.request("POST", path, body=body, headers=form)
    response = conn.getresponse()
    response.body = response.read().decode()
    conn.close()
    return response


def test_every_page_carries_the_security_headers_with_debug_off(gunicorn_server):
    server = gunicorn_server.start()

    for path in ("/", "/subscribe/", "/admin/login/", "/no/such/page/"):
        headers = _get(server.url, path).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"], path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == "same-origin", path


def test_a_form_posted_from_elsewhere_is_refused_with_debug_off(gunicorn_server):
    server = gunicorn_server.start()
    signup = "email=victim%40example.org&query=pruning&frequency=daily&per_email=10"

    forged = _post(server.url, "/subscribe/", signup, {"Origin": "https://evil.example"})
    tokenless = _post(server.url, "/subscribe/", signup, {})

    assert forged.status == tokenless.status == 403
    assert "Traceback" not in forged.body and "CSRF_FAILURE_VIEW" not in forged.body
