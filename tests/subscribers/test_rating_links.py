"""The "more / less like this" links in digests: a one-button page on GET (nothing changes,
nothing submits itself), the rating on POST (idempotent, undoable, limited per link), and
every kind of bad link refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from digest.delivery.links import RATE_SALT, make_rating_token
from digest.models import Delivery, Edition
from subscribers import subscriptions
from subscribers.models import Feedback
from tests.factories import PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


def sent_digest(subscriber, papers) -> Delivery:
    end = timezone.now()
    edition = Edition.objects.create(
        frequency="daily", period=end.date(), window_start=end - timedelta(days=1), window_end=end
    )
    return Delivery.objects.create(
        subscriber=subscriber,
        edition=edition,
        period=f"{end.date()}",
        status="sent",
        paper_ids=[p.pk for p in papers],
    )


@pytest.fixture
def reader():
    return SubscriberFactory(status="active", query="learning")


@pytest.fixture
def papers():
    return [PaperFactory(title="Federated learning at scale"), PaperFactory(title="Galaxies")]


@pytest.fixture
def delivery(reader, papers):
    return sent_digest(reader, papers)


def url(token: str) -> str:
    return reverse("rate", args=[token])


def test_get_shows_one_button_and_changes_nothing(client, delivery, papers):
    page = client.get(url(make_rating_token(delivery, papers[0].pk, "more")))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Federated learning at scale" in html
    assert 'method="post"' in html and "<script" not in html.split("<main", 1)[-1]
    assert not Feedback.objects.exists()
    assert client.head(url(make_rating_token(delivery, papers[0].pk, "more"))).status_code == 200
    assert not Feedback.objects.exists()


def test_post_records_it_once_however_often_and_says_what_changed(client, delivery, papers):
    token = make_rating_token(delivery, papers[1].pk, "less")
    for _ in range(3):
        page = client.post(url(token))
        assert page.status_code == 200
    assert "fewer papers like <em>Galaxies</em>" in page.content.decode()
    rating = Feedback.objects.get()
    assert (rating.action, rating.paper_id, rating.delivery_id) == (
        "less",
        papers[1].pk,
        delivery.pk,
    )


def test_undo_takes_it_back(client, reader, delivery, papers):
    token = make_rating_token(delivery, papers[0].pk, "more")
    client.post(url(token))
    page = client.post(url(token), {"undo": "1"})
    assert "no longer counts toward your digest" in page.content.decode()
    assert not Feedback.objects.exists()
    reader.refresh_from_db()
    assert reader.rated_at is None


def test_undo_takes_back_only_its_own_click_not_a_rating_made_since(client, delivery, papers):
    less, more = (make_rating_token(delivery, papers[0].pk, a) for a in ("less", "more"))
    client.post(url(less))
    client.post(url(more))  # changed their mind from another link
    page = client.post(url(less), {"undo": "1"})
    assert "Nothing to undo" in page.content.decode()
    assert list(Feedback.objects.values_list("action", flat=True)) == ["more"]


def test_a_paper_an_operator_hid_cannot_be_rated(client, delivery, papers):
    from digest.models import Paper

    token = make_rating_token(delivery, papers[0].pk, "more")
    Paper.objects.filter(pk=papers[0].pk).update(hidden=True)
    assert client.post(url(token)).status_code == 400
    assert not Feedback.objects.exists()


def test_the_page_needs_its_csrf_token(delivery, papers):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post(url(make_rating_token(delivery, papers[0].pk, "more"))).status_code == 403
    assert not Feedback.objects.exists()


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-3],  # truncated
        lambda t: t[:10] + ("A" if t[10] != "A" else "B") + t[11:],  # forged
        lambda t: "nonsense",
    ],
)
def test_forged_or_truncated_links_are_refused(client, delivery, papers, mangle):
    page = client.post(url(mangle(make_rating_token(delivery, papers[0].pk, "more"))))
    assert page.status_code == 400
    assert not Feedback.objects.exists()


def test_a_link_never_rates_for_another_reader_or_a_paper_their_digest_did_not_hold(
    client, delivery, papers
):
    other = SubscriberFactory(status="active")
    elsewhere = PaperFactory(title="Not in that digest")
    sent_digest(other, [elsewhere])
    # A link for a paper the delivery did not hold (as if swapped in from another's digest).
    assert client.post(url(make_rating_token(delivery, elsewhere.pk, "more"))).status_code == 400
    # A signed payload of someone's own making with a made-up action.
    signer = signing.Signer(salt=RATE_SALT)
    odd = signer.sign(f"{delivery.pk}.{papers[0].pk}.love.{delivery.subscriber.token_version}")
    assert client.post(url(odd)).status_code == 400
    assert client.post(url(signer.sign(f"{delivery.pk}.{papers[0].pk}"))).status_code == 400
    # A view-in-browser token is no rating token.
    from digest.delivery.links import make_view_token

    assert client.post(url(make_view_token(delivery))).status_code == 400
    assert not Feedback.objects.exists()


def test_after_unsubscribe_links_are_refused_and_after_coming_back_they_are_dead(
    client, reader, delivery, papers
):
    token = make_rating_token(delivery, papers[0].pk, "more")
    reader.unsubscribe("test")
    assert client.post(url(token)).status_code == 410
    reader.restart("came back")  # a new double opt-in: the links from before stop working
    reader.confirm()
    assert client.post(url(token)).status_code == 400
    assert not Feedback.objects.exists()


def test_after_a_reset_an_old_link_is_harmless(client, reader, delivery, papers):
    """A reset forgets the ratings; a button pressed afterwards is a new rating the reader
    made, on a paper their own digest held (and can be undone)."""
    token = make_rating_token(delivery, papers[0].pk, "more")
    client.post(url(token))
    subscriptions.forget_ratings(reader)
    assert not Feedback.objects.exists()
    client.post(url(token))
    assert list(Feedback.objects.values_list("subscriber", "paper")) == [(reader.pk, papers[0].pk)]


def test_each_link_is_limited(client, delivery, papers, settings):
    token = make_rating_token(delivery, papers[0].pk, "more")
    assert client.get(url(token)).status_code == 200  # a view counts as one
    statuses = [client.post(url(token)).status_code for _ in range(31)]
    assert statuses[:29] == [200] * 29
    assert statuses[-1] == 429
    assert client.get(url(token)).status_code == 429
