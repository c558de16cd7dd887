"""The registry of source kinds is the one list: Source.Kind, detection, the admin form,
`ingest --kind` and the README all say the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import load_command_class

from digest.console.admin import AUTO_KIND, SourceForm
from digest.ingest import readers
from digest.ingest.readers import KINDS, FeedError
from digest.models import Source

README = Path(__file__).resolve().parents[3] / "README.md"
# One sample document per kind: a new kind brings its own (tests/data/feeds/).
SAMPLES = {
    "arxiv-rss": "arxiv-rss.xml",
    "arxiv-api": "arxiv-api.xml",
    "feed": "generic-rss.xml",
    "hf-daily": "hf-daily.json",
}


def readme_kinds() -> list[tuple[str, str, str]]:
    section = README.read_text().split("## Ingesting papers", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([\w-]+)` \| ([^|]+?) \| `([^`]+)` \|$", section, re.MULTILINE)


def test_source_kind_choices_are_the_registry():
    assert Source.Kind.choices == [(kind.value, kind.label) for kind in KINDS.values()]
    assert {kind.name for kind in KINDS.values()} == set(Source.Kind.names)


def test_the_admin_form_offers_every_kind_and_detection():
    offered = [value for value, _ in SourceForm.base_fields["kind"].choices]
    assert offered == [AUTO_KIND, *KINDS]


def test_ingest_kind_accepts_every_kind():
    parser = load_command_class("digest", "ingest").create_parser("manage.py", "ingest")
    (kind_option,) = (a for a in parser._actions if a.dest == "kind")
    assert list(kind_option.choices) == list(KINDS)


def test_the_readme_lists_every_kind_with_its_label_and_reader():
    readers_dir = Path(readers.__file__).parent
    expected = [
        (k.value, k.label, f"digest/ingest/readers/{Path(k.read.__code__.co_filename).name}")
        for k in KINDS.values()
    ]
    assert readme_kinds() == expected
    assert all((readers_dir / Path(path).name).exists() for _, _, path in expected)


def test_every_kind_has_a_sample_detected_as_itself(data_dir):
    assert set(SAMPLES) == set(KINDS)
    for value, name in SAMPLES.items():
        assert readers.detect_kind((data_dir / "feeds" / name).read_bytes()) == value


@pytest.mark.parametrize("chosen", KINDS.values(), ids=list(KINDS))
def test_a_kind_refuses_samples_plainly_of_another_kind(data_dir, chosen):
    # A generic sample (any RSS) may still be of a specific kind of its syntax: an arXiv
    # listing on a day without announcements looks like any feed.
    for value, name in SAMPLES.items():
        other = KINDS[value]
        if other != chosen and (not other.generic or other.syntax != chosen.syntax):
            with pytest.raises(FeedError, match=f"not {re.escape(chosen.article)}"):
                readers.parse((data_dir / "feeds" / name).read_bytes(), chosen.value)


@pytest.mark.parametrize(
    ("kind", "url", "problem"),
    [
        ("feed", "https://rss.arxiv.org/rss/cs.LG", "This address serves an arXiv RSS listing"),
        ("arxiv-api", "https://example.org/api?q=x", "live on export.arxiv.org"),
        ("arxiv-rss", "https://lab.example.org/rss", "live on rss.arxiv.org"),
        ("arxiv-rss", "https://rss.arxiv.org/rss/cs.LG", ""),
        ("hf-daily", "https://mirror.example.org/daily.json", ""),
        ("feed", "https://lab.example.org/feed.xml", ""),
    ],
)
def test_address_rules_come_from_each_kind(kind, url, problem):
    said = readers.address_problem(kind, url)
    assert problem in said and bool(said) == bool(problem)
