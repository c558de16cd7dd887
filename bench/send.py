"""Plan and deliver a whole edition through the real path to an ESP that takes its time and
caps the rate, as ESPs do.

    python bench/send.py [--subscribers 10000] [--papers 500] [--workers 2]
                         [--rates 100,250] [--also 50000] [--smtp-concurrency 4]

A throwaway database gets --papers papers in the edition window and --subscribers active
subscribers with realistic keywords (the match benchmark's long-tailed topics). For each rate R
the edition is planned and sent by --workers Celery workers on Redis (PostgreSQL, matching,
composing, anymail's Postmark backend) to an ESP-like API on loopback (tests/support/esp.py)
that answers each message after a random 50-150 ms and answers 429 to anything above R
messages in any rolling second; the workers are told SEND_RATE_PER_SECOND=0.95 R. One JSON line
per rate. --also N repeats the fastest rate with N subscribers, for memory. Then the SMTP
path: Django's SMTP backend to an aiosmtpd sink that waits 50 ms before answering each
message, no rate limit, against the ceiling of concurrency / latency.

Targets: ratio_to_limit >= 0.9 at both rates; 0 lost, 0 duplicates; worker_cpu_ms_per_digest
<= 5; peak worker memory flat from 10,000 to 50,000 subscribers.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
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
    throwaway_database,
)

# This process and its workers share a private queue (read by settings at start-up).
QUEUE = os.environ["CELERY_QUEUE"] = f"bench-send-{os.getpid()}"
setup_django()

import psutil  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db.models import Max, Min  # noqa: E402
from django.utils import timezone  # noqa: E402

from digest.models import Delivery, Edition  # noqa: E402
from subscribers.models import Subscriber  # noqa: E402
from tests.support.esp import EspProcess  # noqa: E402
from tests.support.smtp import free_port  # noqa: E402

LATENCY = (0.05, 0.15)  # the ESP's answer time, seconds
SMTP_LATENCY = 0.05
TOLD_SHARE = 0.95  # SEND_RATE_PER_SECOND as a share of the ESP's limit


def worker_env(**email: str) -> dict[str, str]:
    return child_env(
        CELERY_QUEUE=QUEUE, DEFAULT_FROM_EMAIL="Paper Digest <digest@bench.example.org>", **email
    )


def esp_env(url: str, rate: int, concurrency: int) -> dict[str, str]:
    return worker_env(
        EMAIL_BACKEND="anymail.backends.postmark.EmailBackend",
        ANYMAIL_POSTMARK_SERVER_TOKEN="bench-token",
        ANYMAIL_POSTMARK_API_URL=url,
        SEND_RATE_PER_SECOND=str(rate),
        SEND_CONCURRENCY=str(concurrency),
    )


class Workers:
    """Celery workers whose memory is sampled and whose CPU time is counted while they send."""

    def __init__(self, count: int, env: dict[str, str]) -> None:
        self.procs = [start_worker(f"bench{i}-{os.getpid()}", QUEUE, env) for i in range(count)]
        time.sleep(5)  # workers connect to the broker and start their pool child
        self.cpu_at_start = self.cpu_seconds()
        self.peak_mb, self._stop = 0.0, threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def processes(self) -> list[psutil.Process]:
        found = []
        for proc in self.procs:
            try:
                root = psutil.Process(proc.pid)
                found += [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        return found

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.processes():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def _watch(self) -> None:
        while not self._stop.wait(1.0):  # sparse: the sampler shares the 2 cores
            for proc in self.processes():
                with contextlib.suppress(psutil.NoSuchProcess):
                    self.peak_mb = max(self.peak_mb, proc.memory_info().rss / 1_048_576)

    def stop(self) -> float:
        """Stop them; returns the CPU seconds they spent since they were ready."""
        cpu = self.cpu_seconds() - self.cpu_at_start
        self._stop.set()
        for proc in self.procs:
            proc.terminate()
            proc.wait(timeout=60)
        return cpu


def deliver(workers: Workers) -> dict:
    """Send the daily edition to every subscriber (fresh deliveries); returns its timings."""
    from digest.tasks import send_edition_task

    started = timezone.now()
    send_edition_task.delay("daily", any_hour=True)
    time.sleep(1)
    while (
        Delivery.objects.filter(status__in=["planned", "sending"]).exists()
        or not Delivery.objects.exists()
    ):
        time.sleep(0.5)
    # From the first hand-off to the last recorded message (not to this process's next poll).
    span = Delivery.objects.filter(status="sent").aggregate(
        first=Min("claimed_at"), last=Max("sent_at")
    )
    cpu = workers.stop()
    counts = {s: Delivery.objects.filter(status=s).count() for s in ("sent", "skipped", "failed")}
    seconds = ((span["last"] or timezone.now()) - (span["first"] or started)).total_seconds()
    return {"seconds": seconds, "cpu": cpu, "peak_mb": workers.peak_mb, **counts}


def reset_deliveries() -> None:
    Delivery.objects.all().delete()
    Edition.objects.all().delete()


def through_esp(rate: int, workers: int, subscribers: int) -> dict:
    """The edition through anymail's Postmark backend to the ESP-like API capped at `rate`."""
    reset_deliveries()
    # Enough in flight to fill the rate at the slowest answers, with a margin.
    concurrency = math.ceil(rate * LATENCY[1] * 1.5 / workers)
    esp = EspProcess(LATENCY, rate)
    # Told a little under the ESP's limit, as the README advises: arrivals at the far end
    # bunch by a few milliseconds, and an exact pace would meet a 429 now and then.
    told = int(rate * TOLD_SHARE)
    run = deliver(Workers(workers, esp_env(esp.url, told, concurrency)))
    received = esp.stop()
    lost = run["sent"] - (received["messages"] - received["duplicates"])
    lost += Delivery.objects.filter(status__in=["planned", "sending"]).count()
    return {
        "bench": "send",
        "digests": subscribers,
        "rate_limit": rate,
        "send_rate_per_second": told,
        "digests_per_s": round(run["sent"] / run["seconds"], 1),
        "ratio_to_limit": round(run["sent"] / run["seconds"] / rate, 3),
        "throttled": received["throttled"],
        "lost": lost,
        "duplicates": received["duplicates"],
        "worker_cpu_ms_per_digest": round(run["cpu"] * 1000 / max(run["sent"], 1), 2),
        "peak_rss_mb": round(run["peak_mb"], 1),
        "sent": run["sent"],
        "skipped": run["skipped"],
        "failed": run["failed"],
        "busiest_second": received["busiest_second"],
        "workers": workers,
        "send_concurrency": concurrency,
        "seconds": round(run["seconds"], 1),
    }


