from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import anymail_settings, env_bool, env_int, env_list, parse_database_url
from tests.support.processes import run_manage


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        (" on ", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("", False),
    ],
)
def test_env_bool_reads_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG", default=not expected) is expected


def test_env_bool_uses_default_when_unset(monkeypatch):
    monkeypatch.delenv("FLAG", raising=False)
    assert env_bool("FLAG", default=True) is True


def test_env_bool_refuses_junk(monkeypatch):
    monkeypatch.setenv("DEBUG", "flase")
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be one of"):
        env_bool("DEBUG", default=False)


def test_env_int_refuses_junk_and_values_below_minimum(monkeypatch):
    monkeypatch.setenv("PORT", "twenty")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        env_int("PORT", 25)
    monkeypatch.setenv("PORT", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("PORT", 25, minimum=1)
    monkeypatch.setenv("PORT", "2525")
    assert env_int("PORT", 25, minimum=1) == 2525


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("HOSTS", "a.example, b.example,,")
    assert env_list("HOSTS") == ["a.example", "b.example"]


@pytest.mark.parametrize(
    ("url", "engine", "name"),
    [
        ("sqlite:///var/db.sqlite3", "django.db.backends.sqlite3", "/srv/app/var/db.sqlite3"),
        ("sqlite:////tmp/abs.sqlite3", "django.db.backends.sqlite3", "/tmp/abs.sqlite3"),
        ("postgres://postgres@127.0.0.1:5432/test", "django.db.backends.postgresql", "test"),
        ("postgresql://u:p%40ss@db.internal/papers", "django.db.backends.postgresql", "papers"),
    ],
)
def test_parse_database_url(url, engine, name):
    config = parse_database_url(url, base_dir=Path("/srv/app"))
    assert config["ENGINE"] == engine
    assert config["NAME"] == name


def test_parse_database_url_keeps_password_and_health_checks():
    config = parse_database_url("postgresql://u:p%40ss@db.internal:6432/papers", base_dir=Path("/"))
    assert (config["USER"], config["PASSWORD"], config["PORT"]) == ("u", "p@ss", 6432)
    assert config["CONN_HEALTH_CHECKS"] is True


@pytest.mark.parametrize("url", ["", "mysql://root@localhost/db", "not a url"])
def test_parse_database_url_refuses_unsupported(url):
    with pytest.raises(ImproperlyConfigured):
        parse_database_url(url, base_dir=Path("/"))


def test_anymail_settings_collects_prefixed_variables():
    environ = {
        "ANYMAIL_POSTMARK_SERVER_TOKEN": "t0k",
        "ANYMAIL_WEBHOOK_SECRET": "u:p",
        "OTHER": "x",
    }
    assert anymail_settings(environ) == {"POSTMARK_SERVER_TOKEN": "t0k", "WEBHOOK_SECRET": "u:p"}


def test_production_settings_pass_the_deploy_checks(tmp_path):
    """`manage.py check --deploy` with the settings the README gives for production."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DEBUG": "0",
        "SECRET_KEY": "x" * 10 + "-a-long-random-production-secret-key-of-fifty-chars",
        "SITE_URL": "https://digest.example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
        "ANYMAIL_POSTMARK_SERVER_TOKEN": "server-token",
        "ANYMAIL_WEBHOOK_SECRET": "hooks:a-long-random-secret",
        "DEFAULT_FROM_EMAIL": "Paper Digest <digest@example.org>",
        "VAR_DIR": str(tmp_path),
    }
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "DEBUG": "0", "VAR_DIR": str(tmp_path)}
    result = run_manage("check", env=env)
    assert result.returncode != 0 and "SECRET_KEY is required" in result.stderr
