"""Ratings ("more like this" / "less like this") as stored: one per paper, undoable, a reset
that forgets them, the digest they change, and the reader's own model fitted on them. Papers
are embedded by the packaged model."""

from __future__ import annotations

import numpy as np
import pytest

from digest.delivery.sending import EditionPapers
from digest.matching import profiles, vectors
from digest.models import Paper
from subscribers import subscriptions
from subscribers.models import Feedback, Subscriber
from tests.factories import PaperFactory, SubscriberFactory, embedded_papers

pytestmark = pytest.mark.django_db
MORE, LESS = Feedback.Action.MORE, Feedback.Action.LESS

TITLES = [
    ("Federated learning with secure aggregation", "Clients train one model together."),
    ("Federated learning under client drift", "Skewed client data slows federated training."),
    ("Communication-efficient federated learning", "Compressing updates sent by clients."),
    ("Learning to rank galaxies by rotation curves", "Dark matter halos and learning."),
    ("Learning stellar spectra with neural networks", "Astronomy surveys and learning."),
    ("Learning diffusion models for images", "Denoising diffusion learning of pictures."),
    ("Learning pruned transformers", "Fewer weights after learning."),
    ("Federated learning for hospitals", "Medical records never leave the site."),
]


@pytest.fixture
def model():
    return vectors.embedder()


@pytest.fixture
def papers(model) -> list[Paper]:
    stored = embedded_papers(TITLES)
    return stored


def digest(reader, papers) -> list[str]:
    reader.refresh_from_db()
    matches = EditionPapers.of(papers).matches_for(reader)
    return [next(p.title for p in papers if p.pk == m.paper_id) for m in matches]


def test_the_same_click_twice_changes_nothing_and_another_replaces_it(papers):
    reader = SubscriberFactory(status="active", query="learning")
    assert subscriptions.rate(reader, papers[0].pk, MORE)
    assert not subscriptions.rate(reader, papers[0].pk, MORE)
    assert subscriptions.rate(reader, papers[0].pk, LESS)
    assert list(reader.feedback.values_list("action", flat=True)) == [LESS]


def test_less_like_this_takes_the_paper_and_sinks_its_like(model, papers):
    reader = SubscriberFactory(status="active", query="learning", per_email=8)
    before = digest(reader, papers)
    assert TITLES[3][0] in before
    subscriptions.rate(reader, papers[3].pk, LESS)
    after = digest(reader, papers)
    assert TITLES[3][0] not in after  # never again
    # Its neighbour (astronomy too) sinks: lower down, or out of the digest.
    stellar = TITLES[4][0]
    assert stellar not in after or after.index(stellar) > before.index(stellar)
    assert TITLES[0][0] in after  # papers unlike it stay


def test_undo_gives_the_profile_back_exactly(model, papers):
    reader = SubscriberFactory(status="active", query="learning", interest="federated training")
    profiles.refresh(reader, model)
    subscriptions.rate(reader, papers[7].pk, MORE)
    reader.refresh_from_db()
    liked = profiles.stored(reader, model.name)
    subscriptions.rate(reader, papers[3].pk, LESS)
    reader.refresh_from_db()
    assert not np.allclose(profiles.stored(reader, model.name).vector, liked.vector)
    assert subscriptions.unrate(reader, papers[3].pk)
    reader.refresh_from_db()
    assert np.array_equal(profiles.stored(reader, model.name).vector, liked.vector)
    assert subscriptions.unrate(reader, papers[7].pk)
    reader.refresh_from_db()
    assert reader.rated_at is None
    assert profiles.stored(reader, model.name).sources[-1].kind == "interest"


def test_an_excluded_word_never_returns_after_more_like_this(model, papers):
    """They liked a paper on diffusion, then excluded the word: papers like it may come, but
    none that has it."""
    reader = SubscriberFactory(status="active", query="learning -diffusion", per_email=8)
    subscriptions.rate(reader, papers[5].pk, MORE)
    assert not any("diffusion" in title.lower() for title in digest(reader, papers))


def test_reset_forgets_every_rating_and_the_model_but_keeps_what_they_named(model, papers):
    reader = SubscriberFactory(status="active", query="learning", interest="federated")
    for paper in papers[:5]:
        subscriptions.rate(reader, paper.pk, MORE)
    for paper in papers[5:]:
        subscriptions.rate(reader, paper.pk, LESS)
    reader.refresh_from_db()
    assert profiles.refit(reader, model.name)
    subscriptions.forget_ratings(reader)
    reader.refresh_from_db()
    assert not reader.feedback.exists()
    assert reader.rated_at is None and reader.learned is None
    assert (reader.query, reader.interest) == ("learning", "federated")


