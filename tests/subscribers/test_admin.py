from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from digest.models import Announcement, Delivery, Edition
from subscribers.models import Subscriber
from tests.factories import PaperFactory, SubscriberFactory
from tests.support.links import assert_no_live_links

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:subscribers_subscriber_changelist")


def test_subscribers_can_be_searched_and_filtered(admin_client):
    SubscriberFactory(email="ada@example.org", frequency="weekly")
    SubscriberFactory(email="bob@example.org", status="pending")
    assert "ada@example.org" in admin_client.get(CHANGELIST, {"q": "ADA@"}).content.decode()
    filtered = admin_client.get(CHANGELIST, {"status__exact": "pending"}).content.decode()
    assert "bob@example.org" in filtered and "ada@example.org" not in filtered


def test_the_audit_trail_is_shown_on_the_subscriber(admin_client):
    subscriber = SubscriberFactory(status="pending")
    subscriber.confirm()
    page = admin_client.get(reverse("admin:subscribers_subscriber_change", args=[subscriber.pk]))
    assert "confirmed by email link" in page.content.decode()


def test_resend_confirmation_action_emails_pending_subscribers_only(
    admin_client, django_capture_on_commit_callbacks
):
    pending, active = SubscriberFactory(status="pending"), SubscriberFactory()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            CHANGELIST,
            {
                "action": "resend_confirmation",
                "_selected_action": [pending.pk, active.pk],
                "confirmed": "yes",
            },
        )
    assert [m.to for m in mail.outbox] == [[pending.email]]


def test_unsubscribe_action_records_the_operator(admin_client, admin_user):
    subscriber = SubscriberFactory()
    admin_client.post(
        CHANGELIST,
        {"action": "unsubscribe", "_selected_action": [subscriber.pk], "confirmed": "yes"},
    )
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    assert subscriber.status_changes.get().reason == f"unsubscribed by operator {admin_user}"


def test_the_confirmation_page_names_its_action_whatever_the_changelist_posted(
    admin_client, monkeypatch
):
    from subscribers.admin import SubscriberAdmin

    monkeypatch.setattr(SubscriberAdmin, "actions_on_bottom", True)  # two action bars
    subscriber = SubscriberFactory()
    first = admin_client.post(
        CHANGELIST, {"action": ["unsubscribe", ""], "index": 0, "_selected_action": [subscriber.pk]}
    )
    assert 'name="action" value="unsubscribe"' in first.content.decode()
    admin_client.post(
        CHANGELIST,
        {"action": "unsubscribe", "_selected_action": [subscriber.pk], "confirmed": "yes"},
    )
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED


def test_operators_can_preview_a_subscribers_next_digest(admin_client, mailoutbox):
    PaperFactory(title="Global channel pruning")
    subscriber = SubscriberFactory(query="pruning")
    change = admin_client.get(reverse("admin:subscribers_subscriber_change", args=[subscriber.pk]))
    assert "Preview the next digest" in change.content.decode()
    page = admin_client.get(reverse("admin:subscribers_subscriber_preview", args=[subscriber.pk]))
    assert page.status_code == 200
    assert "1 new paper on your topics" in page.content.decode()
    assert not mailoutbox


def test_it_previews_the_next_digest_with_inert_links_even_for_a_superuser(admin_client):
    PaperFactory(title="Global channel pruning")
    subscriber = SubscriberFactory(query="pruning")
    page = admin_client.get(reverse("admin:subscribers_subscriber_preview", args=[subscriber.pk]))
    html = page.content.decode()
    assert "Global channel pruning" in html
    assert "links, disabled in previews" in html
    assert_no_live_links(html, subscriber)


