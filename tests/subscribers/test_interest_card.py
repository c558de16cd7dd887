"""The reader's own page: the live preview with their ratings in it and buttons to rate more,
and the interest card that shows what their digest is made from, each entry removable with
one click and "reset personalization" keeping keywords, seeds and interest."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from digest.matching import profiles, recent, vectors
from digest.matching.seeds import SeedRef
from digest.models import Delivery, Paper
from subscribers import subscriptions
from subscribers.models import Feedback, SeedPaper
from subscribers.tokens import make_token
from tests.factories import PaperFactory, SubscriberFactory, embedded_papers

pytestmark = pytest.mark.django_db
MORE, LESS = Feedback.Action.MORE, Feedback.Action.LESS
TITLES = [
    ("Federated learning with secure aggregation", "Clients train one model together."),
    ("Federated learning under client drift", "Skewed client data slows federated learning."),
    ("Learning to rank galaxies by rotation curves", "Dark matter halos and learning."),
    ("Learning stellar spectra with neural networks", "Astronomy surveys and learning."),
    ("Learning diffusion models for images", "Denoising diffusion learning of pictures."),
    ("Federated learning for hospitals", "Medical records never leave the site."),
]


@pytest.fixture
def model():
    return vectors.embedder()


@pytest.fixture
def papers(model) -> list[Paper]:
    stored = embedded_papers(TITLES)
    recent.forget()
    return stored


@pytest.fixture
def reader(model, papers):
    reader = SubscriberFactory(status="active", query="learning", interest="federated training")
    profiles.set_seeds(reader, [SeedRef(arxiv_id=papers[5].arxiv_id)])
    profiles.refresh(reader, model, fetch=False)
    return reader


def manage(reader) -> str:
    return reverse("manage", args=[make_token(reader, "manage")])


def page_of(client, reader) -> str:
    return html.unescape(client.get(manage(reader)).content.decode())


def previewed(client, reader) -> list[str]:
    shown = client.post(
        reverse("manage_preview", args=[make_token(reader, "manage")]),
        {"query": reader.query, "interest": reader.interest, "seeds": papers_seeds(reader)},
    ).content.decode()
    return [title for title, _ in TITLES if title in shown]


def papers_seeds(reader) -> str:
    return "\n".join(reader.seeds.values_list("arxiv_id", flat=True))


def test_the_card_shows_seeds_interest_and_ratings_and_the_words_they_weigh(client, reader, papers):
    assert "What we think you like" in page_of(client, reader)
    for paper, action in ((papers[0], MORE), (papers[1], MORE), (papers[2], LESS)):
        subscriptions.rate(reader, paper.pk, action)
    subscriptions.rate(reader, papers[3].pk, LESS)
    page = page_of(client, reader)
    card = page[page.index('id="interest-card"') :]
    assert TITLES[5][0] in card  # the seed
    assert "federated training" in card
    assert "More like these (2)" in card and "Fewer like these (2)" in card
    assert "Words your ratings weigh" in card
    up = card[card.index("Up: ") : card.index("</p>", card.index("Up: "))]
    assert "federated" in up or "client" in up
    assert "Reset personalization" in card


def preview_scores(client, reader) -> dict[str, float]:
    """Each previewed paper's score, by title."""
    shown = client.post(
        reverse("manage_preview", args=[make_token(reader, "manage")]),
        {"query": reader.query, "interest": reader.interest, "seeds": papers_seeds(reader)},
    ).content.decode()
    found = {}
    for title, _ in TITLES:  # each paper's buttons come right after its score
        buttons = shown.find(f'aria-label="More like this: {title}"')
        if buttons >= 0:
            found[title] = float(re.findall(r"score (-?[\d.]+)", shown[:buttons])[-1])
    return found


def test_less_like_this_in_the_preview_takes_the_paper_out_and_sinks_its_like(
    client, reader, papers
):
    galaxies, stellar = TITLES[2][0], TITLES[3][0]
    before = preview_scores(client, reader)
    assert galaxies in before and stellar in before
    response = client.post(
        reverse("manage_rate", args=[make_token(reader, "manage")]),
        {"paper": papers[2].pk, "action": "less"},
    )
    assert response.status_code == 302 and response["Location"].endswith("#preview")
    assert reader.feedback.get().action == LESS
    after = preview_scores(client, reader)
    assert galaxies not in after  # rated: theirs already, and never sent again
    assert stellar not in after or after[stellar] < before[stellar]  # like it: sunk
    page = html.unescape(client.get(response["Location"]).content.decode())
    assert f"You'll see fewer papers like “{galaxies}”" in page


