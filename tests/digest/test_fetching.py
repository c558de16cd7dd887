from __future__ import annotations

import socket
import time

import pytest

from digest.fetching import FetchError, fetch

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


def test_connection_refused_is_reported():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        with pytest.raises(FetchError, match="could not connect"):
            fetch(f"http://127.0.0.1:{port}/feed", timeout=2)


def test_a_server_that_never_answers_times_out(feed_server):
    url = feed_server.route("/slow", body=BODY, delay=3)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"no response .* within 1s"):
        fetch(url, timeout=1)
    assert time.monotonic() - started < 2.5


def test_a_server_that_drips_bytes_is_cut_off_at_the_deadline(feed_server):
    url = feed_server.route("/drip", body=b"x" * 10_000, drip=0.05)
    started = time.monotonic()
    with pytest.raises(FetchError, match="longer than 1s"):
        fetch(url, timeout=1)
    assert time.monotonic() - started < 2.5


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
