"""Plan and deliver a whole edition through the real path, against a raw-SMTP ceiling.

    python bench/send.py [--subscribers 10000] [--papers 500] [--workers 4] [--runs 3]
                         [--also 50000]

A throwaway database gets --papers papers in the edition window and --subscribers active
subscribers with realistic keywords (the match benchmark's long-tailed topics). The edition
is then planned and sent by Celery workers on the configured broker (or, without one, by a
process pool calling the same sending functions): PostgreSQL, matching, composing, SMTP to an
aiosmtpd sink in its own process. The ceiling sends the same number of copies of one of the
edition's digests (built before the run) straight over SMTP to the same kind of sink from the
same number of processes, half before the delivery and half after. The whole is measured
--runs times (this machine's speed drifts): the median run's figures are printed, and every
run's ratio. --also N repeats the delivery with N subscribers to show memory stays flat.
Target: digests_per_s >= 50% of ceiling_per_s; flat worker memory from 10k to 50k.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import smtplib
import threading
import time

from common import (
    database_url,
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
from django.db.models import Max  # noqa: E402
from django.utils import timezone  # noqa: E402

from digest import sending  # noqa: E402
from digest.models import Delivery, Edition  # noqa: E402
from subscribers.models import Subscriber  # noqa: E402
from tests.support.smtp import free_port  # noqa: E402


def reset_deliveries() -> None:
    Delivery.objects.all().delete()
    Edition.objects.all().delete()


def worker_env(port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_QUEUE": QUEUE,
        "EMAIL_BACKEND": "digest.mime.SMTPBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "LOG_LEVEL": "ERROR",
        # As in production: DEBUG on records every query and renders templates in debug mode.
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-not-for-production",
    }


class Memory:
    """Samples the resident memory of the sending processes while they work."""

    def __init__(self, roots: list[int]) -> None:
        self.roots, self.peak_mb, self.stop = roots, 0.0, threading.Event()
        threading.Thread(target=self.watch, daemon=True).start()

    def watch(self) -> None:
        while not self.stop.wait(1.0):  # sparse: the sampler shares the 2 cores
            for pid in self.roots:
                try:
                    root = psutil.Process(pid)
                    for proc in [root, *root.children(recursive=True)]:
                        self.peak_mb = max(self.peak_mb, proc.memory_info().rss / 1_048_576)
                except psutil.NoSuchProcess:
                    pass


def deliver_with_celery(port: int, workers: int) -> tuple[float, float]:
    from digest.tasks import send_edition_task

    procs = [
        start_worker(f"bench{i}-{os.getpid()}", QUEUE, worker_env(port)) for i in range(workers)
    ]
    time.sleep(4)  # workers connect to the broker
    memory = Memory([p.pid for p in procs])
    started = timezone.now()
    send_edition_task.delay("daily")
    wait_until_delivered()
    # Until the last message was recorded, not until this process looked (every 0.5 s).
    finished = Delivery.objects.aggregate(last=Max("sent_at"))["last"] or timezone.now()
    seconds = (finished - started).total_seconds()
    memory.stop.set()
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)
    return seconds, memory.peak_mb


def deliver_in_processes(port: int, workers: int) -> tuple[float, float]:
    settings.EMAIL_BACKEND = "digest.mime.SMTPBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    started = time.perf_counter()
    chunks = sending.dispatch(sending.plan_edition("daily"))
    from django.db import connections

    connections.close_all()  # each forked process opens its own
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        memory = Memory([p.pid for p in pool._pool])
        pool.map(_send_chunk, chunks)
        memory.stop.set()
    return time.perf_counter() - started, memory.peak_mb


def _send_chunk(ids: list[int]) -> None:
    sending.send_chunk(ids)


def wait_until_delivered() -> None:
    time.sleep(1)
    while (
        Delivery.objects.filter(status__in=["planned", "sending"]).exists()
        or not Delivery.objects.exists()
    ):
        time.sleep(0.5)


def sample_message() -> bytes:
    """A digest of this edition (the first subscriber's who gets one), as Django sends it."""
    for subscriber in Subscriber.objects.order_by("pk"):
        message, matches = sending.next_digest(subscriber)
        if matches:
            return message.message().as_bytes(linesep="\r\n")
    raise SystemExit("no subscriber matches any paper")


def blast_seconds(message: bytes, count: int, workers: int) -> float:
    """Seconds to send `count` copies of message to a fresh sink over `workers` connections."""
    port = free_port()
    sink = start_sink(port)
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.starmap(_blast, [(port, message, count // workers)] * workers)
    seconds = time.perf_counter() - started
    assert stop_sink(sink)["messages"] == count // workers * workers
    return seconds


def _blast(port: int, message: bytes, count: int) -> None:
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(count):
            smtp.sendmail("digest@localhost", [f"reader{i}@example.org"], message)


def deliver_edition(workers: int) -> dict:
    """Send the daily edition to every subscriber (fresh deliveries) and check the sink's count."""
    deliver = deliver_with_celery if using_celery() else deliver_in_processes
    reset_deliveries()
    port = free_port()
    sink = start_sink(port)
    seconds, peak_mb = deliver(port, workers)
    received = stop_sink(sink)
    counts = {
        status: Delivery.objects.filter(status=status).count()
        for status in ("sent", "skipped", "failed")
    }
    assert received["messages"] == counts["sent"], (received, counts)
    mean_bytes = received["bytes"] / max(received["messages"], 1)
    return {"seconds": seconds, "peak_mb": peak_mb, "mean_bytes": mean_bytes, **counts}


def using_celery() -> bool:
    return settings.CELERY_BROKER_URL.startswith("redis")


def add_subscribers(total: int) -> None:
    """Grow to `total` subscribers by repeating the existing keyword mix."""
    existing = list(Subscriber.objects.values_list("query", "per_email"))
    more = total - len(existing)
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
            for i in range(more)
        ],
        batch_size=2000,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4, help="sending processes (4 beats 2 here)")
    parser.add_argument("--also", type=int, default=50_000, help="second size for memory (0: skip)")
    parser.add_argument(
        "--runs", type=int, default=3, help="deliveries measured; the median counts"
    )
    args = parser.parse_args()
    with throwaway_database(shared=True) as vendor:
        if vendor == "sqlite":
            args.workers = 1  # SQLite takes one writer at a time; PostgreSQL shows the real figure
        load_edition(args.papers, args.subscribers)
        message = sample_message()
        runs = [measure(message, args.subscribers, args.workers) for _ in range(args.runs)]
        run = sorted(runs, key=lambda r: r["ratio"])[len(runs) // 2]  # the median run
        figures = {
            "bench": "send",
            "digests": args.subscribers,
            "papers": args.papers,
            "workers": args.workers,
            "db": vendor,
            "path": "celery+redis" if using_celery() else "process pool",
            "sent": run["sent"],
            "skipped": run["skipped"],
            "failed": run["failed"],
            "message_bytes": len(message),
            "mean_digest_bytes": round(run["mean_bytes"]),
            "seconds": round(run["seconds"], 2),
            "digests_per_s": round(run["digests_per_s"], 1),
            "ceiling_per_s": round(run["ceiling_per_s"], 1),
            "ceiling_before_after": run["ceiling_before_after"],
            "ratio": round(run["ratio"], 3),
            "ratios": [round(r["ratio"], 3) for r in runs],
            "peak_rss_mb": round(max(r["peak_mb"] for r in runs), 1),
        }
        if args.also:
            add_subscribers(args.also)
            bigger = deliver_edition(args.workers)
            size = f"{args.also // 1000}k" if args.also % 1000 == 0 else str(args.also)
            figures[f"peak_rss_mb_{size}"] = round(bigger["peak_mb"], 1)
            figures[f"digests_per_s_{size}"] = round(bigger["sent"] / bigger["seconds"], 1)
        emit(figures)


def measure(message: bytes, subscribers: int, workers: int) -> dict:
    """One delivery of the whole edition between two halves of its ceiling: this machine's
    speed drifts by a quarter within minutes, and the ceiling should be that of the minutes
    the delivery ran in."""
    half = subscribers // 2 // workers * workers
    before = blast_seconds(message, half, workers)
    run = deliver_edition(workers)
    rest = (run["sent"] - half) // workers * workers
    after = blast_seconds(message, rest, workers)
    ceiling_per_s = (half + rest) / (before + after)
    digests_per_s = run["sent"] / run["seconds"]
    return {
        **run,
        "digests_per_s": digests_per_s,
        "ceiling_per_s": ceiling_per_s,
        "ceiling_before_after": [round(half / before, 1), round(rest / after, 1)],
        "ratio": digests_per_s / ceiling_per_s,
    }


if __name__ == "__main__":
    main()
