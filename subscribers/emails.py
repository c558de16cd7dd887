"""The transactional emails a subscriber gets: confirm, already subscribed."""

from __future__ import annotations

from django.core.mail import EmailMultiAlternatives

from digest.composing import build_message
from digest.query import QueryError, parse_query
from subscribers import links
from subscribers.models import Subscriber
from subscribers.tokens import confirm_max_age


def confirmation(subscriber: Subscriber) -> EmailMultiAlternatives:
    return _message(
        "confirm",
        subscriber,
        confirm_url=links.confirm_url(subscriber),
        confirm_days=confirm_max_age().days,
    )


def already_subscribed(subscriber: Subscriber) -> EmailMultiAlternatives:
    return _message("already_subscribed", subscriber)


def _message(kind: str, subscriber: Subscriber, **context: object) -> EmailMultiAlternatives:
    unsubscribe_url = links.unsubscribe_url(subscriber)
    context = {
        "subscriber": subscriber,
        "topics": _topics(subscriber.query),
        "manage_url": links.manage_url(subscriber),
        "unsubscribe_url": unsubscribe_url,
        **context,
    }
    return build_message(
        kind,
        subscriber.email,
        context,
        unsubscribe_url=unsubscribe_url,
        unsubscribe_mailto=links.unsubscribe_mailto(),
        tags=(kind,),
        metadata={"subscriber": str(subscriber.pk)},
    )


def _topics(query: str) -> list[str]:
    try:
        return [topic.text for topic in parse_query(query).topics]
    except QueryError:  # stored before a limit changed; show it as typed
        return [query]
