from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from digest.delivery import editions, previews, sending
from digest.models import Delivery, Edition, Paper
from lib.emails import TransientSendError
from subscribers.models import Subscriber
from tests.factories import PaperFactory, SubscriberFactory
from tests.support.mail import assert_email_contains, subject, text_and_html

pytestmark = pytest.mark.django_db
Status = Delivery.Status


@pytest.fixture(autouse=True)
def _throttling_gives_up_at_once(monkeypatch):
    """A 421 stops the chunk at once here; the backing off itself is tested on its own."""
    monkeypatch.setattr(sending, "THROTTLE_PAUSES", ())


def at(hours: float):
    """A moment `hours` after a fixed Monday 07:00 UTC."""
    from datetime import UTC, datetime

    return datetime(2026, 11, 23, 7, tzinfo=UTC) + timedelta(hours=hours)


def papers_seen(when, *titles: str) -> list:
    return [
        PaperFactory(title=t, abstract=f"About {t.lower()}.", first_seen_at=when) for t in titles
    ]


def send_all(edition: Edition) -> None:
    for ids in sending.dispatch(edition):
        sending.send_chunk(ids)


# --- planning and windows -----------------------------------------------------------------------


def test_planning_creates_one_delivery_per_receiving_subscriber():
    receiving = SubscriberFactory(frequency="daily")
    SubscriberFactory(frequency="daily", paused=True)
    SubscriberFactory(frequency="daily", status="pending")
    SubscriberFactory(frequency="daily", status="unsubscribed")
    SubscriberFactory(frequency="weekly")
    edition = sending.plan_edition("daily", at(0))
    assert list(edition.deliveries.values_list("subscriber", flat=True)) == [receiving.pk]
    assert edition.planned_at is not None


def test_replanning_never_duplicates_a_delivery():
    SubscriberFactory.create_batch(3)
    first = sending.plan_edition("daily", at(0))
    Edition.objects.filter(pk=first.pk).update(planned_at=None)  # as if a planner crashed mid-way
    again = sending.plan_edition("daily", at(0.1))  # the same slot
    assert again.pk == first.pk and again.planned_at is not None
    assert sending.plan_edition("daily", at(0.5)) is None  # the next slots: nobody is due
    assert sending.plan_edition("daily", at(0.5), any_hour=True) is None
    assert Delivery.objects.count() == 3


def test_a_reader_the_planner_missed_is_planned_in_a_later_slot_that_day():
    SubscriberFactory.create_batch(2)
    first = sending.plan_edition("daily", at(0))
    late = SubscriberFactory()  # say, the planner stopped before reaching them
    later = sending.plan_edition("daily", at(1.25))
    assert list(later.deliveries.values_list("subscriber", flat=True)) == [late.pk]
    assert first.deliveries.count() == 2
    assert sending.plan_edition("daily", at(3.25)) is None  # past the grace hours: tomorrow


def test_nobody_is_due_before_their_hour_and_no_edition_is_opened():
    SubscriberFactory(send_hour=9)
    assert sending.plan_edition("daily", at(0)) is None
    assert not Edition.objects.exists()
    assert sending.plan_edition("daily", at(2)).deliveries.count() == 1


def titles(delivery: Delivery) -> list[str]:
    papers = sending.reader_papers(
        delivery.window_start, delivery.edition.window_end, delivery.subscriber.listing
    )
    return [p.title for p in papers]


def test_windows_chain_so_no_paper_is_missed_or_repeated():
    reader = SubscriberFactory(query="pruning")
    papers_seen(at(-2), "Pruning before Monday")
    monday = sending.plan_edition("daily", at(0))
    papers_seen(at(0.01), "Pruning just after Monday's edition")
    tuesday = sending.plan_edition("daily", at(24))
    assert tuesday.window_start == monday.window_end
    first, second = Delivery.objects.filter(subscriber=reader).order_by("edition__window_end")
    assert second.window_start == first.edition.window_end
    assert titles(first) == ["Pruning before Monday"]
    assert titles(second) == ["Pruning just after Monday's edition"]


