from __future__ import annotations

import time

import pytest

from digest.models import Paper, Source
from digest.tasks import ingest_all_task

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_ingest_all_fans_out_through_a_real_worker_and_redis(workers, feed_server, data_dir):
    worker = workers.start(concurrency=2)
    Source.objects.create(
        name="cs.LG",
        kind="arxiv-rss",
        url=feed_server.route("/rss", body=(data_dir / "feeds" / "arxiv-rss.xml").read_bytes()),
    )
    Source.objects.create(
        name="hf",
        kind="hf-daily",
        url=feed_server.route("/hf", body=(data_dir / "feeds" / "hf-daily.json").read_bytes()),
    )
    Source.objects.create(name="down", url=feed_server.route("/down", status=502))
    ingest_all_task.delay()
    wait_for(lambda: not Source.objects.filter(last_status=Source.Status.NEVER).exists())
    assert dict(Source.objects.values_list("name", "last_status")) == {
        "cs.LG": "ok",
        "hf": "ok",
        "down": "error",
    }
    assert Paper.objects.count() == 14
    assert "digest.ingest_source" in worker.log()
