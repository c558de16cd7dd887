"""A fake Postmark API on loopback: django-anymail's real Postmark backend talks to it over
HTTP, so ESP success, refused recipients, outages, slow answers and rate limits go through
anymail's own code.

Like a real ESP it can take its time (`latency`: each answer after a random delay in that
range, seconds) and enforce a rate (`rate_limit`: more than that many messages arriving in any
rolling second are answered 429). Every arrival is timed and every accepted message counted
per recipient.

`python -m tests.support.esp LOW HIGH RATE` runs one in its own process (EspProcess), so that
nothing in the sending side's process (a busy test runner's garbage collection) delays when
arrivals are timed; it prints "ready URL", then its counts as JSON on SIGTERM."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from bisect import bisect_right
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakePostmark:
    def __init__(self, *, keep_messages: bool = True) -> None:
        self.keep_messages = keep_messages  # False: only count (thousands of messages)
        self.sent: list[dict] = []
        self.received: Counter[str] = Counter()  # recipient -> messages accepted
        self.arrivals: list[float] = []  # time.monotonic() of every accepted message
        self.throttled = 0  # answered 429
        self.inactive: set[str] = set()  # answered 422 / ErrorCode 406, as Postmark does
        self.down = False  # answered 500
        self.down_after: int | None = None  # goes down once it has accepted this many
        self.latency: tuple[float, float] = (0.0, 0.0)
        self.rate_limit: int | None = None
        self._window: deque[float] = deque()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as requests' sessions expect
            # Headers and body go out in two writes: without this, Nagle's algorithm holds
            # the body until the client's delayed ACK, 40 ms later, on every answer.
            disable_nagle_algorithm = True

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
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def answer(self, path: str, payload: dict, headers: object) -> tuple[int, dict]:
        arrived = time.monotonic()
        if self.latency[1]:
            time.sleep(random.uniform(*self.latency))
        if self.down_after is not None and sum(self.received.values()) >= self.down_after:
            self.down = True
        if self.down:
            return 500, {"ErrorCode": 100, "Message": "Service unavailable (maintenance)."}
        if self._over_rate(arrived):
            return 429, {"ErrorCode": 429, "Message": "Rate limit exceeded."}
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
        with self.lock:
            if self.keep_messages:
                self.sent.append({**payload, "MessageID": message_id})
            self.received[to.lower()] += 1
            self.arrivals.append(arrived)
        return 200, {
            "To": to,
            "SubmittedAt": "2026-11-24T07:00:01Z",
            "MessageID": message_id,
            "ErrorCode": 0,
            "Message": "OK",
        }

    def _over_rate(self, arrived: float) -> bool:
        if self.rate_limit is None:
            return False
        with self.lock:
            while self._window and self._window[0] <= arrived - 1:
                self._window.popleft()
            if len(self._window) >= self.rate_limit:
                self.throttled += 1
                return True
            self._window.append(arrived)
            return False

    def busiest_second(self, seconds: float = 1.0) -> int:
        """The most messages accepted within any rolling window of `seconds`."""
        with self.lock:
            times = sorted(self.arrivals)
        return max(
            (i + 1 - bisect_right(times, t - seconds, 0, i + 1) for i, t in enumerate(times)),
            default=0,
        )

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class EspProcess:
    """A FakePostmark in a process of its own; stop() returns what it counted."""

    def __init__(self, latency: tuple[float, float] = (0.05, 0.15), rate_limit: int = 0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.esp", *map(str, (*latency, rate_limit))],
            stdout=subprocess.PIPE,
            text=True,
        )
        word, self.url = self.proc.stdout.readline().split()
        assert word == "ready"

    def stop(self) -> dict:
        self.proc.terminate()
        return json.loads(self.proc.stdout.readline())


def _serve(low: float, high: float, rate_limit: int) -> None:
    esp = FakePostmark(keep_messages=False)
    esp.latency, esp.rate_limit = (low, high), rate_limit or None
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(f"ready {esp.url}", flush=True)  # noqa: T201 - talks to EspProcess over stdout
    done.wait()
    esp.stop()
    counts = dict(esp.received)
    summary = {
        "messages": sum(counts.values()),
        "recipients": len(counts),
        "duplicates": sum(n - 1 for n in counts.values()),
        "throttled": esp.throttled,
        "busiest_second": esp.busiest_second(),
        "busiest_3_seconds": esp.busiest_second(3),
    }
    print(json.dumps(summary), flush=True)  # noqa: T201


if __name__ == "__main__":
    _serve(float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]))
