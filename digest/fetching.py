"""HTTP fetching for feeds: timeouts, a size cap, a total deadline and conditional GET.

A 304 costs one round trip and no parsing. Every failure becomes a FetchError whose message
says what happened in words an operator can act on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests
from django.conf import settings

CONNECT_TIMEOUT = 10
CHUNK = 64 * 1024
ACCEPT = "application/rss+xml, application/atom+xml, application/json;q=0.9, */*;q=0.5"


class FetchError(Exception):
    """The source could not be fetched; the message is stored on the Source for operators."""


@dataclass(frozen=True)
class FetchResult:
    body: bytes | None  # None means 304 Not Modified
    etag: str = ""
    last_modified: str = ""
    url: str = ""

    @property
    def not_modified(self) -> bool:
        return self.body is None


def fetch(
    url: str,
    *,
    etag: str = "",
    last_modified: str = "",
    timeout: float | None = None,
    max_bytes: int | None = None,
) -> FetchResult:
    """GET url conditionally and return its body, or raise FetchError."""
    timeout = timeout or settings.FETCH_TIMEOUT_SECONDS
    max_bytes = max_bytes or settings.FETCH_MAX_BYTES
    headers = {"User-Agent": settings.FETCH_USER_AGENT, "Accept": ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with requests.get(
            url,
            headers=headers,
            stream=True,
            allow_redirects=True,
            timeout=(min(CONNECT_TIMEOUT, timeout), timeout),
        ) as response:
            return _read_response(
                response, deadline=time.monotonic() + timeout, timeout=timeout, max_bytes=max_bytes
            )
    except requests.exceptions.RequestException as exc:
        raise FetchError(_describe(exc, url, timeout)) from None


def _read_response(
    response: requests.Response, *, deadline: float, timeout: float, max_bytes: int
) -> FetchResult:
    if response.status_code == 304:
        return FetchResult(body=None, url=response.url)
    if response.status_code >= 400:
        raise FetchError(f"HTTP {response.status_code} {response.reason} from {response.url}")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"response is {_mb(int(declared))}, over the {_mb(max_bytes)} limit")
    body = bytearray()
    # read1 returns whatever one socket read brings, so a server that drips a byte at a time
    # still meets the deadline check; it also decompresses, so the cap stops gzip bombs.
    while chunk := response.raw.read1(CHUNK, decode_content=True):
        body += chunk
        if len(body) > max_bytes:
            raise FetchError(f"response is over the {_mb(max_bytes)} limit; stopped reading")
        if time.monotonic() > deadline:
            raise FetchError(f"download took longer than {timeout:g}s; stopped reading")
    return FetchResult(
        body=bytes(body),
        etag=response.headers.get("ETag", "")[:500],
        last_modified=response.headers.get("Last-Modified", "")[:100],
        url=response.url,
    )


def _describe(exc: requests.exceptions.RequestException, url: str, timeout: float) -> str:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"could not connect to {url} within {min(CONNECT_TIMEOUT, timeout):g}s"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"no response from {url} within {timeout:g}s"
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return f"too many redirects from {url}"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error talking to {url}"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"could not connect to {url} (connection refused or host unreachable)"
    if isinstance(
        exc,
        requests.exceptions.InvalidSchema
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidURL,
    ):
        return f"not a valid http(s) URL: {url}"
    return f"fetching {url} failed: {type(exc).__name__}"


def _mb(size: int) -> str:
    return f"{size / 1_048_576:.1f} MB"
