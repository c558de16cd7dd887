from __future__ import annotations

import factory
from django.utils import timezone

from digest.models import Paper, Source
from subscribers.models import Subscriber


class SourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Source

    name = factory.Sequence(lambda n: f"source {n}")
    url = factory.Sequence(lambda n: f"https://feeds.example.org/{n}.xml")
    kind = Source.Kind.ARXIV_RSS


class PaperFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Paper

    arxiv_id = factory.Sequence(lambda n: f"2403.{10000 + n:05d}")
    key = factory.LazyAttribute(lambda p: f"arxiv:{p.arxiv_id}")
    title = factory.Sequence(lambda n: f"A study of pruning, part {n}")
    abstract = "We prune networks and measure what is lost."
    authors = factory.LazyFunction(lambda: ["Ana Silva", "Wei Zhang"])
    categories = factory.LazyFunction(lambda: ["cs.LG"])
    abs_url = factory.LazyAttribute(lambda p: f"https://arxiv.org/abs/{p.arxiv_id}")
    pdf_url = factory.LazyAttribute(lambda p: f"https://arxiv.org/pdf/{p.arxiv_id}")
    first_seen_at = factory.LazyFunction(timezone.now)


class SubscriberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscriber

    email = factory.Sequence(lambda n: f"reader{n}@example.org")
    query = "pruning"
    status = Subscriber.Status.ACTIVE
    confirmed_at = factory.LazyFunction(timezone.now)


def embedded_papers(texts: list[tuple[str, str]]) -> list[Paper]:
    """Papers of these (title, abstract), embedded by the packaged model, as stored."""
    from digest.matching import vectors

    rows = [PaperFactory(title=title, abstract=abstract) for title, abstract in texts]
    vectors.embed_pending(vectors.embedder())
    return [Paper.objects.get(pk=paper.pk) for paper in rows]
