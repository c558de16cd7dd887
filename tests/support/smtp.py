"""A real SMTP server (aiosmtpd) on loopback that records what it receives and can misbehave:
refuse chosen recipients permanently (550) or everything temporarily (421)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections import Counter
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SinkHandler:
    def __init__(self, *, keep_messages: bool = True) -> None:
        self.keep_messages = keep_messages  # False: only count (thousands of messages)
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []  # each message's bytes as received
        self.envelopes: list[tuple[str, list[str]]] = []  # (MAIL FROM, RCPT TOs) per message
        self.received: Counter[str] = Counter()  # envelope recipient -> messages
        self.last_at = 0.0  # time.monotonic() of the last message accepted
        self.refuse: set[str] = set()
        self.defer: set[str] = set()  # answered 450 (mailbox busy, greylisted)
        self.temporary_failure = False
        self.delay = 0.0  # seconds before accepting each message (a slow server)
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.temporary_failure:
            return "421 4.3.2 Service not available, try again later"
        if address.lower() in self.refuse:
            return "550 5.1.1 No such user here"
        if address.lower() in self.defer:
            return "450 4.2.1 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.temporary_failure:  # the server went busy between RCPT and the data
            return "421 4.3.2 Service not available, try again later"
        parsed = (
            email.message_from_bytes(envelope.content, policy=email.policy.default)
            if self.keep_messages
            else None
        )
        with self.lock:
            if parsed is not None:
                self.messages.append(parsed)  # type: ignore[arg-type]
                self.raw.append(envelope.content)
                self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.received.update(envelope.rcpt_tos)
            self.last_at = time.monotonic()
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self, *, keep_messages: bool = True) -> None:
        self.handler = SinkHandler(keep_messages=keep_messages)
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        with self.handler.lock:
            return list(self.handler.messages)

    @property
    def raw(self) -> list[bytes]:
        with self.handler.lock:
            return list(self.handler.raw)

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        with self.handler.lock:
            return list(self.handler.envelopes)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address.lower() in m["To"].lower()]

    def counts(self) -> Counter[str]:
        return Counter(m["To"].lower() for m in self.messages)
