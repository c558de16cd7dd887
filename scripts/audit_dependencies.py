"""Audit the installed dependencies with pip-audit; part of `make lint`.

Fails on any known vulnerability. Where no vulnerability database can be reached (an offline
machine, or a package mirror without PyPI's vulnerability data), it says plainly that nothing
was audited instead of printing pip-audit's "No known vulnerabilities found"; set
AUDIT_REQUIRED=1 (as a release pipeline with network access should) to make that an error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def main() -> int:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip_audit",
            "--skip-editable",
            "--progress-spinner",
            "off",
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        print(f"audit: pip-audit failed:\n{run.stderr.strip()[-2000:]}", file=sys.stderr)
        return 1 if os.environ.get("AUDIT_REQUIRED") == "1" else 0
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    audited = [d for d in dependencies if "skip_reason" not in d]
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed release yet"
            print(
                f"audit: {dependency['name']} {dependency['version']}: {vuln['id']} "
                f"(fixed in {fixed})"
            )
    if vulnerable:
        return 1
    if not audited:
        print(
            f"audit: NOT AUDITED: no vulnerability data for any of the {len(dependencies)} "
            "dependencies (no network, or the package index has none)",
            file=sys.stderr,
        )
        return 1 if os.environ.get("AUDIT_REQUIRED") == "1" else 0
    print(
        f"audit: {len(audited)} dependencies audited, no known vulnerabilities"
        + (
            f" ({len(dependencies) - len(audited)} could not be checked)"
            if len(audited) < len(dependencies)
            else ""
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
