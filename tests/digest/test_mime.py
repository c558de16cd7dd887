"""The fast MIME writer says what Django's would, and steps aside for what it can't write."""

from __future__ import annotations

import base64
import email
import email.policy
import re
import smtplib

import pytest
from django.core.mail import BadHeaderError, get_connection
from hypothesis import example, given
from hypothesis import strategies as st

from digest import composing, mime, sending
from digest.models import Delivery
from tests.factories import PaperFactory, SubscriberFactory
from tests.support.mail import text_and_html

pytestmark = pytest.mark.django_db

SUBJECTS = [
    "3 new papers on pruning — Nov 24",
    "Plain ASCII subject",
    "Émoji 🧪 and كلمات عربية with a \u202eright-to-left override\u202c — Nov 24",
    ("A long subject " + "über-long words " * 12).strip(),
    ("[Test] " + "An ASCII subject long enough to be folded across lines, " * 2).strip(),
]


def email_of(subject: str, **overrides: object) -> mime.Email:
    fields = {
        "to": "ada@example.org",
        "subject": subject,
        "text": "Hello,\nplain part.\n.a line that starts with a dot\n",
        "html": "<p>Hello, <b>HTML</b> part — ünïcode</p>\n" * 40,
        "unsubscribe_url": "https://digest.example.org/unsubscribe/" + "x" * 90 + "/",
        "unsubscribe_mailto": "digest@example.org",
        "message_id": "<delivery-7@example.org>",
    }
    fields.update(overrides)
    return composing.assemble(
        fields.pop("to"), fields.pop("subject"), fields.pop("text"), fields.pop("html"), **fields
    )


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def headers(message: email.message.EmailMessage) -> dict[str, str]:
    skip = {"content-type", "date", "mime-version"}  # boundary and time differ by design
    return {
        k.lower(): " ".join(str(v).split()) for k, v in message.items() if k.lower() not in skip
    }


@pytest.mark.parametrize("subject", SUBJECTS)
def test_fast_bytes_parse_to_what_django_writes(subject):
    message = email_of(subject)
    fast = message.as_bytes()
    slow = message.message().as_bytes(linesep="\r\n")
    ours, django = parsed(fast), parsed(slow)
    assert headers(ours) == headers(django)
    assert str(ours["Subject"]) == subject.strip()  # no fold space kept in front
    assert text_and_html(ours) == text_and_html(django)
    assert ours.get_content_type() == "multipart/alternative"
    assert not [part.defects for part in ours.walk() if part.defects]
    assert [part.get_content_type() for part in ours.walk()] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    assert b"\r\n" in fast and b"\n" not in fast.replace(b"\r\n", b"")  # CRLF only
    assert max(len(line) for line in fast.split(b"\r\n")) <= 998


@pytest.mark.parametrize("ends", ["\r\n", "\r", "\n\r"])
def test_other_line_ends_come_out_as_crlf_and_say_what_django_says(ends):
    lines = ["Hello,", "plain part.", ".dot", "", "end"]
    message = email_of(
        "Line ends", text=ends.join(lines), html=ends.join(f"<p>{x}</p>" for x in lines)
    )
    fast = message.as_bytes()
    assert b"\r\n" in fast and b"\n" not in fast.replace(b"\r\n", b"")
    assert b"\r" not in fast.replace(b"\r\n", b"")
    slow = message.message().as_bytes(linesep="\r\n")
    assert text_and_html(parsed(fast)) == text_and_html(parsed(slow))


@given(st.text(min_size=1, max_size=200))
@example("é" * 30)
@example("5 new papers on federated learning, pruning and more — Nov 24 🧪🧪")
def test_encoded_words_hold_whole_characters_in_39_bytes(subject):
    encoded = mime._encoded(subject)
    if subject.isascii():
        assert encoded == subject
        return
    words = re.fullmatch(
        r"=\?utf-8\?b\?([A-Za-z0-9+/=]*)\?=(?: =\?utf-8\?b\?([A-Za-z0-9+/=]*)\?=)*", encoded
    )
    assert words, encoded
    chunks = [base64.b64decode(w) for w in re.findall(r"\?b\?([^?]*)\?=", encoded)]
    assert all(0 < len(chunk) <= 39 for chunk in chunks)
    # Each word decodes on its own: no character is split between two.
    assert "".join(c.decode("utf-8", errors="surrogateescape") for c in chunks) == subject
    assert all(chunk.decode("utf-8", errors="surrogateescape") for chunk in chunks)


def test_header_lines_are_folded_near_78_characters():
    raw = email_of(SUBJECTS[3]).as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n") if b"://" not in line)


def test_header_injection_is_refused_as_django_refuses_it():
    with pytest.raises(BadHeaderError):
        email_of("Hi\r\nBcc: victim@example.org").as_bytes()
    with pytest.raises(BadHeaderError):
        email_of("fine", to="ada@example.org\nBcc: victim@example.org").as_bytes()


def test_what_it_cannot_write_goes_to_django():
    message = email_of("Subject — Nov 24", to="åda@exämple.org")  # Django encodes the address
    assert mime._serialise(message) is None
    assert parsed(message.as_bytes()).get_body(("html",)).get_content().startswith("<p>")