def test_the_preview_on_a_readers_page_has_rate_buttons_and_the_anonymous_one_has_none(
    client, reader
):
    fields = {"query": "learning", "interest": "federated training"}
    own = client.post(reverse("manage_preview", args=[make_token(reader, "manage")]), fields)
    assert 'value="less"' in own.content.decode() and "csrfmiddlewaretoken" in own.content.decode()
    anonymous = client.post(reverse("preview"), fields)
    assert "Less like this" not in anonymous.content.decode()


def test_each_entry_is_removed_with_one_click(
    client, reader, papers, django_capture_on_commit_callbacks
):
    subscriptions.rate(reader, papers[0].pk, MORE)
    token = make_token(reader, "manage")
    seed = reader.seeds.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("edit_card", args=[token]), {"remove": "seed", "seed": seed.pk})
        client.post(reverse("edit_card", args=[token]), {"remove": "interest"})
    client.post(reverse("manage_rate", args=[token]), {"paper": papers[0].pk, "action": "remove"})
    reader.refresh_from_db()
    assert not reader.seeds.exists() and reader.interest == "" and not reader.feedback.exists()
    assert reader.profile is None  # made again from nothing: matched by keywords alone
    assert reader.rated_at is None
    assert "Only your keywords pick your papers" in page_of(client, reader)


def test_reset_forgets_what_ratings_taught_and_keeps_keywords_seeds_and_interest(
    client, reader, papers
):
    for paper, action in ((papers[0], MORE), (papers[2], LESS)):
        subscriptions.rate(reader, paper.pk, action)
    response = client.post(
        reverse("edit_card", args=[make_token(reader, "manage")]), {"remove": "ratings"}
    )
    assert response["Location"].endswith("#interest-card")
    reader.refresh_from_db()
    assert not reader.feedback.exists() and reader.rated_at is None and reader.learned is None
    assert reader.query == "learning" and reader.interest == "federated training"
    assert reader.seeds.count() == 1 and reader.profile is not None


def test_nothing_of_anyone_elses_can_be_removed_and_get_changes_nothing(client, reader, papers):
    other = SubscriberFactory(status="active", query="galaxies")
    profiles.set_seeds(other, [SeedRef(arxiv_id=papers[2].arxiv_id)])
    theirs = other.seeds.get()
    subscriptions.rate(other, papers[3].pk, LESS)
    token = make_token(reader, "manage")
    client.post(reverse("edit_card", args=[token]), {"remove": "seed", "seed": theirs.pk})
    client.post(reverse("manage_rate", args=[token]), {"paper": papers[3].pk, "action": "remove"})
    assert SeedPaper.objects.filter(pk=theirs.pk).exists()
    assert other.feedback.count() == 1
    for name in ("edit_card", "manage_rate", "manage_preview"):
        assert client.get(reverse(name, args=[token])).status_code == 405
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (
        client.post(reverse("edit_card", args=[forged]), {"remove": "ratings"}).status_code == 400
    )
    for odd in ("999999", "²", "-1", "1e3", " 1", "9" * 40):
        rated = client.post(reverse("manage_rate", args=[token]), {"paper": odd, "action": "more"})
        assert rated.status_code == 400
    removed = client.post(reverse("edit_card", args=[token]), {"remove": "seed", "seed": "²"})
    assert removed.status_code == 302  # no such seed of theirs: nothing removed
    assert (
        client.post(
            reverse("manage_rate", args=[token]), {"paper": papers[0].pk, "action": "love"}
        ).status_code
        == 400
    )
    assert not reader.feedback.exists()


def test_the_buttons_need_the_pages_csrf_token(reader, papers):
    strict = Client(enforce_csrf_checks=True)
    token = make_token(reader, "manage")
    rate = strict.post(
        reverse("manage_rate", args=[token]), {"paper": papers[0].pk, "action": "more"}
    )
    assert rate.status_code == 403
    assert strict.post(reverse("edit_card", args=[token]), {"remove": "ratings"}).status_code == 403
    assert not reader.feedback.exists()


def test_rating_from_the_page_is_limited_per_reader(client, reader, papers, monkeypatch):
    from subscribers import views

    monkeypatch.setattr(views, "PAGE_RATINGS_PER_HOUR", 2)
    url = reverse("manage_rate", args=[make_token(reader, "manage")])
    for paper in papers[:3]:
        client.post(url, {"paper": paper.pk, "action": "more"})
    assert reader.feedback.count() == 2
    assert "You've rated many papers in the last hour" in page_of(client, reader)


