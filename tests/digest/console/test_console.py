"""The operator's console: dashboard, permissions, source/paper/edition tools, test digests."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from digest.delivery import previews
from digest.models import Delivery, Edition, Paper, Source
from subscribers.models import StatusChange, Subscriber
from tests.factories import PaperFactory, SubscriberFactory
from tests.support.links import assert_no_live_links
from tests.support.mail import assert_email_contains, subject, text_and_html

pytestmark = pytest.mark.django_db


def act(client, model: str, action: str, ids: list[int], **extra):
    url = reverse(f"admin:digest_{model}_changelist")
    return client.post(url, {"action": action, "_selected_action": ids, **extra}, follow=True)


# --- dashboard ------------------------------------------------------------------------------


def test_dashboard_shows_subscribers_editions_sources_and_a_chart(admin_client):
    SubscriberFactory(status="active", frequency="daily")
    SubscriberFactory(status="active", frequency="weekly")
    SubscriberFactory(status="pending")
    Source.objects.create(
        name="cs.LG listing",
        url="https://rss.arxiv.org/rss/cs.LG",
        kind="arxiv-rss",
        last_status="error",
        last_error="HTTP 503 from arXiv",
    )
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "Subscribers" in page and "Pending confirmation" in page
    assert "<svg" in page and "Signups and confirmations per day" in page
    assert "cs.LG listing" in page and "HTTP 503 from arXiv" in page
    assert "Send the daily edition" not in page  # schedules live under Periodic tasks
    assert "Tasks run inside the web process" in page  # no broker in this test
    assert "Daily" in page and "Weekly" in page


def test_dashboard_warns_when_complaints_pass_gmails_limit(admin_client):
    subscriber = SubscriberFactory(status="active")
    edition = Edition.objects.create(
        frequency="daily",
        period=timezone.now().date(),
        window_start=timezone.now() - timedelta(days=1),
        window_end=timezone.now(),
    )
    Delivery.objects.create(
        subscriber=subscriber,
        edition=edition,
        period=edition.period.isoformat(),
        window_start=edition.window_start,
        status="sent",
        sent_at=timezone.now(),
    )
    assert "above Gmail" not in admin_client.get(reverse("admin:index")).content.decode()
    StatusChange.objects.create(
        subscriber=subscriber,
        from_status="active",
        to_status="complained",
        reason="Postmark: SpamComplaint",
    )
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "above Gmail&#x27;s 0.3% limit" in page or "above Gmail's 0.3% limit" in page
    assert "100.00%" in page


def edition_in_progress(now, *, sent_last_minute: int, unfinished: int) -> Edition:
    edition = Edition.objects.create(
        frequency="daily",
        period=now.date(),
        window_start=now - timedelta(days=1),
        window_end=now,
    )
    for n in range(sent_last_minute + 2 + unfinished):
        delivery = Delivery(
            subscriber=SubscriberFactory(),
            edition=edition,
            period=edition.period.isoformat(),
            window_start=edition.window_start,
        )
        if n < sent_last_minute:
            delivery.status, delivery.sent_at = "sent", now - timedelta(seconds=10 + n)
        elif n < sent_last_minute + 2:  # sent earlier: not part of the rate
            delivery.status, delivery.sent_at = "sent", now - timedelta(minutes=5)
        delivery.save()
    return edition


def test_it_computes_the_send_rate_and_eta_of_an_edition_in_progress():
    from digest.console.dashboard import send_progress

    now = timezone.now()
    edition = edition_in_progress(now, sent_last_minute=30, unfinished=60)
    progress = send_progress(edition, now)
    assert (progress.per_second, progress.unfinished) == (0.5, 60)
    assert progress.eta == timedelta(minutes=2)


def test_it_has_no_eta_when_nothing_was_sent_in_the_last_minute():
    from digest.console.dashboard import send_progress

    now = timezone.now()
    progress = send_progress(edition_in_progress(now, sent_last_minute=0, unfinished=4), now)
    assert (progress.per_second, progress.unfinished, progress.eta) == (0.0, 4, None)


def test_dashboard_shows_the_send_rate_eta_and_configured_limits(admin_client, settings):
    settings.SEND_RATE_PER_SECOND, settings.SEND_CONCURRENCY = 25, 6
    edition_in_progress(timezone.now(), sent_last_minute=30, unfinished=60)
    page = " ".join(admin_client.get(reverse("admin:index")).content.decode().split())
    assert "Sending 0.5 messages/s over the last minute" in page
    assert "60 unfinished, done in about 2 minutes" in page
    assert "Configured: at most 25 messages/s (SEND_RATE_PER_SECOND)" in page
    assert "6 in flight per worker (SEND_CONCURRENCY)" in page


def test_signups_and_confirmations_are_counted_per_day():
    from digest.console.dashboard import daily_signups

    now = timezone.now()
    SubscriberFactory(created_at=now)
    SubscriberFactory(created_at=now - timedelta(days=2))
    SubscriberFactory(created_at=now - timedelta(days=40))
    days = daily_signups(30, now)
    assert len(days) == 30 and days[-1].day == now.date()
    assert days[-1].signups == 1 and days[-3].signups == 1
    assert sum(d.signups for d in days) == 2


# --- permissions ------------------------------------------------------------------------------

ADMIN_PAGES = [
    "admin:index",
    "admin:digest_source_changelist",
    "admin:digest_source_add",
    "admin:digest_paper_changelist",
    "admin:digest_edition_changelist",
    "admin:digest_delivery_changelist",
    "admin:digest_fetchlog_changelist",
    "admin:subscribers_subscriber_changelist",
    "admin:subscribers_subscriber_import",
    "admin:send_test_digest",
    "admin:django_celery_beat_periodictask_changelist",
]


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_admin_pages_render_for_staff(admin_client, name):
    assert admin_client.get(reverse(name)).status_code == 200


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_admin_pages_are_refused_to_visitors_and_non_staff(client, django_user_model, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(django_user_model.objects.create_user("someone", password="pw-1234567"))
    response = client.get(reverse(name))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_viewer_can_read_but_not_act(client, staff):
    client.force_login(staff("viewer"))
    paper = PaperFactory(title="Spam paper")
    assert client.get(reverse("admin:digest_paper_changelist")).status_code == 200
    act(client, "paper", "hide", [paper.pk], confirmed="yes")
    paper.refresh_from_db()
    assert not paper.hidden
    assert client.get(reverse("admin:send_test_digest")).status_code == 403
    assert client.get(reverse("admin:subscribers_subscriber_import")).status_code == 403


def test_groups_from_the_migration_give_operators_the_tools():
    operator = Group.objects.get(name="operator").permissions.values_list("codename", flat=True)
    assert {
        "change_paper",
        "retry_edition",
        "send_test_digest",
        "import_subscribers",
        "export_subscribers",
        "change_periodictask",
    } <= set(operator)
    assert "delete_subscriber" not in operator
    viewer = Group.objects.get(name="viewer").permissions.values_list("codename", flat=True)
    assert viewer and all(code.startswith("view_") for code in viewer)


def test_admin_login_attempts_are_rate_limited(client, settings):
    settings.ADMIN_LOGIN_LIMIT = 3
    url = reverse("admin:login")
    codes = [
        client.post(url, {"username": "root", "password": f"guess{i}"}).status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]


# --- sources ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind", "message"),
    [
        ("ftp://example.org/feed", "feed", "Feeds are fetched over http or https only."),
        ("https://user:pw@example.org/feed", "feed", "Leave credentials out of the URL"),
        ("https://example.org/api?q=x", "arxiv-api", "export.arxiv.org"),
    ],
)
def test_source_form_explains_what_is_wrong(admin_client, url, kind, message):
    response = admin_client.post(
        reverse("admin:digest_source_add"), {"name": "x", "url": url, "kind": kind, "enabled": "on"}
    )
    assert response.status_code == 200 and message in response.content.decode()
    assert not Source.objects.exists()


def test_test_fetch_shows_what_would_be_ingested_and_stores_nothing(
    admin_client, feed_server, data_dir
):
    body = (data_dir / "feeds" / "arxiv-rss.xml").read_bytes()
    url = feed_server.route("/rss", body=body)
    source = Source.objects.create(name="cs.LG", url=url, kind="arxiv-rss", etag='"v1"')
    response = act(admin_client, "source", "test_fetch", [source.pk])
    page = response.content.decode()
    assert "12 papers" in page and "12 would be new" in page
    assert "Global Channel Pruning" in page
    assert Paper.objects.count() == 0
    source.refresh_from_db()
    assert source.etag == '"v1"' and source.last_status == "never"


def test_disable_asks_first_then_stops_fetching(admin_client):
    source = Source.objects.create(
        name="HF", url="https://huggingface.co/api/daily_papers", kind="hf-daily"
    )
    first = act(admin_client, "source", "disable", [source.pk])
    assert "Disable these sources?" in first.content.decode()
    source.refresh_from_db()
    assert source.enabled
    act(admin_client, "source", "disable", [source.pk], confirmed="yes")
    source.refresh_from_db()
    assert not source.enabled


# --- papers -----------------------------------------------------------------------------------


def test_hiding_a_paper_keeps_it_out_of_digests_and_the_landing_page(admin_client, client):
    spam = PaperFactory(title="Buy cheap pruning shears now")
    keep = PaperFactory(title="Global Channel Pruning")
    assert "cheap pruning shears" in client.get("/").content.decode()
    act(admin_client, "paper", "hide", [spam.pk], confirmed="yes")
    assert "cheap pruning shears" not in client.get("/").content.decode()

    edition = previews.upcoming_edition("daily")
    assert list(edition.papers()) == [keep]


def test_merging_duplicates_keeps_one_and_hides_the_rest(admin_client):
    a = PaperFactory(title="Grokking Tickets", upvotes=3, pdf_url="")
    b = PaperFactory(
        title="Grokking tickets (HF)", upvotes=40, pdf_url="https://arxiv.org/pdf/2402.00001"
    )
    page = act(admin_client, "paper", "merge_papers", [a.pk, b.pk]).content.decode()
    assert "Keep this one" in page
    act(admin_client, "paper", "merge_papers", [a.pk, b.pk], keep=a.pk)
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.hidden, a.upvotes, a.pdf_url) == (False, 40, "https://arxiv.org/pdf/2402.00001")
    assert b.hidden and b.merged_into == a


def test_papers_filter_by_category(admin_client):
    PaperFactory(title="A vision paper", categories=["cs.CV"])
    PaperFactory(title="A learning paper", categories=["cs.LG", "stat.ML"])
    page = admin_client.get(
        reverse("admin:digest_paper_changelist"), {"category": "cs.LG"}
    ).content.decode()
    assert "A learning paper" in page and "A vision paper" not in page


# --- editions and test digests -----------------------------------------------------------------


def test_retry_failed_resends_only_the_failed_deliveries(admin_client, mailoutbox):
    from digest.delivery import sending

    PaperFactory(title="Pruning at scale")
    ok, broken = SubscriberFactory(query="pruning"), SubscriberFactory(query="pruning")
    edition = sending.plan_edition("daily", any_hour=True)
    Delivery.objects.filter(subscriber=ok).update(status="sent", sent_at=timezone.now())
    Delivery.objects.filter(subscriber=broken).update(
        status="failed", attempts=10, failure_reason="gave up: 421"
    )
    page = admin_client.post(
        reverse("admin:digest_edition_changelist"),
        {"action": "retry_failed", "_selected_action": [edition.pk]},
    )
    assert "Retry failed deliveries?" in page.content.decode() and not mailoutbox
    admin_client.post(
        reverse("admin:digest_edition_changelist"),
        {"action": "retry_failed", "_selected_action": [edition.pk], "confirmed": "yes"},
    )
    assert [m.to for m in mailoutbox] == [[broken.email]]
    retried = Delivery.objects.get(subscriber=broken)
    assert retried.status == "sent"


def unfinished_edition():
    """An edition whose send stopped: one sent, one handed out and lost, one claimed by a
    worker that died (its lease long gone)."""
    from digest.delivery import sending

    PaperFactory(title="Pruning at scale")
    done, lost, stuck = (SubscriberFactory(query="pruning") for _ in range(3))
    edition = sending.plan_edition("daily", any_hour=True)
    now = timezone.now()
    Delivery.objects.filter(subscriber=done).update(status="sent", sent_at=now)
    Delivery.objects.filter(subscriber=lost).update(dispatched_at=now)
    Delivery.objects.filter(subscriber=stuck).update(
        status="sending", claim="dead-worker", claimed_at=now - timedelta(hours=1), attempts=1
    )
    return edition, (lost.email, stuck.email)


def test_it_resumes_an_editions_unfinished_deliveries_after_asking(admin_client, mailoutbox):
    edition, unfinished = unfinished_edition()
    first = act(admin_client, "edition", "resume_unfinished", [edition.pk])
    assert "Resume unfinished deliveries?" in first.content.decode()
    assert "2 unfinished deliveries" in first.content.decode() and not mailoutbox

    done = act(admin_client, "edition", "resume_unfinished", [edition.pk], confirmed="yes")

    assert "Resuming 2 unfinished deliveries" in done.content.decode()
    assert sorted(m.to[0] for m in mailoutbox) == sorted(unfinished)
    assert set(edition.deliveries.values_list("status", flat=True)) == {"sent"}


def test_it_lets_only_operators_resume_an_edition(client, staff, mailoutbox):
    edition, _ = unfinished_edition()
    client.force_login(staff("viewer"))
    act(client, "edition", "resume_unfinished", [edition.pk], confirmed="yes")
    assert not mailoutbox
    assert edition.deliveries.filter(status="sent").count() == 1


def test_edition_page_is_read_only_and_links_to_its_deliveries(admin_client):
    edition = Edition.objects.create(
        frequency="weekly",
        period=timezone.now().date(),
        window_start=timezone.now() - timedelta(days=7),
        window_end=timezone.now(),
    )
    page = admin_client.get(reverse("admin:digest_edition_change", args=[edition.pk]))
    html = page.content.decode()
    assert f"?edition__id__exact={edition.pk}" in html
    assert 'name="_save"' not in html


def test_send_test_digest_for_keywords_is_marked_and_not_recorded(admin_client, mailoutbox):
    PaperFactory(title="Federated learning on phones")
    response = admin_client.post(
        reverse("admin:send_test_digest"),
        {
            "query": "federated learning",
            "frequency": "daily",
            "per_email": 10,
            "to": "operator@example.org",
        },
        follow=True,
    )
    assert "on its way to operator@example.org" in response.content.decode()
    (message,) = mailoutbox
    assert message.subject.startswith("[Test] 1 new paper on federated learning")
    assert message.to == ["operator@example.org"]
    assert not Delivery.objects.exists()


def test_send_test_digest_for_a_subscriber_uses_their_keywords(admin_client, mailoutbox):
    PaperFactory(title="Diffusion models for art")
    SubscriberFactory(email="ada@example.org", query="diffusion", status="active")
    admin_client.post(
        reverse("admin:send_test_digest"),
        {"subscriber_email": "ada@example.org", "frequency": "daily", "per_email": 10},
    )
    (message,) = mailoutbox
    assert message.to == ["admin@example.com"] and "diffusion" in message.subject


@pytest.fixture
def logged_in_operator(client, django_user_model):
    """An operator who logged in through the admin's login form, with the given address."""

    def log_in(email: str):
        user = django_user_model.objects.create_user(
            "ops", email=email, password="a-long-test-password", is_staff=True
        )
        user.groups.add(Group.objects.get(name="operator"))
        credentials = {"username": "ops", "password": "a-long-test-password", "next": "/admin/"}
        assert client.post(reverse("admin:login"), credentials).status_code == 302
        return client

    return log_in


