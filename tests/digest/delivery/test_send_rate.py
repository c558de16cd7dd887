"""One send rate for all workers, messages in flight, and what throttling answers do."""

from __future__ import annotations

import threading
import time
from itertools import pairwise

import pytest

from digest.delivery import send_rate, sending
from digest.models import Delivery
from lib import emails
from tests.factories import PaperFactory, SubscriberFactory

Status = Delivery.Status


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def one_chunk_for(subscribers: int) -> list[int]:
    """The daily edition of one paper for `subscribers` new readers, planned as one chunk."""
    PaperFactory(title="Pruning at scale", abstract="We prune.")
    SubscriberFactory.create_batch(subscribers, query="pruning")
    (ids,) = sending.dispatch(sending.plan_edition("daily", any_hour=True))
    return ids


def test_local_slots_start_messages_evenly_at_the_rate(monkeypatch):
    clock = FakeClock()
    slots = send_rate.LocalSlots(5, clock=clock)
    monkeypatch.setattr(
        send_rate.time, "sleep", lambda seconds: setattr(clock, "now", clock.now + seconds)
    )
    starts = []
    for _ in range(23):
        slots.acquire()
        starts.append(clock.now)
    gaps = [b - a for a, b in pairwise(starts)]
    assert all(gap == pytest.approx(0.2, abs=1e-3) for gap in gaps)  # 5 a second, no burst


def test_a_throttling_answer_slows_the_local_slots_for_a_while():
    clock = FakeClock()
    slots = send_rate.LocalSlots(10, clock=clock)
    slots.slow_down()
    first, second = slots._reserve(), slots._reserve()
    assert second - first == pytest.approx(1 / 9)
    clock.now += send_rate.SLOWED_FOR_SECONDS + 1
    first, second = slots._reserve(), slots._reserve()
    assert second - first == pytest.approx(1 / 10)


@pytest.mark.redis
def test_redis_slots_are_one_rate_for_every_sender(settings):
    namespace = f"test-{time.monotonic_ns()}"
    senders = [send_rate.RedisSlots(20, settings.CELERY_BROKER_URL, namespace) for _ in range(2)]
    starts: list[float] = []
    lock = threading.Lock()

    def send(slots: send_rate.RedisSlots) -> None:
        for _ in range(15):
            slots.acquire()
            with lock:
                starts.append(time.monotonic())

    threads = [threading.Thread(target=send, args=(s,)) for s in senders for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts.sort()
    busiest = max(sum(s - 1 < o <= s for o in starts) for s in starts)
    assert len(starts) == 60 and busiest <= 22  # 20 a second, and the threads' wake-up jitter
    assert starts[-1] - starts[0] >= 2.8  # 60 starts, one every 50 ms
    senders[0].slow_down()
    assert float(senders[1].client.get(senders[1].keys[1])) == pytest.approx(0.9)
    for slots in senders:
        slots.close()


@pytest.mark.django_db
def test_an_esp_answering_429_slows_the_rate_and_every_digest_still_goes_once(
    postmark, settings, monkeypatch
):
    monkeypatch.setattr(sending, "THROTTLE_PAUSES", (0.2,) * 12)
    postmark.rate_limit = 4  # the ESP takes 4 a second; we were told 20
    ids = one_chunk_for(subscribers=12)
    rate = send_rate.LocalSlots(20)
    result = sending.send_chunk(ids, rate)
    assert result[Delivery.Status.SENT] == 12 and postmark.throttled > 0
    assert set(postmark.received.values()) == {1}
    assert set(Delivery.objects.values_list("status", "attempts")) == {(Status.SENT, 1)}
    assert rate._current_factor() < 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_chunk_keeps_several_messages_in_flight(postmark, settings):
    settings.SEND_CONCURRENCY = 6
    postmark.latency = (0.2, 0.2)
    ids = one_chunk_for(subscribers=18)
    started = time.monotonic()
    assert sending.send_chunk(ids)[Delivery.Status.SENT] == 18
    elapsed = time.monotonic() - started
    assert elapsed < 18 * 0.2 / 2  # one at a time would take 3.6 s; six at a time, 0.6 s
    assert set(postmark.received.values()) == {1} and len(postmark.received) == 18
    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.SENT}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_transient_failure_in_one_sender_gives_back_every_unsent_delivery(postmark, settings):
    settings.SEND_CONCURRENCY = 4
    postmark.latency = (0.05, 0.05)
    ids = one_chunk_for(subscribers=20)
    postmark.down_after = 6
    with pytest.raises(emails.TransientSendError, match="HTTP 500"):
        sending.send_chunk(ids)
    statuses = dict(Delivery.objects.values_list("subscriber__email", "status"))
    sent = {email.lower() for email, status in statuses.items() if status == Status.SENT}
    assert sent == set(postmark.received)  # marked sent exactly when the ESP took it
    assert set(statuses.values()) <= {Status.SENT, Status.PLANNED}
    assert 6 <= len(sent) <= 6 + 4  # what had been handed over when it went down
    postmark.down, postmark.down_after = False, None
    sending.send_chunk(ids)
    assert set(postmark.received.values()) == {1} and len(postmark.received) == 20


@pytest.mark.django_db
def test_a_recipient_the_server_defers_waits_and_the_chunk_goes_on(smtp_sink):
    PaperFactory(title="Pruning at scale", abstract="We prune.")
    SubscriberFactory(email="busy@example.org", query="pruning")
    SubscriberFactory.create_batch(3, query="pruning")
    smtp_sink.handler.defer.add("busy@example.org")
    (ids,) = sending.dispatch(sending.plan_edition("daily", any_hour=True))
    result = sending.send_chunk(ids)
    assert (result[Delivery.Status.SENT], result[Delivery.Status.PLANNED]) == (3, 1)
    deferred = Delivery.objects.get(subscriber__email="busy@example.org")
    assert deferred.status == Status.PLANNED
    assert deferred.failure_reason.startswith("will retry: recipient deferred: 450")