def test_after_downtime_the_next_digest_covers_everything_since_the_last():
    SubscriberFactory()
    sending.plan_edition("daily", at(0))
    papers_seen(at(30), "Pruning on Tuesday")
    papers_seen(at(60), "Pruning on Wednesday")
    thursday = sending.plan_edition("daily", at(72))  # nothing ran on Tuesday or Wednesday
    assert len(titles(thursday.deliveries.get())) == 2


def test_a_first_digest_covers_the_days_the_signup_preview_searched(settings):
    settings.PREVIEW_DAYS = 14
    papers_seen(at(-24 * 15), "Pruning, too old for the preview")
    papers_seen(at(-24 * 13), "Pruning the preview showed")
    with time_machine.travel(at(-1)):
        reader = SubscriberFactory()
    sending.plan_edition("daily", at(0))
    assert titles(reader.deliveries.get()) == ["Pruning the preview showed"]


def test_a_digest_reaches_back_at_most_three_weeks_after_a_long_pause():
    reader = SubscriberFactory()
    sending.plan_edition("daily", at(0))
    papers_seen(at(24 * 10), "Pruning while they were paused")
    papers_seen(at(24 * 50), "Pruning lately")
    later = sending.plan_edition("daily", at(24 * 60))
    assert later.deliveries.get().window_start == at(24 * 60) - editions.MAX_WINDOW
    assert titles(later.deliveries.get()) == ["Pruning lately"]
    assert reader.deliveries.count() == 2


def test_periods_are_the_readers_days_and_iso_weeks():
    thursday = at(72).date()
    assert editions.period_key("daily", thursday) == "2026-11-26"
    assert editions.period_key("weekly", thursday) == "2026-W48"
    assert editions.period_start("2026-W48").isoformat() == "2026-11-23"  # its Monday
    assert editions.period_start("2026-11-26") == thursday


def test_a_reader_takes_the_arxiv_announcements_they_chose():
    papers = {
        kind: PaperFactory(
            title=f"Pruning, {kind or 'from a blog'}", announce_type=kind, first_seen_at=at(-1)
        )
        for kind in ("new", "cross", "replace", "replace-cross", "")
    }
    readers = {
        listing: SubscriberFactory(listing=listing, per_email=10)
        for listing in ("new", "cross", "all")
    }
    sending.plan_edition("daily", at(0))
    got = {listing: set(titles(r.deliveries.get())) for listing, r in readers.items()}
    title = {kind: paper.title for kind, paper in papers.items()}
    assert got["new"] == {title["new"], title[""]}
    assert got["cross"] == {title["new"], title["cross"], title[""]}
    assert got["all"] == set(title.values())


# --- sending ------------------------------------------------------------------------------------


def test_each_subscriber_gets_exactly_their_papers_once(smtp_sink):
    papers_seen(at(-1), "Global channel pruning", "Federated learning at scale", "Diffusion art")
    ada = SubscriberFactory(email="ada@example.org", query="pruning")
    bob = SubscriberFactory(email="bob@example.org", query="federated learning\ndiffusion")
    SubscriberFactory(email="cy@example.org", query="quantum chemistry")
    edition = sending.plan_edition("daily", at(0))
    send_all(edition)
    send_all(edition)  # a second run finds nothing left to send
    assert smtp_sink.counts() == {"ada@example.org": 1, "bob@example.org": 1}
    (to_ada,) = smtp_sink.to("ada@example.org")
    assert subject(to_ada) == "1 new paper on pruning — Nov 23"
    assert "Federated" not in to_ada.get_body(("plain",)).get_content()
    (to_bob,) = smtp_sink.to("bob@example.org")
    assert subject(to_bob) == "2 new papers on federated learning, diffusion — Nov 23"
    statuses = dict(Delivery.objects.values_list("subscriber__email", "status"))
    assert statuses == {
        "ada@example.org": "sent",
        "bob@example.org": "sent",
        "cy@example.org": "skipped",
    }
    ada.refresh_from_db()
    assert ada.last_digest_at is not None
    bobs = edition.papers().filter(title__in=["Federated learning at scale", "Diffusion art"])
    assert sorted(Delivery.objects.get(subscriber=bob).paper_ids) == sorted(p.pk for p in bobs)
    assert (
        Delivery.objects.get(subscriber__email="cy@example.org").failure_reason == "nothing matched"
    )