def test_it_sends_a_subscribers_test_digest_to_the_operator_with_inert_links(
    logged_in_operator, smtp_sink
):
    PaperFactory(title="Diffusion models for art")
    ada = SubscriberFactory(email="ada@example.org", query="diffusion")
    client = logged_in_operator("ops@example.org")
    form = client.get(reverse("admin:send_test_digest")).content.decode()
    assert 'value="ops@example.org"' in form

    client.post(
        reverse("admin:send_test_digest"),
        {"subscriber_email": "ada@example.org", "frequency": "daily", "per_email": 10, "to": ""},
    )

    (message,) = smtp_sink.messages
    assert smtp_sink.envelopes[0][1] == ["ops@example.org"]
    assert subject(message).startswith("[Test] 1 new paper on diffusion")
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None
    assert_email_contains(message, "disabled in previews")
    for part in text_and_html(message):
        assert_no_live_links(part, ada)


def test_it_asks_where_to_send_when_the_operator_has_no_address(logged_in_operator, smtp_sink):
    SubscriberFactory(email="ada@example.org", query="diffusion")
    client = logged_in_operator("")
    page = client.post(
        reverse("admin:send_test_digest"),
        {"subscriber_email": "ada@example.org", "frequency": "daily", "per_email": 10, "to": ""},
    )
    assert "Your account has no email address" in page.content.decode()
    assert smtp_sink.messages == []