def test_each_digests_footer_says_what_we_think_they_like_and_links_to_the_card(
    reader, papers, mailoutbox
):
    from digest.delivery import sending
    from tests.support.mail import text_and_html

    subscriptions.rate(reader, papers[0].pk, MORE)
    subscriptions.rate(reader, papers[2].pk, LESS)
    sending.send_chunk(sending.dispatch(sending.plan_edition("daily", any_hour=True))[0])
    (message,) = mailoutbox
    text, page = text_and_html(message)
    line = (
        "What shapes your digest: 1 paper you picked; your interest “federated training”; "
        f"more like “{TITLES[0][0]}”; fewer like “{TITLES[2][0]}”"
    )
    assert line in text and line in html.unescape(page)
    assert "See it or change it: http://localhost:8000/manage/" in text
    assert re.search(r'href="http://localhost:8000/manage/[^"]+/#interest-card"[^>]*>See it', page)
    assert "words weighed" not in text  # every word both papers share is in each: none leans


def test_a_paper_an_operator_hid_leaves_the_card_and_its_rating_can_still_go(
    client, reader, papers
):
    subscriptions.rate(reader, papers[2].pk, LESS)
    Paper.objects.filter(pk=papers[2].pk).update(hidden=True)
    assert TITLES[2][0] not in page_of(client, reader)
    url = reverse("manage_rate", args=[make_token(reader, "manage")])
    assert client.post(url, {"paper": papers[2].pk, "action": "more"}).status_code == 400
    assert client.post(url, {"paper": papers[2].pk, "action": "remove"}).status_code == 302
    assert not reader.feedback.exists()


def test_a_reader_who_named_nothing_previews_the_most_upvoted_moved_by_their_ratings(
    client, papers
):
    reader = SubscriberFactory(status="active", query="")
    for i, paper in enumerate(papers):  # the astronomy papers are the most upvoted
        Paper.objects.filter(pk=paper.pk).update(upvotes=100 if i in (2, 3) else 10 - i)
    recent.forget()
    assert TITLES[2][0] in previewed(client, reader)  # the most upvoted, before any rating
    subscriptions.rate(reader, papers[2].pk, LESS)
    subscriptions.rate(reader, papers[0].pk, MORE)
    reader.refresh_from_db()
    shown = client.post(
        reverse("manage_preview", args=[make_token(reader, "manage")]),
        {"query": "", "interest": "", "seeds": ""},
    ).content.decode()
    assert "moved by your ratings" in shown and 'value="less"' in shown
    assert TITLES[2][0] not in shown


def test_a_readers_digest_costs_the_same_queries_however_many_papers_they_rated(
    reader, papers, mailoutbox
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from digest.delivery import sending

    def queries_to_send() -> int:
        Delivery.objects.all().delete()
        with CaptureQueriesContext(connection) as sent:
            sending.send_chunk(sending.dispatch(sending.plan_edition("daily", any_hour=True))[0])
        return len(sent)

    subscriptions.rate(reader, papers[0].pk, MORE)
    one = queries_to_send()
    long_ago = timezone.now() - timedelta(days=60)  # rated in digests long gone
    for n in range(12):
        old = PaperFactory(title=f"Learning old paper {n}", first_seen_at=long_ago)
        subscriptions.rate(reader, old.pk, LESS if n % 2 else MORE)
    assert queries_to_send() == one
    assert len(mailoutbox) == 2 and mailoutbox[0].body.count("/rate/") == mailoutbox[1].body.count(
        "/rate/"
    )


def test_a_digest_shown_again_says_which_papers_the_reader_rated(client, reader, papers):
    from digest.delivery import sending
    from digest.delivery.links import rating_url, view_url

    sending.send_chunk(sending.dispatch(sending.plan_edition("daily", any_hour=True))[0])
    delivery = Delivery.objects.get()
    subscriptions.rate(reader, papers[2].pk, LESS, delivery.pk)
    subscriptions.rate(reader, papers[0].pk, MORE, delivery.pk)
    page = html.unescape(client.get(view_url(delivery)).content.decode())
    for paper, said in ((papers[2], "“less like this”"), (papers[0], "“more like this”")):
        link = page.index(rating_url(delivery, paper.pk, "more"))  # in the paper's why line
        why = page[page.rindex('class="why"', 0, link) : link]
        assert f"you marked it {said}" in why
    assert "(1.00), which you liked" not in page  # never "like itself"


def test_the_preview_leaves_out_a_disliked_paper_even_with_no_vectors(client):
    plain = [PaperFactory(title=t, abstract=a) for t, a in TITLES]  # never embedded
    recent.forget()
    reader = SubscriberFactory(status="active", query="learning")
    assert TITLES[2][0] in previewed(client, reader)
    subscriptions.rate(reader, plain[2].pk, LESS)
    reader.refresh_from_db()
    assert TITLES[2][0] not in previewed(client, reader)
