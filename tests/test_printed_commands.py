"""The README's and the demo's commands work exactly as printed, from a fresh shell."""

from __future__ import annotations

import os
import re
import shlex
import subprocess

import pytest

from tests.support.workers import ROOT

FRESH_SHELL = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}


def _readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if "manage.py" in line and not line.startswith("python ")]


def test_the_readme_runs_manage_py_with_the_virtualenvs_python():
    commands = _readme_commands()
    readme = (ROOT / "README.md").read_text().splitlines()
    bare = [line for line in readme if "`python manage" in line]

    assert commands and all(c.startswith(".venv/bin/python manage.py ") for c in commands)
    assert bare == []


@pytest.mark.parametrize("command", sorted({c.split()[2] for c in _readme_commands()}))
def test_each_readme_command_exists_in_a_fresh_shell(command):
    result = subprocess.run(
        [".venv/bin/python", "manage.py", command, "--help"],
        cwd=ROOT,
        env=FRESH_SHELL,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr


def test_the_demos_printed_preview_command_works_as_printed(tmp_path):
    env = {**FRESH_SHELL, "VAR_DIR": str(tmp_path), "SITE_URL": "http://localhost:8001"}
    migrate = [".venv/bin/python", "manage.py", "migrate", "--no-input"]  # as make demo does
    subprocess.run(migrate, cwd=ROOT, env=env, capture_output=True, check=True)
    demo = subprocess.run(
        [".venv/bin/python", "manage.py", "demo"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert demo.returncode == 0, demo.stderr
    printed = re.search(r"next digest: (.+)", demo.stdout).group(1)
    printed = printed.replace("/tmp/digest.html", shlex.quote(str(tmp_path / "digest.html")))

    preview = subprocess.run(
        printed, shell=True, cwd=ROOT, env=FRESH_SHELL, capture_output=True, text=True
    )

    assert preview.returncode == 0, preview.stderr
    html = (tmp_path / "digest.html").read_text()
    assert "http://localhost:8001/" in html and "localhost:8000" not in html
