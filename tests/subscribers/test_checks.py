from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from django.core.checks import run_checks

from tests.support.processes import run_manage

ROOT = Path(__file__).resolve().parents[2]
POSTMARK = "anymail.backends.postmark.EmailBackend"


def deploy_problems() -> dict[str, str]:
    """Our deploy checks' findings, id -> level name."""
    found = run_checks(include_deployment_checks=True)
    return {m.id: type(m).__name__ for m in found if m.id.startswith("subscribers.")}


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.EMAIL_BACKEND = POSTMARK
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "t", "WEBHOOK_SECRET": "hooks:s3cret"}
    settings.DEFAULT_FROM_EMAIL = "Paper Digest <digest@example.org>"
    return settings


def test_it_passes_a_production_setup(production):
    assert deploy_problems() == {}


def test_it_errors_when_tracking_is_on_without_a_webhook_secret(production):
    production.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "t"}
    assert deploy_problems() == {"subscribers.E001": "Error"}


def test_it_says_nothing_of_the_secret_for_smtp(production):
    production.ANYMAIL = {}
    production.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert deploy_problems() == {}


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.mail.backends.filebased.EmailBackend",
        "django.core.mail.backends.console.EmailBackend",
        "django.core.mail.backends.locmem.EmailBackend",
        "django.core.mail.backends.dummy.EmailBackend",
    ],
)
def test_it_errors_on_a_backend_that_delivers_nothing_in_production(production, backend):
    production.EMAIL_BACKEND = backend
    assert deploy_problems() == {"subscribers.E002": "Error"}


def test_a_development_backend_is_fine_with_debug_on(production):
    production.DEBUG = True
    production.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    assert deploy_problems() == {}


@pytest.mark.parametrize(
    "sender",
    ["Paper Digest <digest@localhost>", "digest@LOCALHOST", "digest@box.localhost", "me@host"],
)
def test_it_errors_on_a_sender_no_one_can_reply_to(production, sender):
    production.DEFAULT_FROM_EMAIL = sender
    assert deploy_problems() == {"subscribers.E003": "Error"}


def test_the_development_defaults_pass_the_plain_check():
    assert [m for m in run_checks() if m.id.startswith("subscribers.")] == []


# --- the README's production block --------------------------------------------------------------

PLACEHOLDERS = {
    "SECRET_KEY": "a-long-random-production-secret-key-of-more-than-fifty-characters",
    "DATABASE_URL": "postgres://paperdigest:pw@db.internal:5432/paperdigest",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "CACHE_URL": "redis://redis.internal:6379/1",
    "ANYMAIL_WEBHOOK_SECRET": "hooks:a-long-random-secret",
}


def readme_production_env() -> dict[str, str]:
    """The variables the README's Production section exports, placeholders filled in."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Production\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    export = re.search(r"^export (.*?)(?<!\\)$", block, re.S | re.M).group(1)
    pairs = (word.split("=", 1) for word in shlex.split(export.replace("\\\n", " "), comments=True))
    return {
        key: PLACEHOLDERS.get(key, "placeholder") if "…" in value else value for key, value in pairs
    }


def test_the_readme_production_block_passes_check_deploy(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", ""),
        **readme_production_env(),
        "VAR_DIR": str(tmp_path),
    }
    assert env["DEBUG"] == "0"
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