def test_the_email_has_both_parts_headers_and_links(smtp_sink):
    papers_seen(at(-1), "Global channel pruning")
    subscriber = SubscriberFactory(email="ada@example.org", query="pruning")
    edition = sending.plan_edition("daily", at(0))
    send_all(edition)
    (message,) = smtp_sink.messages
    delivery = Delivery.objects.get()
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<http://localhost:8000/unsubscribe/" in message["List-Unsubscribe"]
    assert "<mailto:digest@localhost?subject=unsubscribe>" in message["List-Unsubscribe"]
    assert message["List-Id"] == "Paper Digest <digest.localhost>"
    assert message["Message-ID"] == f"<{delivery.message_key}@localhost>" == delivery.message_id
    for fragment in (
        "matched: ",
        "pruning",
        "/manage/",
        "/unsubscribe/",
        "/digest/",
        subscriber.email,
        "Daily digest · Monday, November 23",
    ):
        assert_email_contains(message, fragment)
    text, html = text_and_html(message)
    assert re.search(r"<mark[^>]*>pruning</mark>", html) and "<mark" not in text
    assert 'style="' in html  # CSS inlined for Gmail
    assert "prefers-color-scheme: dark" in html  # and kept for clients that honour it


def test_non_ascii_text_arrives_intact(smtp_sink):
    PaperFactory(
        title="Élagage de réseaux — 剪枝 for LLMs 🧪",
        abstract="Nous élaguons les réseaux (pruning) à 50 % sans perte.",
        authors=["Zoë Ångström", "李雷"],
        first_seen_at=at(-1),
    )
    SubscriberFactory(query="élagage\npruning")
    send_all(sending.plan_edition("daily", at(0)))
    (message,) = smtp_sink.messages
    _, html = text_and_html(message)
    for fragment in ("Élagage de réseaux — 剪枝 for LLMs 🧪", "Zoë Ångström, 李雷", "élagage"):
        assert_email_contains(message, fragment)
    assert re.search(r"<mark[^>]*>Élagage</mark>", html)
    assert message["Subject"].startswith("1 new paper on élagage")


def test_hostile_titles_are_inert_in_html_and_text(smtp_sink):
    PaperFactory(
        title='Pruning <script>alert("x")</script><img src=x onerror=alert(1)>',
        abstract='<a href="javascript:alert(1)">click</a> pruning',
        first_seen_at=at(-1),
    )
    SubscriberFactory(query="pruning")
    send_all(sending.plan_edition("daily", at(0)))
    text, html = text_and_html(smtp_sink.messages[0])
    assert not re.search(r"<script|<img|<a [^>]*href=\"javascript:", html, re.IGNORECASE)
    assert "&lt;script&gt;" in html
    assert '<script>alert("x")</script>' in text  # plain text shows it as text, inert


def test_a_refused_recipient_fails_alone_and_the_rest_are_sent(smtp_sink):
    papers_seen(at(-1), "Pruning")
    SubscriberFactory(email="gone@example.org")
    SubscriberFactory(email="here@example.org")
    smtp_sink.handler.refuse.add("gone@example.org")
    send_all(sending.plan_edition("daily", at(0)))
    failed = Delivery.objects.get(subscriber__email="gone@example.org")
    assert failed.status == Status.FAILED
    assert failed.failure_reason.startswith("recipient refused: 550")
    assert Delivery.objects.get(subscriber__email="here@example.org").status == Status.SENT


