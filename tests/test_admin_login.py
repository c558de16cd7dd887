from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from django.urls import reverse

from subscribers.ratelimit import client_ip

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(settings):
    settings.ADMIN_LOGIN_LIMIT = 3
    return User.objects.create_user("ops", password="right-horse-battery", is_staff=True)


def _login(password: str, *, ip: str = "198.51.100.7", username: str = "ops") -> int:
    client = Client(REMOTE_ADDR=ip)
    response = client.post(reverse("admin:login"), {"username": username, "password": password})
    return response.status_code


def test_it_never_limits_correct_logins(operator):
    codes = [_login("right-horse-battery") for _ in range(6)]

    assert codes == [302] * 6


def test_it_limits_wrong_passwords_per_address_and_username(operator):
    codes = [_login(f"guess{i}") for i in range(4)]

    assert codes == [200, 200, 200, 429]
    assert _login("right-horse-battery", ip="203.0.113.50") == 302  # not locked out elsewhere
    assert _login("guess", username="someone-else") == 200


def test_it_forgets_failures_after_a_correct_login(operator):
    codes = [_login(p) for p in ["a", "b", "right-horse-battery", "c", "d", "right-horse-battery"]]

    assert 429 not in codes


@pytest.mark.parametrize(
    ("forwarded", "proxies", "expected"),
    [
        pytest.param("203.0.113.9", 1, "203.0.113.9", id="one-hop"),
        pytest.param("6.6.6.6, 203.0.113.9", 1, "203.0.113.9", id="spoofed-entry-ignored"),
        pytest.param("6.6.6.6, 203.0.113.9, 10.0.0.2", 2, "203.0.113.9", id="two-proxies"),
        pytest.param("203.0.113.9", 2, "203.0.113.9", id="fewer-hops-than-proxies"),
        pytest.param(" , ", 1, "unknown", id="empty"),
    ],
)
def test_it_takes_the_address_the_trusted_proxy_saw(settings, forwarded, proxies, expected):
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded)

    assert client_ip(request) == expected


def test_it_limits_signups_by_the_real_address_behind_a_proxy(settings):
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    settings.TRUSTED_PROXY_COUNT = 1
    settings.SIGNUP_LIMIT_PER_IP = 2
    codes = []
    for n in range(3):
        client = Client(HTTP_X_FORWARDED_FOR=f"10.9.8.{n}, 203.0.113.9")
        data = {"email": f"r{n}@example.org", "query": "pruning", "frequency": "daily"}
        response = client.post(reverse("subscribe"), {**data, "per_email": "10"})
        codes.append("Too many signups" in response.content.decode())

    assert codes == [False, False, True]
