"""Our email messages, and an SMTP backend that turns them into bytes several times faster.

Django builds a tree of email.mime objects and Python's email package serialises it; per
27 kB digest that cost 1.3 ms, more than composing the digest. Most of it is generality we
don't use: inventing a boundary (a regex built and searched over the whole message), folding
every header through email.header, choosing Q or B encoding character by character, writing
the body line by line. Our messages have one shape (text plus HTML alternative, ASCII
addresses), so Email.as_bytes() writes that shape directly and hands anything else to
Django. ESP backends (anymail) read the message's fields and never call either.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import smtplib
from email.utils import formatdate, make_msgid, parseaddr
from functools import lru_cache

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.smtp import EmailBackend
from django.core.mail.message import RFC5322_EMAIL_LINE_LENGTH_LIMIT, BadHeaderError
from django.core.mail.utils import DNS_NAME

FOLD_AT = 78  # RFC 5322's recommended line length for headers
_OWN_HEADERS = {"from", "to", "cc", "reply-to", "date", "subject", "content-type", "mime-version"}


class Email(EmailMultiAlternatives):
    def as_bytes(self) -> bytes:
        """The message as sent over SMTP (CRLF line ends), the same MIME as Django's."""
        return _serialise(self) or self.message().as_bytes(linesep="\r\n")


class SMTPBackend(EmailBackend):
    """Django's SMTP backend; Email messages take the fast serialiser."""

    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return _SMTP_SSL if self.use_ssl else _SMTP

    def _send(self, email_message: EmailMultiAlternatives) -> bool:
        if not isinstance(email_message, Email) or not email_message.recipients():
            return super()._send(email_message)
        raw = _serialise(email_message)
        if raw is None:
            return super()._send(email_message)
        try:
            sender = _envelope_address(email_message.from_email)
            self.connection.sendmail(sender, email_message.recipients(), raw)
        except Exception:
            if not self.fail_silently:
                raise
            return False
        return True


@lru_cache(maxsize=8)
def _envelope_address(value: str) -> str:
    """The bare address of "Name <address>", as smtplib would take it out (once, not per
    message)."""
    return parseaddr(value)[1] or value


# A dot-atom address (what signup accepts): smtplib's quoteaddr() gives "<address>" for it,
# after a parse in pure Python that cost as much per message as writing the MIME.
_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_PLAIN_ADDRESS = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\Z")


class _FastEnvelope:
    """smtplib's MAIL and RCPT without re-parsing plain addresses; anything else, and
    SMTPUTF8, goes through smtplib as before."""

    def mail(self, sender: str, options: tuple[str, ...] = ()) -> tuple[int, bytes]:
        if not _PLAIN_ADDRESS.match(sender) or any(o.lower() == "smtputf8" for o in options):
            return super().mail(sender, options)  # type: ignore[misc]
        self.putcmd("mail", f"FROM:<{sender}>{self._options(options)}")  # type: ignore[attr-defined]
        return self.getreply()  # type: ignore[attr-defined]

    def rcpt(self, recipient: str, options: tuple[str, ...] = ()) -> tuple[int, bytes]:
        if not _PLAIN_ADDRESS.match(recipient):
            return super().rcpt(recipient, options)  # type: ignore[misc]
        self.putcmd("rcpt", f"TO:<{recipient}>{self._options(options)}")  # type: ignore[attr-defined]
        return self.getreply()  # type: ignore[attr-defined]

    def _options(self, options: tuple[str, ...]) -> str:
        return " " + " ".join(options) if options and self.does_esmtp else ""  # type: ignore[attr-defined]


class _FastData:
    """smtplib's DATA with the dot-stuffing done by bytes.replace: smtplib's regex took 0.1 ms
    per 28 kB digest, as much as writing the MIME."""

    def data(self, msg: bytes | str) -> tuple[int, bytes]:
        if isinstance(msg, str):
            return super().data(msg)  # type: ignore[misc]
        self.putcmd("data")  # type: ignore[attr-defined]
        code, reply = self.getreply()  # type: ignore[attr-defined]
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        # RFC 5321 4.5.2: a line that starts with "." gets one more.
        stuffed = (b"." + msg if msg.startswith(b".") else msg).replace(b"\n.", b"\n..")
        if not stuffed.endswith(b"\r\n"):
            stuffed += b"\r\n"
        self.send(stuffed + b".\r\n")  # type: ignore[attr-defined]
        return self.getreply()  # type: ignore[attr-defined]


