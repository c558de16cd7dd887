"""The public site under concurrent load: landing page and signup POST vs. a constant view.

    python bench/web.py [--papers 50000] [--connections 50] [--seconds 10] [--workers 2]

Serves a throwaway database holding --papers papers with gunicorn (DEBUG off, whitenoise,
as in production) on loopback, and loads it with wrk (or a small Python client if wrk is
missing). The ceiling is /healthz, a view that returns a constant string, measured in the
same run. Signups queue their confirmation on Redis when CELERY_BROKER_URL is set (as in
production); otherwise they render it in-process and drop it (dummy email backend).
Targets: landing >= 50% of the ceiling's requests/s; p99 < 100 ms at 50 clients.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from common import ROOT, as_paper_data, child_env, emit, setup_django, throwaway_database

setup_django()

import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from digest.ingest import sources  # noqa: E402
from tests.support.feedgen import synthetic_papers  # noqa: E402

BENCH_QUEUE = f"bench-web-{os.getpid()}"
SIGNUP_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local body = "csrfmiddlewaretoken=benchbenchbenchbenchbenchbench12&email=reader-" .. counter ..
    "-" .. math.random(1, 1000000000) .. "%40example.org&query=federated+learning%0Apruning" ..
    "&frequency=daily&per_email=10&website="
  return wrk.format("POST", "/subscribe/", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "csrftoken=benchbenchbenchbenchbenchbench12",
  }, body)
end
"""


def load_papers(count: int) -> None:
    now = timezone.now()
    batch = []
    for i, p in enumerate(synthetic_papers(count)):
        batch.append(as_paper_data(p, now - timezone.timedelta(minutes=i)))
        if len(batch) == 5000:
            sources.store_papers(batch)
            batch = []
    sources.store_papers(batch)


def start_gunicorn(
    port: int, workers: int, var_dir: str, *, queue: str = BENCH_QUEUE
) -> subprocess.Popen:
    env = child_env(
        SITE_URL=f"http://127.0.0.1:{port}",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        SIGNUP_LIMIT_PER_IP=str(10**9),
        SIGNUP_LIMIT_PER_ADDRESS=str(10**9),
        VAR_DIR=var_dir,
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        CELERY_QUEUE=queue,  # by default, signups' confirmation tasks go nowhere real
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )


def purge_queue() -> None:
    if settings.CELERY_BROKER_URL.startswith("redis"):
        from config import celery_app

        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_purge(BENCH_QUEUE)


def wait_until_up(base: str) -> None:
    for _ in range(100):
        try:
            if requests.get(base + "/healthz", timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise SystemExit("gunicorn did not come up")


def wrk(url: str, connections: int, seconds: int, script: str | None = None) -> tuple[float, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        if script:
            lua.write(script)
            lua.flush()
            command[1:1] = ["-s", lua.name]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} error responses\n{out}")
    return rps, float(p99.group(1)) * scale


def python_load(
    url: str, connections: int, seconds: int, script: str | None = None
) -> tuple[float, float]:
    """Fallback when wrk is not installed: threads with keep-alive connections."""
    import threading

    latencies: list[float] = []
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def client() -> None:
        session = requests.Session()
        mine = []
        n = 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            if script:
                n += 1
                session.post(
                    url,
                    data={
                        "csrfmiddlewaretoken": "benchbenchbenchbenchbenchbench12",
                        "email": f"py-{threading.get_ident()}-{n}@example.org",
                        "query": "pruning",
                        "frequency": "daily",
                        "per_email": "10",
                    },
                    cookies={"csrftoken": "benchbenchbenchbenchbenchbench12"},
                    allow_redirects=False,
                ).raise_for_status()
            else:
                session.get(url).raise_for_status()
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return len(latencies) / seconds, latencies[int(len(latencies) * 0.99)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=50_000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    load = wrk if shutil.which("wrk") else python_load
    port = 8700 + os.getpid() % 200
    base = f"http://127.0.0.1:{port}"
    with throwaway_database(shared=True) as vendor, tempfile.TemporaryDirectory() as var_dir:
        load_papers(args.papers)
        server = start_gunicorn(port, args.workers, var_dir)
        try:
            wait_until_up(base)
            for path in ("/healthz", "/", "/?page=2"):
                requests.get(base + path, timeout=10).raise_for_status()
            ceiling_rps, ceiling_p99 = load(base + "/healthz", args.connections, args.seconds)
            landing_rps, landing_p99 = load(base + "/", args.connections, args.seconds)
            signup_rps, signup_p99 = load(
                base + "/subscribe/", args.connections, args.seconds, SIGNUP_LUA
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
            purge_queue()
        emit(
            {
                "bench": "web",
                "papers": args.papers,
                "connections": args.connections,
                "gunicorn_workers": args.workers,
                "load": load.__name__,
                "db": vendor,
                "broker": "redis" if settings.CELERY_BROKER_URL.startswith("redis") else "eager",
                "ceiling_rps": round(ceiling_rps),
                "ceiling_p99_ms": round(ceiling_p99, 1),
                "landing_rps": round(landing_rps),
                "ratio": round(landing_rps / ceiling_rps, 3),
                "landing_p99_ms": round(landing_p99, 1),
                "signup_rps": round(signup_rps),
                "signup_p99_ms": round(signup_p99, 1),
            }
        )


if __name__ == "__main__":
    main()
