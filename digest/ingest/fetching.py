"""HTTP fetching for feeds: a wall-clock deadline, a size cap, conditional GET, and no way into
private networks.

Each hop is resolved once, every address is checked, and the connection goes to the address
that passed (so DNS rebinding cannot swap it after the check). Redirects are followed here,
hop by hop, so each one is checked too. A socket timeout bounds each recv, not the fetch: a
server dripping a byte every few seconds would never hit it, so a watchdog shuts the socket
when the deadline passes. Every failure becomes a FetchError whose message says what
happened in words an operator can act on, and never carries what a refused host would say.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from operator import attrgetter
from urllib.parse import urljoin, urlsplit

import certifi
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import DecodeError, HTTPError, NewConnectionError
from urllib3.response import HTTPResponse

from lib.numbers import ascii_int

CONNECT_TIMEOUT = 10
CHUNK = 64 * 1024
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CA_BUNDLE = certifi.where()
ACCEPT = "application/rss+xml, application/atom+xml, application/json;q=0.9, */*;q=0.5"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = ipaddress.ip_address("169.254.169.254")
_RFC1918 = tuple(map(ipaddress.ip_network, ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")))
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
# First match names the address; anything else not globally routable is refused as well.
_PRIVATE_KINDS: tuple[tuple[Callable[[Address], bool], str], ...] = (
    (lambda ip: ip == _METADATA, "the cloud metadata address"),
    (attrgetter("is_unspecified"), "the unspecified address"),
    (attrgetter("is_loopback"), "a loopback address"),
    (attrgetter("is_link_local"), "a link-local address"),
    (lambda ip: any(ip in net for net in _RFC1918), "a private network address"),
    (lambda ip: ip in _UNIQUE_LOCAL, "a unique-local address"),
    (lambda ip: ip in _CGNAT, "a carrier-grade NAT (shared) address"),
    (attrgetter("is_multicast"), "a multicast address"),
    (lambda ip: getattr(ip, "is_site_local", False), "a site-local address"),
    (attrgetter("is_reserved"), "a reserved address"),
)


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


@dataclass(frozen=True)
class Target:
    """One hop's URL, taken apart for connecting by address."""

    url: str
    scheme: str
    host: str  # ASCII (IDNA), IPv6 without brackets
    port: int
    path: str  # the request target: path and query
    host_header: str


