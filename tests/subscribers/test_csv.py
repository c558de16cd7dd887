"""CSV export and import from the subscriber admin: every row reported, nobody activated."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from subscribers.models import StatusChange, Subscriber
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db
IMPORT = "admin:subscribers_subscriber_import"

GOOD_AND_BAD = (
    "email,keywords,frequency,papers_per_email\n"
    "ada@example.org,federated learning,daily,10\n"  # new
    "not-an-address,pruning,daily,10\n"  # bad address
    'bob@example.org,"""unbalanced",weekly,5\n'  # bad keywords: an unbalanced quote
    "ADA@example.org,diffusion,daily,10\n"  # same as line 2
    "cy@example.org,pruning,hourly,10\n"  # bad frequency
    "dee@example.org,pruning,weekly,99\n"  # bad count
    "known@example.org,pruning,daily,10\n"  # already a subscriber
    'eve@example.org,"mixture of experts",weekly,5\n'  # new
)


def upload(client, text: str | bytes, name: str = "list.csv"):
    data = text.encode() if isinstance(text, str) else text
    return client.post(reverse(IMPORT), {"file": SimpleUploadedFile(name, data, "text/csv")})


def test_import_reports_every_row_and_writes_nothing_before_confirmation(admin_client):
    SubscriberFactory(email="known@example.org", status="active")
    page = upload(admin_client, GOOD_AND_BAD).content.decode()
    assert "2 will be created" in page and "1 are already known" in page
    assert "5 have problems" in page
    for message in (
        "Enter a valid email address",
        "quote",
        "Same address as line 2",
        "Frequency must be daily or weekly",
        "from 1 to 50",
    ):
        assert message in page
    assert Subscriber.objects.count() == 1


def test_confirmed_import_creates_pending_subscribers_and_sends_confirmations(
    admin_client, mailoutbox, django_capture_on_commit_callbacks
):
    SubscriberFactory(email="known@example.org", status="active", query="grokking")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse(IMPORT), {"csv": GOOD_AND_BAD, "confirmed": "yes"})
    created = Subscriber.objects.exclude(email="known@example.org")
    assert sorted(created.values_list("email", "status")) == [
        ("ada@example.org", "pending"),
        ("eve@example.org", "pending"),
    ]
    assert sorted(m.to[0] for m in mailoutbox) == ["ada@example.org", "eve@example.org"]
    assert all("Confirm" in m.subject or "confirm" in m.subject for m in mailoutbox)
    assert Subscriber.objects.get(email="known@example.org").query == "grokking"
    assert StatusChange.objects.filter(reason__startswith="imported from CSV by").count() == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"name,topics\nada@example.org,x\n", "including &quot;email&quot;"),
        (b"email\nada@example.org\n", "keywords"),
        ("email,keywords\nzoë@example.org,x\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(admin_client, body, message):
    page = upload(admin_client, body).content.decode()
    assert message in page
    assert not Subscriber.objects.exists()


def test_export_streams_csv_with_formula_cells_defused(admin_client):
    SubscriberFactory(email="ada@example.org", query="federated learning")
    SubscriberFactory(email="=cmd@example.org", query="pruning")
    response = admin_client.post(
        reverse("admin:subscribers_subscriber_changelist"),
        {
            "action": "export_csv",
            "_selected_action": list(Subscriber.objects.values_list("pk", flat=True)),
        },
    )
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["email", "keywords", "frequency"]
    emails = {row[0] for row in rows[1:]}
    assert emails == {"ada@example.org", "'=cmd@example.org"}


def test_export_then_import_round_trips_keywords(admin_client, mailoutbox):
    SubscriberFactory(email="ada@example.org", query="-federated fairness")
    response = admin_client.post(
        reverse("admin:subscribers_subscriber_changelist"),
        {"action": "export_csv", "_selected_action": [Subscriber.objects.get().pk]},
    )
    exported = b"".join(response.streaming_content).decode()
    Subscriber.objects.all().delete()
    admin_client.post(reverse(IMPORT), {"csv": exported, "confirmed": "yes"})
    assert Subscriber.objects.get().query == "-federated fairness"


def test_a_row_without_keywords_imports_a_reader_of_the_most_upvoted_papers(admin_client):
    admin_client.post(
        reverse(IMPORT), {"csv": "email,keywords\nhedy@example.org,\n", "confirmed": "yes"}
    )
    reader = Subscriber.objects.get()
    assert reader.email == "hedy@example.org" and reader.wants_top_papers