def through_smtp(workers: int, concurrency: int, subscribers: int) -> dict:
    """The edition through Django's SMTP backend to a sink that takes 50 ms per message."""
    reset_deliveries()
    port = free_port()
    sink = start_sink(port, SMTP_LATENCY)
    env = worker_env(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(port),
        SEND_RATE_PER_SECOND="0",
        SEND_CONCURRENCY=str(concurrency),
    )
    run = deliver(Workers(workers, env))
    received = stop_sink(sink)
    ceiling = workers * concurrency / SMTP_LATENCY
    return {
        "bench": "send-smtp",
        "digests": subscribers,
        "latency_ms": SMTP_LATENCY * 1000,
        "in_flight": workers * concurrency,
        "ceiling_per_s": ceiling,
        "digests_per_s": round(run["sent"] / run["seconds"], 1),
        "ratio_to_limit": round(run["sent"] / run["seconds"] / ceiling, 3),
        "lost": run["sent"] - received["messages"],
        "worker_cpu_ms_per_digest": round(run["cpu"] * 1000 / max(run["sent"], 1), 2),
        "peak_rss_mb": round(run["peak_mb"], 1),
        "mean_digest_bytes": round(received["bytes"] / max(received["messages"], 1)),
    }


def add_subscribers(total: int) -> None:
    """Grow to `total` subscribers by repeating the existing keyword mix."""
    existing = list(Subscriber.objects.values_list("query", "per_email"))
    Subscriber.objects.bulk_create(
        [
            Subscriber(
                email=f"more{i}@example.org",
                email_key=f"more{i}@example.org",
                query=existing[i % len(existing)][0],
                per_email=existing[i % len(existing)][1],
                status="active",
                confirmed_at=timezone.now(),
            )
            for i in range(total - len(existing))
        ],
        batch_size=2000,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2 cores)")
    parser.add_argument("--rates", default="100,250", help="ESP rate limits to measure")
    parser.add_argument("--also", type=int, default=50_000, help="second size for memory (0: skip)")
    parser.add_argument("--smtp-concurrency", type=int, default=4, help="senders per worker")
    args = parser.parse_args()
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        raise SystemExit("bench/send.py needs CELERY_BROKER_URL=redis://… (workers share a rate)")
    rates = [int(r) for r in args.rates.split(",")]
    with throwaway_database(shared=True):
        load_edition(args.papers, args.subscribers)
        for rate in rates:
            emit(through_esp(rate, args.workers, args.subscribers))
        emit(through_smtp(args.workers, args.smtp_concurrency, args.subscribers))
        if args.also:  # the fastest rate again with more subscribers: is memory flat?
            add_subscribers(args.also)
            emit({**through_esp(max(rates), args.workers, args.also), "bench": "send-memory"})


if __name__ == "__main__":
    main()