class Deadline:
    """The wall-clock end of one fetch, shared by every hop, connect and read."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    def left(self) -> float:
        # Never 0: a socket timeout of 0 would mean non-blocking, not "stop now".
        return max(self.ends - time.monotonic(), 0.001)

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.ends


def fetch(
    url: str,
    *,
    etag: str = "",
    last_modified: str = "",
    timeout: float | None = None,
    max_bytes: int | None = None,
) -> FetchResult:
    """GET url conditionally, within `timeout` seconds in all, and return its body, or raise
    FetchError. Private and internal addresses are refused unless FETCH_ALLOW_PRIVATE_NETWORKS."""
    deadline = Deadline(timeout or settings.FETCH_TIMEOUT_SECONDS)
    max_bytes = max_bytes or settings.FETCH_MAX_BYTES
    headers = request_headers(etag, last_modified)
    target = parse_target(url)
    for _hop in range(MAX_REDIRECTS + 1):
        with _exchange(target, headers, deadline) as response:
            location = response.headers.get("Location") if response.status in REDIRECTS else ""
            if not location:
                return _read_response(response, target, deadline, max_bytes)
        target = parse_target(urljoin(target.url, location), redirected=True)
    raise FetchError(f"too many redirects from {url} (more than {MAX_REDIRECTS})")


def request_headers(etag: str = "", last_modified: str = "") -> dict[str, str]:
    """What every fetch sends: who we are, what we read, and the validators we hold."""
    headers = {
        "User-Agent": settings.FETCH_USER_AGENT,
        "Accept": ACCEPT,
        "Accept-Encoding": "gzip, deflate",
        "Connection": "close",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def parse_target(url: str, *, redirected: bool = False) -> Target:
    """Take an http(s) URL apart, or raise FetchError saying it is not one."""
    invalid = FetchError(
        f"redirected to {url[:300]}, which is not an http(s) URL"
        if redirected
        else f"not a valid http(s) URL: {url[:300]}"
    )
    parts = urlsplit(url.strip())
    try:
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        raise invalid from None
    if parts.scheme not in ("http", "https") or not host:
        raise invalid
    bracketed = f"[{host}]" if ":" in host else host
    return Target(
        url=url.strip(),
        scheme=parts.scheme,
        host=host,
        port=port or (443 if parts.scheme == "https" else 80),
        path=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        host_header=f"{bracketed}:{port}" if port else bracketed,
    )


def describe_private(address: str) -> str:
    """Why an address may not be fetched ("a loopback address"), or "" for a public one."""
    ip = ipaddress.ip_address(address.partition("%")[0])  # drop an IPv6 zone ("fe80::1%eth0")
    ip = _embedded_ipv4(ip) or ip
    for test, kind in _PRIVATE_KINDS:
        if test(ip):
            return kind
    return "" if ip.is_global else "not a public internet address"


def _embedded_ipv4(ip: Address) -> ipaddress.IPv4Address | None:
    # ::ffff:127.0.0.1, 6to4 and NAT64 addresses reach the IPv4 address inside them.
    if ip.version == 4:
        return None
    assert isinstance(ip, ipaddress.IPv6Address)
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.ipv4_mapped or ip.sixtofour


def checked_addresses(target: Target, deadline: Deadline) -> list[str]:
    """The addresses this hop may connect to, in the resolver's order: the public ones (all
    of them, if private networks are allowed). Raise FetchError saying why when none is."""
    addresses = _resolve(target, deadline)
    if settings.FETCH_ALLOW_PRIVATE_NETWORKS:
        return addresses
    if allowed := [address for address in addresses if not describe_private(address)]:
        return allowed
    address = addresses[0]
    what = address if address == target.host else f"{target.host} resolves to {address}, which"
    raise FetchError(
        f"refused: {what} is {describe_private(address)}; feeds are fetched from the public "
        "internet only (FETCH_ALLOW_PRIVATE_NETWORKS lifts this)"
    )


def _resolve(target: Target, deadline: Deadline) -> list[str]:
    with suppress(ValueError):
        ipaddress.ip_address(target.host)
        return [target.host]
    # getaddrinfo cannot be interrupted, so it runs aside and we stop waiting at the deadline.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch-resolve")
    answer = pool.submit(socket.getaddrinfo, target.host, target.port, type=socket.SOCK_STREAM)
    pool.shutdown(wait=False)
    try:
        infos = answer.result(timeout=deadline.left())
    except FutureTimeout:
        raise FetchError(f"could not resolve {target.host} within {deadline.seconds:g}s") from None
    except OSError:
        raise FetchError(f"could not resolve {target.host} (no such host?)") from None
    return [str(info[4][0]) for info in infos]


@contextmanager
def _exchange(
    target: Target, headers: dict[str, str], deadline: Deadline
) -> Iterator[HTTPResponse]:
    """Connect to a checked address, send the GET and yield the response (headers read)."""
    addresses = checked_addresses(target, deadline)
    watchdog = Watchdog(deadline)
    try:
        # The next address only when one refuses at once (a dual-stack name whose server
        # listens on IPv4 only); a silent one has used up the connect timeout already.
        for address in addresses[:-1]:
            with suppress(FetchError):
                conn = _connect(_connection(target, address, deadline), target, watchdog)
                break
        else:
            conn = _connect(_connection(target, addresses[-1], deadline), target, watchdog)
        yield _send(conn, target, headers, deadline)
    finally:
        watchdog.stop()


class Watchdog:
    """Shuts the watched connection's socket when the deadline passes: that wakes a recv
    blocked in another thread, which closing the socket would not."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.conn: HTTPConnection | None = None
        self.timer = threading.Timer(deadline.left(), self.shut)
        self.timer.daemon = True
        self.timer.start()

    def shut(self) -> None:
        sock = self.conn.sock if self.conn else None
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self.timer.cancel()
        if self.conn:
            self.conn.close()