@pytest.mark.parametrize("group", [None, "viewer"])
def test_it_previews_only_for_staff_who_may_view_subscribers(client, django_user_model, group):
    subscriber = SubscriberFactory(query="pruning")
    user = django_user_model.objects.create_user("someone", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    response = client.get(reverse("admin:subscribers_subscriber_preview", args=[subscriber.pk]))
    assert response.status_code == (200 if group else 403)
    assert (subscriber.email in response.content.decode()) == bool(group)


def test_digest_previews_are_for_staff_only(client):
    subscriber = SubscriberFactory()
    response = client.get(reverse("admin:subscribers_subscriber_preview", args=[subscriber.pk]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_it_sends_the_confirmation_to_a_subscriber_added_in_the_admin(
    admin_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:subscribers_subscriber_add"), NEW_SUBSCRIBER)
    assert response.status_code == 302
    subscriber = Subscriber.objects.get()
    assert (subscriber.email, subscriber.status) == ("new@example.org", "pending")
    assert subscriber.status_changes.get().reason == "added in the admin by admin"
    (message,) = mail.outbox
    assert message.subject == "Confirm your Paper Digest subscription"


def test_it_explains_that_an_address_added_in_the_admin_is_already_known(admin_client):
    SubscriberFactory(email="New@Example.org", status="unsubscribed")
    response = admin_client.post(reverse("admin:subscribers_subscriber_add"), NEW_SUBSCRIBER)
    assert response.status_code == 200
    assert "already a subscriber" in response.content.decode()
    assert Subscriber.objects.get().status == "unsubscribed"


NEW_SUBSCRIBER = {
    "email": "new@example.org",
    "query": "pruning",
    "frequency": "daily",
    "per_email": "10",
    "time_zone": "Asia/Kolkata",
    "send_hour": "9",
    "send_weekday": "0",
    "ranking": "relevance",
    "listing": "cross",
    "status_changes-TOTAL_FORMS": "0",
    "status_changes-INITIAL_FORMS": "0",
    "status_changes-MIN_NUM_FORMS": "0",
    "status_changes-MAX_NUM_FORMS": "0",
    "esp_events-TOTAL_FORMS": "0",
    "esp_events-INITIAL_FORMS": "0",
    "esp_events-MIN_NUM_FORMS": "0",
    "esp_events-MAX_NUM_FORMS": "0",
    "seeds-TOTAL_FORMS": "0",
    "seeds-INITIAL_FORMS": "0",
    "seeds-MIN_NUM_FORMS": "0",
    "seeds-MAX_NUM_FORMS": "0",
}


def test_the_admin_refuses_lines_of_exclusions_alone_and_unknown_time_zones(admin_client):
    subscriber = SubscriberFactory(query="pruning")
    url = reverse("admin:subscribers_subscriber_change", args=[subscriber.pk])
    data = {**NEW_SUBSCRIBER, "email": subscriber.email, "query": "-survey"}
    for inline in ("deliveries", "feedback"):
        data.update({f"{inline}-TOTAL_FORMS": "0", f"{inline}-INITIAL_FORMS": "0"})
    response = admin_client.post(url, data)
    assert "only excludes words" in response.content.decode()
    response = admin_client.post(url, {**data, "query": "", "time_zone": "Mars/Base"})
    assert "Not a time zone we know" in response.content.decode()
    subscriber.refresh_from_db()
    assert (subscriber.query, subscriber.time_zone) == ("pruning", "UTC")
    assert admin_client.post(url, {**data, "query": ""}).status_code == 302
    subscriber.refresh_from_db()
    assert subscriber.wants_top_papers and subscriber.time_zone == "Asia/Kolkata"


def test_the_subscriber_page_shows_their_seeds_and_interest_and_no_live_links(admin_client):
    from digest.matching import profiles
    from digest.matching.seeds import SeedRef

    paper = PaperFactory(title="Federated Averaging")
    subscriber = SubscriberFactory(query="", interest="privacy-preserving training")
    profiles.set_seeds(subscriber, [SeedRef(arxiv_id=paper.arxiv_id)])
    page = admin_client.get(reverse("admin:subscribers_subscriber_change", args=[subscriber.pk]))
    html = page.content.decode()
    assert "privacy-preserving training" in html and "Federated Averaging" in html
    assert_no_live_links(html, subscriber)


# --- keywords and delivery history ------------------------------------------------------------


def change_page_of(client, subscriber) -> str:
    return client.get(reverse("admin:subscribers_subscriber_change", args=[subscriber.pk]))


def deliver(subscriber, count: int, **fields) -> list[Delivery]:
    """`count` daily editions, one delivery each to the subscriber, a day apart, newest last."""
    start = timezone.now() - timedelta(days=count)
    deliveries = []
    for day in range(count):
        end = start + timedelta(days=day + 1)
        edition = Edition.objects.create(
            frequency="daily",
            period=end.date(),
            window_start=end - timedelta(days=1),
            window_end=end,
        )
        deliveries.append(
            Delivery.objects.create(
                subscriber=subscriber,
                edition=edition,
                period=f"{end.date()}",
                created_at=end,
                **fields,
            )
        )
    return deliveries


def test_the_list_shows_each_subscribers_keywords_shortened_and_escaped(admin_client):
    SubscriberFactory(email="ada@example.org", query="federated learning\n<b>pruning</b>")
    SubscriberFactory(email="bob@example.org", query="\n".join(f"topic{n}" for n in range(30)))

    html = admin_client.get(CHANGELIST).content.decode()

    assert '<td class="field-keywords">federated learning, &lt;b&gt;pruning&lt;/b&gt;</td>' in html
    assert "<b>pruning</b>" not in html
    everything = ", ".join(f"topic{n}" for n in range(30))
    assert f'<span title="{everything}">topic0, topic1,' in html
    assert f">{everything}<" not in html and "…</span>" in html


def test_subscribers_are_found_by_keyword(admin_client):
    SubscriberFactory(email="ada@example.org", query="federated learning")
    SubscriberFactory(email="bob@example.org", query="graph neural networks")

    html = admin_client.get(CHANGELIST, {"q": "Federated"}).content.decode()

    assert "ada@example.org" in html and "bob@example.org" not in html


def test_the_subscriber_page_shows_their_latest_deliveries_without_live_links(admin_client):
    subscriber = SubscriberFactory()
    failed, sent = deliver(
        subscriber, 2, status="sent", sent_at=timezone.now(), paper_ids=[3, 1, 2]
    )
    Delivery.objects.filter(pk=failed.pk).update(
        status="failed", sent_at=None, failure_reason="550 mailbox unavailable", paper_ids=[]
    )
    announcement = Announcement.objects.create(subject="We moved", body="New address.")
    Delivery.objects.create(subscriber=subscriber, announcement=announcement, status="planned")

    html = change_page_of(admin_client, subscriber).content.decode()

    assert "Deliveries (the latest 50)" in html
    assert "550 mailbox unavailable" in html and "Announcement: We moved" in html
    assert str(sent.edition) in html and str(failed.edition) in html
    assert re.findall(r'class="field-papers">\s*<p>(\d+)</p>', html) == [
        "0",
        "3",
        "0",
    ]  # newest first
    as_sent = reverse("admin:digest_delivery_as_sent", args=[sent.pk])
    assert html.count('/as-sent/"') == 1 and f'<a href="{as_sent}"' in html
    every = f"{reverse('admin:digest_delivery_changelist')}?subscriber__id__exact={subscriber.pk}"
    assert f'<a href="{every}">Every delivery to this subscriber</a>' in html
    assert "Only the latest" not in html
    assert_no_live_links(html, subscriber, sent)


def test_the_delivery_history_is_bounded_and_costs_the_same_queries_however_long(admin_client):
    short, long = SubscriberFactory(), SubscriberFactory()
    deliver(short, 2, status="sent", paper_ids=[1])
    deliveries = deliver(long, 60, status="sent", paper_ids=[1])

    with CaptureQueriesContext(connection) as few:
        change_page_of(admin_client, short)
    with CaptureQueriesContext(connection) as many:
        html = change_page_of(admin_client, long).content.decode()

    assert len(many) == len(few)
    assert html.count('class="field-papers"') == 50
    assert str(deliveries[-1].edition) in html and str(deliveries[9].edition) not in html
    assert "Only the latest 50 are shown." in html
    changelist = admin_client.get(
        reverse("admin:digest_delivery_changelist"), {"subscriber__id__exact": long.pk}
    )
    assert "60 deliveries" in changelist.content.decode()


def test_saving_a_subscriber_leaves_their_delivery_history_alone(admin_client):
    subscriber = SubscriberFactory(query="pruning")
    (delivery,) = deliver(subscriber, 1, status="sent", paper_ids=[1])
    page = change_page_of(admin_client, subscriber)
    form = page.context["adminform"].form
    data = {name: form.initial[name] for name in form.fields if form.initial.get(name) is not None}
    data.pop("paused", None)  # an unchecked box is sent as nothing
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        data.update({f"{management.prefix}-{k}": v for k, v in management.initial.items()})
        for form in formset.formset.initial_forms:
            data.update(
                {f"{form.prefix}-id": form.instance.pk, f"{form.prefix}-subscriber": subscriber.pk}
            )

    response = admin_client.post(
        reverse("admin:subscribers_subscriber_change", args=[subscriber.pk]),
        {**data, "query": "pruning OR distillation"},
    )

    assert response.status_code == 302
    subscriber.refresh_from_db()
    assert subscriber.query == "pruning OR distillation"
    assert Delivery.objects.get() == delivery


def test_the_delivery_history_needs_permission_to_view_deliveries(client, django_user_model):
    subscriber = SubscriberFactory()
    deliver(subscriber, 1, status="failed", failure_reason="550 mailbox unavailable")
    user = django_user_model.objects.create_user("helpdesk", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_subscriber"))
    client.force_login(user)

    html = change_page_of(client, subscriber).content.decode()

    assert subscriber.email in html
    assert "550 mailbox unavailable" not in html and "Deliveries (the latest" not in html
    assert reverse("admin:digest_delivery_changelist") not in html
    user.user_permissions.add(Permission.objects.get(codename="view_delivery"))
    assert "550 mailbox unavailable" in change_page_of(client, subscriber).content.decode()


def test_a_staff_login_without_permissions_sees_no_subscriber(client, django_user_model):
    subscriber = SubscriberFactory(query="federated learning")
    client.force_login(django_user_model.objects.create_user("nobody", is_staff=True))

    assert change_page_of(client, subscriber).status_code == 403
    assert client.get(CHANGELIST, {"q": "federated"}).status_code == 403