class _SMTP(_FastEnvelope, _FastData, smtplib.SMTP):
    pass


class _SMTP_SSL(_FastEnvelope, _FastData, smtplib.SMTP_SSL):
    pass


def _serialise(message: Email) -> bytes | None:
    """multipart/alternative of 8bit text and HTML, or None for what Django should do."""
    alternatives = message.alternatives
    if (
        message.attachments
        or message.cc
        or message.reply_to
        or message.encoding
        or message.content_subtype != "plain"
        or len(alternatives) != 1
        or alternatives[0][1] != "text/html"
        or not isinstance(alternatives[0][0], str)
        or any(name.lower() in _OWN_HEADERS for name in message.extra_headers)
    ):
        return None
    if not all(address.isascii() for address in [message.from_email, *message.recipients()]):
        return None
    bodies = [_body(message.body), _body(alternatives[0][0])]
    headers = {
        "Subject": _encoded(message.subject),
        "From": message.from_email,
        "To": ", ".join(message.to),
        "Date": formatdate(localtime=settings.EMAIL_USE_LOCALTIME),
    }
    if "message-id" not in {name.lower() for name in message.extra_headers}:
        headers["Message-ID"] = make_msgid(domain=DNS_NAME)
    headers.update((name, str(value)) for name, value in message.extra_headers.items())
    for name, value in headers.items():
        if "\n" in value or "\r" in value:  # as Django: no header injection
            raise BadHeaderError(f"Header values can't contain newlines (got {value!r} for {name})")
        if not value.isascii():
            return None
    boundary = f"=_pd{secrets.token_hex(16)}"
    head = [
        f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"',
        "MIME-Version: 1.0",
        *(_folded(f"{name}: {value}") for name, value in headers.items()),
        "",
    ]
    parts = [
        f"--{boundary}\r\n"
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n".encode()
        + body
        for subtype, (encoding, body) in zip(("plain", "html"), bodies, strict=True)
    ]
    return b"\r\n".join(["\r\n".join(head).encode(), *parts, f"--{boundary}--\r\n".encode()])


def _body(text: str) -> tuple[str, bytes]:
    """A body as UTF-8 with CRLF line ends, and its transfer encoding: 8bit, or
    quoted-printable (as Django chooses) when a line is longer than SMTP allows."""
    data = text.encode(errors="surrogateescape")
    if b"\r" in data:  # templates write \n; only odd input has CRs to normalise
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    body = data.replace(b"\n", b"\r\n")
    if (
        len(data) <= RFC5322_EMAIL_LINE_LENGTH_LIMIT
        or max(map(len, data.split(b"\n"))) <= RFC5322_EMAIL_LINE_LENGTH_LIMIT
    ):
        return "8bit", body
    # b2a_qp breaks soft lines with CRLF only if the text has a CRLF; a one-line body has none.
    encoded = binascii.b2a_qp(body, istext=True).replace(b"\r\n", b"\n")
    return "quoted-printable", encoded.replace(b"\n", b"\r\n")


def _encoded(subject: str) -> str:
    """RFC 2047 base64 encoded-words of at most 39 bytes each (64 characters with the
    wrapper, so "Subject: " and the first word fit in 78), split between characters."""
    subject = str(subject)
    if subject.isascii():
        return subject
    data = subject.encode("utf-8", errors="surrogateescape")
    words, start = [], 0
    while start < len(data):
        end = min(start + 39, len(data))
        # Back off continuation bytes (10xxxxxx), so no character is split between words.
        while start < end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1
        end = end if end > start else min(start + 39, len(data))  # not UTF-8: split anywhere
        words.append(data[start:end])
        start = end
    return " ".join(f"=?utf-8?b?{base64.b64encode(word).decode()}?=" for word in words)


def _folded(line: str) -> str:
    """Fold a header line at spaces so lines stay near 78 characters."""
    if len(line) <= FOLD_AT:
        return line
    # The first word stays beside the name: parsers keep a fold's space in the value.
    name, first, *words = line.split(" ")
    out, current = [], f"{name} {first}"
    for word in words:
        if len(current) + 1 + len(word) > FOLD_AT:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}"
    out.append(current)
    return "\r\n ".join(out)
