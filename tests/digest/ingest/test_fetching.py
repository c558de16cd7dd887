from __future__ import annotations

import contextlib
import re
import socket
import ssl
import time

import pytest
import trustme

from digest.ingest import fetching
from digest.ingest.fetching import FetchError, fetch
from tests.support.feedserver import FeedServer

BODY = b"<rss version='2.0'><channel><title>t</title></channel></rss>"


def test_it_sends_a_clear_user_agent_and_returns_the_body(feed_server, settings):
    url = feed_server.route(
        "/feed", body=BODY, etag='"v1"', last_modified="Mon, 11 Mar 2024 00:00:00 GMT"
    )
    result = fetch(url)
    assert result.body == BODY
    assert (result.etag, result.last_modified) == ('"v1"', "Mon, 11 Mar 2024 00:00:00 GMT")
    assert feed_server.seen[0].headers["User-Agent"] == settings.FETCH_USER_AGENT
    assert "PaperDigest" in settings.FETCH_USER_AGENT


def test_a_matching_etag_gets_304_and_no_body(feed_server):
    url = feed_server.route("/feed", body=BODY, etag='"v1"')
    result = fetch(url, etag='"v1"')
    assert result.not_modified
    assert feed_server.seen[0].headers["If-None-Match"] == '"v1"'


def test_if_modified_since_gets_304(feed_server):
    stamp = "Mon, 11 Mar 2024 00:00:00 GMT"
    url = feed_server.route("/feed", body=BODY, last_modified=stamp)
    assert fetch(url, last_modified=stamp).not_modified


def test_redirects_are_followed(feed_server):
    feed_server.route("/new-home", body=BODY)
    url = feed_server.route("/old", status=301, headers={"Location": "/new-home"})
    result = fetch(url)
    assert result.body == BODY
    assert result.url.endswith("/new-home")


def test_redirect_loops_are_reported(feed_server):
    url = feed_server.route("/loop", status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchError, match="too many redirects"):
        fetch(url)


@pytest.mark.parametrize(
    ("status", "message"), [(500, "HTTP 500"), (404, "HTTP 404"), (429, "HTTP 429")]
)
def test_http_errors_are_reported_with_status(feed_server, status, message):
    url = feed_server.route("/feed", status=status, body=b"nope")
    with pytest.raises(FetchError, match=message):
        fetch(url)


def test_connection_refused_is_reported(settings):
    settings.FETCH_ALLOW_PRIVATE_NETWORKS = True
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        with pytest.raises(FetchError, match="could not connect"):
            fetch(f"http://127.0.0.1:{port}/feed", timeout=2)


@pytest.mark.parametrize(
    ("route", "timeout", "message"),
    [
        pytest.param(
            {"body": BODY, "delay": 3}, 1, r"no response .* within 1s", id="never-answers"
        ),
        pytest.param(
            {"body": b"x" * 10_000, "drip": 0.05}, 1, "longer than 1s", id="drips-its-body"
        ),
        # Each header byte arrives well within a socket timeout; the whole never would.
        pytest.param(
            {"body": BODY, "drip_headers": 0.3},
            2,
            r"no response from .* within 2s",
            id="drips-its-headers",
        ),
    ],
)
def test_a_slow_server_is_cut_off_at_the_deadline(feed_server, route, timeout, message):
    url = feed_server.route("/slow", **route)
    started = time.monotonic()
    with pytest.raises(FetchError, match=message):
        fetch(url, timeout=timeout)
    assert time.monotonic() - started < timeout + 1.5


def test_declared_oversize_response_is_refused_before_reading(feed_server):
    url = feed_server.route("/big", body=b"x" * 300_000)
    with pytest.raises(FetchError, match=r"over the 0\.1 MB limit"):
        fetch(url, max_bytes=100_000)


def test_undeclared_oversize_response_stops_at_the_cap(feed_server):
    url = feed_server.route("/big", body=b"x" * 300_000, declare_length=False)
    with pytest.raises(FetchError, match="stopped reading"):
        fetch(url, max_bytes=100_000)


def test_gzip_bomb_is_stopped_at_the_decompressed_cap(feed_server):
    url = feed_server.route("/bomb", body=b"\0" * 50_000_000, gzip=True)  # ~50 KB on the wire
    with pytest.raises(FetchError, match="stopped reading"):
        fetch(url, max_bytes=1_000_000)


def test_gzip_body_is_decompressed(feed_server):
    url = feed_server.route("/gz", body=BODY, gzip=True)
    assert fetch(url).body == BODY


@pytest.mark.parametrize("url", ["ftp://example.org/feed", "file:///etc/passwd", "not a url"])
def test_non_http_urls_are_refused(url):
    with pytest.raises(FetchError, match="not a valid http"):
        fetch(url)