def test_a_busy_server_stops_the_chunk_and_leaves_the_rest_planned(smtp_sink):
    papers_seen(at(-1), "Pruning")
    SubscriberFactory.create_batch(3)
    edition = sending.plan_edition("daily", at(0))
    (ids,) = sending.dispatch(edition)
    smtp_sink.handler.temporary_failure = True
    with pytest.raises(TransientSendError, match="421"):
        sending.send_chunk(ids)
    # Claimed a couple at a time: the first claim's are back, the last was never claimed.
    assert list(Delivery.objects.order_by("pk").values_list("status", "attempts")) == [
        (Status.PLANNED, 1),
        (Status.PLANNED, 1),
        (Status.PLANNED, 0),
    ]
    assert not smtp_sink.messages
    smtp_sink.handler.temporary_failure = False
    assert sending.send_chunk(ids)[Delivery.Status.SENT] == 3  # the task's retry
    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.SENT}


def test_a_server_that_is_down_is_transient(settings):
    from tests.support.smtp import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    papers_seen(at(-1), "Pruning")
    SubscriberFactory()
    (ids,) = sending.dispatch(sending.plan_edition("daily", at(0)))
    with pytest.raises(TransientSendError, match="unavailable"):
        sending.send_chunk(ids)
    assert Delivery.objects.get().status == Status.PLANNED


def test_deliveries_out_of_attempts_fail_with_the_reason(smtp_sink, settings):
    settings.DELIVERY_MAX_ATTEMPTS = 2
    papers_seen(at(-1), "Pruning")
    SubscriberFactory()
    (ids,) = sending.dispatch(sending.plan_edition("daily", at(0)))
    smtp_sink.handler.temporary_failure = True
    for _ in range(2):
        with pytest.raises(TransientSendError):
            sending.send_chunk(ids)
    delivery = Delivery.objects.get()
    assert delivery.status == Status.FAILED
    assert delivery.failure_reason.startswith("gave up after 2 attempts: recipient deferred: 421")


def test_a_claimed_delivery_cannot_be_claimed_again():
    SubscriberFactory()
    (ids,) = sending.dispatch(sending.plan_edition("daily", at(0)))
    assert len(sending.claim_deliveries(ids)) == 1
    assert sending.claim_deliveries(ids) == []


def test_the_sweep_reclaims_work_of_a_worker_that_died(settings, smtp_sink):
    settings.DELIVERY_LEASE_SECONDS = 60
    papers_seen(at(-1), "Pruning")
    SubscriberFactory.create_batch(2)
    (ids,) = sending.dispatch(sending.plan_edition("daily", at(0)))
    sending.claim_deliveries(ids)  # ... and the worker is killed before sending anything
    assert sending.sweep(timezone.now()) == (0, [])  # still within the lease
    reclaimed, chunks = sending.sweep(timezone.now() + timedelta(seconds=61))
    assert (reclaimed, chunks) == (2, [ids])
    sending.send_chunk(chunks[0])
    assert smtp_sink.counts().total() == 2
    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.SENT}


def test_the_sweep_gives_up_on_work_that_keeps_killing_workers(settings):
    settings.DELIVERY_LEASE_SECONDS, settings.DELIVERY_MAX_ATTEMPTS = 60, 1
    SubscriberFactory()
    (ids,) = sending.dispatch(sending.plan_edition("daily", at(0)))
    sending.claim_deliveries(ids)
    sending.sweep(timezone.now() + timedelta(seconds=61))
    delivery = Delivery.objects.get()
    assert delivery.status == Status.FAILED
    assert "worker stopped" in delivery.failure_reason


def test_the_sweep_redispatches_planned_work_whose_message_was_lost(settings):
    settings.DELIVERY_LEASE_SECONDS = 60
    SubscriberFactory()
    (ids,) = sending.dispatch(sending.plan_edition("daily", at(0)))  # the chunk message is lost
    assert sending.sweep(timezone.now()) == (0, [])
    assert sending.sweep(timezone.now() + timedelta(seconds=61)) == (0, [ids])


