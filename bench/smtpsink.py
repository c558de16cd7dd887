"""An aiosmtpd server on loopback that counts messages and discards them (for benchmarks).

python bench/smtpsink.py PORT [DELAY]   # prints {"messages": N, "bytes": B} on SIGTERM

DELAY (seconds) is waited before answering each message's data, like a remote server's
round trips.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class Counting:
    def __init__(self, delay: float = 0.0) -> None:
        self.messages = 0
        self.bytes = 0
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages += len(envelope.rcpt_tos)
        self.bytes += len(envelope.content)
        return "250 OK"


def main() -> None:
    handler = Counting(float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
    controller = Controller(handler, hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print("ready", flush=True)
    done.wait()
    controller.stop()
    print(json.dumps({"messages": handler.messages, "bytes": handler.bytes}), flush=True)


if __name__ == "__main__":
    main()
