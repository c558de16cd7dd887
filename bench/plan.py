"""Beat's quarter-hour planner over many readers with a history of digests.

    python bench/plan.py [--readers 100000] [--history 14] [--zones 40]

A throwaway database gets --readers active daily readers spread over --zones time zones (all
with their send hour in the benchmarked slot, the worst case: every reader due at once) and
--history days of past digests each. Figures: the planner's wall time for the due slot (every
reader gets a delivery, with where their previous digest ended), for the slot after it (nobody
is due: the cost of the other 95 runs of the day), and the queries each took. Run it against
PostgreSQL (DATABASE_URL) for production figures.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from common import emit, setup_django, throwaway_database

setup_django()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from digest.delivery import editions, sending  # noqa: E402
from digest.models import Delivery, Edition  # noqa: E402
from subscribers.models import Subscriber  # noqa: E402

SLOT = datetime(2026, 12, 2, 7, tzinfo=UTC)
# Zones whose clocks read 07:00 at 07:00 UTC in December: every reader due in one slot.
UTC_ZONES = ["UTC", "Europe/London", "Europe/Lisbon", "Africa/Abidjan", "Atlantic/Reykjavik"]


def zones(count: int) -> list[str]:
    names = sorted(editions.zone_names())
    same_clock = [z for z in names if SLOT.astimezone(editions.zone(z)).hour == 7]
    return (UTC_ZONES + [z for z in same_clock if z not in UTC_ZONES])[:count]


def load(readers: int, history: int, zone_count: int) -> None:
    names = zones(zone_count)
    Subscriber.objects.bulk_create(
        [
            Subscriber(
                email=f"reader{n}@example.org",
                email_key=f"reader{n}@example.org",
                status="active",
                time_zone=names[n % len(names)],
                send_hour=7,
                created_at=SLOT - timedelta(days=history + 30),
            )
            for n in range(readers)
        ],
        batch_size=5000,
    )
    ids = list(Subscriber.objects.values_list("pk", flat=True))
    for day in range(history, 0, -1):
        end = SLOT - timedelta(days=day)
        edition = Edition.objects.create(
            frequency="daily",
            period=end.date(),
            window_start=end - timedelta(days=1),
            window_end=end,
        )
        Delivery.objects.bulk_create(
            [
                Delivery(
                    subscriber_id=pk,
                    edition=edition,
                    period=end.date().isoformat(),
                    window_start=end - timedelta(days=1),
                    status="sent",
                )
                for pk in ids
            ],
            batch_size=5000,
        )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE")


def planned(now: datetime) -> tuple[float, int]:
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        sending.plan_edition("daily", now)
        return time.perf_counter() - started, len(queries)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--history", type=int, default=14)
    parser.add_argument("--zones", type=int, default=40)
    args = parser.parse_args()
    with throwaway_database() as vendor:
        started = time.perf_counter()
        load(args.readers, args.history, args.zones)
        loaded = time.perf_counter() - started
        due_s, due_queries = planned(SLOT)
        idle_s, idle_queries = planned(SLOT + editions.SLOT)
        latest = Delivery.objects.filter(edition__window_end=SLOT)
        chained = latest.filter(window_start=SLOT - timedelta(days=1)).count()
        emit(
            {
                "bench": "plan",
                "database": vendor,
                "readers": args.readers,
                "history_days": args.history,
                "zones": len(zones(args.zones)),
                "load_s": round(loaded, 1),
                "due_slot_s": round(due_s, 2),
                "due_slot_queries": due_queries,
                "due_per_1000_readers_ms": round(1000 * due_s / args.readers * 1000, 1),
                "idle_slot_ms": round(1000 * idle_s, 1),
                "idle_slot_queries": idle_queries,
                "planned": latest.count(),
                "chained_from_yesterday": chained,
            }
        )


if __name__ == "__main__":
    main()