def test_subscribers_who_left_after_planning_are_skipped(mailoutbox):
    papers_seen(at(-1), "Pruning")
    subscriber = SubscriberFactory()
    edition = sending.plan_edition("daily", at(0))
    subscriber.unsubscribe("left")
    send_all(edition)
    assert not mailoutbox
    assert Delivery.objects.get().failure_reason == "subscriber is unsubscribed"


def test_keywords_that_became_invalid_fail_with_the_reason(mailoutbox):
    SubscriberFactory()
    edition = sending.plan_edition("daily", at(0))
    Subscriber.objects.update(query="-only")
    send_all(edition)
    delivery = Delivery.objects.get()
    assert delivery.status == Status.FAILED
    assert delivery.failure_reason.startswith("keywords no longer valid: ")


def test_nothing_new_emails_when_operators_want_them(settings, mailoutbox):
    settings.DIGEST_SEND_EMPTY = True
    SubscriberFactory(query="quantum chemistry")
    with time_machine.travel(at(0)):
        send_all(sending.plan_edition("daily", at(0)))
    assert mailoutbox[0].subject == "Nothing new on your topics — Nov 23"
    assert "No new paper matched your topics" in mailoutbox[0].body


def test_weekly_subjects_name_the_week(mailoutbox):
    papers_seen(at(-1), "Pruning")
    SubscriberFactory(frequency="weekly")
    send_all(sending.plan_edition("weekly", at(0)))
    assert mailoutbox[0].subject == "1 new paper on pruning — week of Nov 23"


# --- ESP (django-anymail against a fake Postmark API) -------------------------------------------


def test_sending_through_an_esp_records_its_message_id_tags_and_metadata(postmark):
    papers_seen(at(-1), "Pruning")
    SubscriberFactory(email="ada@example.org")
    edition = sending.plan_edition("daily", at(0))
    send_all(edition)
    (sent,) = postmark.sent
    delivery = Delivery.objects.get()
    assert delivery.message_id == sent["MessageID"]
    assert sent["Metadata"] == {
        "delivery": str(delivery.pk),
        "edition": str(edition.pk),
        "frequency": "daily",
    }
    assert sent["Tag"] == "digest"
    headers = {h["Name"]: h["Value"] for h in sent["Headers"]}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sent["TextBody"] and sent["HtmlBody"]


def test_an_esp_refusing_a_recipient_fails_that_delivery_only(postmark):
    papers_seen(at(-1), "Pruning")
    SubscriberFactory(email="inactive@example.org")
    SubscriberFactory(email="fine@example.org")
    postmark.inactive.add("inactive@example.org")
    send_all(sending.plan_edition("daily", at(0)))
    failed = Delivery.objects.get(subscriber__email="inactive@example.org")
    assert (
        failed.status == Status.FAILED and "recipient refused by the ESP" in failed.failure_reason
    )
    assert Delivery.objects.get(subscriber__email="fine@example.org").status == Status.SENT


def test_an_esp_outage_is_retried_not_failed(postmark):
    papers_seen(at(-1), "Pruning")
    SubscriberFactory.create_batch(2)
    (ids,) = sending.dispatch(sending.plan_edition("daily", at(0)))
    postmark.down = True
    with pytest.raises(TransientSendError, match="HTTP 500"):
        sending.send_chunk(ids)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.PLANNED}
    postmark.down = False
    assert sending.send_chunk(ids)[Delivery.Status.SENT] == 2


# --- previews -----------------------------------------------------------------------------------


def test_the_next_digest_preview_sends_and_stores_nothing(mailoutbox):
    papers_seen(timezone.now(), "Pruning today")
    subscriber = SubscriberFactory()
    message, matches = previews.next_digest(subscriber)
    assert message.subject.startswith("1 new paper on pruning")
    assert [m.paper_id for m in matches] and not mailoutbox
    assert not Edition.objects.exists() and not Delivery.objects.exists()


