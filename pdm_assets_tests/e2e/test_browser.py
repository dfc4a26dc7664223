"""The Dagster UI in a real (headless Debian) Chromium, driven by Playwright.

Shares the live stack of test_live_dagster.py (conftest.py): it only reads what the sensor and
automation produced. Screenshots land in test-artifacts/screenshots/ at the repo root.
"""

import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from pdm_assets_tests.e2e.conftest import ROOT, LiveStack

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
ASSETS = [
    "machines",
    "raw_telemetry",
    "raw_errors",
    "raw_maintenance",
    "raw_failures",
    "component_replacements",
    "machine_features",
    "failure_labels",
    "failure_model",
    "failure_scores",
    "maintenance_alerts",
    "score_evaluation",
]
GROUPS = ["ingestion", "features", "training", "scoring", "monitoring"]
UI_TIMEOUT_MS = 60_000


def playwright_api():
    try:
        import playwright.sync_api as api
    except ImportError:
        pytest.fail("playwright is not installed: pip install playwright (see pyproject.toml)")
    return api


try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # reported by the browser fixture, with the fix
    PlaywrightTimeout = TimeoutError


@pytest.fixture(scope="module")
def browser():
    """Module-scoped (Playwright stops with the module) and requested first, so a missing browser
    fails before the stack starts."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: the browser test drives Debian's chromium "
            "(apt-get install -y chromium); `playwright install` is not used"
        )
    sync_playwright = playwright_api().sync_playwright
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def skip_community_dialog(page) -> None:
    """A first visit asks to join the Dagster community; the test must get past it."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(state="visible", timeout=5_000)
    except PlaywrightTimeout:  # no dialog this time
        return
    skip.click()
    skip.wait_for(state="hidden")


def open_page(page, stack: LiveStack, path: str) -> None:
    page.goto(f"{stack.url}{path}", wait_until="domcontentloaded")
    skip_community_dialog(page)


def node_names(page) -> set[str]:
    """Names on the graph's asset nodes; long ones are cut in the middle ("comp…_replacements")
    and shown whole in the node's tooltip."""
    nodes = page.locator("svg foreignObject [class*='assetName']")
    names = set()
    for i in range(nodes.count()):
        node = nodes.nth(i)
        text = node.inner_text().strip()
        if "…" in text:
            head, tail = text.split("…", 1)
            whole = re.compile(f"^{re.escape(head)}.*{re.escape(tail)}$")
            node.hover()
            tooltip = page.get_by_role("tooltip").filter(has_text=whole).first
            tooltip.wait_for(state="visible")
            text = tooltip.inner_text().strip()
            page.keyboard.press("Escape")
        names.add(text)
    return names


def test_asset_graph_shows_every_asset(page, scored_yesterday):
    started = time.monotonic()
    # All groups expanded, as clicking each group node would leave it.
    expanded = quote(",".join(f"global@global:{group}" for group in GROUPS))
    open_page(page, scored_yesterday, f"/asset-groups?expanded={expanded}")
    nodes = page.locator("svg foreignObject [class*='assetName']")
    nodes.first.wait_for(state="visible")
    page.wait_for_function(
        "n => document.querySelectorAll(\"svg foreignObject [class*='assetName']\").length >= n",
        arg=len(ASSETS),
    )
    try:  # let the materialization status colour the nodes before the picture is taken
        page.wait_for_function(
            "n => document.querySelectorAll(\"[style*='background-green']\").length >= n",
            arg=6,
            timeout=20_000,
        )
    except PlaywrightTimeout:
        pass
    page.screenshot(path=str(SCREENSHOTS / "asset_graph.png"), full_page=True)
    assert node_names(page) == set(ASSETS)
    for group in GROUPS:  # the group frames are labelled too
        assert page.locator("svg foreignObject").get_by_text(group, exact=True).count() >= 1
    print(f"\nbrowser asset graph: {time.monotonic() - started:.1f} s")


def test_alerts_asset_page_shows_partitions_and_latest_alert_table(page, scored_yesterday):
    started = time.monotonic()
    stack = scored_yesterday
    day = stack.plan.yesterday.isoformat()
    open_page(page, stack, f"/assets/maintenance_alerts?view=partitions&partition={day}")
    materialized = page.get_by_text(re.compile(r"Materialized \((\d+)\)")).first
    materialized.wait_for(state="visible")
    assert int(re.search(r"\((\d+)\)", materialized.inner_text()).group(1)) >= 1
    expected = (stack.plan.today - stack.plan.start).days + 1  # today: the open day
    assert page.get_by_text(f"{expected} Partitions Selected").is_visible()
    # The selected partition's latest materialization, with the markdown table of its alerts.
    page.get_by_text("top_alerts", exact=True).first.wait_for(state="visible")
    alerts = page.locator("table:has(th:text-is('rank'))").last
    none_raised = page.get_by_text("No machine passed the alert threshold.")
    alerts.or_(none_raised).first.wait_for(state="visible")
    page.screenshot(path=str(SCREENSHOTS / "maintenance_alerts_partition.png"), full_page=True)
    if none_raised.count():  # a quiet day for this tiny fleet: the entry says so
        return
    headers = [h.strip() for h in alerts.locator("th").all_inner_texts()]
    assert headers == [
        "rank",
        "level",
        "machine",
        "component",
        "risk",
        "time",
        "first published",
        "alert hours",
        "episode",
        "why",
    ]
    rows = alerts.locator("tr:has(td)")
    assert rows.count() >= 1
    first = [c.strip() for c in rows.first.locator("td").all_inner_texts()]
    assert first[0] == "1" and first[1] in ("watch", "act") and first[3].startswith("comp"), first
    print(f"\nbrowser alerts page: {time.monotonic() - started:.1f} s")
