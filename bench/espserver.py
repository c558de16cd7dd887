"""An ESP-like API on loopback for benchmarks: the tests' fake Postmark, answering each message
after a random 50-150 ms and answering 429 to anything above RATE messages in any rolling second.

python bench/espserver.py RATE     # prints "ready URL", then its counts as JSON on SIGTERM
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.esp import FakePostmark


def main() -> None:
    esp = FakePostmark(keep_messages=False)
    esp.latency = (0.05, 0.15)
    esp.rate_limit = int(sys.argv[1]) if len(sys.argv) > 1 and int(sys.argv[1]) else None
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(f"ready {esp.url}", flush=True)
    done.wait()
    esp.stop()
    counts = dict(esp.received)
    print(
        json.dumps(
            {
                "messages": sum(counts.values()),
                "recipients": len(counts),
                "duplicates": sum(n - 1 for n in counts.values()),
                "throttled": esp.throttled,
                "busiest_second": esp.busiest_second(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
