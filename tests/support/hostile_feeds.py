"""A corpus of malformed and unusual feed documents, built from the real fixtures.

Each item is (name, kind or None for detection, body). Built in code rather than stored so
that the multi-megabyte ones cost nothing in the repository and every case says how it was
made.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from pathlib import Path

FEEDS = Path(__file__).resolve().parents[1] / "data" / "feeds"
FIXTURES = {
    "arxiv-rss": "arxiv-rss.xml",
    "arxiv-api": "arxiv-api.xml",
    "feed": "generic-rss.xml",
    "hf-daily": "hf-daily.json",
}

RSS_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>t</title>'


def rss(items: str, head: str = RSS_HEAD) -> bytes:
    return f"{head}{items}</channel></rss>".encode()


def item(n: int, title: str, description: str = "An abstract.") -> str:
    return (
        f"<item><title>{title}</title><link>https://example.org/paper/{n}</link>"
        f"<description>{description}</description></item>"
    )


def corpus() -> Iterator[tuple[str, str | None, bytes]]:
    rng = random.Random(7)
    for kind, name in FIXTURES.items():
        body = (FEEDS / name).read_bytes()
        for fraction in (0.03, 0.3, 0.5, 0.77, 0.999):
            yield f"{kind} truncated at {fraction:.0%}", None, body[: int(len(body) * fraction)]
        yield f"{kind} gzip-compressed, undeclared", None, gzip.compress(body)
        yield f"{kind} as UTF-16 with a BOM", None, body.decode().encode("utf-16")
        yield f"{kind} random bytes flipped", None, _flip(body, rng, 40)
        yield f"{kind} NUL bytes inside", None, body.replace(b"<title>", b"<title>\x00\x00", 3)
        yield f"{kind} read as arxiv-api", "arxiv-api", body
        yield f"{kind} read as hf-daily", "hf-daily", body

    text = (FEEDS / FIXTURES["arxiv-rss"]).read_text()
    yield (
        "latin-1 bytes declared as utf-8",
        None,
        text.replace("—", "é").encode("latin-1", "replace"),
    )
    yield (
        "utf-8 bytes declared as shift_jis",
        None,
        text.replace('encoding="UTF-8"', 'encoding="shift_jis"')
        .replace('encoding="utf-8"', 'encoding="shift_jis"')
        .encode(),
    )
    yield (
        "invalid utf-8 sequences",
        None,
        rss(item(1, "Bad \xff\xfe bytes").replace("\xff", "")) + (b"\xc3\x28\xa0\xa1\xe2\x28\xa1"),
    )
    yield "unknown encoding name", None, rss(item(1, "x"), RSS_HEAD.replace("utf-8", "x-klingon"))

    yield "billion laughs", None, _billion_laughs()
    yield "quadratic blowup", None, _quadratic_blowup()
    yield "external entity (XXE)", None, _xxe()
    yield "parameter entity from the network", None, _network_dtd()
    yield "100,000 nested elements", None, rss("<x>" * 100_000 + "</x>" * 100_000)
    yield "50,000 unclosed nested elements", None, rss("<div>" * 50_000)
    yield "a 10 MB attribute", None, rss(f'<item a="{"A" * 10_000_000}"><title>big</title></item>')
    yield "a 5 MB title", None, rss(item(1, "T" * 5_000_000))
    yield "100,000 attributes on one element", None, _many_attributes()
    yield "20,000 entries", None, rss("".join(item(n, f"Paper {n}") for n in range(20_000)))
    yield "binary garbage", None, bytes(rng.randrange(256) for _ in range(200_000))
    yield (
        "binary garbage after an rss tag",
        None,
        b"<rss>" + bytes(rng.randrange(256) for _ in range(50_000)),
    )
    yield "only a BOM", None, b"\xef\xbb\xbf"
    yield "whitespace", None, b" \n\t " * 1000
    yield (
        "an HTML page",
        None,
        b"<!doctype html><html><head><title>Not found</title></head><body>404</body></html>",
    )
    yield "an HTML page read as feed", "feed", b"<html><body><p>Login required</p></body></html>"
    yield "JSON where XML is expected", "arxiv-rss", json.dumps({"items": [1, 2, 3]}).encode()
    yield "XML where JSON is expected", "hf-daily", rss(item(1, "x"))
    yield "JSON nested 100,000 deep", "hf-daily", b"[" * 100_000 + b"]" * 100_000
    yield "JSON with wrong shapes", "hf-daily", _odd_json()
    yield (
        "JSON with a 10 MB string",
        "hf-daily",
        json.dumps([{"paper": {"id": "2401.00001", "title": "x" * 10_000_000}}]).encode(),
    )
    yield (
        "JSON huge numbers",
        "hf-daily",
        b'[{"paper": {"id": "2401.00002", "title": "t", "upvotes": 1e999}}]',
    )
    yield (
        "JSON with a 5,000-digit number",
        "hf-daily",
        b'[{"paper": {"id": "2401.00007", "upvotes": ' + b"9" * 5000 + b"}}]",
    )
    yield "hostile text in entries", None, _hostile_entries()
    yield "dates from the far past and future", None, _odd_dates()
    yield "links that are not http", None, _odd_links()


def _flip(body: bytes, rng: random.Random, count: int) -> bytes:
    data = bytearray(body)
    for _ in range(count):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _billion_laughs() -> bytes:
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [' + "".join(entities) + "]>\n"
        '<rss version="2.0"><channel><title>&lol9;</title>'
        + item(1, "&lol9;", "&lol9;")
        + "</channel></rss>"
    ).encode()


def _quadratic_blowup() -> bytes:
    big = "x" * 100_000
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "{big}">]>\n'
        '<rss version="2.0"><channel>' + item(1, "&a;" * 2_000, "&a;" * 2_000) + "</channel></rss>"
    ).encode()


def _xxe() -> bytes:
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        '<rss version="2.0"><channel>' + item(1, "XXE &xxe;", "&xxe;") + "</channel></rss>"
    ).encode()


def _network_dtd() -> bytes:
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY % remote SYSTEM '
        '"http://127.0.0.1:9/evil.dtd"> %remote;]>\n'
        '<rss version="2.0"><channel>' + item(1, "Remote DTD") + "</channel></rss>"
    ).encode()


def _many_attributes() -> bytes:
    attributes = " ".join(f'a{n}="{n}"' for n in range(100_000))
    return rss(f"<item {attributes}><title>attrs</title><link>https://example.org/a</link></item>")


def _odd_json() -> bytes:
    return json.dumps(
        [
            None,
            1,
            "string",
            [],
            {"paper": None},
            {"paper": {"id": None, "title": None}},
            {"paper": {"id": ["2401.00003"], "title": {"nested": True}}},
            {"paper": {"id": "not an id", "title": "no arXiv id"}},
            {"paper": {"id": "2401.00004", "title": "Fine", "authors": "not a list"}},
            {"paper": {"id": "2401.00005", "title": "Fine too", "upvotes": "many"}},
            {"paper": {"id": "2401.00006", "title": "Dates", "publishedAt": "yesterday"}},
        ]
    ).encode()


def _hostile_entries() -> bytes:
    titles = [
        "&lt;script&gt;alert(1)&lt;/script&gt; Pruning",
        "<![CDATA[<img src=x onerror=alert(1)>]]> Graphs",
        "Right\u202eto-left override\u202c and zero\u200bwidth",
        "Control \x01\x02\x1b[31m characters",
        "&#0; &#xD800; &#x110000; &#99999999999999999999; &#x0000000000041; bad references",
    ]
    return rss("".join(item(900 + n, title, title) for n, title in enumerate(titles)))


def _odd_dates() -> bytes:
    dates = ["Thu, 01 Jan 1970 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "not a date", ""]
    return rss(
        "".join(
            f"<item><title>Dated {n}</title><link>https://example.org/d/{n}</link>"
            f"<pubDate>{date}</pubDate></item>"
            for n, date in enumerate(dates)
        )
    )


def _odd_links() -> bytes:
    links = ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "//evil", "ftp://x"]
    return rss(
        "".join(
            f"<item><title>Link {n}</title><link>{link}</link></item>"
            for n, link in enumerate(links)
        )
    )
