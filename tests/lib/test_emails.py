"""What a mail server's or ESP's failure means for the message (emails.classify)."""

from __future__ import annotations

import smtplib

from anymail.exceptions import AnymailAPIError, AnymailInvalidAddress

from lib import emails


def test_ses_throttling_and_http_429_are_throttling_not_failures():
    class ClientError(Exception):
        response = {"Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded."}}

    try:
        raise AnymailAPIError("SES said no") from ClientError()
    except AnymailAPIError as exc:
        assert isinstance(emails.classify(exc), emails.Throttled)
    assert isinstance(
        emails.classify(AnymailAPIError("slow down", status_code=429)), emails.Throttled
    )


def test_an_address_that_cannot_be_sent_to_fails_alone_and_a_deferred_one_waits():
    assert isinstance(emails.classify(AnymailInvalidAddress("bad")), emails.PermanentSendError)
    full = smtplib.SMTPRecipientsRefused({"a@example.org": (452, b"4.2.2 Mailbox full")})
    assert isinstance(emails.classify(full), emails.Deferred)