def test_recording_a_sent_message_waits_through_a_database_restart(monkeypatch):
    from django.db import OperationalError

    monkeypatch.setattr(sending, "RECORD_PAUSES", (0, 0, 0))
    monkeypatch.setattr(sending.connection, "close", lambda: None)
    calls = []

    def mark():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("server closed the connection unexpectedly")

    sending.record_durably(mark)
    assert len(calls) == 3

    def always_down():
        raise OperationalError("connection refused")

    with pytest.raises(OperationalError):
        sending.record_durably(always_down)


def test_hostile_feed_text_is_inert_in_both_parts_of_the_email(smtp_sink):
    from digest.ingest import sources
    from tests.support.hostile_feeds import rss

    hostile = rss(
        "<item><title>Pruning &lt;script&gt;alert(1)&lt;/script&gt; "
        "&lt;/style&gt;&lt;style&gt;body{display:none}&lt;/style&gt; \u202egnp.exe\u202c</title>"
        "<link>javascript:alert(document.cookie)</link>"
        '<description>&lt;a href="javascript:alert(1)" style="position:fixed;top:0"&gt;'
        "pruning&lt;/a&gt; &lt;img src=x onerror=alert(1)&gt; expression(alert(1))</description>"
        "<guid>https://example.org/p/1</guid></item>"
    )
    assert not sources.ingest_body(hostile, label="hostile").error
    Paper.objects.update(first_seen_at=at(-1))
    SubscriberFactory(query="pruning")
    send_all(sending.plan_edition("daily", at(0)))
    text, html = text_and_html(smtp_sink.messages[0])
    assert "Pruning" in html
    for part in (text, html):
        assert "\u202e" not in part and "\u202c" not in part
        assert "javascript:" not in part.lower()
    lowered = html.lower()
    assert "<script" not in lowered and "<img" not in lowered and "onerror" not in lowered
    assert lowered.count("<style") == 1  # ours: the media queries kept for dark mode and phones
    assert "display:none}" not in lowered.replace(" ", "")
    assert "position:fixed" not in lowered.replace(" ", "")


def test_planning_hands_out_each_batch_as_it_is_planned(monkeypatch, settings):
    monkeypatch.setattr(sending, "PLAN_BATCH", 2)
    settings.DELIVERY_CHUNK_SIZE = 2
    SubscriberFactory.create_batch(5)
    handed_out: list[list[int]] = []

    def hand_out(edition: Edition, subscribers: list[int]) -> None:
        assert edition.planned_at is None  # still planning
        handed_out.extend(sending.dispatch(edition, subscribers=subscribers))

    edition = sending.plan_edition("daily", at(0), on_batch=hand_out)
    assert [len(chunk) for chunk in handed_out] == [2, 2, 1]
    assert sorted(pk for chunk in handed_out for pk in chunk) == sorted(
        edition.deliveries.values_list("pk", flat=True)
    )
    assert sending.dispatch(edition) == []  # nothing handed out twice
    assert edition.planned_at is not None


def test_a_batch_hands_out_only_its_own_deliveries(monkeypatch):
    monkeypatch.setattr(sending, "PLAN_BATCH", 2)
    first_two = {s.pk for s in SubscriberFactory.create_batch(2)}
    rest = {s.pk for s in SubscriberFactory.create_batch(3)}

    def stop(edition: Edition, subscribers: list[int]) -> None:
        raise RuntimeError("the planner stopped after its first batch")

    with pytest.raises(RuntimeError):
        sending.plan_edition("daily", at(0), on_batch=stop)
    per_batch: list[set[int]] = []

    def hand_out(edition: Edition, subscribers: list[int]) -> None:
        ids = [pk for chunk in sending.dispatch(edition, subscribers=subscribers) for pk in chunk]
        per_batch.append(
            set(Delivery.objects.filter(pk__in=ids).values_list("subscriber", flat=True))
        )
        assert per_batch[-1] == set(subscribers)

    edition = sending.plan_edition("daily", at(0.1), on_batch=hand_out)
    assert set().union(*per_batch) == rest and len(per_batch) == 2
    (left,) = sending.dispatch(edition)  # what the task's last call hands out
    assert set(Delivery.objects.filter(pk__in=left).values_list("subscriber", flat=True)) == (
        first_two
    )


