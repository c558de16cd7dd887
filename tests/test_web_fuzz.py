"""Fuzzing the public endpoints with hypothesis: no input makes a 500, links only ever act for
the subscriber they were made for, and nothing typed into a form reaches an email header."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from django.core import mail
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from subscribers.models import Subscriber
from subscribers.tokens import make_token
from tests.factories import PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Text as browsers and scripts send it: any character, including CR/LF and NUL.
ANY = st.text(max_size=400)
EMAILISH = st.one_of(
    ANY,
    st.emails(),
    st.builds(lambda a, b: f"{a}\r\nBcc: {b}", st.emails(), st.emails()),
    st.builds(lambda a: f"{a}\nSubject: injected", st.emails()),
    st.just('"a\\"b"@example.org'),
)
TOKENS = st.one_of(
    ANY.filter(lambda t: "/" not in t and t.strip()),
    st.from_regex(r"[\w:.-]{1,120}", fullmatch=True),
)
OK = {200, 302, 400, 404, 405, 429}


@pytest.fixture(autouse=True)
def generous_limits(settings):
    settings.SIGNUP_LIMIT_PER_IP = 100_000
    settings.SIGNUP_LIMIT_PER_ADDRESS = 100_000


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)  # a crash shows as a 500, which we assert on


def assert_headers_clean() -> None:
    for message in mail.outbox:
        assert len(message.to) == 1 and "\n" not in message.to[0] and "\r" not in message.to[0]
        assert "\n" not in message.subject and "\r" not in message.subject
        message.message()  # Django's own header checks: raises on an injection attempt
    mail.outbox.clear()


@FUZZ
@given(
    email=EMAILISH,
    query=ANY,
    frequency=st.one_of(st.sampled_from(["daily", "weekly"]), ANY),
    per_email=st.one_of(st.sampled_from(["5", "10", "20"]), ANY),
    extra=st.dictionaries(ANY, ANY, max_size=3),
)
def test_signup_never_fails_and_never_injects_headers(
    client, email, query, frequency, per_email, extra
):
    data = {**extra, "email": email, "query": query, "frequency": frequency, "per_email": per_email}
    response = client.post("/subscribe/", data)
    assert response.status_code in OK
    assert_headers_clean()


@FUZZ
@given(q=ANY, page=ANY)
def test_search_preview_and_paging_never_fail(client, q, page):
    PaperFactory.create_batch(2)
    assert client.get("/", {"q": q}).status_code in OK
    assert client.get("/", {"page": page}).status_code in OK
    assert client.get("/subscribe/preview/", {"query": q}).status_code in OK
    assert client.post("/subscribe/preview/", {"query": q}).status_code in OK


@FUZZ
@given(token=TOKENS, path=st.sampled_from(["confirm", "manage", "unsubscribe", "digest"]))
def test_made_up_links_are_refused_not_crashed(client, token, path):
    SubscriberFactory()
    before = list(Subscriber.objects.values_list("status", "query", "frequency"))
    url = f"/{path}/{quote(token, safe='')}/"
    for response in (client.get(url), client.post(url, {})):
        assert response.status_code in {400, 404, 405}
    assert list(Subscriber.objects.values_list("status", "query", "frequency")) == before


@FUZZ
@given(cut=st.integers(min_value=1, max_value=40), flip=st.integers(min_value=0, max_value=200))
def test_truncated_and_altered_tokens_are_refused(client, cut, flip):
    subscriber = SubscriberFactory()
    token = make_token(subscriber, "manage")
    altered = list(token)
    position = flip % len(altered)
    altered[position] = "A" if altered[position] != "A" else "B"
    for bad in (token[:-cut], "".join(altered)):
        if bad and bad != token:
            assert client.get(f"/manage/{bad}/").status_code in {400, 404}


@FUZZ
@given(
    query=ANY, frequency=ANY, per_email=ANY, paused=ANY, extra=st.dictionaries(ANY, ANY, max_size=3)
)
def test_preferences_take_any_input_and_only_ever_change_their_own_subscriber(
    client, query, frequency, per_email, paused, extra
):
    mine, other = SubscriberFactory(query="pruning"), SubscriberFactory(query="graphs")
    token = make_token(mine, "manage")
    data = {
        **extra,
        "query": query,
        "frequency": frequency,
        "per_email": per_email,
        "paused": paused,
        "email": other.email,  # not a field of the form: must be ignored
        "id": str(other.pk),
    }
    response = client.post(f"/manage/{token}/", data)
    assert response.status_code in {200, 302}
    other.refresh_from_db()
    assert (other.query, other.email, other.status) == ("graphs", other.email_key, "active")
    mine.refresh_from_db()
    assert mine.email != other.email


def test_a_link_for_one_subscriber_never_reaches_another(
    client, django_capture_on_commit_callbacks
):
    mine, other = SubscriberFactory(), SubscriberFactory()
    unsubscribe = make_token(mine, "unsubscribe")
    assert (
        client.post(f"/unsubscribe/{unsubscribe}/", {"List-Unsubscribe": "One-Click"}).status_code
        == 200
    )
    mine.refresh_from_db()
    other.refresh_from_db()
    assert (mine.status, other.status) == ("unsubscribed", "active")
    # Someone typing the address into the signup form changes nothing: the old links still
    # work. Once the mailbox confirms the new signup, every link from before is dead, so a
    # replayed (say, forwarded) old email cannot act for the new subscription.
    manage = make_token(mine, "manage")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/subscribe/",
            {"email": mine.email, "query": "graphs", "frequency": "daily", "per_email": "10"},
        )
    mine.refresh_from_db()
    assert (mine.status, mine.query) == ("unsubscribed", "pruning")
    assert client.get(f"/manage/{manage}/").status_code == 200
    confirm = re.search(r"/confirm/[^/\s]+/", mail.outbox[-1].body).group(0)
    client.post(confirm)
    assert client.post(f"/unsubscribe/{unsubscribe}/").status_code == 400
    assert client.post(f"/manage/{manage}/", {"query": "changed"}).status_code == 400
    mine.refresh_from_db()
    assert (mine.status, mine.query) == ("active", "graphs")