@pytest.mark.parametrize(
    "html",
    [
        "<p>" + "long words ünïcode = " * 120 + "</p>\n<p>short</p>\n",  # over 998 bytes
        "<p>" + "x" * 3000 + "</p>",  # one line, no line end at all
        "<p>trailing space   \n" + "y" * 1200 + "\n.a dot first\n",
    ],
)
def test_lines_over_smtps_limit_are_quoted_printable_as_django_does(html):
    message = email_of("Subject — Nov 24", html=html)
    fast = mime._serialise(message)
    assert fast is not None
    assert b"Content-Transfer-Encoding: quoted-printable" in fast
    encoded = fast.split(b"quoted-printable\r\n\r\n")[1].split(b"\r\n--")[0]
    assert max(len(line) for line in encoded.split(b"\r\n")) <= 76
    assert b"\n" not in fast.replace(b"\r\n", b"")  # CRLF only, soft breaks included
    ours = parsed(fast)
    django = parsed(message.message().as_bytes(linesep="\r\n"))
    assert text_and_html(ours) == text_and_html(django)
    assert not [part.defects for part in ours.walk() if part.defects]


DOTTED = [
    b"plain\r\n",
    b".starts with a dot\r\nmiddle\r\n.\r\n..two\r\nend",
    b"\r\n.\r\n.\r\n",
    b"no line end at all",
    b"a\n.bare LF then dot\r\n",
]


@pytest.mark.parametrize("data", DOTTED)
def test_dot_stuffing_writes_what_smtplib_writes(data):
    class Recording(mime._SMTP):
        def __init__(self) -> None:
            super().__init__()  # not connected
            self.sent: list[bytes] = []

        def putcmd(self, cmd: str, args: str = "") -> None:
            pass

        def getreply(self) -> tuple[int, bytes]:
            return (354, b"go ahead") if not self.sent else (250, b"ok")

        def send(self, s: bytes) -> None:
            self.sent.append(s)

    class Stock(Recording):
        data = smtplib.SMTP.data

    fast, stock = Recording(), Stock()
    assert fast.data(data) == stock.data(data) == (250, b"ok")
    assert fast.sent == stock.sent


class _Commands(mime._SMTP):
    """Records the commands MAIL and RCPT write, without a server."""

    def __init__(self) -> None:
        super().__init__()  # not connected
        self.does_esmtp = True
        self.commands: list[tuple[str, str]] = []

    def putcmd(self, cmd: str, args: str = "") -> None:
        self.commands.append((cmd, args))

    def getreply(self) -> tuple[int, bytes]:
        return 250, b"ok"


class _StockCommands(_Commands):
    mail = smtplib.SMTP.mail
    rcpt = smtplib.SMTP.rcpt


ADDRESS_CHARACTERS = "abzAZ09.!#$%&'*+/=?^_`{|}~-@<>\" (),;:[]\\é"


@given(
    st.text(alphabet=ADDRESS_CHARACTERS, min_size=1, max_size=30),
    st.sampled_from([(), ("size=2048",), ("size=9", "BODY=8BITMIME")]),
)
def test_envelope_commands_are_what_smtplib_writes(address, options):
    fast, stock = _Commands(), _StockCommands()
    for smtp in (fast, stock):
        smtp.mail(address, options)
        smtp.rcpt(address, options)
    assert fast.commands == stock.commands


@pytest.mark.parametrize(
    "address",
    ["ada@example.org", "o'brien+digest@mail.example.co.uk", "Ada <ada@example.org>", "åda@x.org"],
)
def test_envelope_of_ordinary_and_odd_addresses_is_what_smtplib_writes(address):
    fast, stock = _Commands(), _StockCommands()
    for smtp in (fast, stock):
        smtp.mail(address)
        smtp.rcpt(address, ("NOTIFY=NEVER",))
    assert fast.commands == stock.commands
    assert mime._PLAIN_ADDRESS.match(address) or address in {"Ada <ada@example.org>", "åda@x.org"}


def test_the_envelope_sender_is_the_bare_from_address(smtp_sink, settings):
    settings.DEFAULT_FROM_EMAIL = "Paper Digest <digest@example.org>"
    with get_connection("digest.mime.SMTPBackend") as connection:
        connection.send_messages([email_of("Envelope", to="ada@example.org")])
    assert smtp_sink.envelopes == [("digest@example.org", ["ada@example.org"])]
    (received,) = smtp_sink.messages
    assert received["From"] == "Paper Digest <digest@example.org>"


def test_lines_starting_with_a_dot_arrive_intact(smtp_sink):
    text = ".one\n..two\n.\nlast line.\n"
    with get_connection("digest.mime.SMTPBackend") as connection:
        connection.send_messages([email_of("Dots", text=text)])
    (received,) = smtp_sink.messages
    assert received.get_body(("plain",)).get_content().replace("\r\n", "\n") == text


def test_both_backends_deliver_the_same_digest(smtp_sink, settings):
    PaperFactory(title="Global channel pruning", abstract="Pruning channels.")
    SubscriberFactory(email="ada@example.org", query="pruning")
    edition = sending.plan_edition("daily")
    delivery = Delivery.objects.get()
    papers = sending.EditionPapers.for_edition(edition)
    message, _ = sending.compose_for(delivery.subscriber, edition, papers)
    for backend in ("digest.mime.SMTPBackend", "django.core.mail.backends.smtp.EmailBackend"):
        with get_connection(backend) as connection:
            assert connection.send_messages([message]) == 1
    ours, django = smtp_sink.messages
    assert headers(ours) == headers(django)
    assert text_and_html(ours) == text_and_html(django)


def test_a_refused_recipient_raises_as_with_django(smtp_sink):
    smtp_sink.handler.refuse.add("gone@example.org")
    with (
        pytest.raises(smtplib.SMTPRecipientsRefused),
        get_connection("digest.mime.SMTPBackend") as connection,
    ):
        connection.send_messages([email_of("Hi", to="gone@example.org")])