def test_a_chunk_costs_a_few_queries_plus_three_per_message(mailoutbox):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    papers_seen(at(-1), "Global channel pruning", "Pruning at scale")
    SubscriberFactory.create_batch(6, query="pruning")
    SubscriberFactory(query="quantum chemistry")  # skipped: one UPDATE too
    edition = sending.plan_edition("daily", at(0))
    (ids,) = sending.dispatch(edition)
    with CaptureQueriesContext(connection) as queries:
        sending.send_chunk(ids)
    # Claims two at a time (one sender): each a transaction (savepoint, lock, UPDATE,
    # release) and then its rows with their subscriber and edition; the papers once,
    # last_digest_at; the skip's UPDATE; per sent message the claim renewed and the mark.
    sql = [q["sql"] for q in queries]
    per_message = [q for q in sql if q.startswith('UPDATE "digest_delivery"')]
    others = [q for q in sql if not q.startswith('UPDATE "digest_delivery"')]
    claims = 4  # 7 deliveries, two at a time
    assert len(others) == 4 * claims + 1 + 1, others
    assert len(per_message) == claims + 1 + 2 * 6
    assert len(mailoutbox) == 6
    assert all("Global channel pruning" in m.body for m in mailoutbox)


def test_a_chunk_sends_the_edition_as_it_is_now_after_an_edit_a_hide_or_an_arrival(mailoutbox):
    first, second = papers_seen(at(-1), "Pruning one", "Pruning two")
    SubscriberFactory.create_batch(4, query="pruning")
    edition = sending.plan_edition("daily", at(0))
    chunks = [[pk] for chunk in sending.dispatch(edition) for pk in chunk]
    sending.send_chunk(chunks[0])
    Paper.objects.filter(pk=first.pk).update(title="Pruning one, edited", updated_at=timezone.now())
    sending.send_chunk(chunks[1])
    Paper.objects.filter(pk=second.pk).update(hidden=True, updated_at=timezone.now())
    sending.send_chunk(chunks[2])
    papers_seen(at(-0.3), "Pruning three, arrived late")
    sending.send_chunk(chunks[3])
    bodies = [m.body for m in mailoutbox]
    assert ["Pruning one, edited" in b for b in bodies] == [False, True, True, True]
    assert ["Pruning two" in b for b in bodies] == [True, True, False, False]
    assert ["Pruning three" in b for b in bodies] == [False, False, False, True]


def claimed(edition: Edition) -> list[Delivery]:
    return sending.claim_deliveries(list(edition.deliveries.values_list("pk", flat=True)))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_mark_on_a_broken_connection_is_retried_on_a_new_one(monkeypatch):
    from django.db import connection

    monkeypatch.setattr(sending, "RECORD_PAUSES", (0, 0))
    SubscriberFactory()
    (delivery,) = claimed(sending.plan_edition("daily", at(0)))
    connection.ensure_connection()
    connection.connection.close()  # as a PostgreSQL restart leaves it
    sending.record_durably(lambda: delivery.mark_sent("<id@localhost>", [3, 1], "pruning"))
    stored = Delivery.objects.get(pk=delivery.pk)
    assert (stored.status, stored.paper_ids, stored.query) == ("sent", [3, 1], "pruning")
    assert stored.message_id == "<id@localhost>" and stored.sent_at is not None


