"""One set of frequencies: subscribers choose among the editions there are."""

from __future__ import annotations

from datetime import date, timedelta

from django.core.management import load_command_class

from digest.delivery import editions
from digest.models import Edition, Frequency
from subscribers.forms import SignupForm
from subscribers.models import Subscriber


def test_subscribers_editions_and_forms_share_one_frequency():
    for model in (Subscriber, Edition):
        assert list(model._meta.get_field("frequency").choices) == Frequency.choices
    assert SignupForm.base_fields["frequency"].choices == Frequency.choices


def test_send_digests_offers_every_frequency():
    parser = load_command_class("digest", "send_digests").create_parser("manage.py", "x")
    (option,) = (a for a in parser._actions if a.dest == "frequency")
    assert list(option.choices) == Frequency.values


def test_each_frequency_has_its_own_periods():
    monday, sunday = date(2026, 3, 2), date(2026, 3, 8)
    assert editions.period_key(Frequency.DAILY, monday) != editions.period_key(
        Frequency.DAILY, monday + timedelta(days=1)
    )
    assert editions.period_key(Frequency.WEEKLY, monday) == editions.period_key(
        Frequency.WEEKLY, sunday
    )
    # A daily and a weekly period never share a key: a reader who switches keeps both.
    assert editions.period_key(Frequency.DAILY, monday) != editions.period_key(
        Frequency.WEEKLY, monday
    )
