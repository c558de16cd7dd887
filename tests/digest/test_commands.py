from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command

from digest.models import Paper, Source

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_ingest_a_directory_reports_each_file_and_a_summary(data_dir):
    out = run("ingest", "--file", str(data_dir / "feeds"))
    assert "✓" in out and "arxiv-api.xml: 8 new" in out  # sorted: api first, overlaps the RSS
    assert "arxiv-rss.xml: 10 new, 0 updated, 2 unchanged" in out
    assert out.strip().splitlines()[-1].startswith("Ingested 5 of 5 inputs:")
    assert Paper.objects.count() > 20


def test_one_bad_file_is_reported_and_the_rest_go_on(data_dir, tmp_path):
    (tmp_path / "page.xml").write_bytes(b"<html><body>Sorry</body></html>")
    (tmp_path / "good.xml").write_bytes((data_dir / "feeds" / "arxiv-rss.xml").read_bytes())
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(
            "ingest", "--file", str(tmp_path), "--file", str(tmp_path / "missing.xml"), stdout=out
        )
    assert raised.value.returncode == 1
    assert "page.xml: this is an HTML web page, not a feed" in out.getvalue()
    assert "missing.xml: cannot read file: No such file or directory" in out.getvalue()
    assert "Ingested 1 of 3 inputs" in out.getvalue()
    assert Paper.objects.count() == 12


def test_kind_can_be_forced(data_dir):
    out = StringIO()
    with pytest.raises(CommandError):
        call_command(
            "ingest",
            "--file",
            str(data_dir / "feeds" / "hf-daily.json"),
            "--kind",
            "arxiv-rss",
            stdout=out,
        )
    assert "this is Hugging Face daily papers JSON, not an arXiv RSS listing" in out.getvalue()


def test_files_can_be_attributed_to_a_source(data_dir):
    source = Source.objects.create(
        name="cs.LG", url="https://rss.arxiv.org/rss/cs.LG", kind="arxiv-rss"
    )
    run("ingest", "--source", "cs.LG", "--file", str(data_dir / "feeds" / "arxiv-rss.xml"))
    assert Paper.objects.filter(source=source).count() == 12


def test_unknown_source_names_the_known_ones():
    Source.objects.create(name="cs.LG", url="https://rss.arxiv.org/rss/cs.LG")
    with pytest.raises(CommandError, match=r"unknown source nope; known: cs\.LG"):
        run("ingest", "--source", "nope")


def test_ingest_without_sources_says_what_to_do():
    assert "No enabled sources" in run("ingest")


def test_ingest_named_source_fetches_it(feed_server, data_dir):
    url = feed_server.route("/rss", body=(data_dir / "feeds" / "arxiv-rss.xml").read_bytes())
    Source.objects.create(name="cs.LG", url=url, kind="arxiv-rss")
    Source.objects.create(name="other", url=feed_server.route("/down", status=500))
    out = run("ingest", "--source", "cs.LG")
    assert "cs.LG: 12 new" in out
    assert len(feed_server.seen) == 1


def test_a_source_dripping_its_headers_does_not_hold_up_the_others(feed_server, data_dir, settings):
    settings.FETCH_TIMEOUT_SECONDS = 2
    Source.objects.create(
        name="a-slow", url=feed_server.route("/slow", drip_headers=0.5), kind="arxiv-rss"
    )
    rss = (data_dir / "feeds" / "arxiv-rss.xml").read_bytes()
    Source.objects.create(name="b-good", url=feed_server.route("/rss", body=rss), kind="arxiv-rss")
    out = StringIO()
    started = time.monotonic()
    with pytest.raises(CommandError):
        call_command("ingest", stdout=out)
    assert time.monotonic() - started < 8
    assert "a-slow: no response from" in out.getvalue()
    assert "b-good: 12 new" in out.getvalue()


def test_demo_loads_the_bundled_samples_and_is_repeatable():
    out = run("demo")
    assert "45 new" in out
    assert Paper.objects.count() == 65
    assert Paper.objects.filter(upvotes__isnull=False).count() == 35
    run("demo")
    assert Paper.objects.count() == 65


