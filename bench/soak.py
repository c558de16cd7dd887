"""Soak the public site while an edition is being sent: no 5xx, p99 reported, memory flat.

    python bench/soak.py [--connections 100] [--seconds 120] [--subscribers 20000]

gunicorn (DEBUG off, as in production) serves a throwaway PostgreSQL database on loopback;
two Celery workers send the daily edition to --subscribers subscribers through an aiosmtpd
sink the whole time (a new edition starts whenever one is done). wrk drives the landing page,
the live preview and the signup form (a real POST with CSRF; the confirmation emails queue
on Redis like the digests) in rotation from --connections clients. Prints one JSON line:
requests, 5xx count, p50/p99 latency, and the web processes' memory at the start and end.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from common import (
    child_env,
    emit,
    load_edition,
    setup_django,
    start_sink,
    start_worker,
    stop_sink,
)

QUEUE = os.environ["CELERY_QUEUE"] = f"bench-soak-{os.getpid()}"
setup_django()

import psutil  # noqa: E402
from common import throwaway_database  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from web import start_gunicorn, wait_until_up  # noqa: E402

from digest.models import Delivery, Edition  # noqa: E402
from tests.support.smtp import free_port  # noqa: E402

SOAK_LUA = r"""
local topics = {"federated+learning", "pruning", "graph+neural+networks", "diffusion",
                "%22large+language+models%22", "retrieval+-survey", "cs.LG", "author%3ASmith"}
local token = "soaksoaksoaksoaksoaksoaksoaksoak"
local form = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Cookie"] = "csrftoken=" .. token,
}
local n = 0
errors = 0  -- global: done() reads it from each thread
request = function()
  n = n + 1
  local kind = n % 3
  local topic = topics[math.random(#topics)]
  if kind == 0 then
    return wrk.format("GET", "/")
  elseif kind == 1 then  -- the live preview, as the signup page's script posts it
    return wrk.format("POST", "/subscribe/preview/", form,
      "csrfmiddlewaretoken=" .. token .. "&query=" .. topic)
  end
  local body = "csrfmiddlewaretoken=" .. token .. "&email=soak-" .. n .. "-" ..
    math.random(1, 1000000000) .. "%40example.org&query=" .. topic ..
    "&frequency=daily&per_email=10&website="
  return wrk.format("POST", "/subscribe/", form, body)
end
response = function(status, headers, body)
  if status >= 500 then errors = errors + 1 end
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("errors") end
  io.write(string.format("SOAK errors=%d p50=%d p99=%d max=%d\n", total,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


class KeepSending(threading.Thread):
    """Starts a new daily edition whenever the last one is finished."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop, self.editions, self.sent = threading.Event(), 0, 0

    def run(self) -> None:
        from digest.tasks import send_edition_task

        queued = False
        while not self.stop.wait(1):
            if not Edition.objects.filter(planned_at__isnull=False).exists():
                if not queued:  # nothing planned yet: start one (planning takes a moment)
                    send_edition_task.delay("daily", any_hour=True)
                    queued, self.editions = True, self.editions + 1
                continue
            if not Delivery.objects.filter(status__in=["planned", "sending"]).exists():
                self.sent += Delivery.objects.filter(status="sent").count()
                Delivery.objects.all().delete()
                Edition.objects.all().delete()
                queued = False
        self.sent += Delivery.objects.filter(status="sent").count()
        connection.close()  # this thread's own; the database is dropped afterwards


def socket_errors(wrk_output: str) -> dict[str, int]:
    found = re.search(r"Socket errors: (.*)", wrk_output)
    return {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", found.group(1))} if found else {}


def web_rss_mb(server: subprocess.Popen) -> float:
    root = psutil.Process(server.pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 1_048_576


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--papers", type=int, default=2_000)
    parser.add_argument("--web-workers", type=int, default=2)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("soak needs wrk (apt-get install wrk)")
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        sys.exit("soak needs Redis: set CELERY_BROKER_URL=redis://127.0.0.1:6379/0")
    port = free_port()
    sink = start_sink(port)
    with throwaway_database(shared=True) as vendor, tempfile.TemporaryDirectory() as var_dir:
        load_edition(args.papers, args.subscribers)
        env = child_env(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(port),
        )
        workers = [start_worker(f"soak{i}-{os.getpid()}", QUEUE, env) for i in range(2)]
        web_port = free_port()
        server = start_gunicorn(web_port, args.web_workers, var_dir, queue=QUEUE)
        sender = KeepSending()
        try:
            wait_until_up(f"http://127.0.0.1:{web_port}")
            time.sleep(4)  # workers connect
            sender.start()
            samples: list[float] = []
            sampler = threading.Thread(
                target=lambda: [
                    (samples.append(web_rss_mb(server)), time.sleep(5))
                    for _ in range(args.seconds // 5)
                ],
                daemon=True,
            )
            sampler.start()
            with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
                lua.write(SOAK_LUA)
                lua.flush()
                out = subprocess.run(
                    [
                        *("wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s"),
                        "--timeout=10s",  # measure slow answers rather than drop them
                        *("--latency", "-s", lua.name, f"http://127.0.0.1:{web_port}"),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
        finally:
            sender.stop.set()
            sender.join(timeout=10)
            server.terminate()
            server.wait(timeout=30)
            for worker in workers:
                worker.terminate()
                worker.wait(timeout=60)
            stop_sink(sink)
        soak = dict(re.findall(r"(\w+)=(\d+)", re.search(r"SOAK .*", out).group()))
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        emit(
            {
                "bench": "soak",
                "db": vendor,
                "connections": args.connections,
                "seconds": args.seconds,
                "requests": requests,
                "requests_per_s": round(requests / args.seconds),
                "errors_5xx": int(soak["errors"]),
                "socket_errors": socket_errors(out),
                "p50_ms": round(int(soak["p50"]) / 1000, 1),
                "p99_ms": round(int(soak["p99"]) / 1000, 1),
                "max_ms": round(int(soak["max"]) / 1000, 1),
                "digests_sent_meanwhile": sender.sent,
                "editions": sender.editions,
                "web_rss_mb_start": round(samples[1] if len(samples) > 1 else 0, 1),
                "web_rss_mb_end": round(samples[-1] if samples else 0, 1),
            }
        )


if __name__ == "__main__":
    main()