def test_a_model_of_their_own_comes_with_enough_ratings_and_ranks_their_digest(model, papers):
    reader = SubscriberFactory(status="active", query="learning", per_email=8)
    federated = [0, 1, 2, 7]
    for i in federated:
        subscriptions.rate(reader, papers[i].pk, MORE)
    for i in (3, 4, 5):
        subscriptions.rate(reader, papers[i].pk, LESS)
    reader.refresh_from_db()
    assert not profiles.refit(reader, model.name), "4 likes are not enough"
    assert reader.learned is None
    newer = PaperFactory(title="Federated learning with differential privacy", abstract="Noise.")
    subscriptions.rate(reader, papers[6].pk, MORE)
    vectors.embed_pending(model)
    reader.refresh_from_db()
    assert profiles.refit_due(model.name) == 1
    reader.refresh_from_db()
    assert reader.learned is not None and reader.learned_with == model.name
    assert profiles.stored(reader, model.name).model is not None
    assert profiles.refit_due(model.name) == 0, "nothing new since: nobody is refitted"
    ranked = digest(reader, [*papers, Paper.objects.get(pk=newer.pk)])
    assert ranked[0] == newer.title or ranked[0] in {TITLES[i][0] for i in federated}


def test_the_nightly_refit_is_scheduled_and_reports_what_it_did(model, papers):
    from django_celery_beat.models import PeriodicTask

    from digest.tasks import refit_models_task

    scheduled = PeriodicTask.objects.get(task="digest.refit_models")
    assert (scheduled.crontab.hour, scheduled.crontab.minute) == ("3", "30")
    reader = SubscriberFactory(status="active", query="learning")
    for paper in papers[:5]:
        subscriptions.rate(reader, paper.pk, MORE)
    for paper in papers[5:]:
        subscriptions.rate(reader, paper.pk, LESS)
    assert refit_models_task() == "1 reader with a model of their own"


def test_readers_refitted_together_get_the_model_each_would_get_alone(model, papers):
    from datetime import timedelta

    from django.utils import timezone

    readers = [
        SubscriberFactory(status="active", query=query) for query in ("federated", "learning")
    ]
    Paper.objects.filter(pk=papers[0].pk).update(first_seen_at=timezone.now() - timedelta(days=3))
    for reader, liked in zip(readers, ([0, 1, 2, 7, 6], [3, 4, 5, 6, 0]), strict=True):
        for i, paper in enumerate(papers):
            subscriptions.rate(reader, paper.pk, MORE if i in liked else LESS)
    alone = []
    for reader in readers:
        reader.refresh_from_db()
        profiles.refit(reader, model.name)
        reader.refresh_from_db()
        alone.append(profiles.learned_model(reader, model.name))
    Subscriber.objects.update(learned_at=None)
    assert profiles.refit_due(model.name) == 2
    for reader, own in zip(readers, alone, strict=True):
        reader.refresh_from_db()
        assert np.allclose(profiles.learned_model(reader, model.name), own, atol=1e-6)


def test_a_reader_who_named_nothing_gets_the_most_upvoted_moved_by_their_ratings(model, papers):
    for i, paper in enumerate(papers):  # the astronomy papers are the most upvoted
        Paper.objects.filter(pk=paper.pk).update(upvotes=100 if i in (3, 4) else 10 - i)
    papers = [Paper.objects.get(pk=p.pk) for p in papers]
    reader = SubscriberFactory(status="active", query="", per_email=3)
    assert reader.wants_top_papers
    assert digest(reader, papers)[:2] == [TITLES[3][0], TITLES[4][0]]
    subscriptions.rate(reader, papers[3].pk, LESS)
    subscriptions.rate(reader, papers[0].pk, MORE)
    after = digest(reader, papers)
    assert TITLES[3][0] not in after  # never again
    assert set(after[:2]) <= {TITLES[i][0] for i in (0, 1, 2, 7)}  # like the one they liked
    subscriptions.unrate(reader, papers[3].pk)
    subscriptions.unrate(reader, papers[0].pk)
    assert digest(reader, papers)[:2] == [TITLES[3][0], TITLES[4][0]]  # as before any rating


def test_a_paper_they_liked_is_not_sent_back_to_them(model, papers):
    reader = SubscriberFactory(status="active", query="learning", per_email=8)
    subscriptions.rate(reader, papers[0].pk, MORE)
    assert TITLES[0][0] not in digest(reader, papers)  # theirs already, as a seed is
    assert TITLES[1][0] in digest(reader, papers)


def test_less_like_this_holds_when_no_rated_paper_has_a_vector():
    plain = [PaperFactory(title=t, abstract=a) for t, a in TITLES]  # never embedded
    reader = SubscriberFactory(status="active", query="learning", per_email=8)
    assert TITLES[3][0] in digest(reader, plain)
    subscriptions.rate(reader, plain[3].pk, LESS)
    after = digest(reader, plain)
    assert TITLES[3][0] not in after and len(after) == len(TITLES) - 1


def test_a_reader_short_of_enough_ratings_is_not_refitted_every_night(model, papers):
    reader = SubscriberFactory(status="active", query="learning")
    subscriptions.rate(reader, papers[0].pk, MORE)
    assert profiles.refit_due(model.name) == 0
    reader.refresh_from_db()
    fitted_at = reader.learned_at
    assert fitted_at is not None and reader.learned is None
    profiles.refit_due(model.name)
    reader.refresh_from_db()
    assert reader.learned_at == fitted_at, "nothing changed since: not refitted"