def test_it_sends_a_keyword_test_digest_with_no_dead_links(admin_client, smtp_sink):
    PaperFactory(title="Federated learning on phones", abs_url="", pdf_url="")
    PaperFactory(title="Federated averaging", upvotes=3)
    admin_client.post(
        reverse("admin:send_test_digest"),
        {"query": "federated", "frequency": "daily", "per_email": 10, "to": ""},
    )
    (message,) = smtp_sink.messages
    text, html = text_and_html(message)
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs and all(re.match(r"https?://[^/\s]+", unescape(h)) for h in hrefs), hrefs
    assert message["List-Unsubscribe"] is None
    assert_no_live_links(text)
    assert_no_live_links(html)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"to": "x@example.org"}, "Give either a subscriber"),
        ({"subscriber_email": "nobody@example.org"}, "No subscriber has that address."),
        ({"query": '"unbalanced', "to": "x@example.org"}, "quote"),
        ({"query": "pruning", "to": "not an address"}, "Email addresses can"),
    ],
)
def test_send_test_digest_form_errors(admin_client, mailoutbox, data, error):
    page = admin_client.post(
        reverse("admin:send_test_digest"), {"frequency": "daily", "per_email": 10, **data}
    )
    assert page.status_code == 200 and error in page.content.decode()
    assert not mailoutbox


def test_subscriber_actions_ask_before_unsubscribing(admin_client):
    subscriber = SubscriberFactory(status="active")
    url = reverse("admin:subscribers_subscriber_changelist")
    admin_client.post(url, {"action": "unsubscribe", "_selected_action": [subscriber.pk]})
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.ACTIVE
    admin_client.post(
        url, {"action": "unsubscribe", "_selected_action": [subscriber.pk], "confirmed": "yes"}
    )
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
