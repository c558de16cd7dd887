from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from digest.delivery import previews
from digest.matching.query import QueryError
from subscribers.addresses import normalize_email
from subscribers.models import Subscriber


class Command(BaseCommand):
    help = "Render a subscriber's next digest (as if their edition closed now) without sending it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="the subscriber's address")
        parser.add_argument(
            "--html",
            type=Path,
            metavar="FILE",
            help="also write the HTML part to FILE (open it in a browser)",
        )

    def handle(self, *args: Any, email: str, html: Path | None, **options: Any) -> None:
        subscriber = Subscriber.objects.filter(email_key=normalize_email(email)).first()
        if subscriber is None:
            raise CommandError(f"No subscriber with the address {email}.")
        try:
            message, matches = previews.next_digest(subscriber)
        except QueryError as exc:
            raise CommandError(f"{email}'s keywords are not valid: {exc.message}") from None
        if not subscriber.receives_digests:
            self.stderr.write(
                f"Note: {email} is {subscriber.get_status_display().lower()}"
                f"{' and paused' if subscriber.paused else ''}; nothing would be sent."
            )
        self.stdout.write(f"To: {message.to[0]}\nSubject: {message.subject}\n\n{message.body}")
        if html:
            try:
                html.write_text(message.alternatives[0][0], encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"Could not write the HTML to {html}: {exc.strerror}.") from None
            self.stdout.write(f"HTML written to {html}")
        if not matches:
            self.stderr.write("Nothing matched: by default this digest would be skipped.")