def test_the_real_command_exits_1_with_reasons_and_no_traceback(tmp_path, data_dir):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3", "DEBUG": "1"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    (tmp_path / "bad.json").write_bytes(b"{not json")
    proc = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "ingest",
            "--file",
            str(tmp_path / "bad.json"),
            "--file",
            str(data_dir / "feeds" / "hf-daily.json"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "bad.json: invalid JSON: Expecting property name" in proc.stdout
    assert "hf-daily.json: 6 new" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert "CommandError: 1 of 2 inputs could not be ingested" in proc.stderr


# --- match -------------------------------------------------------------------------------------


def test_match_prints_ranked_papers_with_what_matched(data_dir):
    run("ingest", "--file", str(data_dir / "feeds" / "arxiv-rss.xml"))
    out = run("match", "pruning", "--limit", "2")
    lines = out.strip().splitlines()
    assert lines[0].lstrip().startswith("1.")
    assert "Pruning" in lines[0]
    assert "matched: pruning (in title, abstract)" in lines[1]
    assert (
        lines[-1] == "3 of the 12 papers first seen in the last 7 days matched; showing the top 2."
    )


def test_match_json_lists_key_arxiv_id_title_score_and_matched(data_dir):
    import json

    run("ingest", "--file", str(data_dir / "feeds" / "arxiv-rss.xml"))
    rows = json.loads(run("match", "federated learning\npruning", "--json"))
    assert rows[0].keys() >= {"key", "arxiv_id", "title", "score", "matched"}
    assert rows == sorted(rows, key=lambda r: -r["score"])
    assert all(set(r["matched"]) <= {"federated", "learning", "pruning"} for r in rows)
    assert rows[0]["key"] == f"arxiv:{rows[0]['arxiv_id']}"


def test_match_ranks_by_a_whole_profile_with_the_why_and_the_breakdown(data_dir):
    import json

    run("ingest", "--file", str(data_dir / "feeds" / "arxiv-rss.xml"))  # and embeds them
    seed = Paper.objects.filter(title__icontains="federated").first()
    rows = json.loads(run("match", "pruning", "--like", seed.arxiv_id, "--json"))
    assert rows[0].keys() >= {"key", "arxiv_id", "title", "score", "why", "breakdown"}
    assert seed.key not in {r["key"] for r in rows}, "the reader's own seed is not sent back"
    by_meaning = [r for r in rows if not r["matched"]]
    assert by_meaning and all(
        r["why"].startswith(f"similar to “{seed.title[:20]}") for r in by_meaning
    )
    assert len(by_meaning) <= 5, "meaning fills at most half of a digest with keywords"
    parts = rows[0]["breakdown"]
    assert rows[0]["score"] == pytest.approx(sum(parts.values()), abs=0.01)
    table = run("match", "--interest", "training across hospitals that cannot share data")
    assert "close to your interest “training across hospitals" in table
    assert "papers first seen in the last 7 days by meaning; showing the top" in table


def test_match_says_what_it_needs(data_dir):
    with pytest.raises(CommandError, match="Give keywords, --interest"):
        run("match")
    run("ingest", "--file", str(data_dir / "feeds" / "arxiv-rss.xml"))
    with pytest.raises(CommandError, match="None of the --like papers"):
        run("match", "--like", "2409.99999")


def test_match_only_looks_at_recent_papers(data_dir):
    run("ingest", "--file", str(data_dir / "feeds" / "arxiv-rss.xml"))
    Paper.objects.update(first_seen_at="2020-01-01T00:00:00Z")
    assert run("match", "pruning", "--json").strip() == "[]"
    assert "widen --days" in run("match", "pruning")


def test_an_invalid_query_gets_the_parsers_message_and_fails():
    from digest.matching.query import QueryError, parse_query

    with pytest.raises(QueryError) as parsed:
        parse_query("fairness -")
    with pytest.raises(CommandError) as raised:
        run("match", "fairness -")
    assert str(raised.value) == parsed.value.message


# --- digests ---------------------------------------------------------------------------------


def digest_subscribers():
    from django.utils import timezone

    from tests.factories import PaperFactory, SubscriberFactory

    PaperFactory(title="Global channel pruning", first_seen_at=timezone.now() - timedelta(hours=1))
    SubscriberFactory(email="ada@example.org", query="pruning")
    SubscriberFactory(email="bob@example.org", query="quantum chemistry")
    SubscriberFactory(email="wes@example.org", query="pruning", frequency="weekly")


MONDAY_7 = datetime(2026, 11, 23, 7, 5, tzinfo=UTC)


def test_send_digests_sends_and_summarizes(mailoutbox):
    with time_machine.travel(MONDAY_7 - timedelta(hours=1)):
        digest_subscribers()
    with time_machine.travel(MONDAY_7):  # their hour (07:00 UTC), and the weekly's Monday
        out = run("send_digests")
        again = run("send_digests", "--frequency", "daily")
    assert "Daily edition of Mon Nov 23, 2026, 07:00 UTC" in out
    assert "1 sent, 1 skipped, 0 failed" in out
    assert "Weekly edition" in out
    assert sorted(m.to[0] for m in mailoutbox) == ["ada@example.org", "wes@example.org"]
    assert "1 sent, 1 skipped, 0 failed (nothing new to send)" in again
    assert len(mailoutbox) == 2


def test_send_digests_before_anyones_hour_says_when_they_are_due(mailoutbox):
    with time_machine.travel(MONDAY_7 - timedelta(hours=2)):
        digest_subscribers()
        out = run("send_digests", "--frequency", "daily")
        now = run("send_digests", "--frequency", "daily", "--now")
    assert "no daily reader is due now; the next are due at Mon Nov 23 07:00 UTC" in out
    assert "1 sent, 1 skipped, 0 failed" in now
    assert [m.to[0] for m in mailoutbox] == ["ada@example.org"]


class Terminal(StringIO):
    def isatty(self) -> bool:  # tqdm draws its bar only on a terminal
        return True


def test_send_digests_shows_a_progress_bar_with_rate_and_eta_on_a_terminal(monkeypatch, mailoutbox):
    digest_subscribers()
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    run("send_digests", "--frequency", "daily", "--now")
    drawn = terminal.getvalue()
    # Done of the total, elapsed<left and the rate, "1/2 [00:00<00:00,  4.13digest/s]" (or
    # "0/2 [00:00<?, ?digest/s]" before the first measure, on a fast machine).
    assert re.search(r"\d/2 \[\d\d:\d\d<[\d:?]+, +[\d.?]+digest/s\]", drawn), drawn
    assert len(mailoutbox) == 1


def test_send_digests_dry_run_sends_and_stores_nothing(mailoutbox):
    from digest.models import Delivery, Edition

    digest_subscribers()
    out = run("send_digests", "--dry-run", "--frequency", "daily", "--now")
    assert "2 daily readers are due" in out
    assert "1 would send" in out and "1 would skip (nothing matched)" in out
    assert out.strip().endswith("Nothing sent.")
    assert not mailoutbox and not Edition.objects.exists() and not Delivery.objects.exists()


def test_send_digests_dry_run_says_what_the_real_run_then_does(mailoutbox):
    with time_machine.travel(datetime(2026, 11, 23, 7, 30, tzinfo=UTC)):
        digest_subscribers()
        run("send_digests", "--frequency", "daily")
        sent = len(mailoutbox)
        rehearsal = run("send_digests", "--dry-run", "--frequency", "daily")
        again = run("send_digests", "--frequency", "daily")
    assert sent == 1
    assert "no daily reader is due now; the next are due at Tue Nov 24 07:00 UTC" in rehearsal
    assert "(nothing new to send)" in again and len(mailoutbox) == sent


def unreachable_mail_server(settings) -> None:
    from tests.support.smtp import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()


def test_send_digests_reports_an_unavailable_mail_server(settings):
    unreachable_mail_server(settings)
    digest_subscribers()
    out = StringIO()
    with pytest.raises(CommandError, match="unfinished because the mail server was unavailable"):
        call_command("send_digests", "--frequency", "daily", "--now", stdout=out, stderr=StringIO())
    assert "0 sent, 0 skipped, 0 failed, 2 still unfinished" in out.getvalue()


def test_send_digests_resumes_what_an_outage_left_unfinished(settings, smtp_sink):
    real_port = settings.EMAIL_PORT
    unreachable_mail_server(settings)
    digest_subscribers()
    with pytest.raises(CommandError):
        call_command(
            "send_digests", "--frequency", "daily", "--now", stdout=StringIO(), stderr=StringIO()
        )
    rehearsal = run("send_digests", "--dry-run", "--frequency", "daily")
    assert "2 unfinished deliveries would be resumed" in rehearsal
    settings.EMAIL_PORT = real_port  # the mail server is back; no beat is running
    out = run("send_digests", "--frequency", "daily")
    assert "1 sent, 1 skipped, 0 failed" in out
    assert [m["To"] for m in smtp_sink.messages] == ["ada@example.org"]


def test_preview_digest_prints_the_next_digest_and_writes_html(tmp_path, mailoutbox):
    digest_subscribers()
    out = run("preview_digest", "ADA@example.org", "--html", str(tmp_path / "d.html"))
    assert "Subject: 1 new paper on pruning —" in out
    assert "Global channel pruning" in out
    assert "pruning</mark>" in (tmp_path / "d.html").read_text()
    assert not mailoutbox


def test_preview_digest_says_when_it_cannot_write_the_html(tmp_path):
    digest_subscribers()
    with pytest.raises(CommandError, match=r"Could not write the HTML to .*x\.html: No such file"):
        run("preview_digest", "ada@example.org", "--html", str(tmp_path / "no" / "x.html"))


def test_preview_digest_for_an_unknown_address():
    with pytest.raises(CommandError, match=r"No subscriber with the address nobody@example\.org"):
        run("preview_digest", "nobody@example.org")


def test_demo_sends_digests_to_the_outbox_and_prints_where_to_look(mailoutbox):
    out = run("demo")
    assert "Demo subscribers" in out
    assert "/digest/" in out and "/manage/" in out
    assert {m.to[0] for m in mailoutbox} == {
        "ada@example.org",
        "grace@example.org",
        "alan@example.org",
        "marie@example.org",  # seed papers, no keywords
        "emmy@example.org",  # an interest in words the papers never use
        "hedy@example.org",  # no keywords: the most upvoted papers
    }
    by_seeds = next(m for m in mailoutbox if m.to[0] == "marie@example.org")
    assert "similar to “" in by_seeds.body and "matched:" not in by_seeds.body
    top = next(m for m in mailoutbox if m.to[0] == "hedy@example.org")
    assert top.subject.startswith("The 5 most upvoted new papers")
    by_interest = next(m for m in mailoutbox if m.to[0] == "emmy@example.org")
    assert "close to your interest “helping doctors" in by_interest.body
