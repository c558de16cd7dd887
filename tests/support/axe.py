"""axe-core (from npm, see package.json) run inside a Playwright page."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")

RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact,
    nodes: v.nodes.map(n => n.target.join(" ") + " " + (n.failureSummary || "")),
  }));
}"""


def missing_axe() -> str:
    return "" if AXE.exists() else "needs axe-core: run `npm ci` in the project folder"


def serious_violations(page: Page) -> list[str]:
    """Serious and critical axe violations on the page as it is now, one line each."""
    # Evaluated through the DevTools protocol, which the page's CSP does not govern.
    page.evaluate(AXE.read_text())
    found = page.evaluate(RUN)
    return [f"{v['id']}: {v['nodes']}" for v in found if v["impact"] in BLOCKING]