PRIVATE_ADDRESSES = [
    pytest.param("127.0.0.1", "127.0.0.1 is a loopback address", id="loopback"),
    pytest.param("127.8.9.10", "127.8.9.10 is a loopback address", id="loopback-range"),
    pytest.param("10.1.2.3", "10.1.2.3 is a private network address", id="rfc1918-10"),
    pytest.param("172.16.5.4", "172.16.5.4 is a private network address", id="rfc1918-172"),
    pytest.param("192.168.1.10", "192.168.1.10 is a private network address", id="rfc1918-192"),
    pytest.param("169.254.169.254", "169.254.169.254 is the cloud metadata address", id="metadata"),
    pytest.param("169.254.10.10", "169.254.10.10 is a link-local address", id="link-local"),
    pytest.param("100.64.1.1", "100.64.1.1 is a carrier-grade NAT", id="cgnat"),
    pytest.param("0.0.0.0", "0.0.0.0 is the unspecified address", id="unspecified"),
    pytest.param("224.0.0.251", "224.0.0.251 is a multicast address", id="multicast"),
    pytest.param("240.0.0.1", "240.0.0.1 is a reserved address", id="reserved"),
    pytest.param("192.0.2.1", "192.0.2.1 is not a public internet address", id="documentation"),
    pytest.param("[::1]", "::1 is a loopback address", id="ipv6-loopback"),
    pytest.param("[::]", ":: is the unspecified address", id="ipv6-unspecified"),
    pytest.param("[fd12:3456::1]", "fd12:3456::1 is a unique-local", id="ipv6-unique-local"),
    pytest.param("[fe80::1]", "fe80::1 is a link-local address", id="ipv6-link-local"),
    pytest.param("[ff02::1]", "ff02::1 is a multicast address", id="ipv6-multicast"),
    pytest.param("[::ffff:127.0.0.1]", "::ffff:127.0.0.1 is a loopback", id="ipv4-mapped"),
    pytest.param("[64:ff9b::a00:1]", "64:ff9b::a00:1 is a private network", id="nat64"),
]


@pytest.mark.parametrize(("host", "reason"), PRIVATE_ADDRESSES)
def test_it_refuses_private_and_internal_addresses(settings, host, reason):
    settings.FETCH_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(FetchError, match=f"^refused: {re.escape(reason)}"):
        fetch(f"http://{host}:9/feed", timeout=2)


def test_it_refuses_a_name_that_resolves_to_loopback_and_sends_it_nothing(feed_server, settings):
    settings.FETCH_ALLOW_PRIVATE_NETWORKS = False
    url = feed_server.route("/internal", body=b"<rss>SECRET internal status</rss>")
    with pytest.raises(FetchError) as caught:
        fetch(url.replace("127.0.0.1", "localhost"))
    message = str(caught.value)
    assert re.match(r"refused: localhost resolves to (127\.0\.0\.1|::1), which is a loop", message)
    assert "SECRET" not in message
    assert feed_server.seen == []


def test_it_checks_every_redirect_hop(feed_server, settings, monkeypatch):
    settings.FETCH_ALLOW_PRIVATE_NETWORKS = False
    checked = fetching.describe_private
    # The feed server stands for a public host; where it redirects to is checked as usual.
    monkeypatch.setattr(
        fetching, "describe_private", lambda ip: "" if ip == "127.0.0.1" else checked(ip)
    )
    metadata = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    url = feed_server.route("/feed", status=302, headers={"Location": metadata})
    with pytest.raises(FetchError, match=r"^refused: 169\.254\.169\.254 is the cloud metadata"):
        fetch(url, timeout=2)
    assert [seen.path for seen in feed_server.seen] == ["/feed"]


def test_it_connects_to_the_address_it_checked_not_to_a_second_lookup(
    feed_server, settings, monkeypatch
):
    # DNS rebinding: the first answer is public, any later one points inside.
    settings.FETCH_ALLOW_PRIVATE_NETWORKS = False
    answers = iter(["93.184.215.14"])
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host != "feeds.example":
            return real(host, port, *args, **kwargs)
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    port = feed_server.httpd.server_address[1]
    feed_server.route("/feed", body=BODY)
    with contextlib.suppress(FetchError):  # no internet here: the public address may not answer
        fetch(f"http://feeds.example:{port}/feed", timeout=2)
    assert feed_server.seen == []


def test_private_networks_can_be_allowed_for_local_feed_servers(feed_server, settings):
    settings.FETCH_ALLOW_PRIVATE_NETWORKS = True
    url = feed_server.route("/feed", body=BODY)
    assert fetch(url.replace("127.0.0.1", "localhost")).body == BODY


def tls_feed_server(tmp_path, monkeypatch, name: str) -> FeedServer:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setattr(fetching, "CA_BUNDLE", str(tmp_path / "ca.pem"))
    server = FeedServer(ssl_context=context)
    server.start()
    return server


def test_https_connects_to_the_checked_address_and_verifies_the_host_name(
    tmp_path, monkeypatch, settings
):
    settings.FETCH_ALLOW_PRIVATE_NETWORKS = True
    server = tls_feed_server(tmp_path, monkeypatch, "localhost")
    try:
        assert fetch(server.route("/feed", body=BODY)).body == BODY
        assert server.seen[0].headers["Host"] == f"localhost:{server.httpd.server_address[1]}"
    finally:
        server.stop()


def test_https_refuses_a_certificate_for_another_name(tmp_path, monkeypatch, settings):
    settings.FETCH_ALLOW_PRIVATE_NETWORKS = True
    server = tls_feed_server(tmp_path, monkeypatch, "feeds.example")
    try:
        with pytest.raises(FetchError, match="TLS error talking to https://localhost"):
            fetch(server.route("/feed", body=BODY), timeout=3)
        assert server.seen == []
    finally:
        server.stop()


def test_it_tries_the_next_address_when_one_refuses_at_once(feed_server, monkeypatch):
    # A dual-stack name whose server listens on IPv4 only.
    port = feed_server.httpd.server_address[1]
    real = socket.getaddrinfo

    def dual_stack(host, port_, *args, **kwargs):
        if host != "dual.example":
            return real(host, port_, *args, **kwargs)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port_, 0, 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port_)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", dual_stack)
    feed_server.route("/feed", body=BODY)
    assert fetch(f"http://dual.example:{port}/feed", timeout=3).body == BODY
