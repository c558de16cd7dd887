"""A fake Postmark API on loopback: django-anymail's real Postmark backend talks to it over
HTTP, so ESP success, refused recipients and outages go through anymail's own code."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakePostmark:
    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.inactive: set[str] = set()  # answered 422 / ErrorCode 406, as Postmark does
        self.down = False  # answered 500
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, body = fake.answer(self.path, payload, self.headers)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def answer(self, path: str, payload: dict, headers: object) -> tuple[int, dict]:
        if self.down:
            return 500, {"ErrorCode": 100, "Message": "Service unavailable (maintenance)."}
        to = payload["To"]
        if to.lower() in self.inactive:
            return 422, {
                "ErrorCode": 406,
                "Message": (
                    f"You tried to send to recipient(s) that have been marked as inactive. Found "
                    f"inactive addresses: {to}. Inactive recipients are ones that have generated a "
                    f"hard bounce, a spam complaint, or a manual suppression."
                ),
            }
        message_id = str(uuid.uuid4())
        self.sent.append({**payload, "MessageID": message_id})
        return 200, {
            "To": to,
            "SubmittedAt": "2026-11-24T07:00:01Z",
            "MessageID": message_id,
            "ErrorCode": 0,
            "Message": "OK",
        }

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
