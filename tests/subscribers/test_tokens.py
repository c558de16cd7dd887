from __future__ import annotations

import pytest
import time_machine
from django.utils import timezone

from subscribers.tokens import BadToken, ExpiredToken, make_token, read_token
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db


def test_a_token_reads_back_as_its_subscriber():
    subscriber = SubscriberFactory()
    assert read_token(make_token(subscriber, "manage"), "manage") == subscriber


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t[:-1], id="truncated"),
        pytest.param(
            lambda t: t[:-3] + ("aaa" if not t.endswith("aaa") else "bbb"), id="forged-signature"
        ),
        pytest.param(lambda t: "x" + t, id="prefixed"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: "WzEsMV0:1xVskN:not-a-signature", id="made-up"),
    ],
)
def test_tampered_tokens_are_refused(mangle):
    token = make_token(SubscriberFactory(), "manage")
    with pytest.raises(BadToken):
        read_token(mangle(token), "manage")


def test_a_token_for_one_purpose_does_not_work_for_another():
    token = make_token(SubscriberFactory(), "manage")
    with pytest.raises(BadToken):
        read_token(token, "unsubscribe")
    with pytest.raises(BadToken):
        read_token(token, "confirm")


def test_a_token_cannot_be_moved_to_another_subscriber():
    from django.core import signing

    victim, attacker = SubscriberFactory(), SubscriberFactory()
    mine = make_token(attacker, "manage")
    payload = signing.loads(mine, salt="paperdigest.subscribers.manage")
    forged_body = signing.dumps([victim.pk, payload[1]], salt="not-our-salt")
    with pytest.raises(BadToken):
        read_token(forged_body, "manage")


def test_resetting_the_token_version_kills_old_links():
    subscriber = SubscriberFactory()
    old = make_token(subscriber, "unsubscribe")
    subscriber.restart("signed up again")
    with pytest.raises(BadToken):
        read_token(old, "unsubscribe")
    assert read_token(make_token(subscriber, "unsubscribe"), "unsubscribe") == subscriber


def test_tokens_of_deleted_subscribers_are_refused():
    subscriber = SubscriberFactory()
    token = make_token(subscriber, "manage")
    subscriber.delete()
    with pytest.raises(BadToken):
        read_token(token, "manage")


def test_confirm_links_expire_but_others_do_not(settings):
    settings.CONFIRM_LINK_DAYS = 7
    subscriber = SubscriberFactory(status="pending")
    confirm, unsubscribe = make_token(subscriber, "confirm"), make_token(subscriber, "unsubscribe")
    with time_machine.travel(timezone.now() + timezone.timedelta(days=8)):
        with pytest.raises(ExpiredToken) as raised:
            read_token(confirm, "confirm")
        assert raised.value.subscriber == subscriber
        assert read_token(unsubscribe, "unsubscribe") == subscriber


def test_tokens_follow_the_secret_key(settings):
    subscriber = SubscriberFactory()
    token = make_token(subscriber, "unsubscribe")
    settings.SECRET_KEY = "another-secret-key-for-this-test-only"
    rotated = make_token(subscriber, "unsubscribe")
    assert rotated != token
    with pytest.raises(BadToken):
        read_token(token, "unsubscribe")  # signed with the old key, which is not a fallback
    assert read_token(rotated, "unsubscribe") == subscriber


def test_it_keeps_offering_a_new_link_for_an_expired_confirm_link_only_for_a_while(settings):
    settings.CONFIRM_LINK_DAYS, settings.CONFIRM_RESEND_DAYS = 7, 30
    subscriber = SubscriberFactory(status="pending")
    token = make_token(subscriber, "confirm")
    now = timezone.now()
    with time_machine.travel(now + timezone.timedelta(days=29)), pytest.raises(ExpiredToken):
        read_token(token, "confirm")
    for days in (31, 400):
        with time_machine.travel(now + timezone.timedelta(days=days)), pytest.raises(BadToken):
            read_token(token, "confirm")


def test_it_carries_a_signups_preferences_in_the_confirm_link_only():
    from subscribers.tokens import Preferences, read_confirmation

    subscriber = SubscriberFactory(status="pending")
    wanted = Preferences(query="diffusion\n" + "x " * 900, frequency="weekly", per_email=5)
    token = make_token(subscriber, "confirm", wanted)
    assert len(token) < 1000  # compressed: long keywords still make a short link
    assert read_confirmation(token).preferences == wanted
    assert read_confirmation(make_token(subscriber, "confirm")).preferences is None
    with pytest.raises(ValueError, match="only a confirm link"):
        make_token(subscriber, "manage", wanted)
