from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support.workers import ROOT

SHOW = (
    "import json; from django.conf import settings; "
    "print(json.dumps({'db': str(settings.DATABASES['default']['NAME']), "
    "'outbox': str(settings.EMAIL_FILE_PATH), 'static': str(settings.STATIC_ROOT)}))"
)


def _settings_with(env: dict[str, str]) -> dict[str, str]:
    environ = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {SHOW}"],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def test_it_keeps_the_sqlite_database_in_var_dir(tmp_path):
    found = _settings_with({"VAR_DIR": str(tmp_path)})

    assert found["db"] == str(tmp_path / "paperdigest.sqlite3")
    assert found["outbox"] == str(tmp_path / "outbox")
    assert found["static"] == str(tmp_path / "static")


def test_it_reads_a_relative_var_dir_from_the_project_folder(tmp_path):
    relative = os.path.relpath(tmp_path, ROOT)

    found = _settings_with({"VAR_DIR": relative})

    assert found["db"] == str(ROOT / relative / "paperdigest.sqlite3")


def test_it_still_uses_database_url_when_given(tmp_path):
    found = _settings_with(
        {"VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'other.sqlite3'}"}
    )

    assert found["db"] == str(tmp_path / "other.sqlite3")
