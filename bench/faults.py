"""Send an edition while things break, and count what arrived: nothing lost, nothing twice.

    python bench/faults.py [--subscribers 5000] [--only kill_worker,restart_redis,...]

Everything on loopback: a throwaway PostgreSQL database, a private Redis server started here
(so restarting it touches nothing else), two Celery workers, and an aiosmtpd sink in this
process that counts messages per recipient and can misbehave. For each scenario a fresh
edition goes to every subscriber while, once a quarter of it has arrived:

  kill_worker       SIGKILL one worker (and its pool child) and start a new one
  restart_redis     stop the broker (it keeps nothing on disk: queued tasks are gone), start it
  restart_postgres  restart the PostgreSQL cluster (pg_ctlcluster; needs root)
  smtp_421          the mail server answers 421 to everything for 30 seconds
  refuse_1pct       the mail server refuses 1% of recipients permanently (550), all run long

The bench plays beat: it queues the sweep every 5 s, with a 20 s lease. After each scenario
it prints one JSON line; then the table. Target: lost 0 and duplicates 0 everywhere, except
the killed worker's messages in flight (at most SEND_CONCURRENCY), which may show as
duplicates (sent again), never lost.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from common import child_env, emit, load_edition, setup_django, start_worker, throwaway_database

from tests.support.smtp import SmtpSink, free_port  # no Django: safe before set-up

QUEUE = os.environ["CELERY_QUEUE"] = f"bench-faults-{os.getpid()}"
LEASE_SECONDS = 20
SEND_CONCURRENCY = 4  # messages in flight per worker: what a killed one may repeat
SWEEP_EVERY = 5.0
TIMEOUT = 420.0


REDIS_PORT = free_port()
os.environ["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{REDIS_PORT}/0"
setup_django()

from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.db.utils import DatabaseError  # noqa: E402

from digest.models import Delivery, Edition  # noqa: E402

UNFINISHED = (Delivery.Status.PLANNED, Delivery.Status.SENDING)


class Redis:
    def __init__(self, port: int) -> None:
        self.port, self.proc = port, None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until(lambda: port_open(self.port), 10, "Redis to start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.2)


def db(query: Callable[[], object], default: object = None) -> object:
    """A query that shrugs off a database restart (the scenario may be restarting it)."""
    try:
        return query()
    except DatabaseError:
        connection.close()
        return default


class Workers:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink, self.procs, self.count = sink, [], 0

    def env(self) -> dict[str, str]:
        return child_env(
            CELERY_QUEUE=QUEUE,
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(self.sink.port),
            DELIVERY_LEASE_SECONDS=str(LEASE_SECONDS),
            DELIVERY_CHUNK_SIZE="200",  # chunks spread over both workers and the faults
            SEND_RATE_PER_SECOND="0",  # the loopback sink takes what comes
            SEND_CONCURRENCY=str(SEND_CONCURRENCY),
        )

    def start(self) -> subprocess.Popen:
        self.count += 1
        proc = start_worker(f"faults{self.count}-{os.getpid()}", QUEUE, self.env())
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs = []


# --- the faults ---------------------------------------------------------------------------------


def kill_worker(ctx: Scenario) -> None:
    ctx.workers.kill(ctx.workers.procs[0])
    ctx.workers.start()


def restart_redis(ctx: Scenario) -> None:
    ctx.redis.stop()
    time.sleep(3)
    ctx.redis.start()


def restart_postgres(ctx: Scenario) -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    connection.close()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
    )


def smtp_421(ctx: Scenario) -> None:
    ctx.sink.handler.temporary_failure = True
    time.sleep(30)
    ctx.sink.handler.temporary_failure = False


def refuse_1pct(ctx: Scenario) -> None:
    pass  # set before the run: see Scenario.prepare


SCENARIOS: dict[str, Callable[[Scenario], None]] = {
    "kill_worker": kill_worker,
    "restart_redis": restart_redis,
    "restart_postgres": restart_postgres,
    "smtp_421": smtp_421,
    "refuse_1pct": refuse_1pct,
}


class Scenario:
    def __init__(self, name: str, sink: SmtpSink, redis: Redis, workers: Workers) -> None:
        self.name, self.sink, self.redis, self.workers = name, sink, redis, workers

    def run(self) -> dict:
        from digest.tasks import send_edition_task

        Delivery.objects.all().delete()
        Edition.objects.all().delete()
        handler = self.sink.handler
        with handler.lock:
            handler.received.clear()
        handler.temporary_failure, handler.refuse = False, set()
        emails = list(db(lambda: list(_receiving_emails()), []))
        if self.name == "refuse_1pct":
            handler.refuse = set(emails[::100])
        started = time.monotonic()
        send_edition_task.delay("daily", any_hour=True)
        planned = len(emails)
        wait_until(
            lambda: sum(handler.received.values()) >= planned // 4, TIMEOUT, "a quarter of it"
        )
        fault_at = time.monotonic()
        SCENARIOS[self.name](self)
        fault_over = time.monotonic()
        resumed = self._wait_for_done(fault_over)
        finished = time.monotonic()
        return self._count(planned, started, fault_at, fault_over, resumed, finished)

    def _wait_for_done(self, since: float) -> float | None:
        """Play beat (the sweep every few seconds) until no delivery is unfinished; returns
        when the first message arrived after the fault, if any did."""
        from digest.tasks import sweep_task

        resumed, next_sweep = None, 0.0
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if resumed is None and self.sink.handler.last_at > since:
                resumed = self.sink.handler.last_at
            unfinished = db(lambda: Delivery.objects.filter(status__in=UNFINISHED).count(), -1)
            if unfinished == 0:
                return resumed
            if time.monotonic() >= next_sweep:
                with contextlib.suppress(Exception):  # the broker may be what is down
                    sweep_task.delay()
                next_sweep = time.monotonic() + SWEEP_EVERY
            time.sleep(0.5)
        raise TimeoutError(f"{self.name}: deliveries still unfinished after {TIMEOUT} s")

    def _count(self, planned, started, fault_at, fault_over, resumed, finished) -> dict:
        statuses = Counter(dict(Delivery.objects.values_list("status").annotate(n=Count("pk"))))
        sent = set(
            Delivery.objects.filter(status=Delivery.Status.SENT).values_list(
                "subscriber__email", flat=True
            )
        )
        received = self.sink.handler.received
        reasons = Counter(
            _reason_kind(reason)
            for reason in Delivery.objects.filter(status=Delivery.Status.FAILED).values_list(
                "failure_reason", flat=True
            )
        )
        return {
            "scenario": self.name,
            "planned": planned,
            "sent": statuses["sent"],
            "skipped": statuses["skipped"],
            "received": sum(received.values()),
            "duplicates": sum(n - 1 for n in received.values() if n > 1),
            # Marked sent but never arrived, or never finished at all.
            "lost": len(sent - set(received)) + statuses["planned"] + statuses["sending"],
            "failed": statuses["failed"],
            "failed_reasons": dict(reasons),
            "recover_s": round(resumed - fault_over, 1) if resumed else None,
            "fault_s": round(fault_over - fault_at, 1),
            "complete_s": round(finished - fault_over, 1),
            "total_s": round(finished - started, 1),
        }


def _receiving_emails():
    from subscribers.models import Subscriber

    return Subscriber.objects.filter(status="active", paused=False, frequency="daily").values_list(
        "email", flat=True
    )


def _reason_kind(reason: str) -> str:
    return reason.split(":")[0][:60]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--papers", type=int, default=200)
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        sys.exit(f"unknown scenarios: {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}")
    if "restart_postgres" in names and (os.geteuid() != 0 or not Path("/etc/postgresql").is_dir()):
        sys.exit("restart_postgres restarts the local cluster with pg_ctlcluster: run as root")
    redis = Redis(REDIS_PORT)
    redis.start()
    sink = SmtpSink(keep_messages=False)
    sink.start()
    rows = []
    try:
        with throwaway_database(shared=True) as vendor:
            if vendor != "postgresql":
                sys.exit("faults needs PostgreSQL: set DATABASE_URL=postgres://…")
            load_edition(args.papers, args.subscribers)
            workers = Workers(sink)
            for _ in range(2):
                workers.start()
            time.sleep(5)  # workers connect to the broker
            try:
                for name in names:
                    print(f"faults: {name} …", file=sys.stderr, flush=True)
                    row = Scenario(name, sink, redis, workers).run()
                    emit(row)
                    rows.append(row)
            finally:
                workers.stop_all()
    finally:
        sink.stop()
        redis.stop()
    print(json.dumps({"bench": "faults", "subscribers": args.subscribers, "scenarios": rows}))


if __name__ == "__main__":
    main()