def _connection(target: Target, address: str, deadline: Deadline) -> HTTPConnection:
    timeout = min(CONNECT_TIMEOUT, deadline.left())
    if target.scheme == "http":
        return HTTPConnection(address, target.port, timeout=timeout)
    # Connected by address, verified by name: SNI and the certificate check use the host.
    return HTTPSConnection(
        address,
        target.port,
        timeout=timeout,
        server_hostname=target.host,
        cert_reqs="CERT_REQUIRED",
        ca_certs=CA_BUNDLE,
    )


def _connect(conn: HTTPConnection, target: Target, watchdog: Watchdog) -> HTTPConnection:
    if watchdog.conn:
        watchdog.conn.close()
    watchdog.conn = conn
    try:
        conn.connect()
    except NewConnectionError:
        raise FetchError(
            f"could not connect to {target.url} (connection refused or host unreachable)"
        ) from None
    except (TimeoutError, HTTPError):  # urllib3's ConnectTimeoutError is an HTTPError
        raise FetchError(f"could not connect to {target.url} within {conn.timeout:g}s") from None
    except (ssl.SSLError, ssl.CertificateError) as exc:
        raise FetchError(f"TLS error talking to {target.url}: {_tls_reason(exc)}") from None
    except OSError:
        seconds = watchdog.deadline.seconds
        within = f"within {seconds:g}s" if watchdog.deadline.passed else "(connection broken)"
        raise FetchError(f"could not connect to {target.url} {within}") from None
    return conn


def _send(
    conn: HTTPConnection, target: Target, headers: dict[str, str], deadline: Deadline
) -> HTTPResponse:
    conn.timeout = deadline.left()
    try:
        conn.request(
            "GET",
            target.path,
            headers={**headers, "Host": target.host_header},
            preload_content=False,
        )
        return conn.getresponse()
    except http.client.InvalidURL:
        raise FetchError(f"not a valid http(s) URL: {target.url[:300]}") from None
    except (OSError, ValueError, http.client.HTTPException, HTTPError):
        if deadline.passed:
            message = f"no response from {target.url} within {deadline.seconds:g}s"
        else:
            message = f"{target.url} did not answer with valid HTTP"
        raise FetchError(message) from None


def _read_response(
    response: HTTPResponse, target: Target, deadline: Deadline, max_bytes: int
) -> FetchResult:
    if response.status == 304:
        return FetchResult(body=None, url=target.url)
    if response.status >= 300:
        raise FetchError(f"HTTP {response.status} {response.reason} from {target.url}")
    declared = ascii_int(response.headers.get("Content-Length", ""), max_digits=40)
    if declared is not None and declared > max_bytes:
        raise FetchError(f"response is {_mb(declared)}, over the {_mb(max_bytes)} limit")
    return FetchResult(
        body=_read_body(response, target, deadline, max_bytes),
        etag=response.headers.get("ETag", "")[:500],
        last_modified=response.headers.get("Last-Modified", "")[:100],
        url=target.url,
    )


def _read_body(response: HTTPResponse, target: Target, deadline: Deadline, max_bytes: int) -> bytes:
    body = bytearray()
    try:
        # read1 returns whatever one socket read brings, so a server that drips a byte at a
        # time still meets the deadline check; it also decompresses in bounded steps, so the
        # cap stops gzip bombs.
        while chunk := response.read1(CHUNK, decode_content=True):
            body += chunk
            if len(body) > max_bytes:
                raise FetchError(f"response is over the {_mb(max_bytes)} limit; stopped reading")
            if deadline.passed:
                break
    except DecodeError:
        raise FetchError(f"the response from {target.url} could not be decompressed") from None
    except (OSError, ValueError, http.client.HTTPException, HTTPError):
        if not deadline.passed:
            raise FetchError(f"the download from {target.url} broke off") from None
    if deadline.passed:
        raise FetchError(f"download took longer than {deadline.seconds:g}s; stopped reading")
    return bytes(body)


def _tls_reason(exc: Exception) -> str:
    return str(getattr(exc, "verify_message", "") or getattr(exc, "reason", "") or exc)[:200]


def _mb(size: int) -> str:
    return f"{size / 1_048_576:.1f} MB"