def test_marks_keep_odd_values_intact():
    SubscriberFactory.create_batch(3)
    deliveries = claimed(sending.plan_edition("daily", at(0)))
    odd = "quotes ' \" \\ back\\slash; DROP TABLE x; -- %s %(name)s «ünïcode» 🧪"
    for i, delivery in enumerate(deliveries):
        assert delivery.mark_sent(f"<{i}-{odd}@localhost>", [i, 7], f"{odd}\npruning {i}")
    stored = list(Delivery.objects.order_by("pk").values_list("message_id", "paper_ids", "query"))
    assert stored == [(f"<{i}-{odd}@localhost>", [i, 7], f"{odd}\npruning {i}") for i in range(3)]


def test_a_worker_whose_lease_passed_cannot_mark_a_row_another_worker_holds(settings):
    SubscriberFactory()
    edition = sending.plan_edition("daily", at(0))
    (late,) = claimed(edition)
    with time_machine.travel(
        timezone.now() + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS + 1)
    ):
        sending.sweep()
    (current,) = claimed(edition)
    assert current.claim != late.claim
    assert not late.renew_claim()
    assert not late.mark_sent("<late@localhost>", [1], "pruning")
    assert not late.mark_failed("the late worker's view")
    sending.release([late], "the late worker gives up")
    stored = Delivery.objects.get()
    assert (stored.status, stored.claim, stored.message_id) == ("sending", current.claim, "")
    assert current.mark_sent("<current@localhost>", [1], "pruning")
    assert Delivery.objects.get().message_id == "<current@localhost>"


def test_each_delivery_has_its_own_message_key_and_planning_twice_adds_none():
    subscribers = SubscriberFactory.create_batch(3)
    edition = sending.plan_edition("daily", at(0))
    again = [(s.pk, s.created_at, None) for s in subscribers]
    sending.create_deliveries(edition, "2026-11-23", again)  # no duplicates
    keys = list(Delivery.objects.values_list("message_key", flat=True))
    assert len(keys) == len(set(keys)) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", key) for key in keys)


# --- keyword-free digests and ranking by upvotes ------------------------------------------------


def test_a_reader_who_names_nothing_gets_the_most_upvoted_papers(smtp_sink):
    for title, votes in [("Quiet", None), ("Popular", 120), ("Famous", 900), ("Liked", 40)]:
        PaperFactory(title=f"{title} paper", upvotes=votes, first_seen_at=at(-2))
    reader = SubscriberFactory(query="", per_email=3)
    send_all(sending.plan_edition("daily", at(0)))
    assert reader.deliveries.get().paper_ids == [
        Paper.objects.get(title=f"{t} paper").pk for t in ("Famous", "Popular", "Liked")
    ]
    (message,) = smtp_sink.messages
    assert subject(message) == "The 3 most upvoted new papers — Nov 23"
    assert_email_contains(message, "The 3 most upvoted new papers")
    assert_email_contains(message, "900 upvotes")


def test_most_upvoted_first_ranks_all_of_a_readers_matches_by_upvotes():
    # "pruning" in the title matches best; in the abstract alone, less well.
    papers = {
        votes: PaperFactory(
            title=f"{'Pruning networks' if votes < 10 else 'Sparse networks'}, {votes}",
            upvotes=votes,
            first_seen_at=at(-1),
        )
        for votes in [3, 50, 7, 400, 0]
    }
    PaperFactory(
        title="Diffusion, the most upvoted",
        abstract="Denoising.",
        upvotes=10_000,
        first_seen_at=at(-1),
    )
    by_relevance = SubscriberFactory(query="pruning", per_email=2)
    by_votes = SubscriberFactory(query="pruning", per_email=2, ranking="trending")
    send_all(sending.plan_edition("daily", at(0)))
    assert by_votes.deliveries.get().paper_ids == [papers[400].pk, papers[50].pk]
    assert by_relevance.deliveries.get().paper_ids == [papers[7].pk, papers[3].pk]
