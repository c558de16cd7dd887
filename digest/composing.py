"""Email messages: subject, plain text and HTML from templates, with the headers that mailbox
providers expect of bulk mail (List-Unsubscribe, one-click unsubscribe, List-Id, Message-ID).

Templates live in templates/email/<kind>.subject.txt, .txt and .html. The HTML's CSS is
inlined (Gmail drops <style> in many cases); media queries for phones and dark mode stay in a
<style data-css-inline="keep"> block for the clients that honour them.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import make_msgid
from html import escape  # plain str out: Django's escape() costs 3x more per call
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import css_inline
from django.conf import settings
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from digest import highlighting, mime
from digest.matching import Match
from digest.models import Edition
from digest.query import QueryError, parse_query
from subscribers import links

if TYPE_CHECKING:
    from django.core.mail import EmailMultiAlternatives

    from digest.models import Delivery, Paper
    from subscribers.models import Subscriber

_inliner = css_inline.CSSInliner(load_remote_stylesheets=False)


def site_domain() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def new_message_id(local: str | None = None) -> str:
    """A Message-ID on our domain; pass `local` for a stable one (e.g. per delivery)."""
    if local:
        return f"<{local}@{site_domain()}>"
    return make_msgid(domain=site_domain())


def build_message(
    kind: str,
    to: str,
    context: dict[str, Any],
    *,
    fragments: dict[str, str] | None = None,
    **envelope: Any,
) -> EmailMultiAlternatives:
    """Render templates/email/<kind>.* into a message with both parts and our headers.
    `fragments` are HTML put in place of their markers after the CSS is inlined; `envelope`
    is what assemble() takes besides the parts."""
    subject, text, html = render_parts(kind, context, fragments)
    return assemble(to, subject, text, html, **envelope)


def render_parts(
    kind: str, context: dict[str, Any], fragments: dict[str, str] | None = None
) -> tuple[str, str, str]:
    """Subject, plain text and HTML (CSS inlined) of templates/email/<kind>.*."""
    context = {"site_name": settings.SITE_NAME, "site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"email/{kind}.subject.txt", context).split())
    text = render_to_string(f"email/{kind}.txt", context)
    html = _inliner.inline(render_to_string(f"email/{kind}.html", context))
    for marker, fragment in (fragments or {}).items():
        html = html.replace(marker, fragment)
    return subject, text, ascii_html(html)


def assemble(
    to: str,
    subject: str,
    text: str,
    html: str,
    *,
    unsubscribe_url: str = "",
    unsubscribe_mailto: str = "",
    message_id: str = "",
    tags: tuple[str, ...] = (),
    metadata: dict[str, str] | None = None,
) -> EmailMultiAlternatives:
    """A message with both parts and the headers mailbox providers expect of bulk mail."""
    headers = {
        "Message-ID": message_id or new_message_id(),
        "List-Id": f"{settings.SITE_NAME} <digest.{site_domain()}>",
    }
    if unsubscribe_url:
        targets = [f"<{unsubscribe_url}>"]
        if unsubscribe_mailto:
            targets.append(f"<mailto:{unsubscribe_mailto}?subject=unsubscribe>")
        headers["List-Unsubscribe"] = ", ".join(targets)
        # RFC 8058: mailbox providers POST "List-Unsubscribe=One-Click" to the https URL.
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message = mime.Email(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=headers,
    )
    message.attach_alternative(html, "text/html")
    # Read by django-anymail backends (so ESP events map back to us); other backends ignore them.
    message.tags = list(tags)  # type: ignore[attr-defined]
    message.metadata = metadata or {}  # type: ignore[attr-defined]
    return message


class Stencil:
    """A template rendered once with a marker around each per-message value's name; fill()
    joins the literal pieces and the values (a digest fills twenty of these). Nothing is
    parsed when filling, so braces in values or text stay literal (str.format_map re-parsed
    the whole page for every message, four times slower)."""

    def __init__(self, rendered: str, marker: str) -> None:
        parts = rendered.split(marker)  # literal text at even positions, names at odd ones
        self._first = parts[0]
        self._rest = list(zip(parts[1::2], parts[2::2], strict=True))
        self.names = frozenset(parts[1::2])

    def fill(self, values: dict[str, str]) -> str:
        out = [self._first]
        for name, literal in self._rest:
            out += (values[name], literal)
        return "".join(out)


class Prerendered:
    """What every digest of a run shares, rendered from the templates once: each paper's HTML
    (CSS inlined) and text block, and the page around the papers. What differs per
    subscriber (highlighted title and excerpt, the "matched" line, links, topics) is filled
    into markers. Untrusted text cannot forge a marker: they are random per instance."""

    def __init__(self) -> None:
        self._marker = f"pd{secrets.token_hex(8)}"
        self._papers: dict[int, _PaperBlock] = {}
        self._highlights: dict[tuple[int, frozenset[str], tuple[str, ...]], tuple[str, str]] = {}
        self._rendered: dict[tuple[object, ...], tuple[str, str]] = {}
        self._frame: tuple[Stencil, Stencil, Stencil] | None = None
        self._css = render_to_string("email/styles.css")
        mark = css_inline.inline_fragment("<mark>x</mark>", self._css)
        self._mark_open = mark[: mark.index(">") + 1]

    def paper(self, paper: Paper, match: Match) -> tuple[str, str]:
        """One paper's HTML and text block, highlighted for this match. Subscribers with the
        same topics get the same block (more than half of a run's), so it is kept, up to a
        bound."""
        key = (paper.pk, match.stems, match.prefixes, match.topics, match.fields)
        rendered = self._rendered.get(key)
        if rendered is None:
            rendered = self._render_paper(paper, match)
            if len(self._rendered) < MAX_KEPT_PAPERS:
                self._rendered[key] = rendered
        return rendered

    def section(self, matches: Sequence[Match], papers: dict[int, Paper]) -> Section:
        """The papers of a digest, HTML and text."""
        rendered = [self.paper(papers[m.paper_id], m) for m in matches if m.paper_id in papers]
        return Section(
            count=len(rendered),
            html="".join(html for html, _ in rendered),
            text="".join(f"\n{i}. {text}\n" for i, (_, text) in enumerate(rendered, 1)),
            preheader=_clip(papers[matches[0].paper_id].title, 110) if rendered else "",
        )

    def _render_paper(self, paper: Paper, match: Match) -> tuple[str, str]:
        block = self._papers.get(paper.pk)
        if block is None:
            block = self._papers[paper.pk] = self._paper_block(paper)
        fields = f" (in {', '.join(match.fields)})" if match.fields else ""
        title, excerpt = self._highlighted(paper, match, block)
        values = {
            "title": title,
            "excerpt": excerpt,
            "matched": ascii_html(escape(match.matched)),
            "matched_in": ascii_html(escape(fields)),
        }
        return block.html.fill(values), block.text.fill({"matched": match.matched})

    def _highlighted(self, paper: Paper, match: Match, block: _PaperBlock) -> tuple[str, str]:
        # Subscribers with overlapping keywords highlight the same words in the same paper
        # (about half the papers of a run), so the markup is kept, up to a bound.
        key = (paper.pk, match.stems, match.prefixes)
        marked = self._highlights.get(key)
        if marked is None:
            marked = (
                self._marked(highlighting.highlight(paper.title, match, block.title)),
                self._marked(highlighting.excerpt(paper.abstract, match, indexed=block.abstract)),
            )
            if len(self._highlights) < MAX_KEPT_HIGHLIGHTS:
                self._highlights[key] = marked
        return marked

    def digest(self, values: dict[str, str], papers_html: str) -> tuple[str, str, str]:
        """Subject, text and HTML of a digest with papers and a view-in-browser link: the
        frame rendered once, the values escaped here as the templates would."""
        if self._frame is None:
            slots = {name: self._slot(name) for name in DIGEST_SLOTS}
            self._frame = tuple(  # type: ignore[assignment]
                Stencil(part, self._marker)
                for part in render_parts("digest", {**slots, "papers_html": self._slot("html")})
            )
        subject, text, html = self._frame  # type: ignore[misc]
        # Only what the HTML shows (not the text part's papers, a few kB per digest).
        escaped = {name: ascii_html(escape(values[name])) for name in html.names if name != "html"}
        return (
            " ".join(subject.fill(values).split()),
            text.fill(values),
            html.fill({**escaped, "html": papers_html}),
        )

    def _slot(self, name: str) -> str:
        return mark_safe(f"{self._marker}{name}{self._marker}")

    def _paper_block(self, paper: Paper) -> _PaperBlock:
        slots = {name: self._slot(name) for name in PAPER_SLOTS}
        context = {"paper": paper, "site_url": settings.SITE_URL, **slots}
        html = css_inline.inline_fragment(render_to_string("email/_paper.html", context), self._css)
        return _PaperBlock(
            html=Stencil(ascii_html(html), self._marker),
            text=Stencil(render_to_string("email/_paper.txt", context), self._marker),
            title=highlighting.IndexedText.of(paper.title),
            abstract=highlighting.IndexedText.of(paper.abstract),
        )

    def _marked(self, segments: highlighting.Segments) -> str:
        return ascii_html(
            "".join(
                f"{self._mark_open}{escape(text)}</mark>" if hit else escape(text)
                for text, hit in segments
            )
        )


def ascii_html(html: str) -> str:
    """HTML with every non-ASCII character as a character reference ("—" as &#8212;), which
    mail clients render the same. A digest's HTML is ~25 kB: one "·" in a template made
    Python store it two bytes per character, and encoding it to UTF-8 took 7% of a sending
    worker's instructions; ASCII is copied as it is. Inside <style> and <script> references
    are not decoded, which is why the CSS must stay ASCII (tested)."""
    return html if html.isascii() else html.encode("ascii", "xmlcharrefreplace").decode("ascii")


MAX_KEPT_HIGHLIGHTS = 20_000  # about 1 kB each: bounded, so memory stays flat as lists grow
MAX_KEPT_PAPERS = 10_000  # about 4 kB each (HTML and text): ~40 MB when full
PAPER_SLOTS = ("title", "excerpt", "matched", "matched_in")
DIGEST_SLOTS = (
    "subject",
    "preheader",
    "heading",
    "edition_label",
    "view_url",
    "papers_text",
    "frequency",
    "recipient",
    "topics",
    "manage_url",
    "unsubscribe_url",
)


@dataclass(frozen=True)
class Section:
    """The papers of one digest, rendered."""

    count: int
    html: str
    text: str
    preheader: str  # the first paper's title, shown by mail clients beside the subject


@dataclass(frozen=True)
class _PaperBlock:
    html: Stencil
    text: Stencil
    title: highlighting.IndexedText
    abstract: highlighting.IndexedText


def digest_message(
    subscriber: Subscriber,
    edition: Edition,
    matches: Sequence[Match],
    papers: dict[int, Paper],
    *,
    delivery: Delivery | None = None,
    prerendered: Prerendered | None = None,
) -> EmailMultiAlternatives:
    """One subscriber's digest: the same rendering for sending, previews and the browser."""
    prerendered = prerendered or Prerendered()
    section = prerendered.section(matches, papers)
    urls = links.email_links(subscriber, delivery)
    values = {
        "subject": digest_subject(matches, edition),
        "preheader": section.preheader,
        "heading": _heading(section.count),
        "edition_label": _edition_label(edition),
        "view_url": urls.view,
        "papers_text": section.text,
        "frequency": subscriber.get_frequency_display().lower(),
        "recipient": subscriber.email,
        "topics": ", ".join(_topics(subscriber.query)),
        "manage_url": urls.manage,
        "unsubscribe_url": urls.unsubscribe,
    }
    papers_html = section.html
    if papers_html and values["view_url"]:  # what a send is made of: the prerendered frame
        parts = prerendered.digest(values, papers_html)
    else:  # previews and empty digests: the templates with their conditions
        # The papers go in after the page's CSS is inlined: they come inlined already.
        papers_slot = f"<!--papers-{secrets.token_hex(8)}-->"
        context = {**values, "papers_html": mark_safe(papers_slot) if papers_html else ""}
        parts = render_parts("digest", context, {papers_slot: papers_html})
    metadata = {"frequency": edition.frequency}
    if delivery:
        metadata.update(delivery=str(delivery.pk), edition=str(edition.pk))
    return assemble(
        subscriber.email,
        *parts,
        unsubscribe_url=urls.unsubscribe,
        unsubscribe_mailto=links.unsubscribe_mailto(),
        # Stable per delivery: a re-send after a crash carries the same id, which mailbox
        # providers use to fold the duplicate away.
        message_id=new_message_id(f"delivery-{delivery.pk}") if delivery and delivery.pk else "",
        tags=("digest",),
        metadata=metadata,  # one tag: Postmark allows no more
    )


def digest_subject(matches: Sequence[Match], edition: Edition) -> str:
    """ "5 new papers on federated learning, pruning — Nov 24" """
    when = f"{edition.period:%b} {edition.period.day}"
    if edition.frequency == Edition.Frequency.WEEKLY:
        when = f"week of {when}"
    if not matches:
        return f"Nothing new on your topics — {when}"
    counts = Counter(topic for m in matches for topic in m.topics)
    names = [_clip(topic) for topic, _ in counts.most_common(2)]
    more = " and more" if len(counts) > 2 else ""
    noun = "paper" if len(matches) == 1 else "papers"
    return f"{len(matches)} new {noun} on {', '.join(names)}{more} — {when}"


def _heading(count: int) -> str:
    if not count:
        return "Nothing new on your topics this time"
    return f"{count} new paper{'s' if count != 1 else ''} on your topics"


def _edition_label(edition: Edition) -> str:
    if edition.frequency == Edition.Frequency.WEEKLY:
        return f"Weekly digest · week of {edition.period:%B} {edition.period.day}"
    return f"Daily digest · {edition.period:%A, %B} {edition.period.day}"


def _topics(query: str) -> list[str]:
    try:
        return [topic.text for topic in parse_query(query).topics]
    except QueryError:
        return [query]


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
